"""`stylize`: the Python API for Gatys et al. style transfer on arrays."""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging

from jaxstyle import color
from jaxstyle import features as features_lib
from jaxstyle import images as images_lib
from jaxstyle import kernels as kernels_lib
from jaxstyle import precision as precision_lib
from jaxstyle import weights as weights_lib
from jaxstyle.errors import UserError
from jaxstyle.gatys import optimize
from jaxstyle.gatys.objective import (DEFAULT_CONTENT_NORMALIZATION, DEFAULT_HISTOGRAM_WEIGHT,
                                      ObjectiveConfig, compute_targets, default_style_weight,
                                      loss_weights, make_loss_fn)
from jaxstyle.images import resize_to
from jaxstyle.kernels import vgg_cpu
from jaxstyle.nets.vgg import LAYER_NAMES, layer_stride, layer_width

# "arbitrary": the content stylized with the first style by the arbitrary-style network
# (Ghiasi et al. 2017, `jaxstyle.arbitrary`), the optimization refining its output.
# "auto": the content photo for one seed (no white-noise speckle, the PyTorch tools'
# start), white noise for several (seeds only differ from noise).
INITS = ("auto", "noise", "content", "style", "arbitrary")
# Coarse-to-fine by default: the coarsest scale about this many pixels on its longer side.
AUTO_SCALES_SIZE = 256
# The weights a sweep may vary (a sequence of values each), and their short names in
# file names and labels ("out_sw1e-04.png").
SWEEPABLE = {"content_weight": "cw", "style_weight": "sw", "tv_weight": "tv"}


def sweep_points(**values) -> list[dict[str, float]] | None:
  """The points of a weight sweep: `values` maps SWEEPABLE names to a number or a
  sequence of numbers; the points are every combination of the sequences' values (the
  first name varying slowest), each a dict of the swept names only. None: no sequence
  given (a single run)."""
  swept = {}
  for name, value in values.items():
    if name not in SWEEPABLE:
      raise ValueError(f"only {', '.join(SWEEPABLE)} can be swept, not {name}")
    if value is not None and not isinstance(value, (int, float, np.number)):
      value = tuple(float(v) for v in value)
      if not value:
        raise ValueError(f"{name}: an empty sweep")
      if len(set(value)) != len(value):
        raise ValueError(f"{name}: the sweep {value} repeats a value")
      swept[name] = value
  if not swept:
    return None
  points = [{}]
  for name, value in swept.items():
    points = [dict(p, **{name: v}) for p in points for v in value]
  return points


def format_number(value: float) -> str:
  """1e-4 -> "1e-04", 2.5e-3 -> "2.5e-03": short, exact to 7 digits, file-name safe."""
  mantissa, exponent = f"{value:.6e}".split("e")
  return f"{mantissa.rstrip('0').rstrip('.')}e{exponent}"


def point_label(point: dict[str, float], sep: str = "") -> str:
  """A sweep point's short name: {"style_weight": 1e-4} -> "sw1e-04" (sep " ":
  "sw 1e-04")."""
  return "_".join(f"{SWEEPABLE[k]}{sep}{format_number(v)}" for k, v in point.items())


def auto_scales(height: int, width: int, *, factor: float = 2.0,
                coarsest_size: int | None = None) -> int:
  """scales=None's choice. Without coarsest_size: halvings from the full size down to
  about AUTO_SCALES_SIZE px on the longer side (1 up to 511 px, 2 from 512, 3 from
  1024, ...). With it: every size full / factor^k whose longer side is at least
  coarsest_size (crowsonkb's schedule: factor sqrt(2) from 128 px gives 3 scales at
  256 px, 5 at 512), at least one."""
  longer = max(height, width)
  if coarsest_size is None:
    count = 1
    while longer >= 2 * AUTO_SCALES_SIZE:
      longer //= 2
      count += 1
    return count
  count = 1
  while round(longer / factor**count) >= coarsest_size:
    count += 1
  return count


def resolve_init(init, num_seeds: int):
  """init="auto" -> "content" for one seed, "noise" for several; others as given."""
  if isinstance(init, str) and init == "auto":
    return "noise" if num_seeds > 1 else "content"
  return init
PRECISIONS = precision_lib.PRECISIONS
# White-noise start: N(0.5, NOISE_STD^2) per pixel and channel. Gatys et al. start
# from white noise without stating its amplitude; a small one converges to cleaner
# images in fewer steps than uniform [0, 1] noise.
NOISE_STD = 0.1


