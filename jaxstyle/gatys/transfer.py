"""`stylize`: the Python API for Gatys et al. style transfer on arrays."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging

from jaxstyle import color
from jaxstyle import features as features_lib
from jaxstyle import images as images_lib
from jaxstyle import kernels as kernels_lib
from jaxstyle import weights as weights_lib
from jaxstyle.errors import UserError
from jaxstyle.gatys import optimize
from jaxstyle.gatys.config import StylizeConfig
from jaxstyle.gatys.objective import ObjectiveConfig, compute_targets, loss_weights, make_loss_fn
from jaxstyle.images import resize_to
from jaxstyle.kernels import vgg_cpu
from jaxstyle.nets.vgg import LAYER_NAMES, layer_stride, layer_width

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
    config: the `StylizeConfig` the images were made with (overrides applied).
    run: what the run resolved and measured: the objective as used
      (`ObjectiveConfig`'s fields: the network, its default layers, the calibrated
      style_weight; a sweep's values as tuples), "init" ("auto" resolved), "height",
      "width", "kernels" (resolved), "steps_per_call", "scales" ({"height", "width",
      "steps"} per level), "time_limited", "weights" and "arbitrary_weights" (the
      files' metadata), "evaluations" and "devices".
    interrupted: the run was stopped by Ctrl-C or SIGTERM (`images` are the last ones).
  """

  images: np.ndarray
  seeds: list[int]
  history: dict[str, np.ndarray]
  steps: int
  stopped: str | None
  config: StylizeConfig
  run: dict[str, Any]
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


def stylize(content, style, config: StylizeConfig | None = None, *,
            weights: weights_lib.VGGWeights | None = None,
            callback: Callable[[int, np.ndarray], None] | None = None,
            style_masks: Sequence[np.ndarray] | None = None,
            arbitrary_weights: Any | None = None, **overrides) -> StylizeResult:
  """Synthesizes images with `content`'s features and `style`'s style statistics.

  stylize(content, style)                               # the defaults
  stylize(content, style, num_steps=300, style_weight=1e-2)   # flat names
  stylize(content, style, jaxstyle.preset("gatys2016"), num_seeds=4)

  Args:
    content: RGB [H, W, 3] float in [0, 1]; the output has its size (or
      config.images.image_size on its longer side).
    style: one RGB [h, w, 3] image in [0, 1], or a list of them (blended).
    config: every setting (`StylizeConfig`; None: the defaults). Its groups' docstrings
      say what each field does.
    weights: the feature network's weights: `VGGWeights` (VGG-19) or
      `weights.lpips.NetworkWeights` (VGG-16, AlexNet); None: config.objective's
      weights_file, or the network's default file, fetched on first use (see
      `jaxstyle.weights`).
    callback: called as callback(step, images [S, h, w, 3]) every
      config.progress.callback_every steps (steps counted across scales; images at the
      current scale).
    style_masks: spatial control: one mask [h, w] in [0, 1] per style image (resized to
      the content's size): where that style applies; where no mask is set, no style.
    arbitrary_weights: for init="arbitrary", the arbitrary-style networks'
      `jaxstyle.weights.arbitrary.ArbitraryWeights` (None: the default file, fetched on
      first use).
    **overrides: fields of `config` by their flat names (`config.FLAT_FIELDS`), e.g.
      num_steps=300, style_weight=(1e-4, 1e-3) (a sweep: one image per point and seed,
      point-major, as one vmapped program). init may also be an RGB image [H, W, 3]
      (resized if needed): the config then says init="image".

  Returns:
    A `StylizeResult`: the images, the config they were made with, and what the run
    resolved and measured (`run`).
  """
  init_image = None
  if "init" in overrides and not isinstance(overrides["init"], str):
    init_image = _check_image("init image", overrides["init"])
    overrides["init"] = "image"
  config = (config or StylizeConfig()).replace(**overrides)
  settings, solver, start = config.objective, config.solver, config.start
  backend, sizes = config.backend, config.images
  content = _check_image("content image", content)
  if sizes.image_size is not None:
    content = images_lib.resize(content, sizes.image_size, sizes.image_side)
  styles = [style] if isinstance(style, np.ndarray) and np.ndim(style) == 3 else list(style)
  styles = [_check_image(f"style image {i + 1}", s) for i, s in enumerate(styles)]
  if sizes.style_size is not None:
    styles = [images_lib.resize(s, sizes.style_size, sizes.image_side) for s in styles]
  if start.init == "image" and init_image is None:
    raise ValueError("init='image' needs the image: stylize(..., init=array)")
  init = start.resolved_init
  height, width = content.shape[:2]
  scales = config.schedule.num_scales(height, width)
  scale_steps = config.schedule.steps(solver.num_steps, scales)
  if style_masks is not None and len(style_masks) != len(styles):
    raise ValueError(f"{len(style_masks)} style masks for {len(styles)} style images")
  network = settings.network
  if weights is not None:
    if network is not None and features_lib.network_of(weights) != network:
      raise ValueError(f"network={network} but the weights are "
                       f"{features_lib.network_of(weights)}'s")
    network = features_lib.network_of(weights)
  network = network or "vgg19"
  objective = settings.resolve(network, guided=style_masks is not None)
  if objective.style_layers:
    objective.blend_weights(len(styles))  # Checks the count early.
  points = settings.sweep_points()
  # The objective of each image: one per (point, seed), point-major.
  image_objectives = None
  if points is not None:
    image_objectives = [settings.resolve(network, guided=style_masks is not None, point=p)
                        for p in points for _ in range(start.num_seeds)]
  num_images = start.num_seeds * (1 if points is None else len(points))
  check_memory(height, width, num_seeds=num_images, layers=objective.all_layers,
               method=solver.optimizer, history_size=solver.lbfgs_history,
               shard_seeds=backend.shard_seeds, kernels=backend.kernels, network=network)
  if weights is None:
    weights = features_lib.load_weights(network, log=logging.info, path=settings.weights_file)

  original = content
  styles = prepare_styles(content, styles, style_scale=sizes.style_scale,
                          style_rotation=sizes.style_rotation,
                          preserve_color=sizes.preserve_color)
  masks = _check_masks(style_masks)
  seeds = [start.seed + i for i in range(start.num_seeds)]
  if init == "arbitrary":
    if arbitrary_weights is None:
      from jaxstyle.weights import arbitrary  # pylint: disable=import-outside-toplevel
      arbitrary_weights = arbitrary.ensure_default()
    start_image = arbitrary_start(arbitrary_weights, content, styles[0],
                                  kernels=backend.kernels, precision=backend.precision)
  else:
    start_image = {"noise": None, "content": content, "style": styles[0],
                   "image": init_image}[init]
  if sizes.preserve_color == "luminance":
    content = color.gray_rgb(color.luminance(content))
    if start_image is not None and init != "style":
      start_image = color.gray_rgb(color.luminance(start_image))

  shapes = _level_shapes(height, width, scales, config.schedule.scale_factor)
  if min(shapes[0]) < 16:
    raise ValueError(f"with {scales} scales the coarsest image is {shapes[0][1]}x"
                     f"{shapes[0][0]} px; at least 16 px per side: use fewer scales")
  x, results, levels = None, [], []
  work = [h * w * steps for (h, w), steps in zip(shapes, scale_steps)]
  for level, ((h, w), steps) in enumerate(zip(shapes, scale_steps)):
    level_time = None
    if solver.time_limit is not None:
      used = sum(float(r.history["time"][-1] - r.history["time"][1]) for r in results
                 if len(r.history["time"]) > 1)
      level_time = max(solver.time_limit - used, 1e-3) * work[level] / sum(work[level:])
    if x is None:
      x0 = _initial_images(start_image, seeds, h, w)
      if points is not None:  # Each point starts as its single run would.
        x0 = jnp.concatenate([jnp.broadcast_to(x0, (len(seeds), h, w, 3))] * len(points))
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
        config, weights=weights, objective=objective, num_steps=steps,
        callback=level_callback, time_limit=level_time, key=jax.random.key(start.seed),
        initial_state=(optimize.resize_state(results[-1].state, shapes[level - 1], (h, w))
                       if config.schedule.carry_state and results else None),
        image_objectives=image_objectives)
    x = result.x
    results.append(result)
    levels.append({"height": h, "width": w, "steps": result.steps})
    if result.stopped:
      break
  images = np.clip(x, 0.0, 1.0)
  if images.shape[1:3] != (height, width):  # Stopped early at a coarser scale.
    images = np.stack([resize_to(im, height, width) for im in images])
  images = _restore_color(images, original, sizes.preserve_color)

  run = dataclasses.asdict(objective)
  if points is not None:  # The swept values, as given.
    run.update({name: tuple(dict.fromkeys(p[name] for p in points)) for name in points[0]})
  run.update(init=init, height=height, width=width, noise_std=NOISE_STD,
             kernels=kernels_lib.resolve(backend.kernels),
             steps_per_call=results[0].steps_per_call,
             time_limited=any(r.time_limited for r in results), scales=levels,
             weights=dict(weights.meta, preprocessing=weights.preprocessing),
             arbitrary_weights=(dict(arbitrary_weights.meta)
                                if arbitrary_weights is not None else None),
             evaluations=sum(r.evaluations or 0 for r in results) or None,
             devices=results[-1].devices)
  return StylizeResult(images=images,
                       seeds=seeds * (1 if points is None else len(points)),
                       history=_merged_histories(results),
                       steps=sum(r.steps for r in results),
                       stopped=results[-1].stopped, config=config, run=run,
                       interrupted=results[-1].interrupted,
                       points=None if points is None else [p for p in points for _ in seeds])


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


