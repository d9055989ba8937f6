"""How much memory a Gatys run needs, and how to make it fit.

`plan_memory` runs before anything is compiled: it keeps the run untiled if its
estimate fits in the free memory, else evaluates the loss in tiles (`tiling`; exact),
else shortens the L-BFGS history, and if nothing fits stops at once with one line
saying what it needs, instead of failing in XLA's allocator minutes later.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Sequence

import jax
import numpy as np

from jaxstyle import features
from jaxstyle import kernels as kernels_lib
from jaxstyle.errors import UserError
from jaxstyle import losses
from jaxstyle.gatys import optimize
from jaxstyle.gatys import tiling
from jaxstyle.kernels import vgg_cpu
from jaxstyle.nets.vgg import LAYER_NAMES, layer_stride, layer_width


def _vgg19_bound(layers: Sequence[str], network: str) -> Sequence[str]:
  """VGG-19 layers at least as deep and wide as `network`'s `layers`
  (`features.FeatureNetwork.memory_bound`)."""
  return features.FEATURE_NETWORKS[network].memory_bound or layers


# What the process holds besides the run's arrays on the CPU backend (Python, jaxlib, the
# compiler's peak): benchmarks/README.md, "Memory", fits it with TRANSIENT_LAYERS from the
# peaks measured at three sizes.
RUNTIME_BYTES = 800 * 2**20
# Layer-sized buffers alive beside the kept activations at the backward pass's peak (the
# gradient flowing in and out of a layer, the Winograd transforms), in largest layers.
TRANSIENT_LAYERS = 3


def memory_parts(height: int, width: int, *, num_seeds: int, layers: Sequence[str],
                 method: str, history_size: int, widths=(64, 128, 256, 512, 512),
                 kernels: str = "auto", network: str = "vgg19", tile_size: int | None = None,
                 content_layers: Sequence[str] = ("conv4_2",)) -> dict[str, int]:
  """What one optimization holds at its peak, in bytes, by part (float32).

  runtime: the process itself on the CPU backend (`RUNTIME_BYTES`; 0 elsewhere).
  network: the weights (on the host; on the device up to the deepest used layer) and,
    with the CPU kernels, the kernels derived from those (`kernels.vgg_cpu.derived_bytes`).
  targets: the content features at the content layers (the image's size).
  activations: per seed, what the backward pass keeps: each convolution's output
    (its ReLU fused into it) and each pool's, up to the deepest used layer, over the
    image or, tiled, over one tile's window (halo included: `tiling.plan`), plus
    `TRANSIENT_LAYERS` of the largest layer; tiled, also the tiles' inputs and two more
    of the largest layer (the forward pass recomputed in the backward pass).
  optimizer: per seed, image-sized buffers: L-BFGS's 2 x history pairs and six more
    (the image, its gradient, the direction, ...); tiled, four more (the gradient
    gathered over the tiles).
  Other networks than VGG-19 are bounded by VGG-19's layers (`_vgg19_bound`).
  """
  image = height * width * 3
  area = (height, width)
  if tile_size is not None:
    halo, align = tiling.halo(network, layers)
    tile_plan = tiling.plan(height, width, tile_size, halo, align)
    area = (tile_plan.rows.window, tile_plan.cols.window)
  last = max(LAYER_NAMES.index(l) for l in _vgg19_bound(layers, network))
  sizes = [(area[0] // layer_stride(n)) * (area[1] // layer_stride(n)) * layer_width(n, widths)
           for n in LAYER_NAMES[: last + 1] if not n.startswith("relu")]
  buffers = (2 * history_size if "lbfgs" in method else 0) + 6
  transient = TRANSIENT_LAYERS * max(sizes)
  if tile_size is not None:
    buffers += 4  # The gradient gathered over the tiles, and its per-tile updates.
    # The tiles' inputs, kept by the scan for the backward pass, and the recomputed
    # forward pass in flight beside the gradient.
    transient += tile_plan.num_tiles * area[0] * area[1] * 3 + 2 * max(sizes)
  kernel_shapes, used, cin = [], [], 3
  for i, name in enumerate(LAYER_NAMES):
    if name.startswith("conv"):
      kernel_shapes.append((3, 3, cin, layer_width(name, widths)))
      cin = layer_width(name, widths)
      if i <= last:
        used.append(kernel_shapes[-1])
  # The weights file's arrays on the host (every layer), and on the device the layers up
  # to the deepest used one (`features.network_variables`) and what they derive.
  network_bytes = sum(4 * (int(np.prod(k)) + k[-1]) for k in kernel_shapes + used)
  if kernels_lib.resolve(kernels) == "cpu":
    network_bytes += vgg_cpu.derived_bytes(used)
  targets = sum((height // layer_stride(l)) * (width // layer_stride(l)) * layer_width(l, widths)
                for l in _vgg19_bound(content_layers, network) if content_layers)
  return {"runtime": RUNTIME_BYTES if jax.default_backend() == "cpu" else 0,
          "network": network_bytes,
          "targets": 4 * targets,
          "activations": num_seeds * 4 * (sum(sizes) + transient),
          "optimizer": num_seeds * 4 * buffers * image}


def estimate_memory_bytes(height: int, width: int, **kwargs) -> int:
  """The memory one optimization needs at its peak, in bytes: the sum of `memory_parts`
  (the same arguments), within 15 % above the peaks measured on the CPU backend
  (benchmarks/README.md, "Memory")."""
  return sum(memory_parts(height, width, **kwargs).values())


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


@dataclasses.dataclass(frozen=True)
class MemoryPlan:
  """How a run fits: its tile size (None: untiled), L-BFGS history, and the estimate."""
  tile_size: int | None
  history_size: int
  need_bytes: int
  have_bytes: int | None


# Tile sizes `plan_memory` tries, largest first: larger tiles waste less on halos.
AUTO_TILE_SIZES = (1024, 768, 512, 384, 256)
# The shortest L-BFGS history `plan_memory` falls back to.
MIN_HISTORY = 5


def plan_memory(height: int, width: int, *, num_seeds: int, layers: Sequence[str],
                method: str, history_size: int, tile_size: int | None = None,
                style_loss: str = "gram", content_layers: Sequence[str] = ("conv4_2",),
                shard_seeds: bool | None = None,
                kernels: str = "auto", network: str = "vgg19",
                log: Callable[[str], None] | None = None) -> MemoryPlan:
  """The run's tile size and history, or UserError saying how much it needs.

  tile_size: the config's (None: tiles only if the untiled run does not fit, of the
  largest `AUTO_TILE_SIZES` that fits; 0: never). If the run does not fit with the
  smallest tiles, L-BFGS keeps a shorter history (down to `MIN_HISTORY` pairs; one log
  line says so). Seeds that will be sharded (see optimize.seed_sharding) count per device.
  """
  if shard_seeds is not False and optimize.seed_sharding(num_seeds) is not None:
    num_seeds //= jax.device_count()
  tileable = (features.FEATURE_NETWORKS[network].reach is not None
              and losses.STYLE_LOSSES[style_loss].moments is not None)
  if tile_size == 0 or (tile_size is None and not tileable):
    candidates = [None]
  elif tile_size is not None:
    tiling.check_tileable(network, style_loss)
    candidates = [tile_size]
  else:
    candidates = [None] + [t for t in AUTO_TILE_SIZES if t < max(height, width)]

  def need(tile, history):
    return estimate_memory_bytes(height, width, num_seeds=num_seeds, layers=layers,
                                 method=method, history_size=history, kernels=kernels,
                                 network=network, tile_size=tile,
                                 content_layers=content_layers)

  have = available_memory_bytes()
  gib = 2**30
  for tile in candidates:
    if have is None or need(tile, history_size) <= have:
      if tile is not None and tile_size is None and log is not None:
        log(f"tiles of {tile} px: the untiled {width}x{height} px run needs about "
            f"{need(None, history_size) / gib:.1f} GiB, {have / gib:.1f} GiB is free")
      return MemoryPlan(tile, history_size, need(tile, history_size), have)
  tile = candidates[-1]
  if "lbfgs" in method:
    for history in range(history_size - 1, MIN_HISTORY - 1, -1):
      if need(tile, history) <= have:
        if log is not None:
          log(f"L-BFGS history of {history} pairs instead of {history_size}: "
              f"{history_size} do not fit in the {have / gib:.1f} GiB free")
        return MemoryPlan(tile, history, need(tile, history), have)
  smallest = need(tile, MIN_HISTORY if "lbfgs" in method else history_size)
  how = "" if tile is None else f" in tiles of {tile} px"
  raise UserError(
      f"a {width}x{height} px image with {num_seeds} seed(s) needs about "
      f"{smallest / gib:.1f} GiB{how} but only {have / gib:.1f} GiB is free on "
      f"{jax.devices()[0].platform}; use a smaller --image_size, fewer --num_seeds, "
      "or a device with more memory")
