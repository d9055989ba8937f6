"""jaxstyle.gatys.optimize: `minimize` steps every method over several seeds at once,
several steps per device call (a lax.scan) as step by step, stops at a NaN or a time
limit, warm-starts a first-order method's state, and shards the seeds over devices."""

import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxstyle
from jaxstyle.gatys import optimize, solvers
from tests.commands import ROOT
from tests.conftest import random_image, xla_flags
from tests.gatys.conftest import quadratic


@pytest.mark.parametrize("method, steps, factor", [
    ("lbfgs", 30, 1e-6), ("optax_lbfgs", 30, 1e-6), ("adam", 200, 1e-2),
    ("sgd", 200, 0.1)])
@pytest.mark.slow
def test_every_method_decreases_the_loss(problem, method, steps, factor):
  x0, args = problem
  lr = {"sgd": 40.0, "adam": 0.1, "adagrad": 0.5}.get(method)
  result = optimize.minimize(quadratic, x0, args, method=method, num_steps=steps,
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
  result = optimize.minimize(quadratic, x0, args, method="adagrad", num_steps=steps,
                             log_every=0)
  tx = optax.adagrad(solvers.DEFAULT_LEARNING_RATES["adagrad"])
  value_and_grad = jax.jit(jax.value_and_grad(lambda x: quadratic(x, *args)[0]))
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
  result = optimize.minimize(quadratic, x0, args, method="lbfgs", num_steps=30,
                             linesearch="zoom", log_every=0)
  assert np.all(result.history["total"][-1] < 1e-5 * result.history["total"][0])
  assert result.evaluations > 31  # More than one evaluation per step.


def test_seeds_are_independent(problem):
  """Each seed has its own optimizer state: seed 1 alone = seed 1 in a batch."""
  x0, args = problem
  both = optimize.minimize(quadratic, x0, args, method="lbfgs", num_steps=15, log_every=0)
  alone = optimize.minimize(quadratic, x0[1:], args, method="lbfgs", num_steps=15, log_every=0)
  # Equal up to float32 summation order (batched and single products differ in it, by
  # 4e-4 on some JAX versions); any sharing of state between seeds would differ at the
  # first steps by O(1).
  np.testing.assert_allclose(both.x[1], alone.x[0], rtol=1e-3, atol=1e-5)
  np.testing.assert_allclose(both.history["total"][:, 1], alone.history["total"][:, 0],
                             rtol=1e-3, atol=1e-8 * both.history["total"][0, 1])


def test_nan_stops_and_keeps_last_finite(problem):
  x0, args = problem

  def blows_up(x, target, scale):
    value, parts = quadratic(x, target, scale)
    # Finite while far from the target, NaN once close: the run must stop there.
    value = jnp.where(value < 50.0, jnp.nan, value)
    return value, parts

  result = optimize.minimize(blows_up, x0, args, method="sgd", learning_rate=0.1,
                             num_steps=500, log_every=0)
  assert result.stopped is not None and "nan" in result.stopped.lower()
  assert result.steps < 500
  assert np.all(np.isfinite(result.x))
  kept, _ = quadratic(jnp.asarray(result.x[0]), *args)
  assert float(kept) >= 50.0  # The image kept is the last one with a finite loss.


def test_callback_and_errors(problem):
  x0, args = problem
  seen = []
  optimize.minimize(quadratic, x0, args, method="adam", num_steps=6, log_every=0,
                    callback=lambda k, x: seen.append((k, x.shape)), callback_every=3)
  assert seen == [(3, x0.shape), (6, x0.shape)]
  with pytest.raises(ValueError, match="unknown optimizer 'newton'"):
    optimize.minimize(quadratic, x0, args, method="newton", num_steps=1)
  with pytest.raises(ValueError, match="num_steps must be positive"):
    optimize.minimize(quadratic, x0, args, num_steps=0)


def test_a_registered_solver_is_a_method_of_minimize(problem, monkeypatch):
  """SOLVERS is the one table `minimize` dispatches on: a solver registered there runs
  with its own default learning rate and is first-order (takes the first-order options)
  because it declares one."""
  x0, args = problem
  monkeypatch.setitem(solvers.SOLVERS, "slow_sgd",
                      solvers.Solver(solvers.SOLVERS["sgd"].make, default_learning_rate=0.5))
  run = lambda **kw: optimize.minimize(quadratic, x0, args, num_steps=3, log_every=0, **kw)
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
  a = solvers.Loss(lambda *a: quadratic(*a), key="quadratic")
  b = solvers.Loss(lambda *a: quadratic(*a), key="quadratic")
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


# --- A time limit ----------------------------------------------------------------------


def _plain_quadratic(x, target):
  value = 0.5 * jnp.sum(jnp.square(x - target))
  return value, {"content": value, "style": jnp.zeros(()), "tv": jnp.zeros(())}


@pytest.fixture
def bounded_problem():
  rng = np.random.default_rng(0)
  target = rng.uniform(-0.5, 1.5, size=(5, 4, 3)).astype(np.float32)  # Partly outside [0, 1].
  x0 = rng.uniform(size=(2,) + target.shape).astype(np.float32)
  return x0, jnp.asarray(target)


@pytest.mark.parametrize("method", ["lbfgs", "adam"])
def test_time_limit_stops_early_and_says_so(bounded_problem, method):
  x0, target = bounded_problem
  full = optimize.minimize(_plain_quadratic, x0, (target,), method=method, num_steps=40,
                           log_every=0)
  short = optimize.minimize(_plain_quadratic, x0, (target,), method=method, num_steps=40,
                            log_every=0, time_limit=1e-9)
  assert full.steps == 40 and not full.time_limited
  assert short.time_limited and short.stopped is None and 1 <= short.steps <= 3
  assert len(short.history["total"]) == short.steps + 1
  with pytest.raises(ValueError, match="time_limit"):
    optimize.minimize(_plain_quadratic, x0, (target,), num_steps=2, time_limit=0)


# --- Several steps per device call -----------------------------------------------------
# Several optimizer steps per device call (a lax.scan) give the run a step-by-step run
# gives: images, losses, callbacks, and where a NaN stops it.


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


# --- Warm starts (presets.PRESETS["crowsonkb"] carries Adam's state across scales) -----


@pytest.mark.parametrize("num_seeds", [1, 2])
def test_warm_start_continues_adams_state(num_seeds):
  """A second run from the first one's state continues Adam (step count, moments, loss
  scale), as a hand-written optax loop does: fails if the state is dropped, re-created
  or the scale re-derived from the new start."""
  rng = np.random.default_rng(0)
  target = jnp.asarray(rng.uniform(size=(4, 5, 3)), jnp.float32)
  x0 = rng.uniform(size=(num_seeds, 4, 5, 3)).astype(np.float32)
  opts = dict(method="adam", learning_rate=0.05, log_every=0)
  first = optimize.minimize(_plain_quadratic, x0, (target,), num_steps=3, **opts)
  second = optimize.minimize(_plain_quadratic, first.x, (target,), num_steps=4,
                             initial_state=first.state, **opts)
  fresh = optimize.minimize(_plain_quadratic, first.x, (target,), num_steps=4, **opts)
  for seed in range(num_seeds):
    tx = optax.adam(0.05)
    grad = jax.jit(jax.grad(lambda x: _plain_quadratic(x, target)[0]))
    x = jnp.asarray(x0[seed])
    state, scale = tx.init(x), 1.0 / float(_plain_quadratic(x, target)[0])
    for _ in range(4):  # Run 1: its start and 3 steps, 4 updates; it returns x_3.
      last = x
      updates, state = tx.update(grad(x) * scale, state, x)
      x = optax.apply_updates(x, updates)
    x = last
    for _ in range(5):  # Run 2 starts again at x_3, with the state and the scale.
      last = x
      updates, state = tx.update(grad(x) * scale, state, x)
      x = optax.apply_updates(x, updates)
    np.testing.assert_allclose(second.x[seed], last, rtol=1e-5, atol=1e-6)
    assert not np.allclose(fresh.x[seed], last, atol=1e-4)  # A fresh Adam differs.
  assert int(np.max(second.state["opt_state"][0].count)) == 9


def test_initial_state_is_refused_by_lbfgs():
  x0 = np.zeros((1, 4, 5, 3), np.float32)
  first = optimize.minimize(_plain_quadratic, x0, (jnp.ones((4, 5, 3)),), method="adam",
                            num_steps=1, log_every=0)
  assert optimize.minimize(_plain_quadratic, x0, (jnp.ones((4, 5, 3)),), method="lbfgs",
                           num_steps=1, log_every=0).state is None
  with pytest.raises(ValueError, match="no state to warm-start"):
    optimize.minimize(_plain_quadratic, x0, (jnp.ones((4, 5, 3)),), method="lbfgs",
                      num_steps=1, log_every=0, initial_state=first.state)


def test_resize_state_resizes_image_shaped_leaves_only():
  rng = np.random.default_rng(1)
  state = {"opt_state": (optax.ScaleByAdamState(
      count=np.array([3, 3], np.int32),
      mu=rng.normal(size=(2, 4, 6, 3)).astype(np.float32),
      nu=rng.uniform(size=(2, 4, 6, 3)).astype(np.float32)), optax.EmptyState()),
      "scale": np.array([0.5, 0.25], np.float32)}
  out = optimize.resize_state(state, (4, 6), (8, 12))
  adam = out["opt_state"][0]
  assert adam.mu.shape == adam.nu.shape == (2, 8, 12, 3)
  assert adam.nu.min() >= 0
  np.testing.assert_array_equal(adam.count, [3, 3])
  np.testing.assert_array_equal(out["scale"], [0.5, 0.25])
  # Bilinear: a constant stays constant, the mean is about kept.
  const = optimize.resize_state({"m": np.full((4, 6, 3), 2.0, np.float32)}, (4, 6), (5, 9))
  np.testing.assert_allclose(const["m"], 2.0, rtol=1e-6)
  assert abs(adam.mu.mean() - state["opt_state"][0].mu.mean()) < 0.1


# --- Seeds sharded over devices --------------------------------------------------------
# Seeds sharded over several devices (4 simulated CPU devices) give the same images, and a
# sweep's image i is the single run of seed S + i, as far as the README promises: the same
# start bit for bit, the same first step up to float32 rounding, a similar loss later
# (README, "Seeds"). Different programs round differently in the last bits and the
# optimization amplifies that (0.03 apart after 6 steps on one x86-64 CPU, not on
# another), so nothing later than the first step is compared pixel by pixel; a sharding
# or seed mistake (seeds swapped, mixed or repeated) is off by O(0.1) from the start.

SCRIPT = textwrap.dedent("""
    import jax, numpy as np
    import jaxstyle
    from jaxstyle.gatys import optimize, start, transfer
    from jaxstyle.features import network_variables
    from tests.conftest import random_image, TINY_WIDTHS
    assert jax.device_count() == 4, jax.devices()
    STEPS = 20  # The README's "within 10% after 20 steps".
    w = jaxstyle.weights.random_weights(0, TINY_WIDTHS)
    content, style = random_image(32, 32, 0), random_image(32, 32, 1)
    config = jaxstyle.ObjectiveConfig()
    targets = jaxstyle.compute_targets(content, [style], config, w)
    loss_fn = jaxstyle.make_loss_fn(config, w)
    x0 = start.noise_images(list(range(4)), content.shape)
    # Bit for bit: a sweep's start i is seed i's own start.
    np.testing.assert_array_equal(x0[2], start.noise_images([2], content.shape)[0])
    assert optimize.seed_sharding(4) is not None and optimize.seed_sharding(3) is None

    def run(shard):
      first = {}
      def keep(step, x):
        if step == 1:
          first["x"] = np.array(x)
      r = optimize.minimize(loss_fn, x0, (targets, network_variables(w)), num_steps=STEPS,
                            log_every=0, shard_seeds=shard, callback=keep, callback_every=1)
      return r, first["x"]

    (sharded, sharded_1), (single, single_1) = run(True), run(False)
    assert sharded.devices == 4 and single.devices == 1
    # The same program twice: the same images, bit for bit.
    again, _ = run(True)
    np.testing.assert_array_equal(again.x, sharded.x)
    np.testing.assert_array_equal(again.history["total"], sharded.history["total"])
    # Another program (the seeds' layout): equal up to float32 rounding at the start and
    # after the first step; the seeds' own losses differ 100x more than that tolerance.
    start = single.history["total"][0]
    assert np.ptp(start) > 1e-3 * start.mean(), start
    np.testing.assert_allclose(sharded.history["total"][0], start, rtol=1e-5)
    np.testing.assert_allclose(sharded.history["total"][1], single.history["total"][1],
                               rtol=1e-4)
    np.testing.assert_allclose(sharded_1, single_1, atol=1e-4)
    # Later: each seed's loss within 10% (a swap of seeds would show above already).
    np.testing.assert_allclose(sharded.history["total"][-1], single.history["total"][-1],
                               rtol=0.1)
    print("minimize:", np.abs(sharded_1 - single_1).max(), np.abs(sharded.x - single.x).max())

    # Through the API: the sweep's image 2 is seed 2's single run (sharded: 4 seeds).
    firsts = {}
    def keep_first(name):
      def cb(step, images):
        if step == 1:
          firsts[name] = np.array(images)
      return cb
    kw = dict(weights=w, num_steps=STEPS, log_every=0, callback_every=1)
    sweep = jaxstyle.stylize(content, style, num_seeds=4, callback=keep_first("sweep"), **kw)
    alone = jaxstyle.stylize(content, style, seed=2, init="noise",
                             callback=keep_first("alone"), **kw)
    assert sweep.seeds == [0, 1, 2, 3] and sweep.run["devices"] == 4
    np.testing.assert_allclose(sweep.history["total"][0, 2], alone.history["total"][0, 0],
                               rtol=1e-5)
    np.testing.assert_allclose(firsts["sweep"][2], firsts["alone"][0], atol=1e-4)
    np.testing.assert_allclose(sweep.history["total"][-1, 2], alone.history["total"][-1, 0],
                               rtol=0.1)
    print("stylize:", np.abs(firsts["sweep"][2] - firsts["alone"][0]).max(),
          np.abs(sweep.images[2] - alone.images[0]).max())

    # A weight sweep (2 points x 2 seeds) is sharded like the seeds: its starts equal the
    # same sweep on one device, and so do its images after 4 steps (to rounding).
    kw = dict(weights=w, num_steps=4, log_every=0, style_weight=(1e-3, 1e-1), num_seeds=2)
    points = jaxstyle.stylize(content, style, **kw)
    local = jaxstyle.stylize(content, style, shard_seeds=False, **kw)
    assert points.run["devices"] == 4 and local.run["devices"] == 1
    np.testing.assert_allclose(points.history["total"][0], local.history["total"][0],
                               rtol=1e-5)
    np.testing.assert_allclose(points.images, local.images, atol=1e-3)
    print("OK")
""")


@pytest.mark.slow
def test_seeds_sharded_over_four_cpu_devices():
  env = dict(os.environ, PYTHONPATH=ROOT, JAX_PLATFORMS="cpu",
             XLA_FLAGS=xla_flags("--xla_force_host_platform_device_count=4"))
  done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                        cwd=ROOT, env=env, timeout=600, check=False)
  assert done.returncode == 0, done.stderr[-3000:]
  assert "OK" in done.stdout, done.stdout
