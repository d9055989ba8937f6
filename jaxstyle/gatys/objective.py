"""The style-transfer objective: targets computed once, and a pure loss closure.

`compute_targets` extracts the content features and the style Gram matrices once
(and, for spatial control, each style's region guides at every layer's resolution);
`make_loss_fn` returns `loss_fn(image, targets, params, step=0) -> (total, components)`,
pure in its arguments, so it can be jitted, differentiated and vmapped over seeds with
the (large) network weights and targets passed in rather than baked in. The loss
weights (alpha, beta, the TV and histogram weights, the layer and blend weights) travel
in the targets too (`targets["weights"]`, `loss_weights`), so runs that differ only in
them share one compiled program, and a sweep vmaps over them. Both functions are cached
by the settings that shape the program (`structure`), so a second run at the same
settings and sizes reuses the compiled programs.

The style statistics and their distance are `config.style_loss`'s
(`losses.STYLE_LOSSES`). A loss that draws random projections (sliced_wasserstein)
folds `step` into the targets' key, so each optimizer step sees new directions; its
loss is a `solvers.Loss` with `uses_step=True`, so `optimize.minimize` passes the step.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxstyle import features as features_lib
from jaxstyle import kernels as kernels_lib
from jaxstyle import losses
from jaxstyle.checks import in_range, one_of
from jaxstyle.gatys import inputs
from jaxstyle.gatys import solvers
from jaxstyle.gatys import tiling
from jaxstyle.nets.vgg import POOLING_MODES
from jaxstyle.weights import NetworkWeights

DEFAULT_CONTENT_LAYERS = ("conv4_2",)
CONTENT_NORMALIZATIONS = ("mean", "sum", "scaled")
DEFAULT_CONTENT_NORMALIZATION = "mean"
TV_NORMALIZATIONS = ("mean", "sum")
# Risser's gamma for style_loss="histogram": gamma * H equals the Gram term E at the
# content photo on VGG-19 (E is in squared Gram units, H in squared feature units; with
# w_l = 1/5, E / H = 2.8e5, 3.2e5 and 2.9e5 for Tübingen x The Starry Night, Golden
# Gate x Shipwreck and Tübingen x The Scream at 256 px, E mostly conv4_1's, H spread
# over the layers).
DEFAULT_HISTOGRAM_WEIGHT = 3e5
# beta for alpha = 1 with the mean content loss (alpha/beta = 1e3): chosen by looking
# at Tübingen x The Starry Night at 256, 512 and 1024 px (README, "The default picture").
DEFAULT_STYLE_WEIGHT = 1e-3
# beta per (style loss, network) for alpha = 1 and the mean content loss: gram on VGG-19
# is DEFAULT_STYLE_WEIGHT (the knee of its content-vs-style frontier in the quality
# benchmark); the others have its style term at the content photo relative to their
# network's content scale (`python -m benchmarks.quality --calibrate`, one digit;
# histogram: half gram's, its histogram term equalling its Gram term at the photo).
DEFAULT_STYLE_WEIGHTS = {
    ("gram", "vgg19"): DEFAULT_STYLE_WEIGHT,
    ("mean_cov", "vgg19"): 0.4,
    ("sliced_wasserstein", "vgg19"): 300.0,
    ("histogram", "vgg19"): 5e-4,
    ("gram", "vgg16"): 5.0,
    ("mean_cov", "vgg16"): 0.2,
    ("gram", "alexnet"): 0.6,
    ("mean_cov", "alexnet"): 0.1,
}


def default_style_weight(style_loss: str, network: str = "vgg19") -> float:
  """beta for alpha = 1 and the mean content loss (DEFAULT_STYLE_WEIGHTS). A pair the
  benchmark did not calibrate (sliced_wasserstein or histogram on VGG-16 / AlexNet) gets
  the loss's VGG-19 weight times the network's gram weight over VGG-19's."""
  one_of("style_loss", style_loss, losses.STYLE_LOSSES)
  one_of("network", network, features_lib.FEATURE_NETWORKS)
  if (style_loss, network) in DEFAULT_STYLE_WEIGHTS:
    return DEFAULT_STYLE_WEIGHTS[(style_loss, network)]
  if ("gram", network) not in DEFAULT_STYLE_WEIGHTS:
    raise ValueError(f"no calibrated style_weight for {network} (objective."
                     "DEFAULT_STYLE_WEIGHTS has none): give one")
  return (DEFAULT_STYLE_WEIGHTS[(style_loss, "vgg19")] * DEFAULT_STYLE_WEIGHTS[("gram", network)]
          / DEFAULT_STYLE_WEIGHTS[("gram", "vgg19")])
