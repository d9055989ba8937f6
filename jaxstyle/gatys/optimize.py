"""Pixel optimizers behind one function: L-BFGS (in place, `jaxstyle.lbfgs`; jaxopt's
with a line search, or as `jaxopt_lbfgs` for comparison), optax Adam/SGD/Adagrad/L-BFGS.

`minimize` runs several starting images (seeds) at once: each seed keeps its own
optimizer state, and one step of all seeds is a single jitted, vmapped program (one
seed runs unbatched: see `_programs`). The solver is stepped from a Python loop, one
or several steps per device call (`steps_per_call`: several on accelerators, where a
step takes milliseconds); the loop prints progress and checks for NaN between calls,
never from inside jit.
"""

from __future__ import annotations

import dataclasses
import functools
import time
import warnings
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl import logging

from jaxstyle import signals
from jaxstyle.gatys import lbfgs

# L-BFGS line searches (jaxopt's); None: unit steps.
LINESEARCHES = ("zoom", "backtracking")
COMPONENTS = ("content", "style", "tv")


@dataclasses.dataclass
class MinimizeResult:
  """What `minimize` returns.

  Attributes:
    x: the final (or last finite) images, [S, ...] as NumPy.
    history: {"total", "content", "style", "tv"}: [steps + 1, S] losses at the
      start and after each step; "time": [steps + 1] seconds since the start.
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


class _Stepper:
  """One method as init(x, args) -> carry; step(carry, args) -> carry;
  read(carry) -> (x, loss, aux); evals(carry) -> evaluations so far; and for methods
  whose state can warm-start a run at another size, carried(carry) -> that state and
  init(x, args, carried).

  lazy: init evaluates nothing and each step evaluates one point, the first step the
  start itself, then moves on (so N steps evaluate N points, the start included, and
  the objective is compiled once, inside the step). Otherwise init evaluates the start
  and each step moves first and reads the new point.
  """

  def __init__(self, init, step, read, evals=None, lazy=False, carried=None):
    self.init, self.step, self.read, self.evals, self.lazy = init, step, read, evals, lazy
    self.carried = carried


@dataclasses.dataclass(frozen=True)
class Loss:
  """What `minimize` minimizes: `fn(x, *args) -> (loss, {component: value})`.

  uses_step: the loss draws new random numbers every step (e.g. sliced-Wasserstein
    projections): `minimize` calls `fn(x, *args, step)`, step the evaluations so far.
  A plain function passed to `minimize` is `Loss(fn)`.
  """
  fn: Callable[..., tuple[jax.Array, dict[str, jax.Array]]]
  uses_step: bool = False

  def __call__(self, *args):
    return self.fn(*args)


def as_loss(loss_fn: Loss | Callable) -> Loss:
  return loss_fn if isinstance(loss_fn, Loss) else Loss(loss_fn)


def _with_step(loss_fn: Loss, args: tuple, step) -> tuple:
  """args, and the step where the loss takes one (`Loss.uses_step`)."""
  return (*args, step) if loss_fn.uses_step else args


def _zero_aux(loss_fn, x, args):
  """Zeros shaped like loss_fn's components (a lazy init evaluates nothing)."""
  _, aux = jax.eval_shape(loss_fn, x, *_with_step(loss_fn, args, 0))
  return jax.tree.map(lambda a: jnp.zeros(a.shape, a.dtype), aux)


def _lbfgs(loss_fn, *, history_size: int):
  """L-BFGS with a unit step (one evaluation per step), history updated in place."""
  value_and_grad = jax.value_and_grad(loss_fn, has_aux=True)

  def init(x, args):
    return lbfgs.init(x, _zero_aux(loss_fn, x, args), history_size)

  def step(state, args):
    return lbfgs.step(value_and_grad, state, _with_step(loss_fn, args, state.evaluations))

  def read(state):
    return state.x, state.value, state.aux

  def evals(state):
    return state.evaluations

  return _Stepper(init, step, read, evals, lazy=True)