@dataclasses.dataclass
class StylizeResult:
  """What `stylize` returns.

  Attributes:
    images: [S, H, W, 3] float32 in [0, 1], one per seed (S = 1 unless num_seeds > 1),
      or one per (sweep point, seed), point-major.
    seeds: the seed of each image (image i starts from the noise of a run with seeds[i]).
    points: for a weight sweep, each image's swept weights ({"style_weight": 1e-4}, ...:
      `sweep_points`); None otherwise.
    history: per-step losses [steps + 1, S] ("total", "content", "style", "tv") and
      "time" [steps + 1] in seconds.
    steps: steps completed.
    stopped: None, or why the run stopped early (e.g. a NaN loss, an interrupt).
    config: the settings used.
    interrupted: the run was stopped by Ctrl-C or SIGTERM (`images` are the last ones).
  """

  images: np.ndarray
  seeds: list[int]
  history: dict[str, np.ndarray]
  steps: int
  stopped: str | None
  config: dict[str, Any]
  interrupted: bool = False
  points: list[dict[str, float]] | None = None


def noise_images(seeds: Sequence[int], shape: Sequence[int]) -> jax.Array:
  """White-noise starting images [len(seeds), *shape], one PRNG key per seed."""
  keys = jax.vmap(jax.random.key)(jnp.asarray(seeds, jnp.uint32))
  noise = jax.vmap(lambda k: jax.random.normal(k, tuple(shape), jnp.float32))(keys)
  return 0.5 + NOISE_STD * noise


def _check_image(name: str, image) -> np.ndarray:
  image = np.asarray(image, np.float32)
  if image.ndim != 3 or image.shape[-1] != 3:
    raise ValueError(f"{name} must be an RGB image [H, W, 3], got shape {image.shape}")
  if min(image.shape[:2]) < 16:
    raise ValueError(f"{name} is {image.shape[1]}x{image.shape[0]} px; at least 16 px per side")
  if not np.all(np.isfinite(image)):
    raise ValueError(f"{name} contains NaN or inf")
  return image


# For the memory estimate: VGG-19 layers at least as deep and wide as another
# network's layers (VGG-16's names are VGG-19's; AlexNet's stride-4 start keeps it
# below VGG-19's first two blocks).
def _vgg19_bound(layers: Sequence[str], network: str) -> Sequence[str]:
  if network == "alexnet":
    return ("pool2",)
  return layers


