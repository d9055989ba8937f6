import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxstyle.gatys import lbfgs, optimize, solvers


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
    ("sgd", 200, 0.1)])
@pytest.mark.slow
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


def test_adagrad_is_optax_adagrad_on_the_loss_scaled_by_its_start(problem):
  """Each seed's steps are optax.adagrad's (default learning rate) on grad / |L(x0)|,
  done by hand here, and they approach the quadratic's minimum.

  optax.adagrad starts its accumulator at 0.1, so it is not invariant to the scale of
  the gradient: this fails for a missing scaling, a scale taken at every step instead
  of the start, one scale or accumulator shared by the seeds, another default learning
  rate, or an update applied with the wrong sign or at the wrong point.
  """
  x0, args = problem
  steps = 30
  result = optimize.minimize(_quadratic, x0, args, method="adagrad", num_steps=steps,
                             log_every=0)
  tx = optax.adagrad(solvers.DEFAULT_LEARNING_RATES["adagrad"])
  value_and_grad = jax.jit(jax.value_and_grad(lambda x: _quadratic(x, *args)[0]))
  target = np.asarray(args[0])
  for seed in range(x0.shape[0]):
    x = jnp.asarray(x0[seed])
    opt_state, values = tx.init(x), []
    for _ in range(steps):
      value, grad = value_and_grad(x)
      values.append(float(value))
      updates, opt_state = tx.update(grad / abs(values[0]), opt_state, x)
      x = optax.apply_updates(x, updates)
    values.append(float(value_and_grad(x)[0]))
    np.testing.assert_allclose(result.x[seed], x, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(result.history["total"][:, seed], values, rtol=1e-5)
    assert np.all(np.diff(values) < 0)
    distance = lambda v: np.linalg.norm(np.asarray(v) - target)
    assert values[-1] < 0.25 * values[0]  # Measured 0.10-0.12.
    assert distance(x) < 0.8 * distance(x0[seed])  # Measured 0.59-0.65.


@pytest.mark.slow
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
  # Equal up to float32 summation order (batched and single products differ in it, by
  # 4e-4 on some JAX versions); any sharing of state between seeds would differ at the
  # first steps by O(1).
  np.testing.assert_allclose(both.x[1], alone.x[0], rtol=1e-3, atol=1e-5)
  np.testing.assert_allclose(both.history["total"][:, 1], alone.history["total"][:, 0],
                             rtol=1e-3, atol=1e-8 * both.history["total"][0, 1])


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


def test_a_registered_solver_is_a_method_of_minimize(problem, monkeypatch):
  """SOLVERS is the one table `minimize` dispatches on: a solver registered there runs
  with its own default learning rate and is first-order (takes the first-order options)
  because it declares one."""
  x0, args = problem
  monkeypatch.setitem(solvers.SOLVERS, "slow_sgd",
                      solvers.Solver(solvers.SOLVERS["sgd"].make, default_learning_rate=0.5))
  run = lambda **kw: optimize.minimize(_quadratic, x0, args, num_steps=3, log_every=0, **kw)
  registered = run(method="slow_sgd")
  np.testing.assert_array_equal(registered.x, run(method="sgd", learning_rate=0.5).x)
  assert not np.array_equal(registered.x, run(method="sgd").x)
  averaged = run(method="slow_sgd", first_order=solvers.FirstOrderOptions(average_decay=0.5))
  assert not np.array_equal(averaged.x, registered.x)
  with pytest.raises(ValueError, match="unknown optimizer 'nope'; choose one of lbfgs"):
    run(method="nope")


def test_losses_with_equal_keys_share_their_compiled_programs(problem, tiny_weights):
  """minimize's programs are cached per `solvers.Loss`: two Losses with equal keys share
  them whatever their function objects (a new closure each time would otherwise
  compile anew); without a key a Loss is its function. objective.make_loss_fn keys its
  Loss by the settings but for the weights."""
  x0, args = problem
  a = solvers.Loss(lambda *a: _quadratic(*a), key="quadratic")
  b = solvers.Loss(lambda *a: _quadratic(*a), key="quadratic")
  assert a == b and hash(a) == hash(b)
  assert solvers.Loss(a.fn) != solvers.Loss(b.fn) and solvers.Loss(a.fn) == solvers.Loss(a.fn)
  assert a != solvers.Loss(a.fn, key="quadratic", uses_step=True)
  programs = lambda loss: optimize._programs(loss, "lbfgs", None, 5, None)
  assert programs(a)[3] is programs(b)[3]  # The jitted step.
  assert programs(solvers.Loss(a.fn))[3] is not programs(a)[3]
  first = optimize.minimize(a, x0, args, num_steps=3, log_every=0)
  again = optimize.minimize(b, x0, args, num_steps=3, log_every=0)
  np.testing.assert_array_equal(first.x, again.x)
  # The objective's Loss: equal for the same settings with other loss weights.
  from jaxstyle.gatys import objective  # pylint: disable=import-outside-toplevel
  make = lambda **kw: objective.make_loss_fn(objective.ObjectiveConfig(**kw), tiny_weights)
  assert make(style_weight=1.0) == make(style_weight=5.0)
  assert make(style_weight=1.0) != make(style_weight=1.0, style_layers=("conv1_1",))