def _lbfgs_jaxopt(loss_fn, *, history_size: int, linesearch: str | None):
  """jaxopt.LBFGS. linesearch=None takes a unit step (one evaluation per step), the
  algorithm of `_lbfgs` (same first step, same skipped pairs), kept to compare with.

  The first step is -g scaled so that no pixel moves by more than lbfgs.FIRST_STEP
  (set through the initial inverse-Hessian scale); later steps use jaxopt's usual
  gamma = s.y / y.y.
  """
  with warnings.catch_warnings():  # "JAXopt is no longer maintained": we pin 0.8.5.
    warnings.simplefilter("ignore", DeprecationWarning)
    import jaxopt  # pylint: disable=import-outside-toplevel  # jaxopt stays behind this function.

  solver = jaxopt.LBFGS(
      fun=loss_fn, has_aux=True, history_size=history_size, maxiter=2**31 - 1, tol=0.0,
      stepsize=1.0 if linesearch is None else 0.0, linesearch=linesearch or "zoom")

  def init(x, args):
    state = solver.init_state(x, *_with_step(loss_fn, args, 0))
    gamma = lbfgs.first_step_scale(state.grad)
    return x, state._replace(gamma=gamma.astype(state.gamma.dtype))

  def step(carry, args):
    x, state = carry
    slot = state.iter_num % history_size  # Where jaxopt writes this step's pair.
    old_pair = (state.s_history[slot], state.y_history[slot], state.rho_history[slot])
    out = solver.update(x, state, *_with_step(loss_fn, args, state.num_fun_eval))
    new_state = out.state
    if linesearch is None:
      # Pairs failing the curvature test are skipped as in lbfgs.step, by putting the
      # slot's previous pair back (and not advancing the slot). Only the slot is
      # touched: selecting between whole histories would copy them every step.
      keep = lbfgs.keeps_pair(out.params - x, new_state.grad - state.grad)
      pick = lambda new, old: jnp.where(keep, new, old)
      restore = lambda history, old: history.at[slot].set(pick(history[slot], old))
      new_state = new_state._replace(
          iter_num=pick(new_state.iter_num, state.iter_num),
          s_history=restore(new_state.s_history, old_pair[0]),
          y_history=restore(new_state.y_history, old_pair[1]),
          rho_history=restore(new_state.rho_history, old_pair[2]),
          gamma=pick(new_state.gamma, 2.0 * state.gamma))
    return out.params, new_state

  def read(carry):
    x, state = carry
    return x, state.value, state.aux

  def evals(carry):
    return carry[1].num_fun_eval

  return _Stepper(init, step, read, evals)


class _OptaxCarry(NamedTuple):
  x: jax.Array         # the point the last step evaluated
  value: jax.Array
  aux: Any
  x_next: jax.Array    # the point the next step evaluates
  opt_state: Any
  scale: jax.Array     # 1 / |loss at the start| (0 before the first step)
  evaluations: jax.Array
  average: jax.Array   # the running average of the iterates (without bias correction)


def _optax_stepper(loss_fn, tx: optax.GradientTransformation, update, *,
                   average_decay: float | None = None,
                   clamp: tuple[float, float] | None = None) -> _Stepper:
  """A lazy stepper around tx, stepped by
  update(grad, opt_state, x, value, scale, args) -> (updates, opt_state).

  clamp: (low, high): the point is clipped to [low, high] after each update (the
  images' range), as crowsonkb/style-transfer-pytorch does after each Adam step.
  average_decay: d in (0, 1): `read` returns the exponential moving average of the
  evaluated points, a_k = d a_(k-1) + (1 - d) x_k, bias-corrected by 1 - d^k (Polyak
  averaging: it smooths the last steps' noise); the losses stay those of the points
  themselves.
  """
  value_and_grad = jax.value_and_grad(loss_fn, has_aux=True)

  def step(carry, args):
    x = carry.x_next
    args = _with_step(loss_fn, args, carry.evaluations)
    (value, aux), grad = value_and_grad(x, *args)
    # The scale is set by the first evaluation (0 until then; a warm start brings it).
    scale = jnp.where(carry.scale == 0, 1.0 / jnp.maximum(jnp.abs(value), 1e-30),
                      carry.scale).astype(carry.scale.dtype)
    updates, opt_state = update(grad, carry.opt_state, x, value, scale, args)
    x_next = optax.apply_updates(x, updates)
    if clamp is not None:
      x_next = jnp.clip(x_next, *clamp)
    average = carry.average
    if average_decay is not None:
      average = average_decay * average + (1.0 - average_decay) * x
    return _OptaxCarry(x, value, aux, x_next, opt_state, scale, carry.evaluations + 1,
                       average)

  def read(carry):
    if average_decay is None:
      return carry.x, carry.value, carry.aux
    correction = 1.0 - average_decay ** jnp.maximum(carry.evaluations, 1).astype(jnp.float32)
    averaged = jnp.where(carry.evaluations > 0, carry.average / correction, carry.x)
    return averaged.astype(carry.x.dtype), carry.value, carry.aux

  def evals(carry):
    return carry.evaluations

  def init(x, args, carried=None):
    zero = jnp.zeros((), x.dtype)
    opt_state, scale = tx.init(x), zero
    if carried is not None:  # A warm start: the state of a run at another size, resized.
      opt_state = jax.tree.map(lambda a, b: jnp.asarray(b, a.dtype), opt_state,
                               carried["opt_state"])
      scale = jnp.asarray(carried["scale"], x.dtype)
    return _OptaxCarry(x, zero, _zero_aux(loss_fn, x, args), x, opt_state, scale,
                       jnp.zeros((), jnp.int32), jnp.zeros_like(x))

  def carried(carry):
    return {"opt_state": carry.opt_state, "scale": carry.scale}

  return _Stepper(init, step, read, evals, lazy=True, carried=carried)


