"""How much memory a Gatys run needs, and whether the device has it.

`check_memory` runs before anything is compiled, so that a run too large for the device
stops at once with one line saying what it needs, instead of failing in XLA's allocator
minutes later.
"""

from __future__ import annotations

from typing import Sequence

import jax
import numpy as np

from jaxstyle import features
from jaxstyle import kernels as kernels_lib
from jaxstyle.errors import UserError
from jaxstyle.gatys import optimize
from jaxstyle.kernels import vgg_cpu
from jaxstyle.nets.vgg import LAYER_NAMES, layer_stride, layer_width


def _vgg19_bound(layers: Sequence[str], network: str) -> Sequence[str]:
  """VGG-19 layers at least as deep and wide as `network`'s `layers`
  (`features.FeatureNetwork.memory_bound`)."""
  return features.FEATURE_NETWORKS[network].memory_bound or layers


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
  network_bytes = sum(4 * (int(np.prod(k)) + k[-1]) for k in kernel_shapes)
  if kernels_lib.resolve(kernels) == "cpu":
    network_bytes += vgg_cpu.derived_bytes(kernel_shapes)
  return num_seeds * per_seed + network_bytes


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