DEFAULT_STYLE_LAYERS = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")
# The temporal weight for alpha = 1 and the mean content loss, calibrated on the carphone
# clip (benchmarks/README.md, "Video"; 16 frames, 50 steps each): the warping error
# falls slowly with the weight (0: 5.8x the input's, 1e7: 5.7x, 1e8: 4.9x) while the
# frames' content and style losses stay within 1.05x of warm starts' up to 1e8 and
# then rise (1e9: style 1.44x; 1e10: 3x, and a larger warping error). Ruder et al.'s
# 1e3 for content 5, rescaled from 0..255 pixels, would be 1.3e7.
DEFAULT_TEMPORAL_WEIGHT = 1e8

# {"content": {layer: [H, W, C]}, "style": [{layer: statistics}, ...] (one dict per
# style image; for the Gram loss the per-position Gram matrices [C, C]; see
# losses.style_statistics), "weights": the loss weights (`loss_weights`), for losses
# with random projections "key": a PRNG key's data (their seed), and with spatial
# control "guides": [{layer: [h, w]}, ...] (one per style image: where that style
# applies), and for video "temporal": {"image": [H, W, 3], "reliable": [H, W]} (the
# previous output warped into this frame, and where the flow is trusted)}.
Targets = dict[str, Any]
LossFn = Callable[[jax.Array, Targets, Any], tuple[jax.Array, dict[str, jax.Array]]]