def _optax(loss_fn, tx: optax.GradientTransformation, **options):
  """A first-order optax method on the loss divided by its value at the start.

  Style losses span many orders of magnitude (1e5..1e12 with VGG-19 features), so
  plain SGD's learning rate would depend on image size and weights; dividing by the
  starting loss makes one default work. Adam and Adagrad are (nearly) invariant to
  this scaling.
  """
  def update(grad, opt_state, x, value, scale, args):
    del value, args
    return tx.update(grad * scale, opt_state, x)

  return _optax_stepper(loss_fn, tx, update, **options)


def _optax_lbfgs(loss_fn, *, history_size: int):
  """optax.lbfgs with its default zoom line search (several evaluations per step; only
  the step's own evaluation is counted)."""
  tx = optax.lbfgs(memory_size=history_size)

  def update(grad, opt_state, x, value, scale, args):
    del scale
    value_fn = lambda y: loss_fn(y, *args)[0]
    return tx.update(grad, opt_state, x, value=value, grad=grad, value_fn=value_fn)

  return _optax_stepper(loss_fn, tx, update)


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


@dataclasses.dataclass(frozen=True)
class FirstOrderOptions:
  """Options of the first-order methods (adam, sgd, adagrad).

  Attributes:
    average_decay: average the iterates with this decay (e.g. 0.99; None: off); the
      result is the average.
    clamp: clip the image to [0, 1] after every step (False: only at the end).
    adam_betas: Adam's (b1, b2) (None: optax's 0.9, 0.999).
  """

  average_decay: float | None = None
  clamp: bool = False
  adam_betas: tuple[float, float] | None = None

  def __post_init__(self):
    if self.average_decay is not None and not 0.0 < self.average_decay < 1.0:
      raise ValueError(f"average_decay must be in (0, 1), got {self.average_decay}")
    if self.adam_betas is not None:
      betas = tuple(float(b) for b in self.adam_betas)
      if len(betas) != 2 or not all(0.0 <= b < 1.0 for b in betas):
        raise ValueError(f"adam_betas must be two numbers in [0, 1), got {self.adam_betas}")
      object.__setattr__(self, "adam_betas", betas)


def _lbfgs_method(loss_fn, *, history_size, linesearch, **_):
  """"lbfgs": ours with unit steps, jaxopt's when a line search is asked for."""
  if linesearch is None:
    return _lbfgs(loss_fn, history_size=history_size)
  return _lbfgs_jaxopt(loss_fn, history_size=history_size, linesearch=linesearch)


def _first_order_method(make_tx: Callable[..., optax.GradientTransformation]):
  """A first-order optax method: make_tx(learning_rate, options) -> its transformation."""
  def make(loss_fn, *, learning_rate, first_order, **_):
    return _optax(loss_fn, make_tx(learning_rate, first_order),
                  average_decay=first_order.average_decay,
                  clamp=(0.0, 1.0) if first_order.clamp else None)
  return make


@dataclasses.dataclass(frozen=True)
class Solver:
  """One method of `minimize`, as `SOLVERS` registers it.

  make: `(loss_fn, *, learning_rate, history_size, linesearch, first_order) -> stepper`
    (each takes the settings it uses).
  default_learning_rate: a first-order method's step for images in [0, 1]; such a
    method takes `learning_rate` and `FirstOrderOptions` and can warm-start another run
    (`carry_state`). None: an L-BFGS, which needs no learning rate.
  """
  make: Callable[..., _Stepper]
  default_learning_rate: float | None = None

  @property
  def first_order(self) -> bool:
    return self.default_learning_rate is not None


