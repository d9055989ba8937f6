"""3x3 SAME convolutions by Winograd's minimal filtering F(m x m, 3x3) (Lavin & Gray 2016).

Each m x m block of outputs is computed from an (m+2) x (m+2) input tile with (m+2)^2
multiplications per channel pair instead of 9 m^2, as (m+2)^2 independent
[tiles, C_in] x [C_in, C_out] products:

    Y = A^T [(G g G^T) . (B^T d B)] A.

F(2x2, 3x3) saves 2.25x of the multiplications, F(4x4, 3x3) 4x, and its transformed
input is 2.25x the input's size instead of 4x (less memory traffic). The kernel
transform G g G^T is done once per network (`kernel_transform`); the input and output
transforms are a few additions per element, and so are their transposes, which give
the input gradient (`conv_transpose`). The tile size is read off the transformed
kernel (16 or 36 products). Relative error in float32: ~1e-6 for F(2x2), ~1e-5 for
F(4x4). Any height and width: the last tiles are padded with zeros, which SAME padding
would have supplied, and the outputs cropped.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

# (B^T, G, A^T) for m = 2 (points 0, 1, -1) and m = 4 (points 0, 1, -1, 2, -2).
_MATRICES = {
    2: (np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]),
        np.array([[1, 0, 0], [.5, .5, .5], [.5, -.5, .5], [0, 0, 1]]),
        np.array([[1, 1, 1, 0], [0, 1, -1, -1]])),
    4: (np.array([[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
                  [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]]),
        np.array([[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6],
                  [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]]),
        np.array([[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0],
                  [0, 1, -1, 8, -8, 1]])),
}


def kernel_transform(kernel: jax.Array, m: int = 2) -> jax.Array:
  """[3, 3, C_in, C_out] -> [(m+2)^2, C_in, C_out], G g G^T for every channel pair."""
  g = jnp.asarray(_MATRICES[m][1], jnp.float32)
  u = jnp.einsum("ai,ijck,bj->abck", g, kernel, g, precision=lax.Precision.HIGHEST)
  return u.reshape(-1, kernel.shape[2], kernel.shape[3])


def _tile_size(u: jax.Array) -> int:
  """m of a transformed kernel [(m+2)^2, ...]."""
  return {16: 2, 36: 4}[u.shape[0]]


def _combine(coefficients: np.ndarray, terms: list[jax.Array]) -> jax.Array:
  """sum_j coefficients[j] * terms[j], skipping zeros (elementwise; XLA fuses it)."""
  out = None
  for c, t in zip(coefficients.tolist(), terms):
    if c == 0:
      continue
    t = t if c == 1 else -t if c == -1 else c * t
    out = t if out is None else out + t
  return out


def _sample(blocks: jax.Array, axis: int, tiles: int, j: int, m: int) -> jax.Array:
  """Sample j of every tile along a blocked axis [..., tiles + 1, m, ...]: tile t's
  samples are block t's m entries, then the first two of block t + 1."""
  start = j // m
  x = lax.slice_in_dim(blocks, start, start + tiles, axis=axis)
  return lax.index_in_dim(x, j % m, axis=axis + 1, keepdims=False)


def _unsample(d: list[jax.Array], axis: int, m: int) -> jax.Array:
  """Transpose of taking all samples: (m+2) x [..., tiles, ...] -> [..., tiles + 1, m, ...]
  (samples of neighbouring tiles that share a position are added)."""
  after = [(0, 0)] * d[0].ndim
  after[axis] = (0, 1)
  before = [(0, 0)] * d[0].ndim
  before[axis] = (1, 0)
  subs = []
  for s in range(m):
    sub = jnp.pad(d[s], after)
    if m + s < len(d):
      sub = sub + jnp.pad(d[m + s], before)
    subs.append(sub)
  return jnp.stack(subs, axis + 1)


