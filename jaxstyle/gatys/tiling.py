"""Exact tiling: the objective of an image too large for memory, evaluated tile by tile.

The Gram loss's statistics are sums over positions, and mean_cov's are moments that
merge exactly (`losses.StyleLoss.moments` / `combine`), so the whole image's style
statistics are accumulated from tiles; the content loss is a sum over positions too.
Each tile is the image cropped with a halo of the deepest used layer's reach
(`features.FeatureNetwork.reach`: 70 px beyond each 16 px cell at VGG-19's conv5_1),
rounded up to the deepest layer's stride (80 px), with every tile origin on a multiple
of that stride so that the pooling windows line up with the whole image's. Inside a
tile only the positions it owns are counted (a 0/1 weight per position), and there its
features equal the untiled ones. At the image border a tile is clipped, never padded:
the network's zero padding then sees what it sees untiled.

The loss is one `lax.scan` over the tiles, each under `jax.checkpoint`: its forward pass
keeps only the tiles' statistics (pass 1); reverse-mode differentiation recomputes one
tile at a time and back-propagates the global statistics' gradient through it (pass 2),
so memory holds one tile's activations, not the image's. Every tile has the same shape
(windows shifted inward at the far border, `plan`), so the network is compiled once.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxstyle import features as features_lib
from jaxstyle import losses
from jaxstyle.errors import UserError


def check_tileable(network: str, style_loss: str) -> None:
  """UserError saying why `network` or `style_loss` cannot be tiled exactly."""
  entry = features_lib.FEATURE_NETWORKS[features_lib.check_network(network)]
  if entry.reach is None:
    raise UserError(f"{network} cannot be tiled: {entry.untileable}")
  kind = losses.STYLE_LOSSES[style_loss]
  if kind.moments is None:
    raise UserError(f"the {style_loss} style loss cannot be tiled: {kind.untileable}")


def halo(network: str, layers: Sequence[str]) -> tuple[int, int]:
  """(halo, alignment) in pixels for tiles of `network` computing `layers`: the deepest
  reach rounded up to the alignment, the largest stride (VGG-19 to conv5_1: 80, 16)."""
  entry = features_lib.FEATURE_NETWORKS[features_lib.check_network(network)]
  if entry.reach is None:
    raise UserError(f"{network} cannot be tiled: {entry.untileable}")
  align = max(entry.nets.layer_stride(l) for l in layers)
  reach = max(entry.reach(l) for l in layers)
  return -(-reach // align) * align, align


@dataclasses.dataclass(frozen=True)
class Axis:
  """The tiles along one image axis.

  window: each tile's input length (halo included; the same for every tile).
  starts: each tile's input start (multiples of the alignment).
  owned: each tile's owned interval [begin, end) (they partition the axis; begins are
    multiples of the tile size).
  """
  size: int
  window: int
  starts: tuple[int, ...]
  owned: tuple[tuple[int, int], ...]


def plan_axis(size: int, tile_size: int, halo_px: int, align: int) -> Axis:
  """Owned intervals of `tile_size`, windows of tile_size + 2 halo, shifted inward at the
  far border so that they end there: the window is lengthened by (size - window) mod
  align, so every window has one length and an aligned start. One window over the
  whole axis if it is no shorter."""
  if tile_size <= 0 or tile_size % align:
    raise UserError(f"the tile size must be a positive multiple of {align} px, got {tile_size}")
  window = tile_size + 2 * halo_px
  window += max(0, size - window) % align
  if size <= window:
    return Axis(size, size, (0,), ((0, size),))
  owned = tuple((b, min(b + tile_size, size)) for b in range(0, size, tile_size))
  starts = tuple(min(max(0, b - halo_px), size - window) for b, _ in owned)
  return Axis(size, window, starts, owned)


@dataclasses.dataclass(frozen=True)
class Plan:
  """The tiles of an image: rows x columns, row-major."""
  rows: Axis
  cols: Axis

  @property
  def num_tiles(self) -> int:
    return len(self.rows.starts) * len(self.cols.starts)


def plan(height: int, width: int, tile_size: int, halo_px: int, align: int) -> Plan:
  return Plan(plan_axis(height, tile_size, halo_px, align),
              plan_axis(width, tile_size, halo_px, align))


def _layer_rows(length: int, stride: int) -> int:
  """A layer's positions along an input of `length` px (each 2x2 pool floors)."""
  return length // stride


def _crop_length(axis: Axis, tile_size: int, stride: int) -> int:
  """Positions cropped from each tile along an axis at a layer of `stride`: the owned
  length (the whole axis' positions for one tile)."""
  if len(axis.starts) == 1:
    return _layer_rows(axis.size, stride)
  return tile_size // stride


