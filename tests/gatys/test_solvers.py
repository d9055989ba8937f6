"""Options of the first-order optimizers (iterate averaging, clamping, Adam's betas) and
the step passed to losses that draw random numbers per step."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxstyle.gatys import optimize, solvers


def _quadratic(x, target):
  value = 0.5 * jnp.sum(jnp.square(x - target))
  return value, {"content": value, "style": jnp.zeros(()), "tv": jnp.zeros(())}


@pytest.fixture
def problem():
  rng = np.random.default_rng(0)
  target = rng.uniform(-0.5, 1.5, size=(5, 4, 3)).astype(np.float32)  # Partly outside [0, 1].
  x0 = rng.uniform(size=(2,) + target.shape).astype(np.float32)
  return x0, jnp.asarray(target)


@pytest.mark.slow
def test_iterate_average_is_the_bias_corrected_moving_average(problem):
  """The result is the EMA of the evaluated points (decay 0.9, bias-corrected), with
  Adam's betas as given: fails for an average of the wrong points, a missing
  correction, or betas ignored."""
  x0, target = problem
  steps, decay, betas = 12, 0.9, (0.8, 0.95)
  result = optimize.minimize(
      _quadratic, x0, (target,), method="adam", num_steps=steps, learning_rate=0.05,
      log_every=0, first_order=solvers.FirstOrderOptions(average_decay=decay,
                                                          adam_betas=betas))
  plain = optimize.minimize(_quadratic, x0, (target,), method="adam", num_steps=steps,
                            learning_rate=0.05, log_every=0,
                            first_order=solvers.FirstOrderOptions(adam_betas=betas))
  for seed in range(2):
    # The points evaluated: the start and one after each of the `steps` updates.
    tx = optax.adam(0.05, *betas)
    grad_fn = jax.jit(jax.grad(lambda x: _quadratic(x, target)[0]))
    x, state = jnp.asarray(x0[seed]), tx.init(jnp.asarray(x0[seed]))
    scale = 1.0 / float(_quadratic(x, target)[0])
    average, points = np.zeros(x.shape), []
    for _ in range(steps + 1):
      points.append(np.asarray(x))
      average = decay * average + (1 - decay) * np.asarray(x, np.float64)
      updates, state = tx.update(grad_fn(x) * scale, state, x)
      x = optax.apply_updates(x, updates)
    np.testing.assert_allclose(plain.x[seed], points[-1], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(result.x[seed], average / (1 - decay**(steps + 1)), rtol=1e-5,
                               atol=1e-6)
    assert not np.allclose(result.x[seed], points[-1], atol=1e-3)  # It is not the last point.


def test_clamp_keeps_every_iterate_in_range(problem):
  x0, target = problem
  seen = []
  result = optimize.minimize(
      _quadratic, x0, (target,), method="adam", num_steps=30, learning_rate=0.1,
      log_every=0, callback=lambda k, x: seen.append(x), callback_every=1,
      first_order=solvers.FirstOrderOptions(clamp=True))
  free = optimize.minimize(_quadratic, x0, (target,), method="adam", num_steps=30,
                           learning_rate=0.1, log_every=0)
  assert np.all(np.stack(seen) >= 0) and np.all(np.stack(seen) <= 1)
  assert free.x.min() < -0.05 and free.x.max() > 1.05  # Without it the target is reached.
  # Where the target is outside [0, 1], the clamped run waits at the bound.
  outside = np.broadcast_to((np.asarray(target) < 0) | (np.asarray(target) > 1), free.x.shape)
  np.testing.assert_array_equal(result.x[outside],
                                np.broadcast_to(np.clip(target, 0, 1), free.x.shape)[outside])


def test_first_order_options_are_refused_elsewhere(problem):
  x0, target = problem
  with pytest.raises(ValueError, match="average_decay, clamp and adam_betas are options of "
                                       "adam, sgd, adagrad, not lbfgs"):
    optimize.minimize(_quadratic, x0, (target,), method="lbfgs", num_steps=2, log_every=0,
                      first_order=solvers.FirstOrderOptions(average_decay=0.9))
  with pytest.raises(ValueError, match="average_decay"):
    solvers.FirstOrderOptions(average_decay=1.0)
  with pytest.raises(ValueError, match="adam_betas"):
    solvers.FirstOrderOptions(adam_betas=(0.9,))


@pytest.mark.parametrize("method", ["lbfgs", "adam", "jaxopt_lbfgs"])
@pytest.mark.parametrize("per_call", [1, 3])
def test_losses_that_use_the_step_see_each_steps_number(problem, method, per_call):
  """A `Loss` with `uses_step` gets the evaluation count: 0 at the start, then 1, 2, ...;
  a plain function with such an attribute is a plain loss (no hidden contract)."""
  x0, target = problem

  def loss(x, target, step=None):
    value = 0.5 * jnp.sum(jnp.square(x - target))
    return value, {"content": value,
                   "style": jnp.asarray(-1.0 if step is None else step, jnp.float32),
                   "tv": jnp.zeros(())}

  result = optimize.minimize(solvers.Loss(loss, uses_step=True), x0[:1], (target,),
                             method=method, num_steps=5, log_every=0, steps_per_call=per_call)
  np.testing.assert_array_equal(result.history["style"][:, 0], np.arange(6))
  loss.uses_step = True
  plain = optimize.minimize(loss, x0[:1], (target,), method=method, num_steps=2,
                            log_every=0, steps_per_call=per_call)
  assert np.all(plain.history["style"][:, 0] == -1)  # No step passed.
