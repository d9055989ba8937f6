"""VGG-16 (Simonyan & Zisserman 2015, configuration D) as a Flax module returning named
features, the trunk of LPIPS's "vgg" variant (Zhang et al. 2018).

The same network as `jaxstyle.nets.vgg.VGG19` with three convolutions instead of four
in blocks 3-5; it reuses VGG-19's 3x3 convolution, pooling and precision handling, so
the plug-ins of `jaxstyle.kernels` fit it too. Layer names are the paper's: conv1_1,
relu1_1, ..., conv5_3, relu5_3, pool5.
"""

from __future__ import annotations

from typing import Sequence

from jaxstyle.nets import vgg
from jaxstyle.nets.vgg import WIDTHS

# Convolutions per block of VGG-16; the widths are VGG-19's.
BLOCK_DEPTHS = (2, 2, 3, 3, 3)
LAYER_NAMES = vgg.layer_names(BLOCK_DEPTHS)
CONV_LAYERS = tuple(n for n in LAYER_NAMES if n.startswith("conv"))
WIDTH_LAYERS = vgg.WIDTH_LAYERS
kernel_size = vgg.kernel_size


def check_layers(layers: Sequence[str]) -> tuple[str, ...]:
  """Returns `layers` as a tuple, or raises ValueError naming the valid ones."""
  return vgg.check_layer_names(layers, LAYER_NAMES, "VGG-16")


def layer_width(name: str, widths: Sequence[int] = WIDTHS) -> int:
  """Channels of layer `name` (e.g. 'relu3_1' -> widths[2])."""
  check_layers(name)
  return vgg.layer_width(name, widths)


def layer_stride(name: str) -> int:
  """Spatial downsampling factor of layer `name` relative to the input (exact for inputs
  whose sides are multiples of 32; odd sides lose their last row/column at each pool)."""
  check_layers(name)
  return vgg.layer_stride(name)


def layer_reach(name: str) -> int:
  """Pixels beyond its cell that layer `name`'s receptive field reaches (`vgg.layer_reach`)."""
  check_layers(name)
  return vgg.layer_reach(name, BLOCK_DEPTHS)


class VGG16(vgg.VGG19):
  """VGG-16's convolutional part: `vgg.VGG19` (the same attributes, plug-ins and
  params per layer) with three convolutions in blocks 3-5.

  Attributes:
    widths: output channels of blocks 1..5 (the real network: 64, 128, 256, 512, 512;
      tests use a tiny network of the same shape).
    pooling: "max" (the original network, and LPIPS) or "avg".
    precision: the convolutions' precision (`jaxstyle.precision`).
    conv: the 3x3 convolution module (`vgg.Conv3x3`, or a plug-in with the same params).
    pool: pool(x, mode), 2x2 stride-2 pooling.
  """

  NETWORK = "VGG-16"
  LAYERS = LAYER_NAMES
