"""L-BFGS with a unit step, its history updated in place (compact representation).

The inverse-Hessian approximation of L-BFGS after m curvature pairs (s_i, y_i) is, in
the compact form of Byrd, Nocedal & Schnabel (1994, eq. 3.1),

  H = gamma I + [S  gamma Y] [[R^-T (D + gamma Y^T Y) R^-1, -R^-T], [-R^-1, 0]] [S^T; gamma Y^T]

with S, Y the pairs as columns in the order they were made, R the upper triangle of
S^T Y (R_ij = s_i.y_j for i <= j) and D its diagonal. It gives the same direction as
the two-loop recursion of torch.optim.LBFGS and jaxopt. Written this way a step needs
two passes over the history and no loop over its pairs:

  1. [S; Y] times [s, y, g] (three columns at once): the new pair's inner products with
     every stored pair, and S^T g, Y^T g for the next direction;
  2. d = -gamma g - S^T a + gamma Y^T t, with a, t from m x m triangular solves.

A step evaluates the point the previous one chose and then chooses the next; the first
step evaluates the start (and moves by -g scaled, see FIRST_STEP).

The histories are rows of [m, n] arrays in a ring; a new pair overwrites one row
(dynamic_update_slice on donated buffers: no copies). jaxopt's two-loop `while` keeps
both histories as loop state, and XLA copies them around it every step
(benchmarks/README.md). The ring's order is kept in `age`; the small matrices are
permuted into that order before the solves.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.scipy.linalg import solve_triangular

# The first step moves no pixel by more than this (images are in [0, 1]). The step of
# torch.optim.LBFGS, -g * min(1, 1/|g|_1), is far smaller for style losses
# (|g|_1 ~ 1e7..1e10) and yields a nearly flat first curvature pair that later blows
# up a step (loss spikes of 1e5x, measured with experiments.optimizers before this cap).
FIRST_STEP = 0.05
# Curvature pairs are kept only if cos(s, y) exceeds this (see `step`).
MIN_COSINE = 1e-3


class State(NamedTuple):
  """One image's L-BFGS state: the last point evaluated and the step to take from it.

  History rows: s[i], y[i] for slot i of the ring.
  """
  x: jax.Array        # the last point evaluated (the start before the first step)
  value: jax.Array    # its loss, components and gradient
  aux: Any
  grad: jax.Array
  d: jax.Array        # [n]: the next step, x + d is evaluated next
  s: jax.Array        # [m, n]
  y: jax.Array        # [m, n]
  sy: jax.Array       # [m, m]: sy[i, j] = s_i . y_j
  yy: jax.Array       # [m, m]: y_i . y_j
  s_grad: jax.Array   # [m]: s_i . grad
  y_grad: jax.Array   # [m]: y_i . grad
  age: jax.Array      # [m] int32: when slot i was written (pairs kept before it); -1 empty
  kept: jax.Array     # pairs kept so far; the next one goes to slot kept % m
  gamma: jax.Array    # the initial inverse-Hessian scale
  evaluations: jax.Array


def keeps_pair(s: jax.Array, y: jax.Array) -> jax.Array:
  """The curvature test of every unit-step L-BFGS here: keep (s, y) iff cos(s, y) >
  MIN_COSINE (see `step`)."""
  return jnp.vdot(s, y) > MIN_COSINE * jnp.linalg.norm(s) * jnp.linalg.norm(y)


def first_step_scale(grad: jax.Array) -> jax.Array:
  return FIRST_STEP / jnp.maximum(jnp.max(jnp.abs(grad)), 1e-30)


def init(x: jax.Array, aux: Any, history_size: int) -> State:
  """A state whose first `step` evaluates x itself (nothing is evaluated here, so one
  compiled program, the step, holds the objective). aux: zeros shaped like the
  objective's components."""
  m, n = history_size, x.size
  history = jnp.zeros((m, n), x.dtype)
  small = jnp.zeros((m, m), x.dtype)
  zero = jnp.zeros((), x.dtype)
  return State(x=x, value=zero, aux=aux, grad=jnp.zeros_like(x), d=jnp.zeros((n,), x.dtype),
               s=history, y=history, sy=small, yy=small,
               s_grad=jnp.zeros((m,), x.dtype), y_grad=jnp.zeros((m,), x.dtype),
               age=jnp.full((m,), -1, jnp.int32), kept=jnp.zeros((), jnp.int32),
               gamma=zero, evaluations=jnp.zeros((), jnp.int32))