def _tiles(size: int, m: int) -> int:
  return -(-size // m)


# The transforms are separable: along H on each sample, then along W on all of them at
# once (stacked), so a tile of (m+2)^2 products costs 2 (m+2) combinations in the graph,
# not (m+2)^2 + (m+2): for F(4x4) this halved the objective's compile time.


def input_transform(x: jax.Array, m: int = 2) -> jax.Array:
  """[N, H, W, C] -> [(m+2)^2, N * tiles, C], B^T d B for every tile (stride m)."""
  bt = _MATRICES[m][0]
  a = m + 2
  n, h, w, c = x.shape
  th, tw = _tiles(h, m), _tiles(w, m)
  padded = jnp.pad(x, ((0, 0), (1, m * (th + 1) - h - 1), (1, m * (tw + 1) - w - 1), (0, 0)))
  blocks = padded.reshape(n, th + 1, m, tw + 1, m, c)
  d = [_sample(blocks, 1, th, j, m) for j in range(a)]
  v = jnp.stack([_combine(row, d) for row in bt])  # [a, n, th, tw + 1, m, c]
  e = [_sample(v, 3, tw, j, m) for j in range(a)]  # a x [a, n, th, tw, c]
  out = jnp.stack([_combine(col, e) for col in bt], axis=1)  # [a (H), a (W), ...]
  return out.reshape(a * a, n * th * tw, c)


def input_transform_transpose(v: jax.Array, shape: tuple[int, ...], m: int = 2) -> jax.Array:
  """Transpose of `input_transform`: [(m+2)^2, N * tiles, C] -> [N, H, W, C]."""
  bt = _MATRICES[m][0]
  a = m + 2
  n, h, w, c = shape
  th, tw = _tiles(h, m), _tiles(w, m)
  v = v.reshape(a, a, n, th, tw, c)
  e = [_combine(bt[:, j], [v[:, b] for b in range(a)]) for j in range(a)]
  rows = _unsample(e, 3, m)  # [a, n, th, tw + 1, m, c]
  d = [_combine(bt[:, j], [rows[i] for i in range(a)]) for j in range(a)]
  blocks = _unsample(d, 1, m)  # [n, th + 1, m, tw + 1, m, c]
  return blocks.reshape(n, m * (th + 1), m * (tw + 1), c)[:, 1:h + 1, 1:w + 1]


def output_transform(mm: jax.Array, shape: tuple[int, ...], m: int = 2) -> jax.Array:
  """[(m+2)^2, N * tiles, C] -> [N, H, W, C], A^T M A for every tile (m x m outputs)."""
  at = _MATRICES[m][2]
  a = m + 2
  n, h, w, _ = shape
  th, tw = _tiles(h, m), _tiles(w, m)
  c = mm.shape[-1]
  mm = mm.reshape(a, a, n, th, tw, c)
  rows = jnp.stack([_combine(r, [mm[i] for i in range(a)]) for r in at])  # [m, a, n, th, tw, c]
  y = jnp.stack([_combine(r, [rows[:, b] for b in range(a)]) for r in at], axis=4)
  y = jnp.transpose(y, (1, 2, 0, 3, 4, 5))  # [m, n, th, tw, m, c] -> [n, th, m, tw, m, c]
  return y.reshape(n, m * th, m * tw, c)[:, :h, :w]


def output_transform_transpose(dy: jax.Array, m: int = 2) -> jax.Array:
  """Transpose of `output_transform`: [N, H, W, C] -> [(m+2)^2, N * tiles, C]."""
  at = _MATRICES[m][2]
  a = m + 2
  n, h, w, c = dy.shape
  th, tw = _tiles(h, m), _tiles(w, m)
  dy = jnp.pad(dy, ((0, 0), (0, m * th - h), (0, m * tw - w), (0, 0)))
  dy = dy.reshape(n, th, m, tw, m, c)
  rows = jnp.stack([_combine(at[:, i], [dy[:, :, k] for k in range(m)]) for i in range(a)])
  out = jnp.stack([_combine(at[:, j], [rows[..., k, :] for k in range(m)]) for j in range(a)],
                  axis=1)  # [a (H), a (W), n, th, tw, c]
  return out.reshape(a * a, n * th * tw, c)


def conv(x: jax.Array, u: jax.Array, precision=None) -> jax.Array:
  """SAME 3x3 convolution of x [N, H, W, C_in] with u = kernel_transform(kernel, m)."""
  m = _tile_size(u)
  prod = jnp.einsum("stc,sck->stk", input_transform(x, m), u, precision=precision)
  return output_transform(prod, x.shape[:3] + (u.shape[-1],), m)


def conv_transpose(g: jax.Array, u: jax.Array, precision=None) -> jax.Array:
  """The input gradient of `conv`, given the output's g [N, H, W, C_out].

  u is the forward pass's kernel_transform(kernel, m), [(m+2)^2, C_in, C_out]: the
  products contract its output channels, so no transposed copy is kept (on XLA:CPU
  as fast as a copy with swapped axes, and as exact).
  """
  m = _tile_size(u)
  v = jnp.einsum("stk,sck->stc", output_transform_transpose(g, m), u, precision=precision)
  return input_transform_transpose(v, g.shape[:3] + (u.shape[1],), m)
