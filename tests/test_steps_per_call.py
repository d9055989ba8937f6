"""Several optimizer steps per device call (a lax.scan) give the run a step-by-step
run gives: images, losses, callbacks, and where a NaN stops it."""

import jax.numpy as jnp
import numpy as np
import pytest

import jaxstyle
from jaxstyle.gatys import optimize
from tests.conftest import random_image


def _quartic(x, target):
  """A smooth non-quadratic objective with the loss interface."""
  d = x - target
  value = jnp.sum(d**2) + 0.1 * jnp.sum(d**4)
  return value, {"content": value, "style": jnp.sum(d**4), "tv": jnp.zeros(())}


@pytest.mark.parametrize("method", ["lbfgs", "adam", "jaxopt_lbfgs"])
@pytest.mark.parametrize("num_seeds", [1, 3])
@pytest.mark.slow
def test_chunked_run_equals_step_by_step(method, num_seeds):
  rng = np.random.default_rng(0)
  target = jnp.asarray(rng.normal(size=(6, 5)), jnp.float32)
  x0 = jnp.asarray(rng.normal(size=(num_seeds, 6, 5)), jnp.float32)
  seen = {}
  runs = {}
  for per_call in (1, 4):
    seen[per_call] = []
    runs[per_call] = optimize.minimize(
        _quartic, x0, (target,), method=method, num_steps=11, log_every=3,
        steps_per_call=per_call, callback=lambda k, x, p=per_call: seen[p].append((k, x)),
        callback_every=5)
  one, chunked = runs[1], runs[4]
  assert chunked.steps == one.steps == 11 and chunked.steps_per_call == 4
  assert one.history["total"].shape == chunked.history["total"].shape == (12, num_seeds)
  np.testing.assert_allclose(chunked.history["total"], one.history["total"], rtol=1e-5)
  np.testing.assert_allclose(chunked.x, one.x, rtol=1e-5, atol=1e-6)
  # Calls end at the callback steps, so the callbacks see the same steps and images.
  assert [k for k, _ in seen[4]] == [k for k, _ in seen[1]] == [5, 10]
  for (_, a), (_, b) in zip(seen[4], seen[1]):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
  assert np.all(one.history["total"][-1] < 0.9 * one.history["total"][0])  # It optimizes.


def test_chunked_run_stops_at_the_same_nan_as_step_by_step():
  """The loss turns NaN once x passes 3: the run stops at that step and keeps the last
  finite image, with and without chunks (the chunk skips its remaining steps)."""
  def loss(x, _):
    value = jnp.where(jnp.max(x) > 3.0, jnp.nan, -jnp.sum(x))
    return value, {"content": value, "style": value, "tv": value}

  x0 = jnp.zeros((1, 4), jnp.float32)
  runs = [optimize.minimize(loss, x0, (0,), method="sgd", learning_rate=0.05, num_steps=40,
                            log_every=0, steps_per_call=k) for k in (1, 7)]
  one, chunked = runs
  assert one.stopped and "at step" in one.stopped
  assert chunked.stopped == one.stopped and chunked.steps == one.steps
  np.testing.assert_array_equal(chunked.x, one.x)
  assert np.all(np.isfinite(one.x)) and np.max(one.x) <= 3.0
  np.testing.assert_array_equal(np.isnan(chunked.history["total"]), np.isnan(one.history["total"]))


@pytest.mark.slow
def test_stylize_with_chunks_matches_steps(tiny_weights):
  content, style = random_image(32, 32), random_image(32, 32, seed=1)
  kwargs = dict(weights=tiny_weights, num_steps=7, log_every=0, num_seeds=2)
  one = jaxstyle.stylize(content, style, steps_per_call=1, **kwargs)
  chunked = jaxstyle.stylize(content, style, steps_per_call=3, **kwargs)
  assert chunked.run["steps_per_call"] == 3
  np.testing.assert_allclose(chunked.history["total"], one.history["total"], rtol=1e-4)
  np.testing.assert_allclose(chunked.images, one.images, atol=1e-4)
  with pytest.raises(ValueError, match="steps_per_call must be positive"):
    jaxstyle.stylize(content, style, steps_per_call=0, **kwargs)
