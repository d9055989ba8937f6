"""`minimize`: the loop that steps a solver over several starting images (seeds) at once.

Each seed keeps its own solver state (`jaxstyle.gatys.solvers`: the methods and their
registry), and one step of all seeds is a single jitted, vmapped program (one seed runs
unbatched: see `_programs`). The solver is stepped from a Python loop, one or several
steps per device call (`steps_per_call`: several on accelerators, where a step takes
milliseconds); the loop records the losses, prints progress and checks for NaN between
calls, never from inside jit, and keeps what was done when interrupted.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging

from jaxstyle import signals
from jaxstyle.gatys import solvers

COMPONENTS = ("content", "style", "tv")


@dataclasses.dataclass
class MinimizeResult:
  """What `minimize` returns.

  Attributes:
    x: the final (or last finite) images, [S, ...] as NumPy.
    history: {"total", "content", "style", "tv"} (and the loss's other components, e.g.
      "temporal"): [steps + 1, S] losses at the start and after each step; "time":
      [steps + 1] seconds since the start.
    steps: steps completed.
    stopped: None, or why the run stopped early.
    evaluations: objective evaluations per seed (L-BFGS with a line search uses more
      than one per step).
    devices: how many devices the seeds were split over.
    steps_per_call: steps per device call.
    interrupted: stopped by KeyboardInterrupt (x: the images so far).
    time_limited: stopped by `time_limit` before `num_steps`.
    state: the first-order methods' state to warm-start another run with
      (`minimize(initial_state=...)`, `resize_state`): {"opt_state": optax's state,
      "scale": the loss scale}, as NumPy; None for the L-BFGS methods.
  """

  x: np.ndarray
  history: dict[str, np.ndarray]
  steps: int
  stopped: str | None = None
  evaluations: int | None = None
  devices: int = 1
  steps_per_call: int = 1
  interrupted: bool = False
  time_limited: bool = False
  state: Any = None


def to_host(tree):
  """NumPy copies of every array in `tree`, gathered from all processes if sharded.

  With several hosts (jax.distributed), a seed-sharded array spans devices this
  process cannot address; every process then receives the whole array.
  """
  def get(x):
    if isinstance(x, jax.Array) and not x.is_fully_addressable:
      from jax.experimental import multihost_utils  # pylint: disable=import-outside-toplevel
      return np.asarray(multihost_utils.process_allgather(x, tiled=True))
    return np.asarray(jax.device_get(x))

  return jax.tree.map(get, tree)


def seed_sharding(num_seeds: int) -> jax.sharding.NamedSharding | None:
  """Seeds (axis 0) split over every device, or None on one device / uneven splits."""
  devices = jax.devices()
  if len(devices) < 2 or num_seeds % len(devices):
    return None
  mesh = jax.sharding.Mesh(np.array(devices), ("seeds",))
  return jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("seeds"))


def default_steps_per_call() -> int:
  """Steps per device call when the caller does not say: 1 on the CPU backend (an XLA
  loop around the step was measured no faster there, and per-step calls give progress
  and NaN checks for free), 20 on GPUs and TPUs, where a step takes milliseconds and
  a call and its sync per step would be a large share."""
  return 1 if jax.default_backend() == "cpu" else 20


def _axes_key(args_axes: Any) -> tuple | None:
  """A hashable form of an args_axes pytree (None leaves kept), for the program cache."""
  if args_axes is None:
    return None
  leaves, treedef = jax.tree_util.tree_flatten(args_axes, is_leaf=lambda a: a is None)
  return treedef, tuple(leaves)


@functools.lru_cache(maxsize=16)
def _programs(loss_fn, method: str, learning_rate: float | None, history_size: int,
              linesearch: str | None, first_order: solvers.FirstOrderOptions | None = None,
              axes_key: tuple | None = None):
  """The jitted init, step and chunk (several steps) of all starts; cached per loss
  (`solvers.Loss`: equal keys, equal losses) and settings, so that runs of the same
  loss reuse the compiled programs. axes_key: `_axes_key(args_axes)` (see `minimize`)."""
  stepper = solvers.make_stepper(loss_fn, method, learning_rate=learning_rate,
                         history_size=history_size, linesearch=linesearch,
                         first_order=first_order)
  args_axes = None if axes_key is None else jax.tree_util.tree_unflatten(*axes_key)

  # One start runs unbatched: with a batch axis of size 1, XLA:CPU copies both L-BFGS
  # histories every step (it turns the axis into bitcasts around the in-place row
  # update). Several starts, or args with one entry per start, are vmapped.
  def batched(num_seeds):
    return num_seeds > 1 or args_axes is not None

  def vinit(x0, args, carried=None):
    extra = () if carried is None else (carried,)
    if not batched(x0.shape[0]):
      return stepper.init(x0[0], args, *extra)
    return jax.vmap(stepper.init, in_axes=(0, args_axes) + (0,) * len(extra))(
        x0, args, *extra)

  def vstep(carry, args, num_seeds):
    if not batched(num_seeds):
      return stepper.step(carry, args)
    return jax.vmap(stepper.step, in_axes=(0, args_axes))(carry, args)

  def vread(carry, num_seeds):
    if not batched(num_seeds):
      return jax.tree.map(lambda a: a[None], stepper.read(carry))
    return jax.vmap(stepper.read)(carry)

  # The last image with a finite loss is kept on the device, beside the solver state,
  # so that a step moves only the losses (a few scalars) to the host.
  def init_all(x0, args, carried=None):
    carry = vinit(x0, args, carried)
    if stepper.lazy:
      return carry, x0
    _, value, aux = vread(carry, x0.shape[0])
    return (carry, x0), (value, aux)

  def step_all(state, args):
    carry, last_finite = state
    num_seeds = last_finite.shape[0]
    carry = vstep(carry, args, num_seeds)
    x, value, aux = vread(carry, num_seeds)
    finite = jnp.isfinite(value).reshape((-1,) + (1,) * (x.ndim - 1))
    return (carry, jnp.where(finite, x, last_finite)), (value, aux)

  def chunk_all(state, args, count, length):
    """Up to `length` steps in one lax.scan: the first `count` are taken, and once a
    loss is not finite the rest are skipped too (state kept, losses NaN), so the state
    is the one a step-by-step run stops with. One program serves every count.
    Returns (state, losses stacked [length, S])."""
    shapes = jax.eval_shape(lambda s: step_all(s, args)[1], state)
    nans = jax.tree.map(lambda a: jnp.full(a.shape, jnp.nan, a.dtype), shapes)

    def body(carry, i):
      state, halted = carry
      state, out = jax.lax.cond(halted | (i >= count), lambda s: (s, nans),
                                lambda s: step_all(s, args), state)
      return (state, halted | ~jnp.all(jnp.isfinite(out[0])) & (i < count)), out

    (state, _), outs = jax.lax.scan(body, (state, jnp.zeros((), bool)), jnp.arange(length))
    return state, outs

  return (stepper, batched, jax.jit(_float32_products(init_all)),
          jax.jit(_float32_products(step_all), donate_argnums=0),
          jax.jit(_float32_products(chunk_all), donate_argnums=0, static_argnums=3))


def _float32_products(fn):
  """`fn` traced with float32 matrix products wherever no precision is given: the
  optimizers' inner products (L-BFGS' history, optax's and jaxopt's updates) would
  otherwise run as TF32 on GPUs and one bfloat16 pass on TPUs. The networks'
  convolutions carry their own precision (`jaxstyle.precision`), which this leaves
  alone."""

  @functools.wraps(fn)
  def wrapped(*args, **kwargs):
    with jax.default_matmul_precision("highest"):
      return fn(*args, **kwargs)

  return wrapped


class _Recorder:
  """What `minimize` records: the losses at the start and after each step (one value
  per seed and component) with the seconds since the start, the first step whose loss
  is not finite, and the progress lines."""

  def __init__(self, num_steps: int, log_every: int):
    self.num_steps, self.log_every = num_steps, log_every
    self.start = time.perf_counter()
    self.rows = []  # (losses [S], {component: [S]}, seconds): the start, then each step.
    self.bad = None  # The first step whose loss is not finite.
    self.first_call = None  # (time, step) at the end of the first call past the start.

  @property
  def next_step(self) -> int:
    return len(self.rows)

  def take(self, outs, first: int) -> None:
    """Appends a call's (losses, components) [count, S], steps first, first + 1, ...;
    stops at a non-finite loss."""
    values, aux = to_host(outs)
    now = time.perf_counter() - self.start
    for i in range(values.shape[0]):
      self.rows.append((values[i], jax.tree.map(lambda a, i=i: a[i], aux), now))
      if not np.all(np.isfinite(values[i])):
        self.bad = first + i
        return

  def called(self) -> None:
    """After a call: the first one past the start compiled, and says how long it took."""
    if self.first_call is None and len(self.rows) > 1:
      self.first_call = (time.perf_counter(), len(self.rows) - 1)
      if self.log_every:
        logging.info("step %d done (compiled) after %.1f s", self.first_call[1],
                     self.first_call[0] - self.start)

  def log_progress(self, first: int) -> None:
    """A progress line when the call that began at step `first` passed a multiple of
    log_every, or the last step; the rate counts the steps after the first call."""
    k = len(self.rows) - 1
    if not (self.log_every and self.first_call is not None and k > self.first_call[1] and (
        k // self.log_every > (first - 1) // self.log_every or k == self.num_steps)):
      return
    rate = (k - self.first_call[1]) / (time.perf_counter() - self.first_call[0])
    value, c, _ = self.rows[-1]
    logging.info(
        "step %d/%d  loss %.4g  content %.4g  style %.4g  tv %.4g  %.2f steps/s  ETA %.0f s",
        k, self.num_steps, float(np.mean(value)), float(np.mean(c["content"])),
        float(np.mean(c["style"])), float(np.mean(c["tv"])), rate,
        (self.num_steps - k) / rate)

  def seconds_since_first_call(self) -> float | None:
    return None if self.first_call is None else time.perf_counter() - self.first_call[0]

  def finish(self, stopped: str | None, num_seeds: int, components: Callable[[], Any]
             ) -> tuple[dict[str, np.ndarray], int, str | None]:
    """(history, steps done, why it stopped): the records up to a non-finite loss, or
    one NaN row (of `components()`'s names) if the start was never evaluated."""
    if self.bad is not None:
      del self.rows[self.bad + 1:]
      value = self.rows[self.bad][0]
      stopped = ("the loss is not finite at the starting image" if self.bad == 0 else
                 f"the loss became {value[~np.isfinite(value)][0]} at step {self.bad}; "
                 "kept each seed's last image with a finite loss")
    steps = max(len(self.rows) - 1 if self.bad is None else self.bad - 1, 0)
    if not self.rows:  # Interrupted before the start was evaluated.
      nan = np.full((num_seeds,), np.nan, np.float32)
      self.rows.append((nan, {c: nan for c in components()},
                        time.perf_counter() - self.start))
    history = {"total": np.stack([r[0] for r in self.rows])}
    for c in self.rows[0][1]:  # COMPONENTS, and "temporal" for video.
      history[c] = np.stack([r[1][c] for r in self.rows])
    history["time"] = np.array([r[2] for r in self.rows])
    return history, steps, stopped


def minimize(loss_fn: solvers.Loss | Callable[..., tuple[jax.Array, dict[str, jax.Array]]],
             x0: jax.Array, args: tuple = (), *, method: str = "lbfgs", num_steps: int,
             learning_rate: float | None = None, history_size: int = 20,
             linesearch: str | None = None, log_every: int = 50,
             callback: Callable[[int, np.ndarray], None] | None = None,
             callback_every: int = 0, shard_seeds: bool | None = None,
             steps_per_call: int | None = None,
             first_order: solvers.FirstOrderOptions | None = None,
             time_limit: float | None = None, initial_state: Any = None,
             args_axes: Any = None) -> MinimizeResult:
  """Minimizes `loss_fn(x, *args)` from each of the starts `x0` [S, ...] independently.

  Args:
    loss_fn: (x, *args) -> (scalar loss, {"content", "style", "tv"} scalars), or a
      `solvers.Loss` (one whose `uses_step` is set also takes the step).
    x0: starting points, one per seed, stacked on axis 0.
    args: passed to `loss_fn` unchanged and shared by all seeds (targets, weights),
      except the leaves that `args_axes` marks.
    args_axes: None (all of args shared), or a pytree prefix of `args` (as jax.vmap's
      in_axes) with 0 where a leaf holds one entry per start on its axis 0 (e.g. the
      loss weights of a weight sweep) and None where it is shared.
    method: one of METHODS.
    num_steps: optimizer steps (iterations).
    learning_rate: for adam/sgd/adagrad (defaults in DEFAULT_LEARNING_RATES).
    history_size: L-BFGS memory.
    linesearch: L-BFGS only: None (unit step, one evaluation per step), "zoom" or
      "backtracking".
    log_every: a progress line every this many steps (0: none), at the end of the
      device call that passes it.
    callback: called as callback(step, x [S, ...]) every `callback_every` steps.
    shard_seeds: split the seeds over all devices (jax.sharding, one mesh axis
      "seeds"); None: whenever there are several devices and S divides evenly.
    steps_per_call: steps run by one device call (a jitted lax.scan) before the host
      reads their losses; None: `default_steps_per_call()`. Calls end at callback
      steps, so callbacks see the same steps either way. The results are the same as
      step by step, up to XLA's rounding in the two programs.
    first_order: `solvers.FirstOrderOptions` of adam/sgd/adagrad (iterate averaging,
      clamping, Adam's betas).
    time_limit: stop after the call that passes this many seconds of optimization,
      counted from the end of the first (compiling) call; `num_steps` stays the upper
      bound. `time_limited` in the result says it stopped there.
    initial_state: a first-order method's `MinimizeResult.state` to start from (e.g.
      from a coarser scale, `resize_state`d to x0's size; crowsonkb warm-starts Adam
      so); None: a fresh state.

  Ctrl-C (KeyboardInterrupt, which the commands also raise on SIGTERM) stops the run
  after the current call: the result holds the images so far, `interrupted` is set.
  """
  if num_steps <= 0:
    raise ValueError(f"num_steps must be positive, got {num_steps}")
  if time_limit is not None and not time_limit > 0:
    raise ValueError(f"time_limit must be positive seconds, got {time_limit}")
  per_call = default_steps_per_call() if steps_per_call is None else int(steps_per_call)
  if per_call < 1:
    raise ValueError(f"steps_per_call must be positive, got {steps_per_call}")
  loss_fn = solvers.as_loss(loss_fn)
  stepper, batched, init, step, chunk = _programs(loss_fn, method, learning_rate,
                                                  history_size, linesearch, first_order,
                                                  _axes_key(args_axes))
  if initial_state is not None and stepper.carried is None:
    raise ValueError(f"initial_state: {method} has no state to warm-start from; only "
                     f"{', '.join(solvers.first_order_methods())} do")

  rec = _Recorder(num_steps, log_every)
  if log_every:
    logging.info("compiling the objective and the first %s step%s (this takes a while)...",
                 method, "" if per_call == 1 else f"s ({per_call} per call)")
  x0 = jnp.asarray(x0)
  sharding = seed_sharding(x0.shape[0]) if shard_seeds is not False else None
  if shard_seeds and sharding is None:
    raise ValueError(f"cannot split {x0.shape[0]} seeds evenly over {jax.device_count()} "
                     "devices")
  if sharding is not None:
    x0 = jax.device_put(x0, sharding)  # jit keeps each seed's work on its device.
    logging.info("%d seeds sharded over %d devices", x0.shape[0], jax.device_count())

  def run(state, count: int):
    """`count` steps in one device call; (state, (losses, components) [count, S])."""
    if per_call == 1:
      state, (value, aux) = step(state, args)
      return state, jax.tree.map(lambda a: a[None], (value, aux))
    state, outs = chunk(state, args, count, per_call)
    return state, jax.tree.map(lambda a: a[:count], outs)

  if stepper.lazy:  # Every record comes from a step; the first evaluates the start.
    state = init(x0, args, initial_state)
  else:
    state, first_out = init(x0, args)
    rec.take(jax.tree.map(lambda a: a[None], first_out), 0)
  stopped, interrupted, time_limited, pending = None, False, False, None
  interrupts = signals.HeldInterrupts()
  try:
    interrupts.install()
    while rec.bad is None and rec.next_step <= num_steps:  # Records 0..num_steps.
      first = rec.next_step
      end = min(first + per_call - 1, num_steps)
      if callback and callback_every:  # Calls end at the callback steps.
        end = min(end, callback_every * max(1, -(-first // callback_every)))
      interrupts.holding = True
      try:
        state, outs = run(state, end - first + 1)
        pending = (outs, first)
      finally:
        interrupts.release()  # A Ctrl-C during the call raises here.
      rec.take(outs, first)
      pending = None
      rec.called()
      if rec.bad is not None:
        break
      k = rec.next_step - 1
      if callback and callback_every and k % callback_every == 0 and k > 0:
        callback(k, to_host(state[1]))
      rec.log_progress(first)
      elapsed = rec.seconds_since_first_call()
      if (time_limit is not None and elapsed is not None and end < num_steps
          and elapsed >= time_limit):
        time_limited = True
        if log_every:
          logging.info("time limit of %.0f s reached after step %d", time_limit, k)
        break
  except KeyboardInterrupt:
    if pending is not None and rec.next_step <= pending[1]:
      rec.take(*pending)  # The call has run: keep what it did.
    interrupted = True
    stopped = f"interrupted after step {max(rec.next_step - 1, 0)}"
  finally:
    interrupts.restore()
  history, steps_done, stopped = rec.finish(
      stopped, x0.shape[0],
      lambda: jax.eval_shape(loss_fn, x0[0], *solvers.with_step(loss_fn, args, 0))[1])
  if stopped:
    logging.warning("stopped: %s", stopped)
  evaluations = None
  if stepper.evals is not None:
    count = jax.vmap(stepper.evals) if batched(x0.shape[0]) else stepper.evals
    evaluations = int(np.max(to_host(count(state[0]))))
  return MinimizeResult(x=to_host(state[1]), history=history, steps=steps_done, stopped=stopped,
                        evaluations=evaluations,
                        devices=1 if sharding is None else jax.device_count(),
                        steps_per_call=per_call, interrupted=interrupted,
                        time_limited=time_limited,
                        state=(None if stepper.carried is None
                               else to_host(stepper.carried(state[0]))))


def resize_state(state: Any, old_hw: tuple[int, int], new_hw: tuple[int, int]) -> Any:
  """A `MinimizeResult.state` for images of another size: every leaf shaped like the
  images ([..., h, w, 3]: Adam's moments, Adagrad's sums) resized bilinearly to
  new_hw, the rest (step counts, the loss scale) kept.

  Departs from crowsonkb/style-transfer-pytorch, which resizes Adam's first moment
  bicubically: bilinear keeps one rule for every leaf, and a non-negative second
  moment non-negative.
  """
  old_hw, new_hw = tuple(old_hw), tuple(new_hw)

  def resize(a):
    a = np.asarray(a)
    if a.ndim < 3 or a.shape[-3:] != (*old_hw, 3):
      return a
    shape = a.shape[:-3] + (*new_hw, 3)
    return np.asarray(jax.image.resize(jnp.asarray(a), shape, "linear"), a.dtype)

  return jax.tree.map(resize, state)