@dataclasses.dataclass(frozen=True)
class ObjectiveConfig:
  """What the loss matches, and how strongly.

  Attributes:
    content_layers: layers whose features are matched (their losses are summed).
    style_layers: layers whose Gram matrices are matched.
    style_layer_weights: w_l per style layer; None means 1/len(style_layers) (the
      paper's w_l = 1/5 for five layers).
    style_blend_weights: one weight per style image. Without spatial control they are
      normalized to sum to 1 (None: equal), so they interpolate between styles; with
      it, each is the strength of its style in its own region (None: 1 each).
    content_weight: alpha.
    style_weight: beta.
    tv_weight: weight of the total-variation term (0: off, as in the paper).
    pooling: "max" or "avg".
    guided: spatial control: each style applies only inside its region (guides in the
      targets; Gatys et al., CVPR 2017). Gram loss only.
    style_loss: the style statistics and their distance, one of `losses.STYLE_LOSSES`
      ("gram": the paper's).
    network: the feature network, one of `features.FEATURE_NETWORKS` ("vgg19": the paper's;
      layer names are each network's own, see `features.FEATURE_NETWORKS`).
    content_normalization: "mean": the content loss is the mean squared difference
      over the layer's H*W*C elements, so that alpha/beta means the same at every image
      size (the style term is per position already), and the total variation is
      divided by the image's H*W*3 values likewise; "sum": the paper's Eq. 1,
      1/2 sum (F - P)^2, which grows with the pixel count, and the summed total
      variation (`--preset=gatys2016`); "scaled": crowsonkb's scaled squared error
      `losses.scaled_content_loss` (its recipe, `presets.PRESETS["crowsonkb"]`).
    tv_normalization: "mean" (the total variation per pixel and channel) or "sum";
      None: "sum" with the summed content loss, "mean" otherwise.
    histogram_weight: style_loss="histogram" only: the weight of its histogram term
      relative to its Gram term (Risser et al.'s gamma).
    temporal_weight: video: the weight of Ruder et al.'s temporal term
      (`losses.temporal_loss`: the squared difference from the previous output warped
      into this frame, where the flow is reliable, per pixel and channel).
    temporal: the targets carry that warped output ("temporal"; `compute_targets`).
  """

  content_layers: tuple[str, ...] = DEFAULT_CONTENT_LAYERS
  style_layers: tuple[str, ...] = DEFAULT_STYLE_LAYERS
  style_layer_weights: tuple[float, ...] | None = None
  style_blend_weights: tuple[float, ...] | None = None
  content_weight: float = 1.0
  style_weight: float = DEFAULT_STYLE_WEIGHT  # alpha/beta = 1e3: see transfer.stylize.
  tv_weight: float = 0.0
  pooling: str = "max"
  guided: bool = False
  style_loss: str = "gram"
  content_normalization: str = DEFAULT_CONTENT_NORMALIZATION
  network: str = "vgg19"
  tv_normalization: str | None = None
  histogram_weight: float = DEFAULT_HISTOGRAM_WEIGHT
  temporal_weight: float = DEFAULT_TEMPORAL_WEIGHT
  temporal: bool = False

  def __post_init__(self):
    object.__setattr__(self, "content_layers", tuple(self.content_layers))
    object.__setattr__(self, "style_layers", tuple(self.style_layers))
    one_of("network", self.network, features_lib.FEATURE_NETWORKS)
    one_of("style_loss", self.style_loss, losses.STYLE_LOSSES)
    one_of("content_normalization", self.content_normalization, CONTENT_NORMALIZATIONS)
    one_of("tv_normalization", self.tv_normalization, TV_NORMALIZATIONS, optional=True)
    one_of("pooling", self.pooling, POOLING_MODES)
    for name in ("content_layers", "style_layers"):
      try:
        if getattr(self, name):
          features_lib.check_layers(getattr(self, name), self.network)
      except ValueError as e:
        raise ValueError(f"{name}: {e}") from None
    if not self.content_layers and not self.style_layers:
      raise ValueError("at least one content or style layer is needed")
    if self.guided and not losses.STYLE_LOSSES[self.style_loss].guided:
      guided = " or ".join(n for n, kind in losses.STYLE_LOSSES.items() if kind.guided)
      raise ValueError(f"style masks work with the {guided} style loss only, not "
                       f"{self.style_loss}")
    if self.guided and not features_lib.FEATURE_NETWORKS[self.network].guides:
      raise ValueError(f"style masks work with the VGGs, not {self.network} (its strided, "
                       "unpadded layers do not map a mask onto its positions exactly)")
    if self.style_layer_weights is not None:
      weights = tuple(float(w) for w in self.style_layer_weights)
      if len(weights) != len(self.style_layers):
        raise ValueError(f"{len(weights)} style layer weights for "
                         f"{len(self.style_layers)} style layers")
      object.__setattr__(self, "style_layer_weights", weights)
    if self.style_blend_weights is not None:
      blend = tuple(float(w) for w in self.style_blend_weights)
      for w in blend:
        in_range("a style blend weight", w, 0)
      if not sum(blend) > 0:
        raise ValueError(f"style blend weights must be non-negative with a positive sum, "
                         f"got {blend}")
      object.__setattr__(self, "style_blend_weights", blend)
    for name in ("content_weight", "style_weight", "tv_weight", "histogram_weight",
                 "temporal_weight"):
      in_range(name, getattr(self, name), 0)

  @property
  def layer_weights(self) -> dict[str, float]:
    if self.style_layer_weights is None:
      return {l: 1.0 / len(self.style_layers) for l in self.style_layers}  # w_l = 1/5 for 5.
    return dict(zip(self.style_layers, self.style_layer_weights))

  def blend_weights(self, num_styles: int) -> tuple[float, ...]:
    """Each style's weight: normalized to sum 1, or (guided) as given / 1 each."""
    if self.style_blend_weights is None:
      return (1.0,) * num_styles if self.guided else (1.0 / num_styles,) * num_styles
    if len(self.style_blend_weights) != num_styles:
      raise ValueError(f"{len(self.style_blend_weights)} style blend weights for "
                       f"{num_styles} style images")
    if self.guided:
      return self.style_blend_weights
    total = sum(self.style_blend_weights)
    return tuple(w / total for w in self.style_blend_weights)

  @property
  def tv_norm(self) -> str:
    """The total variation's normalization: tv_normalization, or the content's."""
    if self.tv_normalization is not None:
      return self.tv_normalization
    return "sum" if self.content_normalization == "sum" else "mean"

  @property
  def all_layers(self) -> tuple[str, ...]:
    return tuple(dict.fromkeys(self.content_layers + self.style_layers))


