"""VGG-19 (Simonyan & Zisserman 2015) as a Flax module returning named features.

Layer names are the paper's (Gatys et al. 2016): conv1_1, relu1_1, ..., pool5.
Weights are a pytree passed to `apply`; the module never reads files.
"""

from __future__ import annotations

import functools
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxstyle import winograd

# Convolutions per block of VGG-19, and the channel widths of the real network.
BLOCK_DEPTHS = (2, 2, 4, 4, 4)
WIDTHS = (64, 128, 256, 512, 512)


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
POOLING_MODES = ("max", "avg")


def check_layers(layers: Sequence[str]) -> tuple[str, ...]:
  """Returns `layers` as a tuple, or raises ValueError naming the valid ones."""
  if isinstance(layers, str):
    layers = (layers,)
  layers = tuple(layers)
  if not layers:
    raise ValueError("no layers requested")
  unknown = [l for l in layers if l not in _LAYER_INDEX]
  if unknown:
    raise ValueError(
        f"unknown VGG-19 layer(s) {', '.join(unknown)}; valid layers are: "
        f"{', '.join(LAYER_NAMES)}")
  return layers


def _block_of(name: str) -> int:
  """Block number (1..5) of a layer name such as 'conv3_1', 'relu3_1' or 'pool3'."""
  return int(name[4])


def layer_width(name: str, widths: Sequence[int] = WIDTHS) -> int:
  """Channels of layer `name` (e.g. 'relu3_1' -> widths[2])."""
  return widths[_block_of(name) - 1]


def layer_stride(name: str) -> int:
  """Spatial downsampling factor of layer `name` relative to the input."""
  block = _block_of(name)
  return 2 ** (block if name.startswith("pool") else block - 1)


