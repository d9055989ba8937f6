"""3x3 SAME convolutions by Winograd's minimal filtering F(2x2, 3x3) (Lavin & Gray 2016).

Each 2x2 block of outputs is computed from a 4x4 input tile with 16 multiplications per
channel pair instead of 36, as 16 independent [tiles, C_in] x [C_in, C_out] products:

    Y = A^T [(G g G^T) . (B^T d B)] A.

The kernel transform G g G^T is done once per network (`kernel_transform`); the input
and output transforms are additions only, and so are their transposes, which give the
input gradient (`conv_transpose`). Exact up to float rounding (relative error ~1e-6 in
float32). Any height and width: odd ones are padded by a row/column of zeros, which
SAME padding would have supplied anyway, and cropped off again.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

# G of F(2x2, 3x3); B^T and A^T are written out in the transforms below.
_G = np.array([[1, 0, 0], [.5, .5, .5], [.5, -.5, .5], [0, 0, 1]], np.float32)


def kernel_transform(kernel: jax.Array) -> jax.Array:
  """[3, 3, C_in, C_out] -> [16, C_in, C_out], G g G^T for every channel pair."""
  u = jnp.einsum("ai,ijck,bj->abck", _G, kernel, _G, precision=lax.Precision.HIGHEST)
  return u.reshape(16, kernel.shape[2], kernel.shape[3])


def _tiles(size: int) -> int:
  return (size + 1) // 2


def _pair(x: jax.Array, axis: int, start: int, stop: int, sub: int) -> jax.Array:
  """x[..., start:stop, sub, ...] along a blocked axis [..., blocks, 2, ...]."""
  x = lax.slice_in_dim(x, start, stop, axis=axis)
  return lax.index_in_dim(x, sub, axis=axis + 1, keepdims=False)


def _input_rows(x: jax.Array, axis: int, tiles: int) -> list[jax.Array]:
  """B^T along one axis: blocks [..., tiles + 1, 2, ...] -> 4 x [..., tiles, ...].

  Tile t covers blocks t and t + 1 (4 samples d0..d3, overlapping the next tile by 2).
  """
  d0, d1 = _pair(x, axis, 0, tiles, 0), _pair(x, axis, 0, tiles, 1)
  d2, d3 = _pair(x, axis, 1, tiles + 1, 0), _pair(x, axis, 1, tiles + 1, 1)
  return [d0 - d2, d1 + d2, d2 - d1, d1 - d3]


def _input_rows_transpose(v: list[jax.Array], axis: int) -> jax.Array:
  """Transpose of `_input_rows`: 4 x [..., tiles, ...] -> [..., tiles + 1, 2, ...]."""
  v0, v1, v2, v3 = v
  d0, d1, d2, d3 = v0, v1 - v2 + v3, v1 + v2 - v0, -v3
  after = [(0, 0)] * d0.ndim
  after[axis] = (0, 1)
  before = [(0, 0)] * d0.ndim
  before[axis] = (1, 0)
  first = jnp.pad(d0, after) + jnp.pad(d2, before)  # Tiles overlap: add the halves.
  second = jnp.pad(d1, after) + jnp.pad(d3, before)
  return jnp.stack([first, second], axis + 1)


def input_transform(x: jax.Array) -> jax.Array:
  """[N, H, W, C] -> [16, N * tiles, C], B^T d B for every 4x4 tile (stride 2)."""
  n, h, w, c = x.shape
  th, tw = _tiles(h), _tiles(w)
  padded = jnp.pad(x, ((0, 0), (1, 1 + h % 2), (1, 1 + w % 2), (0, 0)))
  blocks = padded.reshape(n, th + 1, 2, tw + 1, 2, c)
  out = []
  for rows in _input_rows(blocks, 1, th):
    out += _input_rows(rows, 2, tw)
  return jnp.stack(out).reshape(16, n * th * tw, c)


def input_transform_transpose(v: jax.Array, shape: tuple[int, ...]) -> jax.Array:
  """Transpose of `input_transform`: [16, N * tiles, C] -> [N, H, W, C]."""
  n, h, w, c = shape
  th, tw = _tiles(h), _tiles(w)
  v = v.reshape(4, 4, n, th, tw, c)
  rows = [_input_rows_transpose([v[a, b] for b in range(4)], 2) for a in range(4)]
  blocks = _input_rows_transpose(rows, 1)
  return blocks.reshape(n, 2 * th + 2, 2 * tw + 2, c)[:, 1:h + 1, 1:w + 1]


def _output_rows(m: list[jax.Array]) -> list[jax.Array]:
  """A^T along one axis: 4 -> 2."""
  return [m[0] + m[1] + m[2], m[1] - m[2] - m[3]]


def _output_rows_transpose(y0: jax.Array, y1: jax.Array) -> list[jax.Array]:
  return [y0, y0 + y1, y0 - y1, -y1]


def output_transform(m: jax.Array, shape: tuple[int, ...]) -> jax.Array:
  """[16, N * tiles, C] -> [N, H, W, C], A^T m A for every tile (2x2 outputs each)."""
  n, h, w, _ = shape
  th, tw = _tiles(h), _tiles(w)
  c = m.shape[-1]
  m = m.reshape(4, 4, n, th, tw, c)
  rows = _output_rows([m[a] for a in range(4)])  # 2 x [4, n, th, tw, c]
  y = jnp.stack([jnp.stack(_output_rows([r[b] for b in range(4)]), 3) for r in rows], 2)
  return y.reshape(n, 2 * th, 2 * tw, c)[:, :h, :w]


def output_transform_transpose(dy: jax.Array) -> jax.Array:
  """Transpose of `output_transform`: [N, H, W, C] -> [16, N * tiles, C]."""
  n, h, w, c = dy.shape
  th, tw = _tiles(h), _tiles(w)
  dy = jnp.pad(dy, ((0, 0), (0, 2 * th - h), (0, 2 * tw - w), (0, 0)))
  dy = dy.reshape(n, th, 2, tw, 2, c)
  out = []
  for rows in _output_rows_transpose(dy[:, :, 0], dy[:, :, 1]):
    out += _output_rows_transpose(rows[:, :, :, 0], rows[:, :, :, 1])
  return jnp.stack(out).reshape(16, n * th * tw, c)


def conv(x: jax.Array, u: jax.Array, precision=None) -> jax.Array:
  """SAME 3x3 convolution of x [N, H, W, C_in] with u = kernel_transform(kernel)."""
  m = jnp.einsum("stc,sck->stk", input_transform(x), u, precision=precision)
  return output_transform(m, x.shape[:3] + (u.shape[-1],))


def conv_transpose(g: jax.Array, u_t: jax.Array, precision=None) -> jax.Array:
  """The input gradient of `conv`, given the output's g [N, H, W, C_out].

  u_t is kernel_transform(kernel) with its channel axes swapped, [16, C_out, C_in].
  """
  v = jnp.einsum("stk,skc->stc", output_transform_transpose(g), u_t, precision=precision)
  return input_transform_transpose(v, g.shape[:3] + (u_t.shape[-1],))