SOLVERS: dict[str, Solver] = {
    "lbfgs": Solver(_lbfgs_method),
    "adam": Solver(_first_order_method(
        lambda lr, o: optax.adam(lr, *o.adam_betas) if o.adam_betas else optax.adam(lr)),
                   default_learning_rate=0.02),
    "sgd": Solver(_first_order_method(lambda lr, o: optax.sgd(lr)), default_learning_rate=10.0),
    "adagrad": Solver(_first_order_method(lambda lr, o: optax.adagrad(lr)),
                      default_learning_rate=1.0),
    "optax_lbfgs": Solver(lambda loss_fn, *, history_size, **_: _optax_lbfgs(
        loss_fn, history_size=history_size)),
    "jaxopt_lbfgs": Solver(lambda loss_fn, *, history_size, linesearch, **_: _lbfgs_jaxopt(
        loss_fn, history_size=history_size, linesearch=linesearch)),
}
METHODS = tuple(SOLVERS)
FIRST_ORDER = tuple(name for name, solver in SOLVERS.items() if solver.first_order)
DEFAULT_LEARNING_RATES = {name: solver.default_learning_rate
                          for name, solver in SOLVERS.items() if solver.first_order}


def make_stepper(loss_fn, method: str, *, learning_rate: float | None = None,
                 history_size: int = 20, linesearch: str | None = None,
                 first_order: FirstOrderOptions | None = None) -> _Stepper:
  if method not in SOLVERS:
    raise ValueError(f"unknown optimizer {method!r}; choose one of {', '.join(METHODS)}")
  solver, loss_fn = SOLVERS[method], as_loss(loss_fn)
  if first_order is not None and first_order != FirstOrderOptions() and not solver.first_order:
    raise ValueError(f"iterate averaging, clamping and Adam's betas are options of the "
                     f"first-order methods ({', '.join(FIRST_ORDER)}), not {method}")
  return solver.make(loss_fn, history_size=history_size, linesearch=linesearch,
                     first_order=first_order or FirstOrderOptions(),
                     learning_rate=(solver.default_learning_rate if learning_rate is None
                                    else learning_rate))


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
              linesearch: str | None, first_order: FirstOrderOptions | None = None,
              axes_key: tuple | None = None):
  """The jitted init, step and chunk (several steps) of all starts; cached, so that runs
  with the same loss function (see objective.make_loss_fn) and settings reuse the
  compiled programs. axes_key: `_axes_key(args_axes)` (see `minimize`)."""
  stepper = make_stepper(loss_fn, method, learning_rate=learning_rate,
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


def _log_progress(k: int, num_steps: int, record, t_first: tuple[float, int]) -> None:
  """One progress line after step k; the rate counts the steps after the first call."""
  rate = (k - t_first[1]) / (time.perf_counter() - t_first[0])
  value, c = record[0], record[1]
  logging.info(
      "step %d/%d  loss %.4g  content %.4g  style %.4g  tv %.4g  %.2f steps/s  ETA %.0f s",
      k, num_steps, float(np.mean(value)), float(np.mean(c["content"])),
      float(np.mean(c["style"])), float(np.mean(c["tv"])), rate, (num_steps - k) / rate)


def minimize(loss_fn: Loss | Callable[..., tuple[jax.Array, dict[str, jax.Array]]],
             x0: jax.Array, args: tuple = (), *, method: str = "lbfgs", num_steps: int,
             learning_rate: float | None = None, history_size: int = 20,
             linesearch: str | None = None, log_every: int = 50,
             callback: Callable[[int, np.ndarray], None] | None = None,
             callback_every: int = 0, shard_seeds: bool | None = None,
             steps_per_call: int | None = None,
             first_order: FirstOrderOptions | None = None,
             time_limit: float | None = None, initial_state: Any = None,
             args_axes: Any = None) -> MinimizeResult:
  """Minimizes `loss_fn(x, *args)` from each of the starts `x0` [S, ...] independently.

  Args:
    loss_fn: (x, *args) -> (scalar loss, {"content", "style", "tv"} scalars), or a
      `Loss` (one whose `uses_step` is set also takes the step).
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
    first_order: `FirstOrderOptions` of adam/sgd/adagrad (iterate averaging, clamping,
      Adam's betas).
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
  loss_fn = as_loss(loss_fn)
  stepper, batched, init, step, chunk = _programs(loss_fn, method, learning_rate,
                                                  history_size, linesearch, first_order,
                                                  _axes_key(args_axes))
  if initial_state is not None and stepper.carried is None:
    raise ValueError(f"initial_state: {method} has no state to warm-start from; only "
                     f"{', '.join(FIRST_ORDER)} do")

  start = time.perf_counter()
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

  records = []  # (losses [S], components, seconds since start): the start, then each step.
  stopped, interrupted, t_first, time_limited = None, False, None, False

  def run(state, count: int):
    """`count` steps in one device call; (state, (losses, components) [count, S])."""
    if per_call == 1:
      state, (value, aux) = step(state, args)
      return state, jax.tree.map(lambda a: a[None], (value, aux))
    state, outs = chunk(state, args, count, per_call)
    return state, jax.tree.map(lambda a: a[:count], outs)

  def take(outs, first: int) -> int | None:
    """Appends the records of a call; returns the step of a non-finite loss, if any."""
    values, aux = to_host(outs)
    now = time.perf_counter() - start
    for i in range(values.shape[0]):
      records.append((values[i], jax.tree.map(lambda a, i=i: a[i], aux), now))
      if not np.all(np.isfinite(values[i])):
        return first + i
    return None

  if stepper.lazy:  # Every record comes from a step; the first evaluates the start.
    state = init(x0, args, initial_state)
  else:
    state, first_out = init(x0, args)
    take(jax.tree.map(lambda a: a[None], first_out), 0)
  record, last = len(records), num_steps  # Records 0..num_steps.
  bad = 0 if records and not np.all(np.isfinite(records[0][0])) else None
  pending = None
  interrupts = signals.HeldInterrupts()
  try:
    interrupts.install()
    while bad is None and record <= last:
      end = min(record + per_call - 1, last)
      if callback and callback_every:  # Calls end at the callback steps.
        end = min(end, callback_every * max(1, -(-record // callback_every)))
      interrupts.holding = True
      try:
        state, outs = run(state, end - record + 1)
        pending = (outs, record)
      finally:
        interrupts.release()  # A Ctrl-C during the call raises here.
      bad = take(outs, record)
      pending = None
      if t_first is None and len(records) > 1:
        t_first = (time.perf_counter(), len(records) - 1)
        if log_every:
          logging.info("step %d done (compiled) after %.1f s", t_first[1], t_first[0] - start)
      if bad is not None:
        break
      k = len(records) - 1
      if callback and callback_every and k % callback_every == 0 and k > 0:
        callback(k, to_host(state[1]))
      if log_every and t_first is not None and k > t_first[1] and (
          k // log_every > (record - 1) // log_every or k == last):
        _log_progress(k, num_steps, records[-1], t_first)
      record = end + 1
      if (time_limit is not None and t_first is not None and record <= last
          and time.perf_counter() - t_first[0] >= time_limit):
        time_limited = True
        if log_every:
          logging.info("time limit of %.0f s reached after step %d", time_limit, k)
        break
  except KeyboardInterrupt:
    if pending is not None and len(records) <= pending[1]:
      bad = take(pending[0], pending[1])  # The call has run: keep what it did.
    interrupted = True
    stopped = f"interrupted after step {max(len(records) - 1, 0)}"
  finally:
    interrupts.restore()
  if bad is not None:
    del records[bad + 1:]
    value = records[bad][0]
    stopped = ("the loss is not finite at the starting image" if bad == 0 else
               f"the loss became {value[~np.isfinite(value)][0]} at step {bad}; "
               "kept each seed's last image with a finite loss")
  if stopped:
    logging.warning("stopped: %s", stopped)
  steps_done = max(len(records) - 1, 0) if bad is None else bad - 1 if bad else 0
  if not records:  # Interrupted before the start was evaluated.
    value, aux = jax.eval_shape(loss_fn, x0[0], *_with_step(loss_fn, args, 0))
    nan = np.full((x0.shape[0],), np.nan, np.float32)
    records.append((nan, {c: nan for c in aux}, time.perf_counter() - start))
  history = {"total": np.stack([r[0] for r in records])}
  for c in COMPONENTS:
    history[c] = np.stack([r[1][c] for r in records])
  history["time"] = np.array([r[2] for r in records])
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