def pool_2x2(x: jax.Array, mode: str) -> jax.Array:
  """2x2 max or average pooling with stride 2 (odd trailing rows/columns dropped).

  Written as a reshape and a reduction rather than `reduce_window`: same values, but
  its gradient is an elementwise mask instead of XLA's select-and-scatter, which is
  slow on CPU (measured in benchmarks/README.md).
  """
  n, h, w, c = x.shape
  x = x[:, : h - h % 2, : w - w % 2, :].reshape(n, h // 2, 2, w // 2, 2, c)
  return _max_pool_blocks(x) if mode == "max" else jnp.mean(x, axis=(2, 4))


@jax.custom_vjp
def _max_pool_blocks(x: jax.Array) -> jax.Array:
  """Max over axes 2 and 4 of [N, h, 2, w, 2, C] blocks."""
  return jnp.max(x, axis=(2, 4))


def _max_pool_fwd(x):
  y = _max_pool_blocks(x)
  return y, (x, y)


def _max_pool_bwd(residuals, g):
  # The gradient goes to the block's maximum. jnp.max's own rule splits it among
  # ties, which needs a mask and a count materialized in the forward pass (6% of a
  # 512 px evaluation on CPU); here the mask is recomputed in the backward fusion.
  # Ties only occur between ReLU zeros, whose gradient the ReLU zeroes anyway.
  x, y = residuals
  expand = lambda a: a[:, :, None, :, None, :]
  return (jnp.where(x == expand(y), expand(g), 0).astype(g.dtype),)


_max_pool_blocks.defvjp(_max_pool_fwd, _max_pool_bwd)


def _conv(x: jax.Array, kernel: jax.Array, precision) -> jax.Array:
  return jax.lax.conv_general_dilated(x, kernel, (1, 1), "SAME", precision=precision,
                                      dimension_numbers=("NHWC", "HWIO", "NHWC"))


def backward_kernel(kernel: jax.Array) -> jax.Array:
  """The kernel whose SAME convolution is a 3x3 convolution's input gradient.

  Flipped in space, input and output channels swapped: [3, 3, in, out] -> [3, 3, out, in].
  """
  return jnp.flip(kernel, (0, 1)).swapaxes(2, 3)


# Winograd F(4x4, 3x3) is used for convolutions with at least this many input and
# output channels, when their transformed tiles (36/16 of the input, float32) fit in
# WINOGRAD_MAX_BYTES. Measured per layer on the 2-core CPU (forward / backward ms,
# direct vs F(2x2) vs F(4x4)): 48x64x256->256 11.8/11.4, 8.7/8.4, 7.5/6.6;
# 96x128x256->256 48.9/50.7, 68.2/69.9, 38.7/42.0; 48x64x512->512 46.4/47.8,
# 42.7/44.5, 24.8/22.8. With 64 or 128 channels the direct convolution mostly wins
# (192x256x128->128: 55/59 vs 75/78 for F(4x4)).
WINOGRAD_TILE = 4
WINOGRAD_MIN_CHANNELS = 256
WINOGRAD_MAX_BYTES = 64 * 2**20


def derived_kernels(kernel: jax.Array) -> dict[str, jax.Array]:
  """What `conv3x3` needs besides the kernel, computed once per network.

  "kernel_t": `backward_kernel(kernel)`; for layers wide enough for Winograd also
  "winograd" (the transformed kernel, [36, in, out]) and "winograd_t" ([36, out, in]).
  XLA would otherwise rebuild these from the kernel in every evaluation: strided
  copies of up to 16 MB per layer, 7% of a 256 px evaluation on CPU.
  """
  derived = {"kernel_t": backward_kernel(kernel)}
  if min(kernel.shape[2:]) >= WINOGRAD_MIN_CHANNELS:
    u = winograd.kernel_transform(kernel, WINOGRAD_TILE)
    derived.update(winograd=u, winograd_t=u.swapaxes(1, 2))
  return derived


def _winograd_fits(shape: Sequence[int], channels: int) -> bool:
  tile = WINOGRAD_TILE
  return 4 * (tile + 2) ** 2 * shape[1] * shape[2] * channels <= WINOGRAD_MAX_BYTES * tile ** 2


@functools.partial(jax.custom_vjp, nondiff_argnums=(3,))
def conv3x3(x: jax.Array, kernel: jax.Array, derived: dict[str, jax.Array],
            precision=None) -> jax.Array:
  """SAME 3x3 convolution (NHWC, HWIO) using kernels derived once (`derived_kernels`).

  The output does not depend on `derived` (it must hold `derived_kernels(kernel)`), so
  its gradient is zero; the kernel's gradient is the usual one (XLA drops it when
  unused, as in style transfer, which only needs the input's).
  """
  if "winograd" in derived and _winograd_fits(x.shape, max(kernel.shape[2:])):
    return winograd.conv(x, derived["winograd"], precision)
  return _conv(x, kernel, precision)


def _conv3x3_fwd(x, kernel, derived, precision):
  return conv3x3(x, kernel, derived, precision), (x, kernel, derived)


def _conv3x3_bwd(precision, residuals, g):
  x, kernel, derived = residuals
  if "winograd_t" in derived and _winograd_fits(x.shape, max(kernel.shape[2:])):
    dx = winograd.conv_transpose(g, derived["winograd_t"], precision)
  else:
    dx = _conv(g, derived["kernel_t"], precision)
  _, kernel_vjp = jax.vjp(lambda k: _conv(x, k, precision), kernel)
  return dx, kernel_vjp(g)[0], jax.tree.map(jnp.zeros_like, derived)


conv3x3.defvjp(_conv3x3_fwd, _conv3x3_bwd)


class Conv3x3(nn.Module):
  """A 3x3 SAME convolution with bias; params {'kernel', 'bias'} as in flax's nn.Conv.

  Reads its derived kernels from the "derived" collection when the caller supplies it
  (`VGGWeights.flax_params` does); otherwise derives the backward kernel in the graph.
  """

  features: int
  precision: jax.lax.Precision | None = None

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    kernel = self.param("kernel", nn.initializers.lecun_normal(),
                        (3, 3, x.shape[-1], self.features))
    bias = self.param("bias", nn.initializers.zeros, (self.features,))
    if self.has_variable("derived", "kernel_t"):
      derived = self.variables["derived"]
    else:
      derived = {"kernel_t": backward_kernel(kernel)}
    return conv3x3(x, kernel, dict(derived), self.precision) + bias


class VGG19(nn.Module):
  """VGG-19's convolutional part, NHWC, computing only up to the deepest requested layer.

  Attributes:
    widths: output channels of blocks 1..5 (the real network: 64, 128, 256, 512, 512;
      tests use a tiny network of the same shape).
    pooling: "max" (the original network) or "avg" (Gatys et al. 2016 prefer it).
    precision: matmul/conv precision passed to XLA.
  """

  widths: Sequence[int] = WIDTHS
  pooling: str = "max"
  precision: jax.lax.Precision | None = None

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
        x = Conv3x3(layer_width(name, self.widths), self.precision, name=name)(x)
      elif name.startswith("relu"):
        x = nn.relu(x)
      else:
        x = pool_2x2(x, self.pooling)
      if name in wanted:
        features[name] = x
    return features
