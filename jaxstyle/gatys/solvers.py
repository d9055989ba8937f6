"""The solvers of `minimize`: each method as a stepper, in one registry.

A stepper (`Stepper`) is one method as pure functions of its state, which
`optimize.minimize` vmaps over the seeds, jits and steps from its loop: L-BFGS with unit
steps (`jaxstyle.gatys.lbfgs`, updated in place), jaxopt's L-BFGS (with a line search,
or as `jaxopt_lbfgs` for comparison), optax's L-BFGS and its first-order methods
(Adam, SGD, Adagrad). `SOLVERS` registers each method by name with what it declares
(`Solver`: a first-order method's default learning rate, whether it takes
`FirstOrderOptions` and can warm-start another run); `Loss` declares what the loss
takes (`uses_step`: the step, for losses that draw new random numbers every step).
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any, Callable, Hashable, NamedTuple

import jax
import jax.numpy as jnp
import optax

from jaxstyle.gatys import lbfgs

# L-BFGS line searches (jaxopt's); None: unit steps.
LINESEARCHES = ("zoom", "backtracking")

class Stepper:
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


@dataclasses.dataclass(frozen=True, eq=False)
class Loss:
  """What `minimize` minimizes: `fn(x, *args) -> (loss, {component: value})`.

  uses_step: the loss draws new random numbers every step (e.g. sliced-Wasserstein
    projections): `minimize` calls `fn(x, *args, step)`, step the evaluations so far.
  key: what the loss computes, as a hashable value (e.g. `objective.make_loss_fn`'s
    settings); two Losses with equal keys are equal whatever their `fn` objects, so
    `minimize`'s compiled programs, cached per Loss, are reused between them. None: the
    Loss is its `fn` (compared by identity).
  A plain function passed to `minimize` is `Loss(fn)`.
  """
  fn: Callable[..., tuple[jax.Array, dict[str, jax.Array]]]
  uses_step: bool = False
  key: Hashable | None = None

  def _identity(self) -> tuple:
    return (self.fn if self.key is None else self.key, self.uses_step)

  def __eq__(self, other) -> bool:
    return isinstance(other, Loss) and self._identity() == other._identity()

  def __hash__(self) -> int:
    return hash(self._identity())

  def __call__(self, *args):
    return self.fn(*args)


def as_loss(loss_fn: Loss | Callable) -> Loss:
  return loss_fn if isinstance(loss_fn, Loss) else Loss(loss_fn)


def with_step(loss_fn: Loss, args: tuple, step) -> tuple:
  """args, and the step where the loss takes one (`Loss.uses_step`)."""
  return (*args, step) if loss_fn.uses_step else args


def _zero_aux(loss_fn, x, args):
  """Zeros shaped like loss_fn's components (a lazy init evaluates nothing)."""
  _, aux = jax.eval_shape(loss_fn, x, *with_step(loss_fn, args, 0))
  return jax.tree.map(lambda a: jnp.zeros(a.shape, a.dtype), aux)


def _lbfgs(loss_fn, *, history_size: int):
  """L-BFGS with a unit step (one evaluation per step), history updated in place."""
  value_and_grad = jax.value_and_grad(loss_fn, has_aux=True)

  def init(x, args):
    return lbfgs.init(x, _zero_aux(loss_fn, x, args), history_size)

  def step(state, args):
    return lbfgs.step(value_and_grad, state, with_step(loss_fn, args, state.evaluations))

  def read(state):
    return state.x, state.value, state.aux

  def evals(state):
    return state.evaluations

  return Stepper(init, step, read, evals, lazy=True)


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
    state = solver.init_state(x, *with_step(loss_fn, args, 0))
    gamma = lbfgs.first_step_scale(state.grad)
    return x, state._replace(gamma=gamma.astype(state.gamma.dtype))

  def step(carry, args):
    x, state = carry
    slot = state.iter_num % history_size  # Where jaxopt writes this step's pair.
    old_pair = (state.s_history[slot], state.y_history[slot], state.rho_history[slot])
    out = solver.update(x, state, *with_step(loss_fn, args, state.num_fun_eval))
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

  return Stepper(init, step, read, evals)


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
                   clamp: tuple[float, float] | None = None) -> Stepper:
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
    args = with_step(loss_fn, args, carry.evaluations)
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

  return Stepper(init, step, read, evals, lazy=True, carried=carried)


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
  make: Callable[..., Stepper]
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
METHODS = tuple(SOLVERS)  # At import; the checks read SOLVERS itself.
FIRST_ORDER = tuple(name for name, solver in SOLVERS.items() if solver.first_order)


def first_order_methods() -> tuple[str, ...]:
  """The first-order methods registered now (FIRST_ORDER, with later entries)."""
  return tuple(name for name, solver in SOLVERS.items() if solver.first_order)
DEFAULT_LEARNING_RATES = {name: solver.default_learning_rate
                          for name, solver in SOLVERS.items() if solver.first_order}


def check_first_order(method: str, options: FirstOrderOptions | None) -> None:
  """ValueError if first-order options (iterate averaging, clamping, Adam's betas) are
  given to a method that is not first-order (`Solver.first_order`)."""
  if options is not None and options != FirstOrderOptions() and not SOLVERS[method].first_order:
    raise ValueError(f"average_decay, clamp and adam_betas are options of "
                     f"{', '.join(first_order_methods())}, not {method}")


def make_stepper(loss_fn, method: str, *, learning_rate: float | None = None,
                 history_size: int = 20, linesearch: str | None = None,
                 first_order: FirstOrderOptions | None = None) -> Stepper:
  if method not in SOLVERS:
    raise ValueError(f"unknown optimizer {method!r}; choose one of {', '.join(SOLVERS)}")
  solver, loss_fn = SOLVERS[method], as_loss(loss_fn)
  check_first_order(method, first_order)
  return solver.make(loss_fn, history_size=history_size, linesearch=linesearch,
                     first_order=first_order or FirstOrderOptions(),
                     learning_rate=(solver.default_learning_rate if learning_rate is None
                                    else learning_rate))
