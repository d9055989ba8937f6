"""Pixel optimizers behind one function: L-BFGS (jaxopt), optax Adam/SGD/Adagrad/L-BFGS.

`minimize` runs several starting images (seeds) at once: each seed keeps its own
optimizer state, and one step of all seeds is a single jitted, vmapped program.
The solver is stepped from a Python loop; that gives progress lines and NaN checks
without printing from inside jit, and on XLA:CPU it avoids a slow path: the same
evaluation is several times slower inside an XLA while loop than as a plain
jitted step (measured in the performance issue).
"""

from __future__ import annotations

import dataclasses
import functools
import time
import warnings
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl import logging

METHODS = ("lbfgs", "adam", "sgd", "adagrad", "optax_lbfgs")
# Learning rates for images in [0, 1]; L-BFGS needs none.
DEFAULT_LEARNING_RATES = {"adam": 0.02, "sgd": 10.0, "adagrad": 1.0}
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
  """

  x: np.ndarray
  history: dict[str, np.ndarray]
  steps: int
  stopped: str | None = None
  evaluations: int | None = None
  devices: int = 1


class _Stepper:
  """One method: init(x, args) -> carry; step(carry, args) -> carry; read(carry) -> x, loss, aux."""

  def __init__(self, init, step, read, evals=None):
    self.init, self.step, self.read, self.evals = init, step, read, evals


# The first L-BFGS step moves no pixel by more than this (images are in [0, 1]). The
# step of torch.optim.LBFGS, -g * min(1, 1/|g|_1), is far smaller for style losses
# (|g|_1 ~ 1e7..1e10) and yields a nearly flat first curvature pair that later blows
# up a step (loss spikes of 1e5x, measured in experiments/results/optimizers.png).
FIRST_STEP = 0.05
# Curvature pairs are kept only if cos(s, y) exceeds this (see the step function).
_MIN_COSINE = 1e-3


def _first_step_scale(grad: jax.Array) -> jax.Array:
  return FIRST_STEP / jnp.maximum(jnp.max(jnp.abs(grad)), 1e-30)


def _lbfgs_jaxopt(loss_fn, *, history_size: int, linesearch: str | None):
  """jaxopt.LBFGS. linesearch=None takes a unit step (one evaluation per step).

  The first step is -g scaled so that no pixel moves by more than FIRST_STEP (set
  through the initial inverse-Hessian scale); later steps use jaxopt's usual
  gamma = s.y / y.y.
  """
  with warnings.catch_warnings():  # "JAXopt is no longer maintained": we pin 0.8.5.
    warnings.simplefilter("ignore", DeprecationWarning)
    import jaxopt  # pylint: disable=import-outside-toplevel  # jaxopt stays behind this function.

  solver = jaxopt.LBFGS(
      fun=loss_fn, has_aux=True, history_size=history_size, maxiter=2**31 - 1, tol=0.0,
      stepsize=1.0 if linesearch is None else 0.0, linesearch=linesearch or "zoom")

  def init(x, args):
    state = solver.init_state(x, *args)
    gamma = _first_step_scale(state.grad)
    return x, state._replace(gamma=gamma.astype(state.gamma.dtype))

  def step(carry, args):
    x, state = carry
    slot = state.iter_num % history_size  # Where jaxopt writes this step's pair.
    old_pair = (state.s_history[slot], state.y_history[slot], state.rho_history[slot])
    out = solver.update(x, state, *args)
    new_state = out.state
    if linesearch is None:
      # Without a line search nothing enforces the curvature condition s.y > 0; a
      # pair that breaks it would make later directions point uphill. Skip it, as
      # torch.optim.LBFGS does, by putting the slot's previous pair back (and not
      # advancing the slot). The test is relative (cosine of s and y): tiny losses
      # with tiny steps still learn their curvature (torch's absolute s.y > 1e-10
      # skips them forever), and nearly flat pairs, whose 1/(s.y) would blow up the
      # next step, are skipped too. Only the slot is touched: selecting between whole
      # histories would copy them every step (1.4 GB of memory traffic at 512 px).
      s_vec, y_vec = out.params - x, new_state.grad - state.grad
      s_dot_y = jnp.vdot(s_vec, y_vec)
      keep = s_dot_y > _MIN_COSINE * jnp.linalg.norm(s_vec) * jnp.linalg.norm(y_vec)
      pick = lambda new, old: jnp.where(keep, new, old)
      restore = lambda history, old: history.at[slot].set(pick(history[slot], old))
      new_state = new_state._replace(
          iter_num=pick(new_state.iter_num, state.iter_num),
          s_history=restore(new_state.s_history, old_pair[0]),
          y_history=restore(new_state.y_history, old_pair[1]),
          rho_history=restore(new_state.rho_history, old_pair[2]),
          # Skipped pairs mostly mean negative curvature (the Gram loss is quartic and
          # concave in places, e.g. near a white-noise start): the step was too timid,
          # so double it until the curvature turns positive and a pair is kept.
          gamma=pick(new_state.gamma, 2.0 * state.gamma))
    return out.params, new_state

  def read(carry):
    x, state = carry
    return x, state.value, state.aux

  def evals(carry):
    return carry[1].num_fun_eval

  return _Stepper(init, step, read, evals)


def _optax(loss_fn, tx: optax.GradientTransformation):
  """A first-order optax method on the loss divided by its value at the start.

  Style losses span many orders of magnitude (1e5..1e12 with VGG-19 features), so
  plain SGD's learning rate would depend on image size and weights; dividing by the
  starting loss makes one default work. Adam and Adagrad are (nearly) invariant to
  this scaling.
  """
  value_and_grad = jax.value_and_grad(loss_fn, has_aux=True)

  def init(x, args):
    (value, aux), grad = value_and_grad(x, *args)
    scale = 1.0 / jnp.maximum(jnp.abs(value), 1e-30)
    return x, tx.init(x), value, aux, grad, scale

  def step(carry, args):
    x, opt_state, _, _, grad, scale = carry
    updates, opt_state = tx.update(grad * scale, opt_state, x)
    x = optax.apply_updates(x, updates)
    (value, aux), grad = value_and_grad(x, *args)
    return x, opt_state, value, aux, grad, scale

  def read(carry):
    return carry[0], carry[2], carry[3]

  return _Stepper(init, step, read)


def _optax_lbfgs(loss_fn, *, history_size: int):
  """optax.lbfgs with its default zoom line search (several evaluations per step)."""
  tx = optax.lbfgs(memory_size=history_size)
  value_and_grad = jax.value_and_grad(loss_fn, has_aux=True)

  def init(x, args):
    (value, aux), grad = value_and_grad(x, *args)
    return x, tx.init(x), value, aux, grad

  def step(carry, args):
    x, opt_state, value, _, grad = carry
    value_fn = lambda y: loss_fn(y, *args)[0]
    updates, opt_state = tx.update(grad, opt_state, x, value=value, grad=grad, value_fn=value_fn)
    x = optax.apply_updates(x, updates)
    # The line search saw the new value but not its components: one more evaluation.
    (value, aux), grad = value_and_grad(x, *args)
    return x, opt_state, value, aux, grad

  def read(carry):
    return carry[0], carry[2], carry[3]

  return _Stepper(init, step, read)


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


def make_stepper(loss_fn, method: str, *, learning_rate: float | None = None,
                 history_size: int = 20, linesearch: str | None = None) -> _Stepper:
  if method == "lbfgs":
    return _lbfgs_jaxopt(loss_fn, history_size=history_size, linesearch=linesearch)
  if method == "optax_lbfgs":
    return _optax_lbfgs(loss_fn, history_size=history_size)
  if method in ("adam", "sgd", "adagrad"):
    lr = DEFAULT_LEARNING_RATES[method] if learning_rate is None else learning_rate
    return _optax(loss_fn, getattr(optax, method)(lr))
  raise ValueError(f"unknown optimizer {method!r}; choose one of {', '.join(METHODS)}")


@functools.lru_cache(maxsize=16)
def _programs(loss_fn, method: str, learning_rate: float | None, history_size: int,
              linesearch: str | None):
  """The jitted init and step of all seeds; cached, so that runs with the same loss
  function (see objective.make_loss_fn) and settings reuse the compiled programs."""
  stepper = make_stepper(loss_fn, method, learning_rate=learning_rate,
                         history_size=history_size, linesearch=linesearch)
  vinit = jax.vmap(stepper.init, in_axes=(0, None))
  vstep = jax.vmap(stepper.step, in_axes=(0, None))
  vread = jax.vmap(stepper.read)

  # The last image with a finite loss is kept on the device, beside the solver state,
  # so that a step moves only the losses (a few scalars) to the host.
  def init_all(x0, args):
    carry = vinit(x0, args)
    _, value, aux = vread(carry)
    return (carry, x0), (value, aux)

  def step_all(state, args):
    carry, last_finite = state
    carry = vstep(carry, args)
    x, value, aux = vread(carry)
    finite = jnp.isfinite(value).reshape((-1,) + (1,) * (x.ndim - 1))
    return (carry, jnp.where(finite, x, last_finite)), (value, aux)

  return stepper, jax.jit(init_all), jax.jit(step_all, donate_argnums=0)


def minimize(loss_fn: Callable[..., tuple[jax.Array, dict[str, jax.Array]]],
             x0: jax.Array, args: tuple = (), *, method: str = "lbfgs", num_steps: int,
             learning_rate: float | None = None, history_size: int = 20,
             linesearch: str | None = None, log_every: int = 50,
             callback: Callable[[int, np.ndarray], None] | None = None,
             callback_every: int = 0, shard_seeds: bool | None = None) -> MinimizeResult:
  """Minimizes `loss_fn(x, *args)` from each of the starts `x0` [S, ...] independently.

  Args:
    loss_fn: (x, *args) -> (scalar loss, {"content", "style", "tv"} scalars).
    x0: starting points, one per seed, stacked on axis 0.
    args: passed to `loss_fn` unchanged and shared by all seeds (targets, weights).
    method: one of METHODS.
    num_steps: optimizer steps (iterations).
    learning_rate: for adam/sgd/adagrad (defaults in DEFAULT_LEARNING_RATES).
    history_size: L-BFGS memory.
    linesearch: L-BFGS only: None (unit step, one evaluation per step), "zoom" or
      "backtracking".
    log_every: a progress line every this many steps (0: none).
    callback: called as callback(step, x [S, ...]) every `callback_every` steps.
    shard_seeds: split the seeds over all devices (jax.sharding, one mesh axis
      "seeds"); None: whenever there are several devices and S divides evenly.
  """
  if num_steps <= 0:
    raise ValueError(f"num_steps must be positive, got {num_steps}")
  stepper, init, step = _programs(loss_fn, method, learning_rate, history_size, linesearch)

  start = time.perf_counter()
  if log_every:
    logging.info("compiling the objective and the first %s step (this takes a while)...", method)
  x0 = jnp.asarray(x0)
  sharding = seed_sharding(x0.shape[0]) if shard_seeds is not False else None
  if shard_seeds and sharding is None:
    raise ValueError(f"cannot split {x0.shape[0]} seeds evenly over {jax.device_count()} "
                     "devices")
  if sharding is not None:
    x0 = jax.device_put(x0, sharding)  # jit keeps each seed's work on its device.
    logging.info("%d seeds sharded over %d devices", x0.shape[0], jax.device_count())
  state, (value, aux) = init(x0, args)
  value, aux = to_host((value, aux))
  records = [(value, aux, time.perf_counter() - start)]
  stopped = None
  if not np.all(np.isfinite(records[0][0])):
    stopped = "the loss is not finite at the starting image"
  steps_done = 0
  t_first = None
  for k in range(1, num_steps + 1):
    if stopped:
      break
    state, (value, aux) = step(state, args)
    value, aux = to_host((value, aux))  # Waits for the step: a few scalars.
    records.append((value, aux, time.perf_counter() - start))
    if not np.all(np.isfinite(value)):
      stopped = (f"the loss became {value[~np.isfinite(value)][0]} at step {k}; "
                 f"kept each seed's last image with a finite loss")
      break
    steps_done = k
    if k == 1:
      t_first = time.perf_counter()
      if log_every:
        logging.info("step 1 done (compiled) after %.1f s", t_first - start)
    if callback and callback_every and k % callback_every == 0:
      callback(k, to_host(state[1]))
    if log_every and (k % log_every == 0 or k == num_steps) and k > 1:
      rate = (k - 1) / (time.perf_counter() - t_first)
      c = records[-1][1]
      logging.info(
          "step %d/%d  loss %.4g  content %.4g  style %.4g  tv %.4g  %.2f steps/s  ETA %.0f s",
          k, num_steps, float(np.mean(value)), float(np.mean(c["content"])),
          float(np.mean(c["style"])), float(np.mean(c["tv"])), rate, (num_steps - k) / rate)
  if stopped:
    logging.warning("stopped: %s", stopped)
  history = {"total": np.stack([r[0] for r in records])}
  for c in COMPONENTS:
    history[c] = np.stack([r[1][c] for r in records])
  history["time"] = np.array([r[2] for r in records])
  evaluations = None
  if stepper.evals is not None:
    evaluations = int(np.max(to_host(jax.vmap(stepper.evals)(state[0]))))
  return MinimizeResult(x=to_host(state[1]), history=history, steps=steps_done, stopped=stopped,
                        evaluations=evaluations,
                        devices=1 if sharding is None else jax.device_count())
