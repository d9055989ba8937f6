import jax.numpy as jnp
import numpy as np
import pytest

from jaxstyle import optimize


def _quadratic(x, target, scale):
  """An ill-conditioned quadratic with the (loss, components) signature."""
  d = x - target
  value = 0.5 * jnp.sum(scale * d * d)
  return value, {"content": value, "style": jnp.zeros(()), "tv": jnp.zeros(())}


@pytest.fixture
def problem():
  rng = np.random.default_rng(0)
  target = rng.normal(size=(6, 5, 3)).astype(np.float32)
  scale = np.exp(rng.uniform(-2, 2, size=target.shape)).astype(np.float32)
  x0 = rng.normal(size=(2,) + target.shape).astype(np.float32)
  return x0, (jnp.asarray(target), jnp.asarray(scale))


@pytest.mark.parametrize("method, steps, factor", [
    ("lbfgs", 30, 1e-6), ("optax_lbfgs", 30, 1e-6), ("adam", 200, 1e-2),
    ("sgd", 200, 0.1), ("adagrad", 200, 0.5)])
def test_every_method_decreases_the_loss(problem, method, steps, factor):
  x0, args = problem
  lr = {"sgd": 40.0, "adam": 0.1, "adagrad": 0.5}.get(method)
  result = optimize.minimize(_quadratic, x0, args, method=method, num_steps=steps,
                             learning_rate=lr, log_every=0)
  total = result.history["total"]
  assert total.shape == (steps + 1, 2)
  assert result.steps == steps and result.stopped is None
  assert np.all(total[-1] < factor * total[0])
  for c in ("content", "style", "tv", "time"):
    assert len(result.history[c]) == steps + 1


def test_lbfgs_line_search_variant(problem):
  x0, args = problem
  result = optimize.minimize(_quadratic, x0, args, method="lbfgs", num_steps=30,
                             linesearch="zoom", log_every=0)
  assert np.all(result.history["total"][-1] < 1e-5 * result.history["total"][0])
  assert result.evaluations > 31  # More than one evaluation per step.


def test_unit_step_lbfgs_uses_one_evaluation_per_step(problem):
  x0, args = problem
  result = optimize.minimize(_quadratic, x0, args, method="lbfgs", num_steps=10, log_every=0)
  assert result.evaluations == 11  # The start, then one per step.


def test_seeds_are_independent(problem):
  """Each seed has its own optimizer state: seed 1 alone = seed 1 in a batch."""
  x0, args = problem
  both = optimize.minimize(_quadratic, x0, args, method="lbfgs", num_steps=15, log_every=0)
  alone = optimize.minimize(_quadratic, x0[1:], args, method="lbfgs", num_steps=15, log_every=0)
  np.testing.assert_allclose(both.x[1], alone.x[0], rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(both.history["total"][:, 1], alone.history["total"][:, 0],
                             rtol=1e-5)


def test_nan_stops_and_keeps_last_finite(problem):
  x0, args = problem

  def blows_up(x, target, scale):
    value, parts = _quadratic(x, target, scale)
    # Finite while far from the target, NaN once close: the run must stop there.
    value = jnp.where(value < 50.0, jnp.nan, value)
    return value, parts

  result = optimize.minimize(blows_up, x0, args, method="sgd", learning_rate=0.1,
                             num_steps=500, log_every=0)
  assert result.stopped is not None and "nan" in result.stopped.lower()
  assert result.steps < 500
  assert np.all(np.isfinite(result.x))
  kept, _ = _quadratic(jnp.asarray(result.x[0]), *args)
  assert float(kept) >= 50.0  # The image kept is the last one with a finite loss.


def test_callback_and_errors(problem):
  x0, args = problem
  seen = []
  optimize.minimize(_quadratic, x0, args, method="adam", num_steps=6, log_every=0,
                    callback=lambda k, x: seen.append((k, x.shape)), callback_every=3)
  assert seen == [(3, x0.shape), (6, x0.shape)]
  with pytest.raises(ValueError, match="unknown optimizer 'newton'"):
    optimize.minimize(_quadratic, x0, args, method="newton", num_steps=1)
  with pytest.raises(ValueError, match="num_steps must be positive"):
    optimize.minimize(_quadratic, x0, args, num_steps=0)