def _optimize_level(x0, content, styles, masks, config: StylizeConfig, *, weights,
                    objective: ObjectiveConfig, num_steps, callback, time_limit, key,
                    initial_state=None, image_objectives=None) -> optimize.MinimizeResult:
  """One level of the pyramid: its targets, its loss, the optimization from x0.
  image_objectives: a sweep's objective per image (they differ in their loss weights
  only)."""
  solver, backend = config.solver, config.backend
  kernels, precision = backend.kernels, backend.precision
  targets = compute_targets(content, styles, objective, weights, style_masks=masks,
                            kernels=kernels, precision=precision, key=key)
  targets_axes = None
  if image_objectives is not None:  # One row of loss weights per image, vmapped with it.
    rows = [loss_weights(c, len(styles)) for c in image_objectives]
    targets["weights"] = jax.tree.map(lambda *a: jnp.asarray(np.stack(a)), *rows)
    targets_axes = {k: (0 if k == "weights" else None) for k in targets}
  loss_fn = make_loss_fn(objective, weights, num_styles=len(styles), kernels=kernels,
                         precision=precision)
  return optimize.minimize(
      loss_fn, x0, (targets, features_lib.network_variables(weights, kernels)),
      method=solver.optimizer, num_steps=num_steps, learning_rate=solver.learning_rate,
      history_size=solver.lbfgs_history, linesearch=solver.lbfgs_linesearch,
      log_every=config.progress.log_every, callback=callback,
      callback_every=config.progress.callback_every, shard_seeds=backend.shard_seeds,
      steps_per_call=solver.steps_per_call, first_order=solver.first_order,
      time_limit=time_limit, initial_state=initial_state,
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
