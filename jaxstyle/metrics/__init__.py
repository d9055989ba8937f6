"""Judges of stylized images: how far each output is from the content photo and from
the style, measured with networks and distances other than those a method optimized.

Content: LPIPS (Zhang et al. 2018; `jaxstyle.metrics.lpips`) between the output and the photo,
with LPIPS's AlexNet ("content/lpips_alex") or VGG-16 ("content/lpips_vgg") trunk.
Lower is closer to the photo.

Style: the mean over a network's style layers (`features.FEATURE_NETWORKS[network].default_layers[1]`:
VGG-16's conv1_1..conv5_1, AlexNet's conv1..conv5) of `losses.style_distance` between
each output's features and the style image's statistics, the style image at its own
size: Gram ("gram"), sliced Wasserstein ("sw", with a fixed key so that the judge is
deterministic: the same directions for every image) or the 2-Wasserstein distance of
fitted Gaussians ("mean_cov"), on VGG-16 or AlexNet. Lower is closer to the style.
The judges run no VGG-19: the network every method in the benchmark but two optimizes
is never its own judge.

Independence (`independent`): a style judge is not independent of a run when the run
optimized the judge's very distance on the judge's very network (a Gram-on-VGG-16 run,
judged by style/gram_vgg16, is judged by its own loss). The histogram loss is the Gram
loss plus channel histograms, so it counts as optimizing "gram". Content judges are
always independent: LPIPS's unit-normalized, head-weighted layers are neither the
content loss (a mean squared error at conv4_2 / conv4) nor its layer.

Two-step use, so that a style image's statistics are computed once per network and
distance: `style_targets(style, ...)` then `style_distances(outputs, targets, ...)`;
`judge_targets` / `judge` do it for every judge at once. `rank` orders a seed sweep.

Images are float32 RGB [N, H, W, 3] in [0, 1] everywhere.
"""

from __future__ import annotations

import functools
from typing import Any, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxstyle import features as features_lib
from jaxstyle import losses
from jaxstyle.metrics import lpips as lpips_lib
from jaxstyle.checks import one_of

CONTENT_NETWORKS = ("alex", "vgg")          # LPIPS trunks.
STYLE_NETWORKS = ("vgg16", "alexnet")       # Judges' feature networks.
DISTANCES = ("gram", "sliced_wasserstein", "mean_cov")
SHORT_NAMES = {"gram": "gram", "sliced_wasserstein": "sw", "mean_cov": "mean_cov"}
CONTENT_JUDGES = tuple(f"content/lpips_{n}" for n in CONTENT_NETWORKS)
STYLE_JUDGES = tuple(f"style/{SHORT_NAMES[d]}_{n}" for n in STYLE_NETWORKS for d in DISTANCES)
JUDGES = CONTENT_JUDGES + STYLE_JUDGES
# What each style loss optimizes, in the judges' distances: histogram = Gram + histograms.
OPTIMIZED_DISTANCES = {"gram": ("gram",), "mean_cov": ("mean_cov",),
                       "sliced_wasserstein": ("sliced_wasserstein",), "histogram": ("gram",)}
# The sliced-Wasserstein judge's directions: one fixed key, folded with the layer index.
JUDGE_SEED = 0
RANKINGS = ("lpips", "style")


def parse_judge(name: str) -> tuple[str, str, str]:
  """"style/sw_vgg16" -> ("style", "sliced_wasserstein", "vgg16");
  "content/lpips_alex" -> ("content", "lpips", "alex")."""
  if name not in JUDGES:
    raise ValueError(f"unknown judge {name!r}; valid: {', '.join(JUDGES)}")
  kind, rest = name.split("/")
  if kind == "content":
    return kind, "lpips", rest[len("lpips_"):]
  for distance, short in SHORT_NAMES.items():
    for network in STYLE_NETWORKS:
      if rest == f"{short}_{network}":
        return kind, distance, network
  raise AssertionError(name)  # Unreachable: every name in JUDGES parses.


def independent(judge_name: str, network: str, style_loss: str) -> bool:
  """Whether the judge measures something the run (`network`, `style_loss`) did not
  optimize: False only for a style judge on the run's network with a distance the
  run's loss contains (`OPTIMIZED_DISTANCES`); content judges are always independent."""
  kind, distance, judge_network = parse_judge(judge_name)
  if style_loss not in OPTIMIZED_DISTANCES:
    raise ValueError(f"unknown style loss {style_loss!r}; valid: "
                     f"{', '.join(OPTIMIZED_DISTANCES)}")
  features_lib.check_network(network)
  if kind == "content":
    return True
  return not (judge_network == network and distance in OPTIMIZED_DISTANCES[style_loss])


