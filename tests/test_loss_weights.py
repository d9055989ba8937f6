"""The loss weights are inputs of the compiled loss, not constants: changing alpha, beta,
the TV, histogram, layer or blend weights reuses the program (counted by JAX's lowering
events) and gives the loss those weights define."""

import contextlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxstyle.features import network_variables
from jaxstyle.gatys import config as config_lib
from jaxstyle.gatys import objective, transfer
from jaxstyle.gatys.objective import ObjectiveConfig, compute_targets, make_loss_fn
from tests.conftest import random_image

# Fired once per program JAX lowers (a jit cache miss), whether or not the persistent
# compilation cache then holds its executable.
_LOWERING = "/jax/core/compile/jaxpr_to_mlir_module_duration"


@contextlib.contextmanager
def lowered_programs():
  """The names of the programs JAX lowers inside the block ("jit(step_all)", ...)."""
  names = []

  def listener(event, duration, **kwargs):  # pylint: disable=unused-argument
    if event == _LOWERING:
      names.append(kwargs.get("fun_name"))

  jax.monitoring.register_event_duration_secs_listener(listener)
  try:
    yield names
  finally:
    jax.monitoring.unregister_event_duration_listener(listener)


@pytest.mark.parametrize("style_loss", ["gram", "histogram"])
def test_weights_change_the_loss_not_the_program(tiny_weights, style_loss):
  content, a, b, x = (random_image(24, 32, s) for s in range(4))
  params = network_variables(tiny_weights)
  base = ObjectiveConfig(style_loss=style_loss, style_layers=("conv1_1", "conv2_1"))
  loss_fn = jax.jit(make_loss_fn(base, tiny_weights, num_styles=2))

  def parts(config):
    total, c = loss_fn(jnp.asarray(x), compute_targets(content, [a, b], config, tiny_weights),
                       params)
    return float(total), {k: float(v) for k, v in c.items()}

  parts(base)  # Compiles.
  # Each style's term alone (blend 1, 0 and 0, 1), per layer (layer weights 1, 0 and 0, 1).
  singles = {}
  with lowered_programs() as lowered:
    for s, blend in enumerate([(1.0, 0.0), (0.0, 1.0)]):
      for l, layers in enumerate([(1.0, 0.0), (0.0, 1.0)]):
        singles[s, l] = parts(objective.dataclasses.replace(
            base, style_blend_weights=blend, style_layer_weights=layers))[1]["style"]
    settings = dict(content_weight=2.5, style_weight=7.0, tv_weight=3.0,
                    style_blend_weights=(1.0, 3.0), style_layer_weights=(0.3, 0.9))
    total, c = parts(objective.dataclasses.replace(base, **settings))
    no_histogram = parts(objective.dataclasses.replace(base, **settings, histogram_weight=0.0))
    zero_tv = parts(objective.dataclasses.replace(base, **dict(settings, tv_weight=0.0)))
  assert not lowered, f"{len(lowered)} programs lowered again for new weights"
  style = sum(blend * layer * singles[s, l]
              for s, blend in enumerate((0.25, 0.75)) for l, layer in enumerate((0.3, 0.9)))
  np.testing.assert_allclose(c["style"], style, rtol=1e-5)
  np.testing.assert_allclose(total, 2.5 * c["content"] + 7.0 * c["style"] + 3.0 * c["tv"],
                             rtol=1e-5)
  assert c["tv"] > 0 and zero_tv[1]["tv"] == c["tv"]  # Computed even at weight 0.
  np.testing.assert_allclose(zero_tv[0], total - 3.0 * c["tv"], rtol=1e-5)
  if style_loss == "histogram":  # E + gamma H, gamma now 0.
    assert no_histogram[1]["style"] < 0.9 * c["style"]
  else:
    assert no_histogram[1]["style"] == c["style"]


def test_a_run_at_new_weights_compiles_nothing(tiny_weights):
  """Two stylize runs that differ in alpha, beta, TV and layer weights: the second
  lowers no program, and its losses are its own."""
  content, style = random_image(24, 32), random_image(32, 32, seed=1)
  run = lambda **kw: transfer.stylize(content, style, weights=tiny_weights, num_steps=2,
                                      log_every=0, **kw)
  first = run(style_weight=1e-3)
  with lowered_programs() as lowered:
    second = run(style_weight=2e-2, content_weight=3.0, tv_weight=1e-2,
                 style_layer_weights=(0.1, 0.2, 0.3, 0.2, 0.2))
  assert not lowered, f"{len(lowered)} programs lowered again for new weights"
  h1, h2 = first.history, second.history
  assert h1["content"][0] == h2["content"][0] and h1["style"][0] != h2["style"][0]
  np.testing.assert_allclose(h2["total"][0], 3.0 * h2["content"][0] + 2e-2 * h2["style"][0]
                             + 1e-2 * h2["tv"][0], rtol=1e-5)