# The fields that are inputs of the compiled loss (`loss_weights`), not part of its program.
WEIGHT_FIELDS = ("content_weight", "style_weight", "tv_weight", "histogram_weight",
                 "style_layer_weights", "style_blend_weights", "temporal_weight")


def structure(config: ObjectiveConfig) -> ObjectiveConfig:
  """`config` with its loss weights (WEIGHT_FIELDS) reset: what the compiled programs
  depend on. Two configs with the same structure share their programs."""
  return dataclasses.replace(config, content_weight=1.0, style_weight=1.0, tv_weight=0.0,
                             histogram_weight=1.0, style_layer_weights=None,
                             style_blend_weights=None, temporal_weight=1.0)


def loss_weights(config: ObjectiveConfig, num_styles: int) -> dict[str, np.ndarray]:
  """The loss weights as float32 arrays, the traced inputs of the loss:
  {"content": alpha, "style": beta, "tv", "histogram", "temporal": scalars, "layers": w_l
  per style layer [L], "blend": each style image's weight [num_styles]}."""
  f32 = lambda v: np.asarray(v, np.float32)  # Host arrays: no device op compiled here.
  blend = config.blend_weights(num_styles) if config.style_layers else ()
  return {"content": f32(config.content_weight), "style": f32(config.style_weight),
          "tv": f32(config.tv_weight), "histogram": f32(config.histogram_weight),
          "temporal": f32(config.temporal_weight),
          "layers": f32(tuple(config.layer_weights.values())),
          "blend": f32(blend).reshape(len(blend))}


def _single_image_features(config: ObjectiveConfig, widths: tuple[int, ...],
                           preprocessing: str, kernels: str, precision: str):
  """features(image [H, W, 3], variables, layers) -> {layer: [h, w, c]}."""
  batched = features_lib.feature_fn(widths, preprocessing, config.pooling, kernels=kernels,
                                    precision=precision, network=config.network)

  def features(image: jax.Array, variables: Any, layers: Sequence[str]):
    return {k: v[0] for k, v in batched(variables, image[None], tuple(layers)).items()}

  return features


@functools.lru_cache(maxsize=32)
def _jitted_targets(config: ObjectiveConfig, widths: tuple[int, ...], preprocessing: str,
                    kernels: str, precision: str, tile_size: int | None = None):
  """(content_features(image, params, layers), style_statistics(image, params)), jitted;
  with a tile size, an image larger than one tile is computed tile by tile (`tiling`)."""
  features = _single_image_features(config, widths, preprocessing, kernels, precision)
  kind = losses.STYLE_LOSSES[config.style_loss]

  @functools.partial(jax.jit, static_argnums=2)
  def content_features(image, params, layers):
    tile_plan = _tile_plan(config, image.shape, tile_size)
    if tile_plan is None:
      return features(image, params, layers)
    strides = {l: features_lib.layer_stride(l, config.network) for l in layers}
    stacked = tiling.map_tiles(
        features, image, params, layers, tile_plan, tile_size, config.network,
        lambda crops, weights, offsets: (crops, weights, offsets), checkpoint=False)
    crops, weights, offsets = stacked
    return {l: tiling.assemble(crops[l], offsets[l], weights[l],
                               (image.shape[0] // strides[l], image.shape[1] // strides[l],
                                crops[l].shape[-1]))
            for l in layers}

  @jax.jit
  def style_statistics(image, params):
    tile_plan = _tile_plan(config, image.shape, tile_size)
    if tile_plan is None:
      feats = features(image, params, config.style_layers)
      return {l: losses.style_statistics(config.style_loss, feats[l])
              for l in config.style_layers}
    stacked = tiling.map_tiles(
        features, image, params, config.style_layers, tile_plan, tile_size, config.network,
        lambda crops, weights, _: {l: kind.moments(crops[l], weights[l]) for l in crops},
        checkpoint=False)
    return {l: kind.moments_statistics(kind.combine(stacked[l])) for l in config.style_layers}

  return content_features, style_statistics


