"""VGG-19's layers in the forms XLA:CPU runs faster (plugged in by `kernels="cpu"`).

- `Conv3x3`: the same function and params as `nets.vgg.Conv3x3`, computed with
  kernels derived once per network (`features.network_variables`): the flipped
  kernel of the input gradient, and for the wide layers (>= 256 channels) the
  Winograd F(4x4, 3x3) transform (`kernels.winograd`). XLA would otherwise rebuild
  them from the kernel in every evaluation.
- `pool_2x2`: max pooling whose gradient is recomputed in the backward fusion instead
  of a mask and tie count kept from the forward pass.

They are used at float32 only; other precisions (`jaxstyle.precision`) run the
plain convolutions.
"""

from __future__ import annotations

import functools
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxstyle import precision as precision_lib
from jaxstyle.kernels import winograd
from jaxstyle.nets import vgg

# Winograd F(4x4, 3x3) is used for convolutions with at least this many input and
# output channels, when their transformed tiles (36/16 of the input, float32) fit in
# WINOGRAD_MAX_BYTES; narrower layers run faster as direct convolutions on XLA:CPU
# (per-layer timings in benchmarks/README.md).
WINOGRAD_TILE = 4
WINOGRAD_MIN_CHANNELS = 256
WINOGRAD_MAX_BYTES = 64 * 2**20


def backward_kernel(kernel: jax.Array) -> jax.Array:
  """The kernel whose SAME convolution is a 3x3 convolution's input gradient.

  Flipped in space, input and output channels swapped: [3, 3, in, out] -> [3, 3, out, in].
  """
  return jnp.flip(kernel, (0, 1)).swapaxes(2, 3)


def derived_kernels(kernel: jax.Array) -> dict[str, jax.Array]:
  """What `conv3x3` needs besides the kernel, computed once per network.

  "kernel_t": `backward_kernel(kernel)`; for layers wide enough for Winograd also
  "winograd" (the transformed kernel, [36, in, out]; the backward pass contracts its
  other channel axis, `winograd.conv_transpose`).
  """
  derived = {"kernel_t": backward_kernel(kernel)}
  if min(kernel.shape[2:]) >= WINOGRAD_MIN_CHANNELS:
    derived["winograd"] = winograd.kernel_transform(kernel, WINOGRAD_TILE)
  return derived


def derived_bytes(kernel_shapes: Sequence[Sequence[int]]) -> int:
  """Bytes of float32 `derived_kernels` for kernels of these shapes."""
  total = 0
  for h, w, cin, cout in kernel_shapes:
    total += 4 * h * w * cin * cout
    if min(cin, cout) >= WINOGRAD_MIN_CHANNELS:
      total += 4 * (WINOGRAD_TILE + 2) ** 2 * cin * cout
  return total


def _winograd_fits(shape: Sequence[int], channels: int) -> bool:
  tile = WINOGRAD_TILE
  return 4 * (tile + 2) ** 2 * shape[1] * shape[2] * channels <= WINOGRAD_MAX_BYTES * tile ** 2


@functools.partial(jax.custom_vjp, nondiff_argnums=(3,))
def conv3x3(x: jax.Array, kernel: jax.Array, derived: dict[str, jax.Array],
            precision: str = "float32") -> jax.Array:
  """SAME 3x3 convolution (NHWC, HWIO) using kernels derived once (`derived_kernels`).

  The output does not depend on `derived` (it must hold `derived_kernels(kernel)`), so
  its gradient is zero; the kernel's gradient is the usual one (XLA drops it when
  unused, as in style transfer, which only needs the input's).
  """
  if "winograd" in derived and _winograd_fits(x.shape, max(kernel.shape[2:])):
    return winograd.conv(x, derived["winograd"], precision_lib.lax_precision(precision))
  return precision_lib.conv(x, kernel, precision)


def _conv3x3_fwd(x, kernel, derived, precision):
  return conv3x3(x, kernel, derived, precision), (x, kernel, derived)


def _conv3x3_bwd(precision, residuals, g):
  x, kernel, derived = residuals
  if "winograd" in derived and _winograd_fits(x.shape, max(kernel.shape[2:])):
    dx = winograd.conv_transpose(g, derived["winograd"],
                                 precision_lib.lax_precision(precision))
  else:
    dx = precision_lib.conv(g, derived["kernel_t"], precision)
  _, kernel_vjp = jax.vjp(lambda k: precision_lib.conv(x, k, precision), kernel)
  return dx.astype(x.dtype), kernel_vjp(g)[0], jax.tree.map(jnp.zeros_like, derived)


conv3x3.defvjp(_conv3x3_fwd, _conv3x3_bwd)


class Conv3x3(vgg.Conv3x3):
  """`nets.vgg.Conv3x3` (same params) on derived kernels.

  Reads them from the "derived" collection when the caller supplies it
  (`features.network_variables`); otherwise derives the backward kernel in the graph. Winograd
  at float32 only (other precisions: the plain convolution).
  """

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    kernel, bias = self.kernel_and_bias(x.shape[-1])
    if self.precision != "float32":  # The hand-written forms are for float32 only.
      return precision_lib.conv(x, kernel, self.precision) + bias
    if self.has_variable("derived", "kernel_t"):
      derived = dict(self.variables["derived"])
    else:
      derived = {"kernel_t": backward_kernel(kernel)}
    return conv3x3(x, kernel, derived, self.precision) + bias


def pool_2x2(x: jax.Array, mode: str) -> jax.Array:
  """`nets.vgg.pool_2x2` with a cheaper max-pooling gradient (`_max_pool_blocks`)."""
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
  # ties, which needs a mask and a count materialized in the forward pass; here the
  # mask is recomputed in the backward fusion. Ties only occur between ReLU zeros,
  # whose gradient the ReLU zeroes anyway.
  x, y = residuals
  expand = lambda a: a[:, :, None, :, None, :]
  return (jnp.where(x == expand(y), expand(g), 0).astype(g.dtype),)


_max_pool_blocks.defvjp(_max_pool_fwd, _max_pool_bwd)


MODULES = {"conv": Conv3x3, "pool": pool_2x2}
