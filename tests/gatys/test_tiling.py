"""Exact tiling (jaxstyle.gatys.tiling): the tiled objective is the untiled one.

A tiny VGG of the real depth (conv5_1's 156 px field) on a 420 x 404 image, whose sides
are not multiples of 16, in 128 px tiles: 4 x 4 tiles, the inner ones with halos
nowhere clipped. With the kernels of this backend ("auto"): XLA:CPU runs plain XLA
convolutions inside a loop far slower than outside one (jax#12868; 10 s here against
1.9 s with the CPU kernels), which would make these tests slow, not wrong.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxstyle
from jaxstyle import features as features_lib
from jaxstyle import weights as weights_lib
from jaxstyle.errors import UserError
from jaxstyle.gatys import objective
from jaxstyle.gatys import tiling
from jaxstyle.nets import vgg
from tests.conftest import TINY_WIDTHS

HEIGHT, WIDTH, TILE = 420, 404, 128
RTOL = 1e-4  # float32 rounding: summation order and tile shapes differ, not the math.


def _images(guided):
  rng = np.random.default_rng(0)
  content = rng.uniform(size=(HEIGHT, WIDTH, 3)).astype(np.float32)
  styles = [rng.uniform(size=(200, 180, 3)).astype(np.float32)]
  masks = None
  if guided:  # A disc crossing tile borders, and its complement.
    styles.append(rng.uniform(size=(150, 170, 3)).astype(np.float32))
    yy, xx = np.mgrid[:HEIGHT, :WIDTH]
    disc = ((yy - 200) ** 2 + (xx - 190) ** 2 < 150 ** 2).astype(np.float32)
    masks = [disc, 1.0 - disc]
  image = rng.uniform(size=(HEIGHT, WIDTH, 3)).astype(np.float32)
  return content, styles, masks, jnp.asarray(image)


def _evaluate(weights, config, *, guided=False, **tiles):
  content, styles, masks, image = _images(guided)
  targets = objective.compute_targets(content, styles, config, weights, style_masks=masks)
  loss_fn = objective.make_loss_fn(config, weights, num_styles=len(styles), **tiles)
  params = features_lib.network_variables(weights)
  (_, parts), grad = jax.jit(jax.value_and_grad(loss_fn, has_aux=True))(image, targets, params)
  return {k: float(v) for k, v in parts.items()}, np.asarray(grad)


def _errors(reference, result):
  """Relative errors of the content and style terms and of the gradient (its norm)."""
  (parts0, grad0), (parts1, grad1) = reference, result
  errors = {k: abs(parts1[k] - parts0[k]) / abs(parts0[k]) for k in ("content", "style")}
  errors["gradient"] = float(np.linalg.norm(grad1 - grad0) / np.linalg.norm(grad0))
  return errors


CASES = {
    "gram": (dict(), False),
    "mean_cov": (dict(style_loss="mean_cov"), False),
    "gram_masks": (dict(guided=True), True),
}


@pytest.fixture(scope="module")
def untiled(tiny_weights):
  cache = {}

  def get(case):
    if case not in cache:
      fields, guided = CASES[case]
      cache[case] = _evaluate(tiny_weights, objective.ObjectiveConfig(style_weight=1.0, **fields),
                              guided=guided)
    return cache[case]

  return get


def test_the_plan_has_inner_tiles_whose_halo_is_nowhere_clipped():
  halo, align = tiling.halo("vgg19", objective.DEFAULT_STYLE_LAYERS)
  assert (halo, align) == (80, 16)  # conv5_1 reaches 70 px beyond its 16 px cell.
  plan = tiling.plan(HEIGHT, WIDTH, TILE, halo, align)
  assert plan.num_tiles == 16
  inner = [(top, r0, r1) for top, (r0, r1) in zip(plan.rows.starts, plan.rows.owned)
           if top > 0 and top + plan.rows.window < HEIGHT]
  assert inner and all(r0 - top >= halo for top, r0, _ in inner)


@pytest.mark.parametrize("size", [100, 288, 289, 300, 420, 517, 1000])
def test_tile_windows_share_one_length_start_aligned_and_cover_owned_cells_with_the_halo(size):
  axis = tiling.plan_axis(size, TILE, 80, 16)
  assert list(axis.starts) == sorted(axis.starts)
  assert [b for b, _ in axis.owned] == list(range(0, size, TILE))[: len(axis.owned)]
  assert axis.owned[-1][1] == size
  for start, (begin, end) in zip(axis.starts, axis.owned):
    assert start % 16 == 0 and 0 <= start and start + axis.window <= size
    assert start <= max(0, begin - 80) and min(size, end + 80) <= start + axis.window


@pytest.mark.slow
@pytest.mark.parametrize("case", list(CASES))
def test_tiled_loss_and_gradient_equal_the_untiled(tiny_weights, untiled, case):
  fields, guided = CASES[case]
  config = objective.ObjectiveConfig(style_weight=1.0, **fields)
  errors = _errors(untiled(case), _evaluate(tiny_weights, config, guided=guided, tile_size=TILE))
  assert max(errors.values()) <= RTOL, errors


@pytest.mark.slow
def test_a_halo_16_px_short_of_conv5_1s_reach_is_not_exact(tiny_weights, untiled):
  config = objective.ObjectiveConfig(style_weight=1.0)
  errors = _errors(untiled("gram"), _evaluate(tiny_weights, config, tile_size=TILE, halo=64))
  assert errors["gradient"] > RTOL, errors


@pytest.mark.slow
def test_vgg16_tiles_exactly_with_its_own_reach():
  assert vgg.layer_reach("conv5_1") == 70
  assert tiling.halo("vgg16", objective.DEFAULT_STYLE_LAYERS) == (64, 16)  # 58 px reach.
  weights = weights_lib.random_weights(seed=1, widths=TINY_WIDTHS, network="vgg16")
  config = objective.ObjectiveConfig(style_weight=1.0, network="vgg16")
  errors = _errors(_evaluate(weights, config), _evaluate(weights, config, tile_size=TILE))
  assert max(errors.values()) <= RTOL, errors


@pytest.mark.parametrize("style_loss", ["gram", "mean_cov"])
def test_tiled_targets_equal_the_untiled(tiny_weights, style_loss):
  config = objective.ObjectiveConfig(style_loss=style_loss)
  rng = np.random.default_rng(1)
  content = rng.uniform(size=(300, 276, 3)).astype(np.float32)
  style = rng.uniform(size=(290, 310, 3)).astype(np.float32)
  targets = [objective.compute_targets(content, [style], config, tiny_weights, kernels="xla",
                                       tile_size=tile) for tile in (None, 64)]
  a, b = targets[0]["content"]["conv4_2"], targets[1]["content"]["conv4_2"]
  np.testing.assert_allclose(b, a, rtol=0, atol=1e-5 * float(jnp.max(jnp.abs(a))))
  for layer, statistic in targets[0]["style"][0].items():
    for x, y in zip(jax.tree.leaves(statistic), jax.tree.leaves(targets[1]["style"][0][layer])):
      np.testing.assert_allclose(y, x, rtol=0, atol=1e-4 * float(jnp.max(jnp.abs(x))))


@pytest.mark.parametrize("network,style_loss,reason", [
    ("alexnet", "gram", "alexnet cannot be tiled: its stride-4"),
    ("vgg19", "sliced_wasserstein", "cannot be tiled: its sorts"),
    ("vgg19", "histogram", "cannot be tiled: its sorts"),
])
def test_what_cannot_be_tiled_exactly_is_refused_with_the_reason(tiny_weights, network,
                                                                 style_loss, reason):
  content_layers, style_layers = features_lib.FEATURE_NETWORKS[network].default_layers
  config = objective.ObjectiveConfig(network=network, style_loss=style_loss,
                                     content_layers=content_layers, style_layers=style_layers)
  with pytest.raises(UserError, match=reason):
    objective.make_loss_fn(config, tiny_weights if network == "vgg19" else
                           weights_lib.random_weights(widths=TINY_WIDTHS, network=network),
                           tile_size=TILE)


def test_the_tile_size_must_be_a_multiple_of_the_deepest_stride():
  with pytest.raises(UserError, match="multiple of 16 px"):
    tiling.plan_axis(500, 100, 80, 16)


@pytest.mark.slow
@pytest.mark.integration
def test_tiled_equals_untiled_on_the_real_vgg19_with_its_kernels(real_weights):
  """The real network's activations, and the kernels a run on this backend uses: a
  240 x 232 image in 2 x 2 tiles of 64 px (224 px windows)."""
  config = objective.ObjectiveConfig()
  content, styles, _, image = _images(False)
  content, image = content[:240, :232], image[:240, :232]
  targets = objective.compute_targets(content, styles, config, real_weights)
  params = features_lib.network_variables(real_weights)
  results = []
  for tile_size in (None, 64):
    loss_fn = objective.make_loss_fn(config, real_weights, tile_size=tile_size)
    (_, parts), grad = jax.jit(jax.value_and_grad(loss_fn, has_aux=True))(image, targets, params)
    results.append(({k: float(v) for k, v in parts.items()}, np.asarray(grad)))
  errors = _errors(*results)
  assert max(errors.values()) <= RTOL, errors


# --- The run: --tile_size (its auto setting: tests/gatys/test_memory.py) ----------------


@pytest.mark.slow
def test_a_tiled_run_with_seeds_follows_the_untiled_one(tiny_weights):
  """Two seeds (the vmapped program) and L-BFGS through the tiled loss: the same
  losses step by step, to rounding. Layers to conv3_1: a 12 px halo, so 32 px tiles
  of a 128 x 120 image (4 x 4 tiles) cost little."""
  rng = np.random.default_rng(2)
  content, style = (rng.uniform(size=(n, m, 3)).astype(np.float32) for n, m in
                    ((128, 120), (96, 90)))
  kwargs = dict(weights=tiny_weights, num_steps=3, log_every=0, num_seeds=2, init="noise",
                content_layers=["conv2_1"], style_layers=["conv1_1", "conv2_1", "conv3_1"],
                style_weight=1.0)
  untiled = jaxstyle.stylize(content, style, tile_size=0, **kwargs)
  tiled = jaxstyle.stylize(content, style, tile_size=32, **kwargs)
  assert tiled.run["scales"][-1]["tile_size"] == 32
  assert untiled.run["scales"][-1]["tile_size"] is None
  np.testing.assert_allclose(tiled.history["total"], untiled.history["total"], rtol=1e-4)