def _tile_plan(config: ObjectiveConfig, shape: Sequence[int], tile_size: int | None,
               halo_px: int | None = None) -> tiling.Plan | None:
  """The tiles of an image of `shape` [H, W, 3], or None if it is one tile (or untiled)."""
  if tile_size is None:
    return None
  halo_auto, align = tiling.halo(config.network, config.all_layers)
  tile_plan = tiling.plan(shape[0], shape[1], tile_size,
                          halo_auto if halo_px is None else halo_px, align)
  return None if tile_plan.num_tiles == 1 else tile_plan


def layer_guide(mask: np.ndarray, layer: str, height: int, width: int) -> np.ndarray:
  """A region mask [H, W] (the image's size) at VGG-19's `layer`'s resolution, by box
  averaging.

  VGG-19's pooling drops odd trailing rows and columns, so the layer is
  H // stride x W // stride and each of its positions averages one stride x stride cell.
  """
  s = features_lib.layer_stride(layer)
  h, w = height // s, width // s
  cells = np.asarray(mask, np.float32)[: h * s, : w * s].reshape(h, s, w, s)
  return cells.mean(axis=(1, 3))


def compute_targets(content: jax.Array | None, styles: Sequence[jax.Array],
                    config: ObjectiveConfig, weights: NetworkWeights,
                    style_masks: Sequence[np.ndarray] | None = None, *,
                    kernels: str = "auto", precision: str = "float32",
                    key: jax.Array | None = None, tile_size: int | None = None,
                    temporal: tuple[np.ndarray, np.ndarray] | None = None) -> Targets:
  """Content features [H, W, C] and each style image's statistics, once.

  Args:
    content: RGB [H, W, 3] in [0, 1] (None if there are no content layers).
    styles: one or more RGB [h, w, 3] images in [0, 1]; sizes may differ.
    style_masks: with `config.guided`, one mask [H, W] in [0, 1] per style image at
      the content's size: where that style applies (0 everywhere else; positions no
      mask covers get no style, only content).
    kernels, precision: as for `make_loss_fn` (the targets are computed at the
      precision of the loss that compares with them).
    key: the PRNG key the random projections of a sliced_wasserstein loss are drawn
      from (folded with the step; None: jax.random.key(0)).
    tile_size: compute an image larger than this tile by tile (`tiling`; exact).
    temporal: with `config.temporal`, (the previous output warped into this frame
      [H, W, 3], its reliability [H, W] in [0, 1]) at the content's size.
  """
  _check_network(config, weights)
  if tile_size is not None:
    tiling.check_tileable(config.network, config.style_loss)
  content_features, style_statistics = _jitted_targets(
      structure(config), weights.widths, weights.preprocessing, kernels_lib.resolve(kernels),
      precision, tile_size)
  targets: Targets = {"content": {}, "style": [],
                      # On the device once, not copied from the host at every step.
                      "weights": jax.tree.map(jnp.asarray, loss_weights(config, len(styles)))}
  if losses.STYLE_LOSSES[config.style_loss].random:
    key = jax.random.key(0) if key is None else key
    if not jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
      key = jax.random.wrap_key_data(key)  # A raw uint32 key (jax.random.PRNGKey).
    targets["key"] = jax.random.key_data(key)
  # Without the CPU kernels' derived kernels: the targets are one forward pass each, so
  # Winograd would save milliseconds and cost seconds of compiling.
  params = {"params": features_lib.network_variables(weights, "xla", config.all_layers)[
      "params"]}
  if config.content_layers:
    if content is None:
      raise ValueError("content layers are set but no content image was given")
    targets["content"] = content_features(jnp.asarray(content), params,
                                          config.content_layers)
  if config.style_layers:
    if not styles:
      raise ValueError("style layers are set but no style image was given")
    targets["style"] = [style_statistics(jnp.asarray(s), params) for s in styles]
  if config.guided:
    if content is None or style_masks is None or len(style_masks) != len(styles):
      raise ValueError("spatial control needs the content image and one mask per style "
                       f"image ({len(styles)})")
    height, width = np.shape(content)[:2]
    targets["guides"] = []
    for mask in style_masks:
      if np.shape(mask) != (height, width):
        raise ValueError(f"style mask {np.shape(mask)} must be the content's size "
                         f"{(height, width)}")
      targets["guides"].append({l: jnp.asarray(layer_guide(mask, l, height, width))
                                for l in config.style_layers})
  elif style_masks is not None:
    raise ValueError("style masks were given but the config is not guided")
  if config.temporal:
    if content is None or temporal is None:
      raise ValueError("a temporal objective needs the content image and the warped "
                       "previous output with its reliability")
    warped, reliable = inputs.check_temporal(temporal, *np.shape(content)[:2])
    targets["temporal"] = {"image": jnp.asarray(warped, jnp.float32),
                           "reliable": jnp.asarray(reliable, jnp.float32)}
  elif temporal is not None:
    raise ValueError("a temporal target was given but the config is not temporal")
  return targets


