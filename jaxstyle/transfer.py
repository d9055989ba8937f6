"""`stylize`: the Python API for Gatys et al. style transfer on arrays."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxstyle import optimize
from jaxstyle import weights as weights_lib
from jaxstyle.errors import UserError
from jaxstyle.images import resize_to
from jaxstyle.objective import (DEFAULT_CONTENT_LAYERS, DEFAULT_STYLE_LAYERS, ObjectiveConfig,
                                compute_targets, make_loss_fn)
from jaxstyle.vgg import LAYER_NAMES, layer_stride, layer_width

INITS = ("noise", "content", "style")
PRECISIONS = ("float32", "tensorfloat32", "bfloat16")
# White-noise start: N(0.5, NOISE_STD^2) per pixel and channel. Gatys et al. start
# from white noise without stating its amplitude; a small one converges to cleaner
# images in fewer steps than uniform [0, 1] noise.
NOISE_STD = 0.1


@dataclasses.dataclass
class StylizeResult:
  """What `stylize` returns.

  Attributes:
    images: [S, H, W, 3] float32 in [0, 1], one per seed (S = 1 unless num_seeds > 1).
    seeds: the seed of each image (image i of a sweep equals a run with seeds[i] alone).
    history: per-step losses [steps + 1, S] ("total", "content", "style", "tv") and
      "time" [steps + 1] in seconds.
    steps: steps completed.
    stopped: None, or why the run stopped early (e.g. a NaN loss).
    config: the settings used.
  """

  images: np.ndarray
  seeds: list[int]
  history: dict[str, np.ndarray]
  steps: int
  stopped: str | None
  config: dict[str, Any]


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


def estimate_memory_bytes(height: int, width: int, *, num_seeds: int, layers: Sequence[str],
                          method: str, history_size: int, widths=(64, 128, 256, 512, 512)) -> int:
  """A rough upper bound of the memory one optimization needs, in bytes.

  Counts the activations of every layer up to the deepest used one, twice (forward
  values kept for the backward pass, and their gradients), per seed, plus the
  optimizer's image-sized buffers and the weights.
  """
  last = max(LAYER_NAMES.index(l) for l in layers)
  activations = 0
  for name in LAYER_NAMES[: last + 1]:
    s = layer_stride(name)
    activations += (height // s) * (width // s) * layer_width(name, widths)
  image = height * width * 3
  buffers = 2 * history_size + 6 if "lbfgs" in method else 6
  per_seed = 4 * (2 * activations + buffers * image)
  return num_seeds * per_seed + 4 * 20_100_000  # + VGG-19's 20M conv parameters.


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
                 method: str, history_size: int) -> None:
  """Raises UserError, saying how much is needed, if the run cannot fit in memory."""
  need = estimate_memory_bytes(height, width, num_seeds=num_seeds, layers=layers,
                               method=method, history_size=history_size)
  have = available_memory_bytes()
  if have is not None and need > have:
    gib = 2**30
    raise UserError(
        f"a {width}x{height} px image with {num_seeds} seed(s) needs about "
        f"{need / gib:.1f} GiB but only {have / gib:.1f} GiB is free on "
        f"{jax.devices()[0].platform}; use a smaller --image_size, fewer --num_seeds, "
        "or a device with more memory")


def stylize(content, style, *, weights: weights_lib.VGGWeights | None = None,
            style_blend_weights: Sequence[float] | None = None,
            content_layers: Sequence[str] = DEFAULT_CONTENT_LAYERS,
            style_layers: Sequence[str] = DEFAULT_STYLE_LAYERS,
            style_layer_weights: Sequence[float] | None = None,
            content_weight: float = 1.0, style_weight: float = 100.0, tv_weight: float = 0.0,
            pooling: str = "max", optimizer: str = "lbfgs", num_steps: int = 500,
            learning_rate: float | None = None, lbfgs_history: int = 20,
            lbfgs_linesearch: str | None = None, init="noise", seed: int = 0,
            num_seeds: int = 1, log_every: int = 50,
            callback: Callable[[int, np.ndarray], None] | None = None,
            callback_every: int = 0, precision: str = "float32",
            shard_seeds: bool | None = None) -> StylizeResult:
  """Synthesizes images with `content`'s features and `style`'s Gram statistics.

  Args:
    content: RGB [H, W, 3] float in [0, 1]; the output has its size.
    style: one RGB [h, w, 3] image in [0, 1], or a list of them (blended).
    weights: VGGWeights (None: the default file; see `jaxstyle.weights`).
    style_blend_weights: one weight per style image (default: equal, summing to 1).
    content_layers, style_layers, style_layer_weights: what is matched (defaults:
      conv4_2; conv1_1..conv5_1 with w_l = 1/5, as in the paper).
    content_weight, style_weight: alpha and beta. The defaults (alpha/beta = 1e-2)
      suit the unnormalized VGG-19; the paper's 1e-3 is for its normalized network.
    tv_weight: total-variation weight (0: off, as in the paper).
    pooling: "max" or "avg".
    optimizer: one of "lbfgs", "adam", "sgd", "adagrad", "optax_lbfgs".
    num_steps: optimizer iterations.
    learning_rate: for adam/sgd/adagrad.
    lbfgs_history, lbfgs_linesearch: L-BFGS memory, and None (unit step), "zoom" or
      "backtracking".
    init: "noise", "content", "style", or an RGB image [H, W, 3] (resized if needed).
    seed, num_seeds: white-noise starts use seeds seed, seed + 1, ...; they run
      together as one vmapped program.
    log_every: a progress line every this many steps.
    callback: called as callback(step, images [S, H, W, 3]) every callback_every steps.
    precision: the convolutions' matmul precision: "float32" (default, exact),
      "tensorfloat32" or "bfloat16" (faster on GPUs/TPUs, slightly different losses; see
      benchmarks/README.md). Gram matrices are always computed in float32.
    shard_seeds: split the seeds over all `jax.devices()` (jax.sharding); None: whenever
      there are several devices and num_seeds is a multiple of their count. The images
      are the same either way.
  """
  content = _check_image("content image", content)
  styles = [style] if isinstance(style, np.ndarray) and np.ndim(style) == 3 else list(style)
  styles = [_check_image(f"style image {i + 1}", s) for i, s in enumerate(styles)]
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
  config = ObjectiveConfig(
      content_layers=tuple(content_layers), style_layers=tuple(style_layers),
      style_layer_weights=None if style_layer_weights is None else tuple(style_layer_weights),
      style_blend_weights=None if style_blend_weights is None else tuple(style_blend_weights),
      content_weight=content_weight, style_weight=style_weight, tv_weight=tv_weight,
      pooling=pooling)
  if config.style_layers:
    config.blend_weights(len(styles))  # Checks the count early.
  if weights is None:
    weights = weights_lib.load_default()
  height, width = content.shape[:2]
  check_memory(height, width, num_seeds=num_seeds, layers=config.all_layers,
                method=optimizer, history_size=lbfgs_history)

  seeds = [seed + i for i in range(num_seeds)]
  if isinstance(init, str) and init == "noise":
    x0 = noise_images(seeds, content.shape)
  else:
    start = content if isinstance(init, str) and init == "content" else (
        styles[0] if isinstance(init, str) else _check_image("init image", init))
    if start.shape != content.shape:
      start = resize_to(start, height, width)
    x0 = jnp.asarray(start)[None]

  targets = compute_targets(content, styles, config, weights)
  loss_fn = make_loss_fn(config, weights, num_styles=len(styles))
  if precision not in PRECISIONS:
    raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
  with jax.default_matmul_precision(precision):
    result = optimize.minimize(
        loss_fn, x0, (targets, weights.flax_params), method=optimizer, num_steps=num_steps,
        learning_rate=learning_rate, history_size=lbfgs_history, linesearch=lbfgs_linesearch,
        log_every=log_every, callback=callback, callback_every=callback_every,
        shard_seeds=shard_seeds)
  settings = dataclasses.asdict(config)
  settings.update(optimizer=optimizer, num_steps=num_steps, learning_rate=learning_rate,
                  lbfgs_history=lbfgs_history, lbfgs_linesearch=lbfgs_linesearch,
                  init=init if isinstance(init, str) else "image", seed=seed,
                  num_seeds=num_seeds, height=height, width=width, noise_std=NOISE_STD,
                  precision=precision,
                  weights=dict(weights.meta, preprocessing=weights.preprocessing),
                  evaluations=result.evaluations, devices=result.devices)
  return StylizeResult(images=np.clip(result.x, 0.0, 1.0), seeds=seeds, history=result.history,
                       steps=result.steps, stopped=result.stopped, config=settings)