def _batch(name: str, images) -> jax.Array:
  images = jnp.asarray(images, jnp.float32)
  if images.ndim == 3:
    images = images[None]
  if images.ndim != 4 or images.shape[-1] != 3:
    raise ValueError(f"{name} must be RGB images [N, H, W, 3] (or one [H, W, 3]), got "
                     f"shape {tuple(images.shape)}")
  return images


# --- Content -----------------------------------------------------------------------


def content_distance(outputs, content, *, network: str = "alex",
                     weights: Mapping[str, Any] | None = None) -> np.ndarray:
  """LPIPS [N] between each output [N, H, W, 3] and the content photo [H, W, 3] (or
  [1 or N, H, W, 3]), which must be the outputs' size.

  Args:
    network: LPIPS's trunk, "alex" or "vgg".
    weights: `lpips.lpips_params(network)` or params of that form (tests pass tiny
      random ones); None: the real weights.
  """
  one_of("content network", network, CONTENT_NETWORKS)
  outputs, content = _batch("outputs", outputs), _batch("content", content)
  if content.shape[1:] != outputs.shape[1:]:
    raise ValueError(f"the content photo is {content.shape[2]}x{content.shape[1]} px but the "
                     f"outputs are {outputs.shape[2]}x{outputs.shape[1]} px; the judge "
                     "compares images of one size")
  if content.shape[0] not in (1, outputs.shape[0]):
    raise ValueError(f"{content.shape[0]} content photos for {outputs.shape[0]} outputs")
  content = jnp.broadcast_to(content, outputs.shape)
  return np.asarray(lpips_lib.lpips(outputs, content, network=network, weights=weights))


# --- Style ---------------------------------------------------------------------------


def _check_style(network: str, distance: str) -> tuple[str, ...]:
  one_of("style network", network, STYLE_NETWORKS)
  one_of("style distance", distance, DISTANCES)
  return features_lib.FEATURE_NETWORKS[network].default_layers[1]


def _weights(network: str, weights):
  if weights is None:
    return features_lib.load_weights(network)
  if features_lib.network_of(weights) != network:
    raise ValueError(f"network={network} but the weights are "
                     f"{features_lib.network_of(weights)}'s")
  return weights


def _params(weights) -> dict:
  # Plain XLA convolutions: the judges are forward passes, where the CPU kernels' derived
  # kernels would cost more to make than they save.
  return {"params": features_lib.network_variables(weights, "xla")["params"]}


@functools.lru_cache(maxsize=16)
def _programs(network: str, distance: str, widths: tuple[int, ...], preprocessing: str):
  """Jitted (targets(params, style [1, h, w, 3]), distances(params, outputs, targets))."""
  layers = _check_style(network, distance)
  features = features_lib.feature_fn(widths, preprocessing, "max", kernels="xla",
                                     network=network)
  key = jax.random.key(JUDGE_SEED)

  @jax.jit
  def targets(params, style):
    feats = features(params, style, layers)
    return {l: losses.style_statistics(distance, feats[l][0]) for l in layers}

  @jax.jit
  def distances(params, outputs, targets):
    feats = features(params, outputs, layers)
    total = jnp.zeros((outputs.shape[0],), jnp.float32)
    for i, layer in enumerate(layers):
      layer_key = jax.random.fold_in(key, i) if losses.STYLE_LOSSES[distance].random else None
      one = lambda f, t=targets[layer], k=layer_key: losses.style_distance(
          distance, f, t, key=k)
      total = total + jax.vmap(one)(feats[layer])
    return total / len(layers)

  return targets, distances


def style_targets(style, *, network: str = "vgg16", distance: str = "gram",
                  weights=None) -> dict[str, Any]:
  """The style image's [h, w, 3] statistics at each of `network`'s style layers, for
  `style_distances` (the image at its own size; computed once per image, network and
  distance).

  Args:
    network: "vgg16" or "alexnet".
    distance: "gram", "sliced_wasserstein" or "mean_cov".
    weights: that network's `weights.NetworkWeights` (None: the real file).
  """
  _check_style(network, distance)
  weights = _weights(network, weights)
  style = _batch("style", style)
  if style.shape[0] != 1:
    raise ValueError(f"one style image, got {style.shape[0]}")
  targets, _ = _programs(network, distance, weights.widths, weights.preprocessing)
  return targets(_params(weights), style)


def style_distances(outputs, targets: Mapping[str, Any], *, network: str = "vgg16",
                    distance: str = "gram", weights=None) -> np.ndarray:
  """[N]: for each output [N, H, W, 3], the mean over the network's style layers of
  `losses.style_distance(distance, its features, targets[layer])`."""
  _check_style(network, distance)
  weights = _weights(network, weights)
  _, distances = _programs(network, distance, weights.widths, weights.preprocessing)
  return np.asarray(distances(_params(weights), _batch("outputs", outputs), dict(targets)))