def make_loss_fn(config: ObjectiveConfig, weights: NetworkWeights, *, num_styles: int = 1,
                 kernels: str = "auto", precision: str = "float32",
                 tile_size: int | None = None, halo: int | None = None) -> LossFn:
  """Returns `loss_fn(image [H, W, 3], targets, variables, step=0) -> (total, components)`.

  `variables` is `features.network_variables(weights, kernels, config.all_layers)` (or
  with every layer); components are the unweighted content, style and total-variation
  losses (and with a temporal target the temporal one). `step` (an integer, traced or
  not) only matters to losses with random projections (`loss_fn.uses_step`: the result
  is a `solvers.Loss`). Several style
  images: the blend-weighted sum of each one's style loss. kernels: "auto", "xla" or
  "cpu" (`jaxstyle.kernels`); precision: the convolutions' (`jaxstyle.precision`).
  The loss weights are read from `targets["weights"]` (`compute_targets` puts
  `loss_weights(config, ...)` there), not from `config`: the same settings but for the
  weights (`structure`) give an equal `solvers.Loss` (its key is those settings), so
  programs that `optimize.minimize` compiled for one are reused whatever the weights.

  tile_size: an image larger than one tile is evaluated tile by tile with the same
  value and gradient, in the memory of one tile (`tiling`; gram and mean_cov on the
  VGGs); halo: the tiles' halo in pixels (None: the deepest layer's reach, rounded up to
  its stride; tests shorten it to show that the reach is needed).
  """
  _check_network(config, weights)
  if tile_size is not None:
    tiling.check_tileable(config.network, config.style_loss)
  return _make_loss_fn(structure(config), weights.widths, weights.preprocessing, num_styles,
                       kernels_lib.resolve(kernels), precision, tile_size, halo)


def _check_network(config: ObjectiveConfig, weights: Any) -> None:
  if features_lib.network_of(weights) != config.network:
    raise ValueError(f"the weights are {features_lib.network_of(weights)}'s but the "
                     f"objective is for {config.network}")


# The content loss from sums over positions of the difference d = F - P (its squares, its
# absolute values) and the number of elements: `losses.content_loss`,
# `losses.mean_content_loss` and `losses.scaled_content_loss` for tiles.
_CONTENT_FROM_SUMS = {
    "sum": lambda squares, absolute, n: 0.5 * squares,
    "mean": lambda squares, absolute, n: squares / n,
    "scaled": lambda squares, absolute, n: squares / (absolute + 1e-8),
}


