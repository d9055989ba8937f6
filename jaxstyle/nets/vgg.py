"""VGG-19 (Simonyan & Zisserman 2015) as a Flax module returning named features.

Layer names are the paper's (Gatys et al. 2016): conv1_1, relu1_1, ..., pool5.
Weights are a pytree passed to `apply`; the module never reads files. The module says
what it computes with plain XLA operations; `jaxstyle.kernels.vgg_cpu` plugs in the
forms XLA:CPU runs faster (`conv=`, `pool=`).
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxstyle.checks import one_of
from jaxstyle import precision as precision_lib

ModuleDef = Any

# Convolutions per block of VGG-19, and the channel widths of the real network.
BLOCK_DEPTHS = (2, 2, 4, 4, 4)
WIDTHS = (64, 128, 256, 512, 512)


def layer_names(depths: Sequence[int]) -> tuple[str, ...]:
  """conv{b}_{i}, relu{b}_{i} for i = 1..depths[b-1], then pool{b}, for blocks b = 1..5."""
  names = []
  for block, depth in enumerate(depths, start=1):
    for i in range(1, depth + 1):
      names += [f"conv{block}_{i}", f"relu{block}_{i}"]
    names.append(f"pool{block}")
  return tuple(names)


LAYER_NAMES = layer_names(BLOCK_DEPTHS)
CONV_LAYERS = tuple(n for n in LAYER_NAMES if n.startswith("conv"))
# The convolutions whose output channels are the widths (the first of each block).
WIDTH_LAYERS = tuple(f"conv{b}_1" for b in range(1, len(BLOCK_DEPTHS) + 1))
POOLING_MODES = ("max", "avg")


def check_layer_names(layers: Sequence[str], names: Sequence[str],
                      network: str) -> tuple[str, ...]:
  """`layers` as a tuple, or ValueError naming `network`'s valid `names`."""
  if isinstance(layers, str):
    layers = (layers,)
  layers = tuple(layers)
  if not layers:
    raise ValueError("no layers requested")
  unknown = [l for l in layers if l not in names]
  if unknown:
    raise ValueError(
        f"unknown {network} layer(s) {', '.join(unknown)}; valid layers are: "
        f"{', '.join(names)}")
  return layers


def check_layers(layers: Sequence[str]) -> tuple[str, ...]:
  """Returns `layers` as a tuple, or raises ValueError naming the valid ones."""
  return check_layer_names(layers, LAYER_NAMES, "VGG-19")


def _block_of(name: str) -> int:
  """Block number (1..5) of a layer name such as 'conv3_1', 'relu3_1' or 'pool3'."""
  return int(name[4])


def layer_width(name: str, widths: Sequence[int] = WIDTHS) -> int:
  """Channels of layer `name` (e.g. 'relu3_1' -> widths[2])."""
  return widths[_block_of(name) - 1]


def kernel_size(name: str) -> int:  # pylint: disable=unused-argument
  """Every convolution is 3x3."""
  return 3


def layer_stride(name: str) -> int:
  """Spatial downsampling factor of layer `name` relative to the input."""
  block = _block_of(name)
  return 2 ** (block if name.startswith("pool") else block - 1)


def layer_reach(name: str, depths: Sequence[int] = BLOCK_DEPTHS) -> int:
  """How many pixels beyond its stride x stride cell the receptive field of one position
  of layer `name` reaches on each side (3x3 convolutions, 2x2 pools): conv5_1 sees
  156 px, 70 beyond its 16 px cell. A tile needs this much halo for its interior
  features at `name` to equal the whole image's (`gatys.tiling`)."""
  field, stride = 1, 1
  for layer in layer_names(depths):
    if layer.startswith("conv"):
      field += 2 * stride
    elif layer.startswith("pool"):
      field += stride
      stride *= 2
    if layer == name:
      return (field - stride) // 2
  raise ValueError(f"unknown layer {name!r}")


def pool_2x2(x: jax.Array, mode: str) -> jax.Array:
  """2x2 max or average pooling with stride 2 (odd trailing rows/columns dropped)."""
  n, h, w, c = x.shape
  x = x[:, : h - h % 2, : w - w % 2, :].reshape(n, h // 2, 2, w // 2, 2, c)
  return jnp.max(x, axis=(2, 4)) if mode == "max" else jnp.mean(x, axis=(2, 4))


class Conv3x3(nn.Module):
  """A 3x3 SAME convolution with bias; params {'kernel', 'bias'} as in flax's nn.Conv.

  The plain XLA form (`kernels/vgg_cpu.py` has the CPU one, with the same params).
  """

  features: int
  precision: str = "float32"

  def kernel_and_bias(self, cin: int) -> tuple[jax.Array, jax.Array]:
    kernel = self.param("kernel", nn.initializers.lecun_normal(), (3, 3, cin, self.features))
    return kernel, self.param("bias", nn.initializers.zeros, (self.features,))

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    kernel, bias = self.kernel_and_bias(x.shape[-1])
    return precision_lib.conv(x, kernel, self.precision) + bias


class VGG19(nn.Module):
  """VGG-19's convolutional part, NHWC, computing only up to the deepest requested layer.

  Attributes:
    widths: output channels of blocks 1..5 (the real network: 64, 128, 256, 512, 512;
      tests use a tiny network of the same shape).
    pooling: "max" (the original network) or "avg" (Gatys et al. 2016 prefer it).
    precision: the convolutions' precision (`jaxstyle.precision`).
    conv: the 3x3 convolution module (`Conv3x3`, or a plug-in from jaxstyle.kernels
      with the same params), as flax's ResNet takes `conv: ModuleDef`.
    pool: pool(x, mode), 2x2 stride-2 pooling.
  """

  widths: Sequence[int] = WIDTHS
  pooling: str = "max"
  precision: str = "float32"
  conv: ModuleDef = Conv3x3
  pool: Callable[[jax.Array, str], jax.Array] = pool_2x2
  # The architecture (class attributes, not module fields): VGG-16 changes these only.
  NETWORK = "VGG-19"
  LAYERS = LAYER_NAMES

  @nn.compact
  def __call__(self, x: jax.Array, layers: Sequence[str]) -> dict[str, jax.Array]:
    """Maps preprocessed images [N, H, W, 3] to {layer name: features [N, h, w, c]}."""
    one_of("pooling", self.pooling, POOLING_MODES)
    layers = check_layer_names(layers, self.LAYERS, self.NETWORK)
    wanted = set(layers)
    last = max(self.LAYERS.index(name) for name in layers)
    features = {}
    for name in self.LAYERS[: last + 1]:
      if name.startswith("conv"):
        x = self.conv(layer_width(name, self.widths), self.precision, name=name)(x)
      elif name.startswith("relu"):
        x = nn.relu(x)
      else:
        x = self.pool(x, self.pooling)
      if name in wanted:
        features[name] = x
    return features