def style_distance(outputs, style, *, network: str = "vgg16", distance: str = "gram",
                   weights=None) -> np.ndarray:
  """[N]: `style_distances` against `style_targets(style)` (one call; use the two-step
  form to judge many outputs against one style)."""
  targets = style_targets(style, network=network, distance=distance, weights=weights)
  return style_distances(outputs, targets, network=network, distance=distance,
                         weights=weights)


# --- All judges ------------------------------------------------------------------------


def judge_targets(style, *, networks: Mapping[str, Any] | None = None,
                  judges: Sequence[str] = STYLE_JUDGES) -> dict[str, dict[str, Any]]:
  """{style judge name: its `style_targets`} for one style image [h, w, 3].

  networks: {"vgg16": weights, "alexnet": weights}; a missing entry (or None) loads the
  real file. judges: which style judges (content judges in it are ignored).
  """
  networks = dict(networks or {})
  out = {}
  for name in judges:
    if name not in STYLE_JUDGES:
      if name not in JUDGES:
        raise ValueError(f"unknown judge {name!r}; valid: {', '.join(JUDGES)}")
      continue
    _, distance, network = parse_judge(name)
    out[name] = style_targets(style, network=network, distance=distance,
                              weights=networks.get(network))
  return out


def judge(outputs, content, style=None, *, targets: Mapping[str, Any] | None = None,
          networks: Mapping[str, Any] | None = None,
          lpips_weights: Mapping[str, Any] | None = None,
          judges: Sequence[str] = JUDGES) -> dict[str, np.ndarray]:
  """{judge name: values [N]} for outputs [N, H, W, 3] of one content [H, W, 3] and style.

  Args:
    style: the style image [h, w, 3]; or None with `targets` (`judge_targets(style)`).
    networks: {"vgg16": ..., "alexnet": ...} weights of the style judges (None: real).
    lpips_weights: {"alex": ..., "vgg": ...} `lpips.lpips_params` (None: real).
    judges: a subset of `JUDGES`.
  """
  networks, lpips_weights = dict(networks or {}), dict(lpips_weights or {})
  unknown = [j for j in judges if j not in JUDGES]
  if unknown:
    raise ValueError(f"unknown judge(s) {', '.join(unknown)}; valid: {', '.join(JUDGES)}")
  if targets is None and any(j in STYLE_JUDGES for j in judges):
    if style is None:
      raise ValueError("judge needs the style image or its judge_targets")
    targets = {}
  out = {}
  for name in judges:
    kind, distance, network = parse_judge(name)
    if kind == "content":
      out[name] = content_distance(outputs, content, network=network,
                                   weights=lpips_weights.get(network))
    else:
      t = targets.get(name)
      if t is None:
        t = style_targets(style, network=network, distance=distance,
                          weights=networks.get(network))
      out[name] = style_distances(outputs, t, network=network, distance=distance,
                                  weights=networks.get(network))
  return out


def style_score(metrics: Mapping[str, Sequence[float]]) -> np.ndarray:
  """[N]: the mean over the style judges in `metrics` of each judge's values divided by
  that judge's median over the N images (so that the judges' scales do not matter; 1 is
  a typical image, lower is closer to the style)."""
  names = [j for j in STYLE_JUDGES if j in metrics]
  if not names:
    raise ValueError("no style judge in the metrics")
  ratios = []
  for j in names:
    v = np.asarray(metrics[j], np.float64)
    median = np.median(v)
    ratios.append(v / median if median > 0 else np.ones_like(v))
  return np.mean(ratios, axis=0)


def rank_metrics(metrics: Mapping[str, Sequence[float]], by: str = "lpips") -> np.ndarray:
  """The images' indices, best first (ties keep their order): by="lpips", lowest
  content/lpips_alex first (closest to the photo); by="style", lowest `style_score`
  first (closest to the style, all style judges counted alike)."""
  one_of("by", by, RANKINGS)
  score = (np.asarray(metrics["content/lpips_alex"], np.float64) if by == "lpips"
           else style_score(metrics))
  return np.argsort(score, kind="stable")


def rank(outputs, content, style, by: str = "lpips", **judge_kwargs
         ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
  """For a seed sweep: (order [N], indices best first; {judge: values [N]}).

  by="lpips" ranks by content/lpips_alex (lower: better content); by="style" by the
  mean over the style judges of each one's value divided by its median over the images
  (`style_score`). `judge_kwargs` go to `judge` (networks, lpips_weights, targets).
  """
  one_of("by", by, RANKINGS)
  metrics = judge(outputs, content, style, **judge_kwargs)
  return rank_metrics(metrics, by), metrics