def test_targets_without_weights_are_refused(tiny_weights):
  config = ObjectiveConfig()
  targets = compute_targets(random_image(24, 32), [random_image(24, 32, 1)], config,
                            tiny_weights)
  del targets["weights"]
  with pytest.raises(ValueError, match="no loss weights"):
    make_loss_fn(config, tiny_weights)(jnp.asarray(random_image(24, 32)), targets,
                                       network_variables(tiny_weights))


def test_structure_drops_exactly_the_weight_fields():
  config = ObjectiveConfig(content_weight=2.0, style_weight=3.0, tv_weight=1.0,
                           histogram_weight=5.0, style_layer_weights=(1, 2, 3, 4, 5),
                           style_blend_weights=(1, 2), pooling="avg")
  plain = objective.structure(config)
  assert plain == objective.structure(ObjectiveConfig(pooling="avg"))
  assert plain != objective.structure(ObjectiveConfig())  # Pooling shapes the program.
  changed = {f.name for f in objective.dataclasses.fields(config)
             if getattr(config, f.name) != getattr(plain, f.name)}
  assert changed == set(objective.WEIGHT_FIELDS)


@pytest.mark.slow
def test_a_weight_sweep_is_one_program_whose_points_run_like_single_runs(tiny_weights):
  """style_weight x content_weight (2 x 2 points) x 2 seeds, two scales: one step
  program per scale for all 8 images; each image starts as the single run at its point
  and seed (same start, first step to rounding: README "Seeds") and ends at a similar
  loss. Fails for a sweep that compiles per point, gives a point another point's weights
  or start, or shares optimizer state between images."""
  content = transfer.resize_to(random_image(4, 4, 0), 36, 44)
  style = random_image(32, 32, 1)
  kwargs = dict(weights=tiny_weights, num_steps=12, log_every=0, init="noise",
                content_normalization="sum", scales=2)
  with lowered_programs() as lowered:
    sweep = transfer.stylize(content, style, seed=5, num_seeds=2, style_weight=(10.0, 100.0),
                             content_weight=(1.0, 2.0), **kwargs)
  assert lowered.count("jit(step_all)") == 2, lowered  # One per scale.
  points = [{"content_weight": c, "style_weight": s} for c in (1.0, 2.0) for s in (10.0, 100.0)]
  assert sweep.points == [p for p in points for _ in range(2)]
  assert sweep.seeds == [5, 6] * 4 and sweep.images.shape == (8, 36, 44, 3)
  assert sweep.config.objective.style_weight == (10.0, 100.0)
  assert sweep.run["style_weight"] == (10.0, 100.0)
  assert sweep.run["content_weight"] == (1.0, 2.0)
  h = sweep.history
  for i in (1, 6):  # (cw 1, sw 10, seed 6) and (cw 2, sw 100, seed 5).
    single = transfer.stylize(content, style, num_seeds=1, seed=sweep.seeds[i],
                              **sweep.points[i], **kwargs).history
    np.testing.assert_allclose(h["total"][0, i], single["total"][0, 0], rtol=1e-5)
    np.testing.assert_allclose(h["total"][1, i], single["total"][1, 0], rtol=1e-4)
    assert 0.5 < h["total"][-1, i] / single["total"][-1, 0] < 2.0
    np.testing.assert_allclose(
        h["total"][:, i], sweep.points[i]["content_weight"] * h["content"][:, i]
        + sweep.points[i]["style_weight"] * h["style"][:, i], rtol=1e-4)
  # Every image was optimized at the coarse scale (steps 0-12; the fine scale's 6 follow).
  assert np.all(h["total"][12] < 0.2 * h["total"][0]) and h["total"].shape == (19, 8)
  # Seeds differ, points differ.
  assert np.abs(sweep.images[0] - sweep.images[1]).mean() > 0.01
  assert np.abs(sweep.images[0] - sweep.images[2]).mean() > 0.001


def test_sweep_points_and_names():
  assert config_lib.sweep_points(style_weight=1e-3, tv_weight=0.0) is None
  assert config_lib.sweep_points(style_weight=[1e-4, 1e-3], tv_weight=(0, 1)) == [
      {"style_weight": 1e-4, "tv_weight": 0.0}, {"style_weight": 1e-4, "tv_weight": 1.0},
      {"style_weight": 1e-3, "tv_weight": 0.0}, {"style_weight": 1e-3, "tv_weight": 1.0}]
  assert config_lib.point_label({"style_weight": 1e-4}) == "sw1e-04"
  assert config_lib.point_label({"content_weight": 2.5e-3, "tv_weight": 10.0}, " ") == (
      "cw 2.5e-03_tv 1e+01")
  with pytest.raises(ValueError, match="empty sweep"):
    config_lib.sweep_points(style_weight=())
  with pytest.raises(ValueError, match="repeats a value"):  # Two images of one name.
    config_lib.sweep_points(style_weight=(1e-3, 1e-3))
  with pytest.raises(ValueError, match="must be a non-negative"):
    transfer.stylize(random_image(24, 32), random_image(24, 32, 1), style_weight=(1.0, -1.0),
                     weights=None, num_steps=1)