def _crop(start: int, begin: int, end: int, axis: Axis, tile_size: int, stride: int):
  """(offset in the tile's layer, offset in the image's layer, 0/1 weights [n]) of the
  positions a tile owns along one axis, at a layer of `stride`."""
  n = _crop_length(axis, tile_size, stride)
  g0 = begin // stride
  g1 = _layer_rows(axis.size, stride) if end == axis.size else end // stride
  local = min(g0 - start // stride, _layer_rows(axis.window, stride) - n)
  first = start // stride + local  # The crop's first position in the image's layer.
  index = first + np.arange(n)
  return local, first, ((index >= g0) & (index < g1)).astype(np.float32)


def _tile_table(tile_plan: Plan, tile_size: int, strides: dict[str, int]) -> dict[str, Any]:
  """What `map_tiles` scans over, computed here so the loop body does no index
  arithmetic: each tile's origin [T, 2] and, per layer, its crop's offsets in the tile
  and in the image's layer [T, 2] and row and column weights [T, n], [T, m]."""
  rows, cols = tile_plan.rows, tile_plan.cols
  table: dict[str, Any] = {"origin": [], "local": {l: [] for l in strides},
                           "first": {l: [] for l in strides},
                           "wy": {l: [] for l in strides}, "wx": {l: [] for l in strides}}
  for top, (r0, r1) in zip(rows.starts, rows.owned):
    for left, (c0, c1) in zip(cols.starts, cols.owned):
      table["origin"].append((top, left))
      for l, s in strides.items():
        y, gy, wy = _crop(top, r0, r1, rows, tile_size, s)
        x, gx, wx = _crop(left, c0, c1, cols, tile_size, s)
        table["local"][l].append((y, x))
        table["first"][l].append((gy, gx))
        table["wy"][l].append(wy)
        table["wx"][l].append(wx)
  return jax.tree.map(np.asarray, table, is_leaf=lambda x: isinstance(x, list))


TileFn = Callable[[dict[str, jax.Array], dict[str, jax.Array], dict[str, Any]], Any]


def map_tiles(features_of: Callable[..., dict[str, jax.Array]], image: jax.Array,
              params: Any, layers: Sequence[str], tile_plan: Plan, tile_size: int,
              network: str, tile_fn: TileFn, *, checkpoint: bool = True) -> Any:
  """tile_fn over every tile, stacked [T, ...].

  tile_fn(crops, weights, offsets) gets, per layer, the features of the positions the
  tile owns (or a little more: `weights` [h, w] are 1 where it owns them, 0 elsewhere)
  and where they sit in the image's layer (`offsets`: (row, column), traced), and
  returns a pytree. `features_of(tile [h, w, 3], params, layers)`. With `checkpoint`
  (for differentiation) each tile's activations are recomputed in the backward pass
  rather than kept.
  """
  strides = {l: features_lib.layer_stride(l, network) for l in layers}
  rows, cols = tile_plan.rows, tile_plan.cols

  def one(image, params, tile):
    x = jax.lax.dynamic_slice(image, (tile["origin"][0], tile["origin"][1], 0),
                              (rows.window, cols.window, image.shape[-1]))
    feats = features_of(x, params, layers)
    crops, weights, offsets = {}, {}, {}
    for l in layers:
      wy, wx = tile["wy"][l], tile["wx"][l]
      f = feats[l]
      crops[l] = jax.lax.dynamic_slice(f, (tile["local"][l][0], tile["local"][l][1], 0),
                                       (wy.shape[0], wx.shape[0], f.shape[-1]))
      weights[l] = wy[:, None] * wx[None, :]
      offsets[l] = (tile["first"][l][0], tile["first"][l][1])
    return tile_fn(crops, weights, offsets)

  if checkpoint:
    one = jax.checkpoint(one, prevent_cse=False)
  table = jax.tree.map(jnp.asarray, _tile_table(tile_plan, tile_size, strides))
  _, stacked = jax.lax.scan(lambda carry, tile: (carry, one(image, params, tile)), None, table)
  return stacked


def owned_slice(array: jax.Array, offset, shape: tuple[int, int]) -> jax.Array:
  """array [H_l, W_l, ...] at a tile's crop (`map_tiles`' offsets), `shape` long."""
  return jax.lax.dynamic_slice(array, tuple(offset) + (0,) * (array.ndim - 2),
                               tuple(shape) + array.shape[2:])


def assemble(stacked: jax.Array, offsets: tuple[jax.Array, jax.Array],
             weights: jax.Array, shape: tuple[int, ...]) -> jax.Array:
  """Crops [T, h, w, C] at offsets ([T], [T]) -> the image's layer `shape`, each
  position written by the tile that owns it (weights [T, h, w])."""
  def put(out, tile):
    crop, gy, gx, w = tile
    old = jax.lax.dynamic_slice(out, (gy, gx, 0), crop.shape)
    new = jnp.where(w[..., None] > 0, crop, old)
    return jax.lax.dynamic_update_slice(out, new, (gy, gx, 0)), None

  out, _ = jax.lax.scan(put, jnp.zeros(shape, stacked.dtype),
                        (stacked, offsets[0], offsets[1], weights))
  return out
