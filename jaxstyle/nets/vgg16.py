"""VGG-16 (Simonyan & Zisserman 2015, configuration D) as a Flax module returning named
features, the trunk of LPIPS's "vgg" variant (Zhang et al. 2018).

The same network as `jaxstyle.nets.vgg.VGG19` with three convolutions instead of four
in blocks 3-5; it reuses VGG-19's 3x3 convolution, pooling and precision handling, so
the plug-ins of `jaxstyle.kernels` fit it too. Layer names are the paper's: conv1_1,
relu1_1, ..., conv5_3, relu5_3, pool5.
"""

from __future__ import annotations

from typing import Callable, Sequence

import flax.linen as nn
import jax

from jaxstyle.nets import vgg
from jaxstyle.nets.vgg import POOLING_MODES, WIDTHS, Conv3x3, ModuleDef, pool_2x2

# Convolutions per block of VGG-16; the widths are VGG-19's.
BLOCK_DEPTHS = (2, 2, 3, 3, 3)


def _layer_names() -> tuple[str, ...]:
  names = []
  for block, depth in enumerate(BLOCK_DEPTHS, start=1):
    for i in range(1, depth + 1):
      names += [f"conv{block}_{i}", f"relu{block}_{i}"]
    names.append(f"pool{block}")
  return tuple(names)


LAYER_NAMES = _layer_names()
CONV_LAYERS = tuple(n for n in LAYER_NAMES if n.startswith("conv"))
_LAYER_INDEX = {name: i for i, name in enumerate(LAYER_NAMES)}


def check_layers(layers: Sequence[str]) -> tuple[str, ...]:
  """Returns `layers` as a tuple, or raises ValueError naming the valid ones."""
  if isinstance(layers, str):
    layers = (layers,)
  layers = tuple(layers)
  if not layers:
    raise ValueError("no layers requested")
  unknown = [l for l in layers if l not in _LAYER_INDEX]
  if unknown:
    raise ValueError(f"unknown VGG-16 layer(s) {', '.join(unknown)}; valid layers are: "
                     f"{', '.join(LAYER_NAMES)}")
  return layers


def layer_width(name: str, widths: Sequence[int] = WIDTHS) -> int:
  """Channels of layer `name` (e.g. 'relu3_1' -> widths[2])."""
  check_layers(name)
  return vgg.layer_width(name, widths)


def layer_stride(name: str) -> int:
  """Spatial downsampling factor of layer `name` relative to the input (exact for inputs
  whose sides are multiples of 32; odd sides lose their last row/column at each pool)."""
  check_layers(name)
  return vgg.layer_stride(name)


class VGG16(nn.Module):
  """VGG-16's convolutional part, NHWC, computing only up to the deepest requested layer.

  Attributes:
    widths: output channels of blocks 1..5 (the real network: 64, 128, 256, 512, 512;
      tests use a tiny network of the same shape).
    pooling: "max" (the original network, and LPIPS) or "avg".
    precision: the convolutions' precision (`jaxstyle.precision`).
    conv: the 3x3 convolution module (`vgg.Conv3x3`, or a plug-in with the same params).
    pool: pool(x, mode), 2x2 stride-2 pooling.
  """

  widths: Sequence[int] = WIDTHS
  pooling: str = "max"
  precision: str = "float32"
  conv: ModuleDef = Conv3x3
  pool: Callable[[jax.Array, str], jax.Array] = pool_2x2

  @nn.compact
  def __call__(self, x: jax.Array, layers: Sequence[str]) -> dict[str, jax.Array]:
    """Maps preprocessed images [N, H, W, 3] to {layer name: features [N, h, w, c]}."""
    if self.pooling not in POOLING_MODES:
      raise ValueError(f"pooling must be one of {POOLING_MODES}, got {self.pooling!r}")
    layers = check_layers(layers)
    wanted = set(layers)
    last = max(_LAYER_INDEX[name] for name in layers)
    features = {}
    for name in LAYER_NAMES[: last + 1]:
      if name.startswith("conv"):
        x = self.conv(vgg.layer_width(name, self.widths), self.precision, name=name)(x)
      elif name.startswith("relu"):
        x = nn.relu(x)
      else:
        x = self.pool(x, self.pooling)
      if name in wanted:
        features[name] = x
    return features
