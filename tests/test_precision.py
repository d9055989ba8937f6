"""jaxstyle.precision: reduced precision is really applied, and bounded."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxstyle import features as features_lib
from jaxstyle.gatys import objective

from tests.conftest import random_image


def _rel(a, b):
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  return np.abs(a - b).max() / max(np.abs(b).max(), 1e-30)


def _fixed_problem(weights, precision, kernels="auto"):
  content, style = random_image(48, 40, seed=2), random_image(40, 40, seed=3)
  config = objective.ObjectiveConfig()
  targets = objective.compute_targets(content, [style], config, weights, kernels=kernels,
                                      precision=precision)
  loss_fn = objective.make_loss_fn(config, weights, kernels=kernels, precision=precision)
  x = jnp.asarray(random_image(48, 40, seed=4))
  variables = features_lib.network_variables(weights, kernels)
  return targets, jax.jit(loss_fn)(x, targets, variables)


@pytest.mark.slow
def test_bfloat16_is_applied_to_targets_and_loss_and_stays_close_to_float32(tiny_weights):
  """bfloat16 operands are cast explicitly (XLA:CPU ignores matmul-precision hints), so
  the numbers must move; the loss stays within a few percent of float32's."""
  t32, (l32, c32) = _fixed_problem(tiny_weights, "float32")
  t16, (l16, c16) = _fixed_problem(tiny_weights, "bfloat16")
  assert _rel(t16["content"]["conv4_2"], t32["content"]["conv4_2"]) > 1e-4  # Targets too.
  assert 0 < abs(float(l16) / float(l32) - 1) < 0.05
  for part in ("content", "style"):
    assert abs(float(c16[part]) / float(c32[part]) - 1) < 0.05, part


def test_tensorfloat32_runs_everywhere(tiny_weights):
  """On CPU TF32 is float32 arithmetic: the same loss to rounding."""
  _, (l32, _) = _fixed_problem(tiny_weights, "float32")
  _, (ltf, _) = _fixed_problem(tiny_weights, "tensorfloat32")
  assert abs(float(ltf) / float(l32) - 1) < 1e-4
  with pytest.raises(ValueError, match="precision must be one of"):
    _fixed_problem(tiny_weights, "float16")
