"""AlexNet's convolutional part (Krizhevsky et al. 2012) in torchvision's form, as a
Flax module returning named features: the trunk of LPIPS's default "alex" variant
(Zhang et al. 2018).

torchvision's `alexnet().features` (the "one weird trick" variant, Krizhevsky 2014: no
local response normalization, no grouped convolutions, 64/192/384/256/256 channels):

  conv1 11x11 stride 4 pad 2 -> 64, relu1, pool1 3x3 stride 2
  conv2  5x5 pad 2 -> 192,          relu2, pool2 3x3 stride 2
  conv3  3x3 pad 1 -> 384, relu3
  conv4  3x3 pad 1 -> 256, relu4
  conv5  3x3 pad 1 -> 256, relu5, pool5 3x3 stride 2

Pools take only whole windows (torchvision's default, ceil_mode=False), so a side of
H pixels gives (H - 7) // 4 + 1 after conv1, and every pool maps h to (h - 3) // 2 + 1.
Weights are a pytree passed to `apply`; the module never reads files.
"""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxstyle import precision as precision_lib
from jaxstyle.nets.vgg import check_layer_names

# The real network's output channels of conv1..conv5.
WIDTHS = (64, 192, 384, 256, 256)
# Each convolution's (kernel size, stride, padding).
CONVS = {"conv1": (11, 4, 2), "conv2": (5, 1, 2), "conv3": (3, 1, 1), "conv4": (3, 1, 1),
         "conv5": (3, 1, 1)}
CONV_LAYERS = tuple(CONVS)
WIDTH_LAYERS = CONV_LAYERS  # Each convolution's output channels are one of the widths.
LAYER_NAMES = ("conv1", "relu1", "pool1", "conv2", "relu2", "pool2", "conv3", "relu3",
               "conv4", "relu4", "conv5", "relu5", "pool5")
_LAYER_INDEX = {name: i for i, name in enumerate(LAYER_NAMES)}
POOL_WINDOW, POOL_STRIDE = 3, 2
# Downsampling relative to the input: conv1's stride 4, then 2 per pool. Approximate:
# the unpadded 11x11 and 3x3 windows lose a few pixels (224 px -> 55, 27, 13, 6: factors
# 4.07, 8.3, 17.2 and 37 rather than 4, 8, 16 and 32).
_STRIDES = {"conv1": 4, "relu1": 4, "pool1": 8, "conv2": 8, "relu2": 8, "pool2": 16,
            "conv3": 16, "relu3": 16, "conv4": 16, "relu4": 16, "conv5": 16, "relu5": 16,
            "pool5": 32}


def check_layers(layers: Sequence[str]) -> tuple[str, ...]:
  """Returns `layers` as a tuple, or raises ValueError naming the valid ones."""
  return check_layer_names(layers, LAYER_NAMES, "AlexNet")


def layer_stride(name: str) -> int:
  """Approximate spatial downsampling factor of layer `name` (see `_STRIDES`)."""
  return _STRIDES[check_layers(name)[0]]


def kernel_size(name: str) -> int:
  return CONVS[name][0]


def layer_width(name: str, widths: Sequence[int] = WIDTHS) -> int:
  """Channels of layer `name`: those of the last convolution at or before it."""
  index = _LAYER_INDEX[check_layers(name)[0]]
  conv = [n for n in LAYER_NAMES[: index + 1] if n.startswith("conv")][-1]
  return widths[CONV_LAYERS.index(conv)]


def output_size(name: str, size: int) -> int:
  """Side of layer `name`'s features for an input side of `size` pixels (< 1: too small)."""
  for layer in LAYER_NAMES[: _LAYER_INDEX[check_layers(name)[0]] + 1]:
    if layer.startswith("conv"):
      kernel, stride, pad = CONVS[layer]
      size = (size + 2 * pad - kernel) // stride + 1
    elif layer.startswith("pool"):
      size = (size - POOL_WINDOW) // POOL_STRIDE + 1
  return size


def max_pool_3x3(x: jax.Array) -> jax.Array:
  """3x3 max pooling with stride 2 over whole windows only (torchvision's MaxPool2d(3, 2))."""
  return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, POOL_WINDOW, POOL_WINDOW, 1),
                               (1, POOL_STRIDE, POOL_STRIDE, 1), "VALID")


class Conv(nn.Module):
  """A square convolution with bias and symmetric zero padding; params {'kernel' (HWIO),
  'bias'} as in flax's nn.Conv."""

  features: int
  kernel_size: int
  stride: int = 1
  padding: int = 0
  precision: str = "float32"

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    k = self.kernel_size
    kernel = self.param("kernel", nn.initializers.lecun_normal(),
                        (k, k, x.shape[-1], self.features))
    bias = self.param("bias", nn.initializers.zeros, (self.features,))
    pad = ((self.padding, self.padding),) * 2
    return precision_lib.conv(x, kernel, self.precision, strides=(self.stride,) * 2,
                              padding=pad) + bias


class AlexNet(nn.Module):
  """AlexNet's convolutional part, NHWC, computing only up to the deepest requested layer.

  Attributes:
    widths: output channels of conv1..conv5 (the real network: 64, 192, 384, 256, 256;
      tests use a tiny network of the same shape).
    precision: the convolutions' precision (`jaxstyle.precision`).
  """

  widths: Sequence[int] = WIDTHS
  precision: str = "float32"

  @nn.compact
  def __call__(self, x: jax.Array, layers: Sequence[str]) -> dict[str, jax.Array]:
    """Maps preprocessed images [N, H, W, 3] to {layer name: features [N, h, w, c]}.

    Raises:
      ValueError: unknown layers, or images too small for the deepest one (pool5 needs
        at least 63x63 pixels).
    """
    layers = check_layers(layers)
    wanted = set(layers)
    deepest = LAYER_NAMES[max(_LAYER_INDEX[name] for name in layers)]
    smallest = min(x.shape[1:3])
    if output_size(deepest, smallest) < 1:
      need = next(s for s in range(1, 1024) if output_size(deepest, s) >= 1)
      raise ValueError(f"images of {x.shape[1]}x{x.shape[2]} pixels are too small for "
                       f"AlexNet's {deepest} (it needs at least {need}x{need})")
    features = {}
    for name in LAYER_NAMES[: _LAYER_INDEX[deepest] + 1]:
      if name.startswith("conv"):
        kernel, stride, pad = CONVS[name]
        x = Conv(layer_width(name, self.widths), kernel, stride, pad, self.precision,
                 name=name)(x)
      elif name.startswith("relu"):
        x = nn.relu(x)
      else:
        x = max_pool_3x3(x)
      if name in wanted:
        features[name] = x
    return features