@functools.lru_cache(maxsize=32)
def _make_loss_fn(config: ObjectiveConfig, widths: tuple[int, ...], preprocessing: str,
                  num_styles_expected: int, kernels: str, precision: str,
                  tile_size: int | None = None, halo_px: int | None = None) -> LossFn:
  features_of = _single_image_features(config, widths, preprocessing, kernels, precision)
  content_loss = {"sum": losses.content_loss, "mean": losses.mean_content_loss,
                  "scaled": losses.scaled_content_loss}[config.content_normalization]

  kind = losses.STYLE_LOSSES[config.style_loss]

  def untiled(image, targets, params, w):
    """(content loss, distance(style index, layer index, layer, key))."""
    feats = features_of(image, params, config.all_layers)
    content = sum((content_loss(feats[l], targets["content"][l])
                   for l in config.content_layers), jnp.zeros((), jnp.float32))
    guides = targets.get("guides")

    def distance(i, layer, key):
      extra = {} if guides is None else {"guide": guides[i][layer]}
      return kind.distance(feats[layer], targets["style"][i][layer], key=key,
                           histogram_weight=w["histogram"], **extra)

    return content, distance

  def tiled(image, targets, params, w, tile_plan):
    """`untiled`'s pair from the tiles' sums and moments (`tiling`)."""
    guides = targets.get("guides")

    def tile_fn(crops, weights, offsets):
      content = {}
      for l in config.content_layers:
        target = tiling.owned_slice(targets["content"][l], offsets[l], crops[l].shape[:2])
        d = (crops[l] - target) * weights[l][..., None]
        content[l] = (jnp.sum(jnp.square(d)), jnp.sum(jnp.abs(d)))
      style = {}
      for l in config.style_layers:
        if guides is None:  # One set of moments serves every style image.
          style[l] = [kind.moments(crops[l], weights[l])]
        else:
          style[l] = [kind.moments(crops[l], weights[l] * tiling.owned_slice(
              g[l], offsets[l], crops[l].shape[:2])) for g in guides]
      return content, style

    stacked_content, stacked_style = tiling.map_tiles(
        features_of, image, params, config.all_layers, tile_plan, tile_size, config.network,
        tile_fn)
    content = jnp.zeros((), jnp.float32)
    for l in config.content_layers:
      squares, absolute = (jnp.sum(x) for x in stacked_content[l])
      content = content + _CONTENT_FROM_SUMS[config.content_normalization](
          squares, absolute, targets["content"][l].size)
    moments = {l: [kind.combine(m) for m in stacked_style[l]] for l in config.style_layers}

    def distance(i, layer, key):
      del key  # The tileable losses draw no projections.
      return kind.moments_distance(moments[layer][0 if guides is None else i],
                                   targets["style"][i][layer], histogram_weight=w["histogram"])

    return content, distance

  def loss_fn(image: jax.Array, targets: Targets, params: Any, step: Any = 0):
    if "weights" not in targets:
      raise ValueError("the targets carry no loss weights: make them with compute_targets "
                       "(or add targets['weights'] = loss_weights(config, num_styles))")
    w = targets["weights"]
    num_styles = len(targets["style"]) if config.style_layers else 0
    if num_styles and num_styles != num_styles_expected:
      raise ValueError(f"{num_styles} style targets for a loss made for {num_styles_expected}")
    tile_plan = _tile_plan(config, image.shape, tile_size, halo_px)
    if tile_plan is None:
      content, distance = untiled(image, targets, params, w)
    else:
      content, distance = tiled(image, targets, params, w, tile_plan)
    key = None
    if "key" in targets:
      key = jax.random.fold_in(jax.random.wrap_key_data(targets["key"]), step)
    style = jnp.zeros((), jnp.float32)
    for i in range(num_styles):
      key_i = None if key is None else jax.random.fold_in(key, i)
      per_style = jnp.zeros((), jnp.float32)
      for j, layer in enumerate(config.style_layers):
        per_style = per_style + w["layers"][j] * distance(
            i, layer, None if key_i is None else jax.random.fold_in(key_i, j))
      style = style + w["blend"][i] * per_style
    # Always computed (it is cheap), so that a TV weight of 0 and > 0 share the program.
    tv = losses.total_variation_loss(image)
    if config.tv_norm == "mean":  # Per pixel and channel, as the mean content loss.
      tv = tv / image.size
    total = losses.total_loss(content, style, tv, content_weight=w["content"],
                              style_weight=w["style"], tv_weight=w["tv"])
    components = {"content": content, "style": style, "tv": tv}
    if config.temporal:
      previous = targets["temporal"]
      components["temporal"] = losses.temporal_loss(image, previous["image"],
                                                    previous["reliable"])
      total = total + w["temporal"] * components["temporal"]
    return total, components

  return solvers.Loss(loss_fn, uses_step=kind.random,
                      key=("gatys.objective", config, widths, preprocessing,
                           num_styles_expected, kernels, precision, tile_size, halo_px))
