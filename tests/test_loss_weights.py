"""The loss weights are inputs of the compiled loss, not constants: changing alpha, beta,
the TV, histogram, layer or blend weights reuses the program (counted by JAX's lowering
events) and gives the loss those weights define."""

import contextlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxstyle.features import network_variables
from jaxstyle.gatys import objective, transfer
from jaxstyle.gatys.objective import ObjectiveConfig, compute_targets, make_loss_fn
from tests.conftest import random_image

# Fired once per program JAX lowers (a jit cache miss), whether or not the persistent
# compilation cache then holds its executable.
_LOWERING = "/jax/core/compile/jaxpr_to_mlir_module_duration"


@contextlib.contextmanager
def count_lowerings():
  counted = []

  def listener(event, duration, **kwargs):  # pylint: disable=unused-argument
    if event == _LOWERING:
      counted.append(event)

  jax.monitoring.register_event_duration_secs_listener(listener)
  try:
    yield counted
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
  with count_lowerings() as lowered:
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
  with count_lowerings() as lowered:
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