def direction(state: State) -> jax.Array:
  """-H grad, flattened.

  The small matrices are taken in the pairs' order and each pair is scaled to
  s.y = 1 (the update is invariant to scaling a pair): pairs of wildly different sizes
  (a loss spike makes one) then do not make the float32 triangular solves lose the
  small ones.
  """
  order = jnp.argsort(state.age)  # Oldest first; empty slots (age -1) before all.
  empty = state.age[order] < 0
  sy = state.sy[order][:, order]
  # Kept pairs have s.y > 0; empty slots (zero rows) get scale 1.
  c = jnp.where(empty, 1.0, jax.lax.rsqrt(jnp.where(empty, 1.0, jnp.diag(sy))))
  sy = c[:, None] * sy * c[None, :]
  yy = c[:, None] * state.yy[order][:, order] * c[None, :]
  # Empty slots: R diagonal 1, everything else they touch is zero, so they drop out.
  r = jnp.triu(sy) + jnp.diag(empty.astype(sy.dtype))
  gamma = state.gamma
  p, q = c * state.s_grad[order], c * state.y_grad[order]
  t = solve_triangular(r, p, lower=False)
  a = solve_triangular(r, jnp.diag(sy) * t + gamma * (yy @ t) - gamma * q, lower=False,
                       trans="T")
  m = order.shape[0]
  a = jnp.zeros((m,), a.dtype).at[order].set(c * a)
  t = jnp.zeros((m,), t.dtype).at[order].set(c * t)
  return -gamma * state.grad.ravel() - a @ state.s + gamma * (t @ state.y)


def step(value_and_grad, state: State, args: tuple) -> State:
  """Evaluates x + d (d = 0 at the start), learns the new curvature pair and takes the
  next direction d = -H grad: one evaluation, two passes over the history.

  value_and_grad: (x, *args) -> ((value, aux), grad), as jax.value_and_grad(has_aux).

  Without a line search nothing enforces the curvature condition s.y > 0; a pair that
  breaks it would make later directions point uphill. Such pairs are skipped, as
  torch.optim.LBFGS does, but the test is relative (cosine of s and y): tiny losses with
  tiny steps still learn their curvature (torch's absolute s.y > 1e-10 skips them
  forever), and nearly flat pairs, whose 1/(s.y) would blow up the next step, are
  skipped too. A skip mostly means negative curvature (the Gram loss is quartic and
  concave in places, e.g. near a white-noise start): the step was too timid, so gamma
  doubles until the curvature turns positive and a pair is kept.
  """
  x = state.x + state.d.reshape(state.x.shape).astype(state.x.dtype)
  (value, aux), grad = value_and_grad(x, *args)
  g = grad.ravel()
  first = state.evaluations == 0
  s_new, y_new = state.d, g - state.grad.ravel()
  s_dot_y = jnp.vdot(s_new, y_new)
  y_dot_y = jnp.vdot(y_new, y_new)
  keep = keeps_pair(s_new, y_new) & ~first
  slot = state.kept % state.age.shape[0]
  # A skipped pair writes the slot's old row back: only one row is ever selected.
  s_row = jnp.where(keep, s_new, state.s[slot])
  y_row = jnp.where(keep, y_new, state.y[slot])
  columns = jnp.stack([s_row, y_row, g], axis=1)  # [n, 3]
  # Products with the history as it was (the slot's row is then replaced by the new
  # pair's own products): reading the updated history instead makes XLA keep a
  # second, updated copy of it for the product.
  s_dots = (state.s @ columns).at[slot].set(s_row @ columns)  # s_i.s_new, s_i.y_new, s_i.g
  y_dots = (state.y @ columns).at[slot].set(y_row @ columns)  # y_i.s_new, y_i.y_new, y_i.g
  # The slot written is made to depend on the products (x > inf is never true): XLA
  # then reads the old history before writing it in place. Without that it copies both
  # histories every step; an optimization_barrier does not help.
  write_slot = slot + (s_dots[0, 0] + y_dots[0, 0] > jnp.inf).astype(slot.dtype)
  s_hist = jax.lax.dynamic_update_index_in_dim(state.s, s_row, write_slot, 0)
  y_hist = jax.lax.dynamic_update_index_in_dim(state.y, y_row, write_slot, 0)
  sy = state.sy.at[:, slot].set(s_dots[:, 1]).at[slot, :].set(y_dots[:, 0])
  yy = state.yy.at[:, slot].set(y_dots[:, 1]).at[slot, :].set(y_dots[:, 1])
  age = state.age.at[slot].set(jnp.where(keep, state.kept, state.age[slot]))
  gamma = jnp.where(keep, s_dot_y / jnp.maximum(y_dot_y, 1e-30), 2.0 * state.gamma)
  gamma = jnp.where(first, first_step_scale(g), gamma).astype(state.gamma.dtype)
  new = State(x=x, value=value, aux=aux, grad=grad, d=state.d, s=s_hist, y=y_hist, sy=sy,
              yy=yy, s_grad=s_dots[:, 2], y_grad=y_dots[:, 2], age=age,
              kept=state.kept + keep.astype(jnp.int32), gamma=gamma,
              evaluations=state.evaluations + 1)
  return new._replace(d=direction(new).astype(x.dtype))