def estimate_memory_bytes(height: int, width: int, *, num_seeds: int, layers: Sequence[str],
                          method: str, history_size: int, widths=(64, 128, 256, 512, 512),
                          kernels: str = "auto", network: str = "vgg19") -> int:
  """A rough upper bound of the memory one optimization needs, in bytes.

  Counts the activations of every layer up to the deepest used one, twice (forward
  values kept for the backward pass, and their gradients), per seed, plus the
  optimizer's image-sized buffers, the weights and, with the CPU kernels, the kernels
  derived from them (`kernels.vgg_cpu.derived_bytes`). Other networks than VGG-19 are
  bounded by VGG-19's layers (`_vgg19_bound`).
  """
  layers = _vgg19_bound(layers, network)
  last = max(LAYER_NAMES.index(l) for l in layers)
  activations = 0
  for name in LAYER_NAMES[: last + 1]:
    s = layer_stride(name)
    activations += (height // s) * (width // s) * layer_width(name, widths)
  image = height * width * 3
  buffers = 2 * history_size + 6 if "lbfgs" in method else 6
  per_seed = 4 * (2 * activations + buffers * image)
  kernel_shapes, cin = [], 3
  for name in LAYER_NAMES:
    if name.startswith("conv"):
      kernel_shapes.append((3, 3, cin, layer_width(name, widths)))
      cin = layer_width(name, widths)
  network = sum(4 * (int(np.prod(k)) + k[-1]) for k in kernel_shapes)
  if kernels_lib.resolve(kernels) == "cpu":
    network += vgg_cpu.derived_bytes(kernel_shapes)
  return num_seeds * per_seed + network


def available_memory_bytes() -> int | None:
  """Free memory of the default device: GPU/TPU bytes limit, or MemAvailable on CPU."""
  device = jax.devices()[0]
  if device.platform != "cpu":
    stats = device.memory_stats() or {}
    limit = stats.get("bytes_limit")
    return int(limit - stats.get("bytes_in_use", 0)) if limit else None
  try:
    with open("/proc/meminfo") as f:
      for line in f:
        if line.startswith("MemAvailable:"):
          return int(line.split()[1]) * 1024
  except OSError:
    pass
  return None


def check_memory(height: int, width: int, *, num_seeds: int, layers: Sequence[str],
                 method: str, history_size: int, shard_seeds: bool | None = None,
                 kernels: str = "auto", network: str = "vgg19") -> None:
  """Raises UserError, saying how much is needed, if the run cannot fit in memory.

  Seeds that will be sharded (see optimize.seed_sharding) count per device.
  """
  if shard_seeds is not False and optimize.seed_sharding(num_seeds) is not None:
    num_seeds //= jax.device_count()
  need = estimate_memory_bytes(height, width, num_seeds=num_seeds, layers=layers,
                               method=method, history_size=history_size, kernels=kernels,
                               network=network)
  have = available_memory_bytes()
  if have is not None and need > have:
    gib = 2**30
    raise UserError(
        f"a {width}x{height} px image with {num_seeds} seed(s) needs about "
        f"{need / gib:.1f} GiB but only {have / gib:.1f} GiB is free on "
        f"{jax.devices()[0].platform}; use a smaller --image_size, fewer --num_seeds, "
        "or a device with more memory")


def _level_shapes(height: int, width: int, scales: int, factor: float = 2.0
                  ) -> list[tuple[int, int]]:
  """(h, w) of each scale, coarsest first, dividing the size by `factor` per level."""
  shapes = []
  for k in range(scales - 1, -1, -1):
    f = factor**-k
    shapes.append((max(1, round(height * f)), max(1, round(width * f))))
  return shapes


def _scaled_style(style: np.ndarray, factor: float) -> np.ndarray:
  """The style image shrunk with the output at a coarse scale, but kept >= 16 px a side."""
  h, w = style.shape[:2]
  factor = max(factor, min(1.0, 16.0 / min(h, w)))
  if factor == 1.0:
    return style
  return resize_to(style, max(16, round(h * factor)), max(16, round(w * factor)))


def prepare_styles(content: np.ndarray, styles: Sequence[np.ndarray], *,
                   style_scale: float | None = None, style_rotation: float = 0.0,
                   preserve_color: str | None = None) -> list[np.ndarray]:
  """The style images as the network will see them: scaled, rotated, color-matched.

  Args:
    content: RGB [H, W, 3]; the reference for `style_scale` and for colors.
    styles: RGB [h, w, 3] images.
    style_scale: resize each style so its longer side is style_scale x the content's
      longer side (None: as given).
    style_rotation: degrees counter-clockwise (cropped to the largest full rectangle).
    preserve_color: None, "histogram" (the style gets the content's color mean and
      covariance) or "luminance" (the style's luminance, matched to the content's,
      as a gray RGB image).
  """
  out = []
  for i, style in enumerate(styles):
    if style_scale is not None:
      size = round(style_scale * max(content.shape[:2]))
      style = resize_to(style, *images_lib.scaled_shape(*style.shape[:2], size))
    if style_rotation:
      style = images_lib.rotate_image(style, style_rotation)
    if preserve_color == "histogram":
      style = color.match_color(style, content)
    elif preserve_color == "luminance":
      style = color.gray_rgb(color.match_luminance(color.luminance(style),
                                                   color.luminance(content)))
    out.append(_check_image(f"style image {i + 1} (after scaling and rotation)", style))
  return out


def stylize(content, style, *, weights: weights_lib.VGGWeights | None = None,
            style_blend_weights: Sequence[float] | None = None,
            content_layers: Sequence[str] | None = None,
            style_layers: Sequence[str] | None = None,
            style_layer_weights: Sequence[float] | None = None,
            content_weight: float | Sequence[float] = 1.0,
            style_weight: float | Sequence[float] | None = None,
            tv_weight: float | Sequence[float] = 0.0,
            pooling: str = "max", optimizer: str = "lbfgs", num_steps: int = 500,
            learning_rate: float | None = None, lbfgs_history: int = 20,
            lbfgs_linesearch: str | None = None, init="auto", seed: int = 0,
            num_seeds: int = 1, log_every: int = 50,
            callback: Callable[[int, np.ndarray], None] | None = None,
            callback_every: int = 0, precision: str = "float32", kernels: str = "auto",
            steps_per_call: int | None = None,
            shard_seeds: bool | None = None, style_scale: float | None = None,
            style_rotation: float = 0.0, preserve_color: str | None = None,
            style_masks: Sequence[np.ndarray] | None = None, scales: int | None = None,
            scale_steps: Sequence[int] | None = None,
            arbitrary_weights: Any | None = None, style_loss: str = "gram",
            content_normalization: str = DEFAULT_CONTENT_NORMALIZATION,
            average_decay: float | None = None, clamp: bool = False,
            adam_betas: Sequence[float] | None = None,
            network: str | None = None, time_limit: float | None = None,
            scale_factor: float = 2.0, coarsest_size: int | None = None,
            finer_steps: int | None = None, carry_state: bool = False,
            tv_normalization: str | None = None,
            histogram_weight: float = DEFAULT_HISTOGRAM_WEIGHT) -> StylizeResult:
  """Synthesizes images with `content`'s features and `style`'s Gram statistics.

  Args:
    content: RGB [H, W, 3] float in [0, 1]; the output has its size.
    style: one RGB [h, w, 3] image in [0, 1], or a list of them (blended).
    weights: the feature network's weights: `VGGWeights` (VGG-19) or
      `weights.lpips.NetworkWeights` (VGG-16, AlexNet); None: `network`'s default file,
      fetched on first use (see `jaxstyle.weights`).
    style_blend_weights: one weight per style image (default: equal). Normalized to
      sum to 1 (so (0.25, 0.75) and (1, 3) interpolate alike); with `style_masks`,
      each style's strength in its region instead (default 1 each).
    content_layers, style_layers, style_layer_weights: what is matched (None: the
      network's defaults, `features.DEFAULT_LAYERS`; for VGG-19 conv4_2 and
      conv1_1..conv5_1 with w_l = 1/5, as in the paper).
    content_weight, style_weight: alpha and beta. style_weight None: the style loss's
      and network's calibrated default (`objective.default_style_weight`; gram on VGG-19:
      1e-3, i.e. alpha/beta = 1e3 with content_normalization="mean"), which suits the
      unnormalized networks at every size; the paper's 1e-3 is for its normalized
      network and summed content loss.
    tv_weight: total-variation weight (0: off, as in the paper).
      content_weight, style_weight and tv_weight each take a sequence too: a sweep over
      every combination of the given values (`sweep_points`), crossed with the seeds,
      run as one vmapped program (the weights are its inputs); each point starts as a
      single run with its weights would. `images` then holds one image per (point, seed).
    pooling: "max" or "avg".
    optimizer: one of `optimize.METHODS`.
    num_steps: optimizer iterations (per scale: see `scale_steps`).
    learning_rate: for adam/sgd/adagrad.
    lbfgs_history, lbfgs_linesearch: L-BFGS memory, and None (unit step), "zoom" or
      "backtracking".
    init: "auto" (the default: "content" for one seed, "noise" for several), "noise",
      "content", "style", "arbitrary" (the content stylized with the first style image by
      the arbitrary-style network, `jaxstyle.arbitrary.stylize_arbitrary`, at the
      content's size), or an RGB image [H, W, 3] (resized if needed).
    seed, num_seeds: white-noise starts use seeds seed, seed + 1, ...; they run
      together as one vmapped program.
    log_every: a progress line every this many steps.
    callback: called as callback(step, images [S, h, w, 3]) every callback_every steps
      (steps counted across scales; images at the current scale).
    precision: the convolutions' precision, for the targets and the loss alike:
      "float32" (default: float32 on every backend), "tensorfloat32" or "bfloat16"
      (faster on GPUs/TPUs, slightly different losses); see `jaxstyle.precision`. Gram
      matrices are always computed in float32.
    kernels: "auto" (default: the CPU kernels on the CPU backend, plain XLA
      elsewhere), "xla" or "cpu"; see `jaxstyle.kernels`.
    steps_per_call: optimizer steps per device call (None: `optimize.steps_per_call`'s
      choice for the backend).
    shard_seeds: split the seeds over all `jax.devices()` (jax.sharding); None: whenever
      there are several devices and num_seeds is a multiple of their count. The images
      are the same either way.
    style_scale: each style image's longer side as a fraction of the content's (e.g.
      0.5: the painting's strokes come out at half the size); None: as given.
    style_rotation: rotate the style image(s) by this many degrees first.
    preserve_color: None, "luminance" (transfer on luminance, keep the content's
      colors) or "histogram" (match the style's colors to the content's first); Gatys
      et al., "Preserving Color in Neural Artistic Style Transfer" (2016).
    style_masks: spatial control: one mask [h, w] in [0, 1] per style image (resized to
      the content's size): where that style applies; where no mask is set, no style.
    scales: coarse-to-fine: optimize at 1/2^(scales-1) of the size first, upsample the
      result and refine, doubling the size up to the full one. None: `auto_scales`
      (from about 256 px: 1 scale below 512 px, 2 from 512, 3 from 1024), or as many
      as `scale_steps` has values.
    scale_steps: steps at each scale, coarsest first (default: num_steps at the
      coarsest, then `finer_steps` at each finer scale, or half as many per scale).
    scale_factor: the size ratio of neighbouring scales (2: halvings; crowsonkb uses
      sqrt(2)).
    coarsest_size: with scales=None, the scales are every size full / scale_factor^k
      down to this many px on the longer side (`auto_scales`).
    finer_steps: steps at each scale after the coarsest (None: halve per scale).
    carry_state: first-order methods: each finer scale starts from the coarser one's
      optimizer state, resized (`optimize.resize_state`; crowsonkb's Adam warm start),
      instead of a fresh one. Iterate averaging restarts at each scale.
    tv_normalization: "mean" or "sum" total variation; None: "sum" with the summed
      content loss, "mean" otherwise (`ObjectiveConfig`).
    histogram_weight: style_loss="histogram": its histogram term's weight (Risser's
      gamma; `objective.DEFAULT_HISTOGRAM_WEIGHT`).
    arbitrary_weights: for init="arbitrary", the arbitrary-style networks'
      `jaxstyle.weights.arbitrary.ArbitraryWeights` (None: the default file, fetched on
      first use).
    style_loss: the style statistics matched, one of `losses.STYLE_LOSSES`: "gram"
      (the paper's Gram matrices), "mean_cov" (2-Wasserstein distance of Gaussians),
      "sliced_wasserstein" (random 1-D projections, new every step, drawn from `seed`)
      or "histogram" (Gram plus per-channel histogram matching).
    content_normalization: "mean" (mean squared error over the layer's elements: the
      same look at every size) or "sum" (the paper's Eq. 1); see `ObjectiveConfig`.
    average_decay, clamp, adam_betas: options of the first-order optimizers (adam, sgd,
      adagrad): the result is the running average of the iterates with this decay
      (e.g. 0.99); the image is clipped to [0, 1] after every step; Adam's (b1, b2).
      See `optimize.FirstOrderOptions`.
    network: "vgg19", "vgg16" or "alexnet" (`features.NETWORKS`); None: the weights'
      network, or VGG-19.
    time_limit: seconds of optimization (compiling excluded) after which to stop,
      whatever the steps done; with several scales, each gets a share in proportion to
      its steps x pixels. For comparisons at equal wall time.
  """
  content = _check_image("content image", content)
  init_given = init if isinstance(init, str) else "image"
  init = resolve_init(init, num_seeds)
  _check_schedule(scale_factor=scale_factor, coarsest_size=coarsest_size,
                  finer_steps=finer_steps, carry_state=carry_state, optimizer=optimizer)
  if scales is None:
    scales = (len(scale_steps) if scale_steps is not None else
              auto_scales(*content.shape[:2], factor=scale_factor,
                          coarsest_size=coarsest_size))
  styles = [style] if isinstance(style, np.ndarray) and np.ndim(style) == 3 else list(style)
  styles = [_check_image(f"style image {i + 1}", s) for i, s in enumerate(styles)]
  scale_steps = _check_settings(
      num_steps=num_steps, num_seeds=num_seeds, init=init, optimizer=optimizer,
      precision=precision, kernels=kernels, preserve_color=preserve_color,
      style_scale=style_scale, scales=scales, scale_steps=scale_steps,
      steps_per_call=steps_per_call, finer_steps=finer_steps, learning_rate=learning_rate)
  first_order = optimize.FirstOrderOptions(
      average_decay=average_decay, clamp=clamp,
      adam_betas=None if adam_betas is None else tuple(adam_betas))
  if first_order != optimize.FirstOrderOptions() and optimizer not in optimize.FIRST_ORDER:
    raise ValueError(f"average_decay, clamp and adam_betas are options of "
                     f"{', '.join(optimize.FIRST_ORDER)}, not {optimizer}")
  if style_masks is not None and len(style_masks) != len(styles):
    raise ValueError(f"{len(style_masks)} style masks for {len(styles)} style images")
  if weights is not None:
    if network is not None and features_lib.network_of(weights) != network:
      raise ValueError(f"network={network} but the weights are "
                       f"{features_lib.network_of(weights)}'s")
    network = features_lib.network_of(weights)
  network = features_lib.check_network(network or "vgg19")
  default_content, default_style = features_lib.DEFAULT_LAYERS[network]
  content_layers = default_content if content_layers is None else content_layers
  style_layers = default_style if style_layers is None else style_layers
  if style_weight is None:
    style_weight = default_style_weight(style_loss, network)
  points = sweep_points(content_weight=content_weight, style_weight=style_weight,
                        tv_weight=tv_weight)
  if points is not None:  # The first point's config; each point's checked below.
    content_weight, style_weight, tv_weight = (
        points[0].get(name, value) for name, value in
        (("content_weight", content_weight), ("style_weight", style_weight),
         ("tv_weight", tv_weight)))
  config = ObjectiveConfig(
      network=network,
      content_layers=tuple(content_layers), style_layers=tuple(style_layers),
      style_layer_weights=None if style_layer_weights is None else tuple(style_layer_weights),
      style_blend_weights=None if style_blend_weights is None else tuple(style_blend_weights),
      content_weight=content_weight, style_weight=style_weight, tv_weight=tv_weight,
      pooling=pooling, guided=style_masks is not None, style_loss=style_loss,
      content_normalization=content_normalization, tv_normalization=tv_normalization,
      histogram_weight=histogram_weight)
  if config.style_layers:
    config.blend_weights(len(styles))  # Checks the count early.
  # The config of each image: one per (point, seed), point-major.
  image_configs = None
  if points is not None:
    image_configs = [dataclasses.replace(config, **p) for p in points for _ in range(num_seeds)]
  num_images = num_seeds * (1 if points is None else len(points))
  height, width = content.shape[:2]
  check_memory(height, width, num_seeds=num_images, layers=config.all_layers,
               method=optimizer, history_size=lbfgs_history, shard_seeds=shard_seeds,
               kernels=kernels, network=network)
  if weights is None:
    weights = features_lib.load_weights(network, log=logging.info)

  original = content
  styles = prepare_styles(content, styles, style_scale=style_scale,
                          style_rotation=style_rotation, preserve_color=preserve_color)
  masks = _check_masks(style_masks)
  seeds = [seed + i for i in range(num_seeds)]
  if isinstance(init, str) and init == "arbitrary":
    if arbitrary_weights is None:
      from jaxstyle.weights import arbitrary  # pylint: disable=import-outside-toplevel
      arbitrary_weights = arbitrary.ensure_default()
    start = arbitrary_start(arbitrary_weights, content, styles[0], kernels=kernels,
                            precision=precision)
  else:
    start = _starting_image(init, content, styles)
  if preserve_color == "luminance":
    content = color.gray_rgb(color.luminance(content))
    if start is not None and not (isinstance(init, str) and init == "style"):
      start = color.gray_rgb(color.luminance(start))

  shapes = _level_shapes(height, width, scales, scale_factor)
  if min(shapes[0]) < 16:
    raise ValueError(f"with {scales} scales the coarsest image is {shapes[0][1]}x"
                     f"{shapes[0][0]} px; at least 16 px per side: use fewer scales")
  level_settings = dict(
      weights=weights, config=config, method=optimizer, learning_rate=learning_rate,
      history_size=lbfgs_history, linesearch=lbfgs_linesearch, log_every=log_every,
      callback_every=callback_every, precision=precision, kernels=kernels,
      steps_per_call=steps_per_call, shard_seeds=shard_seeds, key=jax.random.key(seed),
      first_order=first_order)
  x, results, levels = None, [], []
  work = [h * w * steps for (h, w), steps in zip(shapes, scale_steps)]
  for level, ((h, w), steps) in enumerate(zip(shapes, scale_steps)):
    level_time = None
    if time_limit is not None:
      used = sum(float(r.history["time"][-1] - r.history["time"][1]) for r in results
                 if len(r.history["time"]) > 1)
      level_time = max(time_limit - used, 1e-3) * work[level] / sum(work[level:])
    if x is None:
      x0 = _initial_images(start, seeds, h, w)
      if points is not None:  # Each point starts as its single run would.
        x0 = jnp.concatenate([jnp.broadcast_to(x0, (num_seeds, h, w, 3))] * len(points))
    else:
      x0 = jnp.asarray(np.stack([resize_to(np.clip(im, 0, 1), h, w) for im in x]))
    if scales > 1:
      logging.info("scale %d/%d: %dx%d px, %d steps", level + 1, scales, w, h, steps)
    done = sum(r.steps for r in results)
    level_callback = None
    if callback is not None:
      level_callback = lambda k, images, offset=done: callback(offset + k, images)
    result = _optimize_level(
        x0, resize_to(content, h, w),
        [_check_image(f"style image {i + 1} at {w}x{h} px", _scaled_style(s, h / height))
         for i, s in enumerate(styles)],
        None if masks is None else [_resized_mask(m, h, w) for m in masks],
        num_steps=steps, callback=level_callback, time_limit=level_time,
        initial_state=(optimize.resize_state(results[-1].state, shapes[level - 1], (h, w))
                       if carry_state and results else None),
        image_configs=image_configs, **level_settings)
    x = result.x
    results.append(result)
    levels.append({"height": h, "width": w, "steps": result.steps})
    if result.stopped:
      break
  images = np.clip(x, 0.0, 1.0)
  if images.shape[1:3] != (height, width):  # Stopped early at a coarser scale.
    images = np.stack([resize_to(im, height, width) for im in images])
  images = _restore_color(images, original, preserve_color)

  settings = dataclasses.asdict(config)
  if points is not None:  # The swept values, as given.
    settings.update({name: tuple(dict.fromkeys(p[name] for p in points))
                     for name in points[0]})
  settings.update(optimizer=optimizer, num_steps=num_steps, learning_rate=learning_rate,
                  lbfgs_history=lbfgs_history, lbfgs_linesearch=lbfgs_linesearch,
                  init=init if isinstance(init, str) else "image", init_given=init_given,
                  seed=seed,
                  num_seeds=num_seeds, height=height, width=width, noise_std=NOISE_STD,
                  precision=precision, kernels=kernels_lib.resolve(kernels),
                  steps_per_call=results[0].steps_per_call,
                  average_decay=average_decay, clamp=clamp, time_limit=time_limit,
                  time_limited=any(r.time_limited for r in results),
                  adam_betas=first_order.adam_betas,
                  style_scale=style_scale, style_rotation=style_rotation,
                  preserve_color=preserve_color, scales=levels, scale_factor=scale_factor,
                  coarsest_size=coarsest_size, finer_steps=finer_steps,
                  carry_state=carry_state,
                  weights=dict(weights.meta, preprocessing=weights.preprocessing),
                  arbitrary_weights=(dict(arbitrary_weights.meta)
                                     if arbitrary_weights is not None else None),
                  evaluations=sum(r.evaluations or 0 for r in results) or None,
                  devices=results[-1].devices)
  return StylizeResult(images=images,
                       seeds=seeds * (1 if points is None else len(points)),
                       history=_merged_histories(results),
                       steps=sum(r.steps for r in results),
                       stopped=results[-1].stopped, config=settings,
                       interrupted=results[-1].interrupted,
                       points=None if points is None else [p for p in points for _ in seeds])


def _check_schedule(*, scale_factor, coarsest_size, finer_steps, carry_state, optimizer
                    ) -> None:
  """Raises ValueError for a bad coarse-to-fine setting (before the scales are chosen)."""
  if not scale_factor > 1.0:
    raise ValueError(f"scale_factor must be greater than 1, got {scale_factor}")
  if coarsest_size is not None and coarsest_size < 16:
    raise ValueError(f"coarsest_size must be at least 16 px, got {coarsest_size}")
  if finer_steps is not None and finer_steps < 1:
    raise ValueError(f"finer_steps must be positive, got {finer_steps}")
  if carry_state and optimizer not in optimize.FIRST_ORDER:
    raise ValueError(f"carry_state warm-starts {', '.join(optimize.FIRST_ORDER)}, not "
                     f"{optimizer}")


def _check_settings(*, num_steps, num_seeds, init, optimizer, precision, kernels,
                    preserve_color, style_scale, scales, scale_steps, steps_per_call,
                    finer_steps=None, learning_rate=None) -> list[int]:
  """Raises ValueError for a bad setting; returns the steps of each scale."""
  if num_steps <= 0:
    raise ValueError(f"num_steps must be positive, got {num_steps}")
  if num_seeds <= 0:
    raise ValueError(f"num_seeds must be positive, got {num_seeds}")
  if isinstance(init, str) and init not in INITS:
    raise ValueError(f"init must be one of {INITS} or an image, got {init!r}")
  if num_seeds > 1 and not (isinstance(init, str) and init == "noise"):
    raise ValueError("several seeds only differ when starting from white noise (init='noise')")
  if optimizer not in optimize.METHODS:
    raise ValueError(f"unknown optimizer {optimizer!r}; choose one of "
                     f"{', '.join(optimize.METHODS)}")
  if learning_rate is not None and not 0 < learning_rate < math.inf:
    raise ValueError(f"learning_rate must be a positive finite number, got {learning_rate}")
  precision_lib.check(precision)
  kernels_lib.resolve(kernels)
  if steps_per_call is not None and steps_per_call < 1:
    raise ValueError(f"steps_per_call must be positive, got {steps_per_call}")
  if preserve_color is not None and preserve_color not in color.MODES:
    raise ValueError(f"preserve_color must be one of {color.MODES} or None, "
                     f"got {preserve_color!r}")
  if style_scale is not None and not style_scale > 0:
    raise ValueError(f"style_scale must be positive, got {style_scale}")
  if scales < 1:
    raise ValueError(f"scales must be at least 1, got {scales}")
  if scale_steps is not None:
    scale_steps = list(scale_steps)
  elif finer_steps is not None:
    scale_steps = [num_steps] + [finer_steps] * (scales - 1)
  else:
    scale_steps = [max(1, num_steps // 2**k) for k in range(scales)]
  if len(scale_steps) != scales or min(scale_steps) < 1:
    raise ValueError(f"scale_steps must be {scales} positive step counts, got {scale_steps}")
  return scale_steps


def _check_masks(style_masks) -> list[np.ndarray] | None:
  if style_masks is None:
    return None
  masks = []
  for i, m in enumerate(style_masks):
    m = np.asarray(m, np.float32)
    if m.ndim != 2 or not np.all(np.isfinite(m)) or m.min() < 0 or m.max() > 1:
      raise ValueError(f"style mask {i + 1} must be [H, W] with values in [0, 1]")
    masks.append(m)
  return masks


def _resized_mask(mask: np.ndarray, h: int, w: int) -> np.ndarray:
  return resize_to(np.repeat(mask[..., None], 3, -1), h, w)[..., 0]


def _starting_image(init, content: np.ndarray, styles: list[np.ndarray]) -> np.ndarray | None:
  """The image every seed starts from, or None for white noise ("arbitrary":
  `arbitrary_start`)."""
  if isinstance(init, str):
    return {"noise": None, "content": content, "style": styles[0]}[init]
  return _check_image("init image", init)


def arbitrary_start(arbitrary_weights, content: np.ndarray, style: np.ndarray, *,
                    kernels: str = "auto", precision: str = "float32") -> np.ndarray:
  """init="arbitrary"'s start: `content` [H, W, 3] stylized with `style` by the
  arbitrary-style network, at the content's size."""
  from jaxstyle import arbitrary  # pylint: disable=import-outside-toplevel
  return arbitrary.stylize_arbitrary(arbitrary_weights, content, style,
                                     image_size=max(content.shape[:2]), kernels=kernels,
                                     precision=precision)


def _initial_images(start: np.ndarray | None, seeds: Sequence[int], h: int, w: int
                    ) -> jax.Array:
  """[S, h, w, 3]: white noise per seed, or the starting image resized."""
  if start is None:
    return noise_images(seeds, (h, w, 3))
  return jnp.asarray(resize_to(start, h, w))[None]


def _optimize_level(x0, content, styles, masks, *, weights, config, method, num_steps,
                    learning_rate, history_size, linesearch, log_every, callback,
                    callback_every, precision, kernels, steps_per_call, shard_seeds, key,
                    first_order, time_limit, initial_state=None,
                    image_configs=None) -> optimize.MinimizeResult:
  """One level of the pyramid: its targets, its loss, the optimization from x0.
  image_configs: a sweep's config per image (they differ in their loss weights only)."""
  targets = compute_targets(content, styles, config, weights, style_masks=masks,
                            kernels=kernels, precision=precision, key=key)
  targets_axes = None
  if image_configs is not None:  # One row of loss weights per image, vmapped with it.
    rows = [loss_weights(c, len(styles)) for c in image_configs]
    targets["weights"] = jax.tree.map(lambda *a: jnp.asarray(np.stack(a)), *rows)
    targets_axes = {k: (0 if k == "weights" else None) for k in targets}
  loss_fn = make_loss_fn(config, weights, num_styles=len(styles), kernels=kernels,
                         precision=precision)
  return optimize.minimize(
      loss_fn, x0, (targets, features_lib.network_variables(weights, kernels)),
      method=method, num_steps=num_steps, learning_rate=learning_rate,
      history_size=history_size, linesearch=linesearch, log_every=log_every,
      callback=callback, callback_every=callback_every, shard_seeds=shard_seeds,
      steps_per_call=steps_per_call, first_order=first_order, time_limit=time_limit,
      initial_state=initial_state,
      args_axes=None if targets_axes is None else (targets_axes, None))


def _merged_histories(results: Sequence[optimize.MinimizeResult]) -> dict[str, np.ndarray]:
  """The levels' histories as one: later levels continue the clock and drop their
  repeated start."""
  merged = [dict(results[0].history)]
  for r in results[1:]:
    history = {k: v[1:] for k, v in r.history.items()}
    history["time"] = history["time"] + merged[-1]["time"][-1]
    merged.append(history)
  return {k: np.concatenate([h[k] for h in merged]) for k in merged[0]}


def _restore_color(images: np.ndarray, original: np.ndarray, preserve_color: str | None
                   ) -> np.ndarray:
  """With luminance-only transfer, the results' luminance with the photo's colors."""
  if preserve_color != "luminance":
    return images
  return np.stack([color.combine_luminance(color.luminance(im), original) for im in images])
