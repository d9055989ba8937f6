"""jaxstyle.gatys.lbfgs: unit-step L-BFGS against the two-loop recursion and a reference
written from the formulas, one evaluation per step, and the curvature safeguard."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxstyle.gatys import lbfgs, optimize
from tests.gatys.conftest import quadratic


def test_unit_step_lbfgs_uses_one_evaluation_per_step(problem):
  x0, args = problem
  result = optimize.minimize(quadratic, x0, args, method="lbfgs", num_steps=10, log_every=0)
  assert result.evaluations == 11  # The start, then one per step.


def _two_loop(grad, pairs, gamma):
  """-H grad by the textbook two-loop recursion, pairs oldest first (float64)."""
  q = grad.astype(np.float64).copy()
  alphas = []
  for s, y in reversed(pairs):
    alpha = s @ q / (s @ y)
    q -= alpha * y
    alphas.append(alpha)
  r = gamma * q
  for (s, y), alpha in zip(pairs, reversed(alphas)):
    r += s * (alpha - y @ r / (s @ y))
  return -r


@pytest.mark.slow
def test_compact_lbfgs_direction_equals_the_two_loop_recursion():
  """The ring of pairs, out of order and partly empty, gives the textbook direction."""
  rng = np.random.default_rng(1)
  n, m, used = 40, 6, 4
  a = rng.normal(size=(n, n))
  hessian = a @ a.T / n + 0.5 * np.eye(n)
  pairs = [(s, hessian @ s) for s in rng.normal(size=(used, n))]
  grad = rng.normal(size=n)
  slots = [4, 0, 5, 2]  # Where each pair (oldest first) sits in the ring.
  s_hist, y_hist = np.zeros((m, n)), np.zeros((m, n))
  age = np.full(m, -1)
  for k, (slot, (s, y)) in enumerate(zip(slots, pairs)):
    s_hist[slot], y_hist[slot], age[slot] = s, y, k
  gamma = 0.7
  f32 = lambda v: jnp.asarray(v, jnp.float32)
  state = lbfgs.init(jnp.zeros(n, jnp.float32), {}, m)._replace(
      grad=f32(grad), s=f32(s_hist), y=f32(y_hist), sy=f32(s_hist @ y_hist.T),
      yy=f32(y_hist @ y_hist.T), s_grad=f32(s_hist @ grad), y_grad=f32(y_hist @ grad),
      age=jnp.asarray(age, jnp.int32), gamma=f32(gamma))
  np.testing.assert_allclose(jax.jit(lbfgs.direction)(state), _two_loop(grad, pairs, gamma),
                             rtol=2e-4, atol=2e-4)


def _double_well(x, target, scale):
  """sum of scale (d^4/4 - d^2/2), d = x - target: concave for |d| < 1/sqrt(3), so near
  the target the first curvature pairs have s.y < 0 (as the Gram loss near a
  white-noise start); minima at d = +-1."""
  d = x - target
  value = jnp.sum(scale * (0.25 * d**4 - 0.5 * d**2))
  return value, {"content": value, "style": jnp.zeros(()), "tv": jnp.zeros(())}


def _reference_unit_step_lbfgs(value_and_grad, x0, num_steps, history_size):
  """The unit-step L-BFGS that README.md and lbfgs.py describe, written from the formulas
  in float64 with none of the library's helpers: the first step is -g scaled so that no
  pixel moves by more than 0.05; after each step the pair (s, y) is kept iff
  cos(s, y) > 1e-3, and then gamma = s.y / y.y, else it is skipped and gamma doubles;
  the next step is -H g by the two-loop recursion over the last `history_size` kept
  pairs. Returns (losses at the start and after each step, final x, pairs skipped,
  pairs kept, each step's cos(s, y))."""
  x = np.asarray(x0, np.float64).ravel()
  value, grad = value_and_grad(x)
  values, pairs, skipped, kept, cosines = [value], [], 0, 0, []
  gamma = 0.05 / np.max(np.abs(grad))
  d = -gamma * grad
  for _ in range(num_steps):
    x_new = x + d
    value, grad_new = value_and_grad(x_new)
    s, y = x_new - x, grad_new - grad
    cosine = s @ y / (np.linalg.norm(s) * np.linalg.norm(y))
    cosines.append(cosine)
    if cosine > 1e-3:
      pairs = (pairs + [(s, y)])[-history_size:]
      gamma = s @ y / (y @ y)
      kept += 1
    else:
      gamma *= 2.0
      skipped += 1
    x, grad = x_new, grad_new
    values.append(value)
    d = _two_loop(grad, pairs, gamma)
  return np.array(values), x, skipped, kept, np.array(cosines)


@pytest.mark.parametrize("method", ["lbfgs", "jaxopt_lbfgs"])
def test_unit_step_lbfgs_follows_a_reference_written_from_the_formulas(problem, method):
  """Both unit-step L-BFGS (ours in place, and jaxopt's with our safeguards) take the
  reference's steps on a non-convex function where the first pairs must be skipped
  (s.y < 0) and gamma doubled, and then more pairs are kept than the history holds (the
  ring wraps around: history 4, 20 steps).

  Fails for a pair kept that should be skipped, a skip without the doubling, another
  first step, another threshold or gamma, or a ring that loses or reorders pairs."""
  x0, (target, scale) = problem
  start = target + 0.2 * jnp.asarray(x0)
  steps, history = 20, 4
  result = optimize.minimize(_double_well, start, (target, scale), method=method,
                             num_steps=steps, history_size=history, log_every=0)
  t, sc = np.asarray(target, np.float64).ravel(), np.asarray(scale, np.float64).ravel()

  def value_and_grad(x):
    d = x - t
    return np.sum(sc * (0.25 * d**4 - 0.5 * d**2)), sc * (d**3 - d)

  for seed in range(x0.shape[0]):
    values, x, skipped, kept, cosines = _reference_unit_step_lbfgs(
        value_and_grad, np.asarray(start[seed]), steps, history)
    # What the problem was made for: skips, then a wrapped ring, and no cosine near the
    # threshold, where float32 and float64 could decide differently.
    assert skipped >= 2 and cosines[0] < 0 and kept > history + 2
    assert np.min(np.abs(cosines - 1e-3)) > 0.1
    np.testing.assert_allclose(result.history["total"][:, seed], values, rtol=1e-4,
                               atol=1e-5 * np.abs(values).max())
    np.testing.assert_allclose(result.x[seed].ravel(), x, rtol=1e-3, atol=1e-4)
  assert result.evaluations == steps + 1


@pytest.mark.slow
def test_a_pair_without_enough_curvature_is_skipped_and_doubles_the_step():
  """lbfgs.step on prescribed gradients (so each pair's cos(s, y) is chosen): a pair is
  kept iff cos(s, y) > MIN_COSINE (relative: s.y = 2.5e-5 is skipped, which torch's
  absolute s.y > 1e-10 would keep), each skip doubles gamma, the next step is then
  -gamma g with the kept pairs only, the history (its rows, products and order) is left
  as it was, and a kept pair resets gamma to s.y / y.y."""
  n, m = 12, 3
  rng = np.random.default_rng(3)
  f32 = lambda v: jnp.asarray(v, jnp.float32)
  grads = []

  @jax.jit  # One program for every step (op by op, each operation compiles on its own).
  def step_to(state, grad):
    """lbfgs.step to a point whose gradient is `grad`."""
    return lbfgs.step(lambda x: ((jnp.zeros((), jnp.float32), {}), grad), state, ())

  def step(state, y):
    """Evaluates the next point, whose gradient makes the pair (state.d, y)."""
    grads.append(np.asarray(state.grad, np.float64) + y)
    return step_to(state, f32(grads[-1]))

  def pair_with_cosine(s, cosine):
    u = rng.normal(size=n)
    u -= (u @ s) / (s @ s) * s
    return np.linalg.norm(s) * (cosine * s / np.linalg.norm(s)
                                + np.sqrt(1 - cosine**2) * u / np.linalg.norm(u))

  g0 = rng.normal(size=n)
  grads.append(g0)
  state = step_to(lbfgs.init(jnp.zeros(n, jnp.float32), {}, m), f32(g0))
  gamma0 = 0.05 / np.max(np.abs(g0))
  np.testing.assert_allclose(state.gamma, gamma0, rtol=1e-6)
  np.testing.assert_allclose(state.d, -gamma0 * g0, rtol=1e-5, atol=1e-8)
  assert int(state.kept) == 0

  def assert_history(state, pairs):
    """The ring holds exactly `pairs` (oldest first, in slots 0, 1, ...)."""
    assert int(state.kept) == len(pairs)
    np.testing.assert_array_equal(state.age, [*range(len(pairs)), *[-1] * (m - len(pairs))])
    s_rows = np.zeros((m, n))
    y_rows = np.zeros((m, n))
    for i, (s, y) in enumerate(pairs):
      s_rows[i], y_rows[i] = s, y
    np.testing.assert_allclose(state.s, s_rows, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(state.y, y_rows, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(state.sy, s_rows @ y_rows.T, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(state.yy, y_rows @ y_rows.T, rtol=1e-4, atol=1e-6)

  # 1. cos(s, y) = 5e-4 > 0: skipped (a pair this flat would blow up the next step).
  s = np.asarray(state.d, np.float64)
  y = pair_with_cosine(s, 5e-4)
  assert s @ y > 1e-10  # torch.optim.LBFGS would keep it.
  state = step(state, y)
  assert_history(state, [])
  np.testing.assert_allclose(state.gamma, 2 * gamma0, rtol=1e-6)
  np.testing.assert_allclose(state.d, -2 * gamma0 * grads[-1], rtol=1e-5, atol=1e-8)
  # 2. Negative curvature: skipped, gamma doubles again.
  s = np.asarray(state.d, np.float64)
  state = step(state, -0.5 * s + 0.1 * pair_with_cosine(s, 0.0))
  assert_history(state, [])
  np.testing.assert_allclose(state.gamma, 4 * gamma0, rtol=1e-6)
  np.testing.assert_allclose(state.d, -4 * gamma0 * grads[-1], rtol=1e-5, atol=1e-8)
  # 3. Positive curvature: kept; gamma = s.y / y.y, the step the two-loop recursion's.
  s1 = np.asarray(state.d, np.float64)
  y1 = 1.5 * s1 + 0.2 * pair_with_cosine(s1, 0.0)
  state = step(state, y1)
  assert_history(state, [(s1, y1)])
  gamma1 = s1 @ y1 / (y1 @ y1)
  np.testing.assert_allclose(state.gamma, gamma1, rtol=1e-5)
  np.testing.assert_allclose(state.d, _two_loop(grads[-1], [(s1, y1)], gamma1),
                             rtol=1e-4, atol=1e-6)
  # 4. Skipped after a kept pair: the pair stays, gamma doubles from s.y / y.y.
  s = np.asarray(state.d, np.float64)
  state = step(state, -s)
  assert_history(state, [(s1, y1)])
  np.testing.assert_allclose(state.gamma, 2 * gamma1, rtol=1e-5)
  np.testing.assert_allclose(state.d, _two_loop(grads[-1], [(s1, y1)], 2 * gamma1),
                             rtol=1e-4, atol=1e-6)
  # 5. cos(s, y) = 2e-3, just above the threshold: kept.
  s2 = np.asarray(state.d, np.float64)
  y2 = pair_with_cosine(s2, 2e-3)
  state = step(state, y2)
  assert_history(state, [(s1, y1), (s2, y2)])
  np.testing.assert_allclose(state.gamma, s2 @ y2 / (y2 @ y2), rtol=1e-3)
