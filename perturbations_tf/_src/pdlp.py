"""Linear programs solved inside the graph: a batched primal–dual hybrid
gradient (PDHG) method in the style of PDLP, XLA-compilable.

For a prepared program (`pdlp_program.py`: presolved, normalised,
preconditioned) and a batch of cost vectors `c` (one per row),

    min cᵀx  s.t.  Kx − q ∈ {0}^{m_eq} × ℝ₊^{m_ub},  l ≤ x ≤ u,

whose saddle point `min_x max_y cᵀx − yᵀ(Kx − q)`, `y_ub ≥ 0`, PDHG
approaches by the steps

    x⁺ = proj_[l,u](x − τ(c − Kᵀy)),   y⁺ = proj_Y(y + σ(q − K(2x⁺ − x))),

`τ = η/ω`, `σ = ηω` — matrix products and elementwise operations on the whole
batch, with static shapes. The ingredients of a practical PDLP (Applegate
et al., "Practical Large-Scale Linear Programming using Primal-Dual Hybrid
Gradient", NeurIPS 2021; Lu & Yang, "Restarted Halpern PDHG for Linear
Programming", 2024), each measured in `benchmarks/pdlp.py`:

- **Diagonal preconditioning** and a constant step `η = 0.998/‖K̃‖₂`
  (`pdlp_program.py`); the costs are divided by their largest magnitude,
  per row, so that every threshold below is free of the problem's units.
- **Halpern iterations with reflection**: `z_{k+1} = (k+1)/(k+2)·(2T(z_k) −
  z_k) + 1/(k+2)·z_0`, with `T` the PDHG step and `z_0` the last restart
  point; the output is `T(z_k)`.
- **Adaptive restarts** on the fixed-point residual `‖z − T(z)‖` in the
  primal weight's norm: restart when it fell to 0.2 of its value at the last
  restart, or to 0.8 and stopped decreasing, or after 0.36 of the iterations
  so far; each row restarts on its own.
- **The primal weight** ω, per row: initialised to `‖c̃‖/‖q̃‖`, updated at
  each restart towards `‖Δy‖/‖Δx‖` of the restart points (geometric mean,
  smoothing 0.5).
- **Warm starts**: a row may start from a given primal–dual pair.

The iterations run in float64 whatever the costs' dtype: in float32 the
residuals stall at 1e-4 to 1e-6 of the problem's scale.

**Termination** (`kkt_errors`), per row, every `check_every` iterations: a
row has converged when, for `T(z)` (which holds the bounds exactly),

- every constraint holds to `tolerance` relative to its own right-hand
  side, `|a_iᵀx − b_i| ≤ tol·(1 + |b_i|)` (inequalities: their violation),
  where the 1 is the data's magnitude `s` when the right-hand sides and
  bounds are all below 1 (never looser than `tol·(1 + |b_i|)`);
- the reduced costs' violation of their signs is below `tol·‖c‖∞`;
- the duality gap is below `tol·(1 + |cᵀx| + |dual objective|)` in the
  normalised units (costs of magnitude 1, data of magnitude 1).

Rows that do not get there end as `iteration_limit`, never as converged.
A row whose iterates diverge along a ray certifies primal or dual
infeasibility (the difference of the last two checks is a Farkas ray).
Finished rows are frozen. Once at most 1/16 of the rows are unfinished,
they go on alone in a batch of that size (gathered, then scattered back),
so that a few slow rows do not cost the whole batch's iterations.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import tensorflow as tf

from perturbations_tf._src.pdlp_program import Data

CONVERGED = 0
ITERATION_LIMIT = 1
PRIMAL_INFEASIBLE = 2
DUAL_INFEASIBLE = 3
STATUSES = (
  "converged",
  "iteration_limit",
  "primal_infeasible",
  "dual_infeasible",
)

_SUFFICIENT_DECAY = 0.2
_NECESSARY_DECAY = 0.8
_ARTIFICIAL_RESTART = 0.36
_PRIMAL_WEIGHT_SMOOTHING = 0.5
# Restart points closer than this (normalised units) leave ω as it is.
_SMALLEST_MOVE = 1e-10


def _unroll() -> int:
  """PDHG steps per loop trip: on a GPU 8 (fewer trips, i.e. kernel
  launches and condition checks, for a longer graph); on a CPU 2, where a
  trip costs little and a longer graph takes longer to compile."""
  return 8 if tf.config.list_logical_devices("GPU") else 2


# Once at most 1/16 of the rows are unfinished, they go on alone.
_TAIL_FRACTION = 16
CHECK_EVERY = 64


@dataclasses.dataclass(frozen=True)
class Options:
  """The method's ingredients, each on by default; off only to measure what
  it brings (`benchmarks/pdlp.py`).

  Attributes:
    halpern: Halpern iterations with reflection (else plain PDHG steps).
    restarts: adaptive restarts.
    adaptive_primal_weight: the primal weight's updates at restarts.
    step_fraction: η·‖K̃‖₂, below 1.
  """

  halpern: bool = True
  restarts: bool = True
  adaptive_primal_weight: bool = True
  step_fraction: float = 0.998


class State(NamedTuple):
  """The loop's state, one entry per row of the batch (scaled space unless
  said)."""

  x: tf.Tensor  # Halpern iterate z = (x, y).
  y: tf.Tensor
  anchor_x: tf.Tensor  # z₀: the last restart point.
  anchor_y: tf.Tensor
  halpern_steps: tf.Tensor  # k since the last restart (float).
  primal_weight: tf.Tensor  # ω.
  restart_residual: tf.Tensor  # ‖z₀ − T(z₀)‖ at the last restart.
  last_residual: tf.Tensor  # ‖z − T(z)‖ at the last check.
  iterations: tf.Tensor  # int32.
  since_restart: tf.Tensor  # int32.
  status: tf.Tensor  # int32, STATUSES.
  done: tf.Tensor  # bool: converged or infeasible, frozen.
  ray_x: tf.Tensor  # T(z) at the last check, unscaled (for the rays).
  ray_y: tf.Tensor
  primal_residual: tf.Tensor  # kkt_errors of T(z) at the last check.
  dual_residual: tf.Tensor
  gap: tf.Tensor


class Result(NamedTuple):
  """The solver's output per row, in the prepared program's units."""

  x: tf.Tensor  # [B, n'] normalised primal (× s for the program's units).
  y: tf.Tensor  # [B, m'] multipliers (× the row's cost magnitude).
  status: tf.Tensor  # [B] int32.
  iterations: tf.Tensor  # [B] int32.
  primal_residual: tf.Tensor  # [B]: the largest |a_iᵀx − b_i|/(1 + |b_i|).
  dual_residual: tf.Tensor  # [B]: sign violation of λ over ‖c‖∞.
  gap: tf.Tensor  # [B]: the relative duality gap.


def _project_dual(y: tf.Tensor, data: Data) -> tf.Tensor:
  """Onto Y: the inequality rows' multipliers non-negative."""
  return tf.where(data.is_inequality, tf.maximum(y, 0.0), y)


def pdhg_step(
  x: tf.Tensor,
  y: tf.Tensor,
  c: tf.Tensor,
  primal_weight: tf.Tensor,
  eta: tf.Tensor,
  data: Data,
) -> tuple[tf.Tensor, tf.Tensor]:
  """T(z): one PDHG step from `(x, y)` in the scaled space."""
  tau = (eta / primal_weight)[:, None]
  sigma = (eta * primal_weight)[:, None]
  x_new = tf.clip_by_value(
    x - tau * (c - tf.matmul(y, data.matrix)), data.lower, data.upper
  )
  extrapolated = 2.0 * x_new - x
  y_new = _project_dual(
    y
    + sigma
    * (data.rhs - tf.matmul(extrapolated, data.matrix, transpose_b=True)),
    data,
  )
  return x_new, y_new


def _weighted_norm(dx: tf.Tensor, dy: tf.Tensor, omega: tf.Tensor) -> tf.Tensor:
  """`sqrt(ω‖dx‖² + ‖dy‖²/ω)` per row: the norm PDHG contracts in."""
  return tf.sqrt(
    omega * tf.reduce_sum(dx * dx, 1) + tf.reduce_sum(dy * dy, 1) / omega
  )


def _reduced_cost_bounds(data: Data):
  """Where the reduced cost λ = c − Kᵀy may lie: `λ_i > 0` needs a finite
  lower bound, `λ_i < 0` a finite upper one."""
  inf = tf.constant(float("inf"), tf.float64)
  lo = tf.where(data.finite_upper, -inf, 0.0)
  hi = tf.where(data.finite_lower, inf, 0.0)
  return lo, hi


def _bound_terms(allowed: tf.Tensor, data: Data) -> tf.Tensor:
  """The bounds' part of the dual objective, `Σ λ⁺l − λ⁻u`."""
  return tf.reduce_sum(tf.maximum(allowed, 0.0) * data.lower0, 1) + (
    tf.reduce_sum(tf.minimum(allowed, 0.0) * data.upper0, 1)
  )


def kkt_errors(
  x: tf.Tensor, y: tf.Tensor, c: tf.Tensor, data: Data
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
  """The relative primal residual, dual residual and gap per row (each
  converged at most `tolerance`; see the module).

  Args:
    x: `[B, n]` primal points, unscaled, normalised (within the bounds).
    y: `[B, m]` multipliers, unscaled.
    c: `[B, n]` costs, normalised (`‖c‖∞ = 1`, or 0).
    data: the prepared program.

  Returns:
    `(primal, dual, gap)`, each `[B]`: `max_i |viol_i|/(floor + |q_i|)`,
    `‖λ − proj λ‖∞` and `|p − d|/(1 + |p| + |d|)`.
  """
  lo, hi = _reduced_cost_bounds(data)
  activity = tf.matmul(x, data.original, transpose_b=True) - data.original_rhs
  violation = tf.abs(
    tf.where(data.is_inequality, tf.minimum(activity, 0.0), activity)
  )
  primal = tf.reduce_max(
    tf.concat(
      [
        violation / (data.primal_floor + tf.abs(data.original_rhs)),
        tf.zeros_like(violation[:, :1]),
      ],
      1,
    ),
    1,
  )
  reduced = c - tf.matmul(y, data.original)
  allowed = tf.clip_by_value(reduced, lo, hi)
  dual = tf.reduce_max(tf.abs(reduced - allowed), 1)
  primal_objective = tf.reduce_sum(c * x, 1)
  dual_objective = tf.reduce_sum(y * data.original_rhs, 1) + _bound_terms(
    allowed, data
  )
  gap = tf.abs(primal_objective - dual_objective) / (
    1.0 + tf.abs(primal_objective) + tf.abs(dual_objective)
  )
  return primal, dual, gap


def _infeasibility(
  dx: tf.Tensor, dy: tf.Tensor, c: tf.Tensor, data: Data, tolerance: float
):
  """Whether the ray differences certify primal (dual ray `dy`) or dual
  (primal ray `dx`) infeasibility, per row (unscaled rays; every threshold
  relative to the ray's own size)."""
  lo, hi = _reduced_cost_bounds(data)
  tiny = tf.constant(1e-30, tf.float64)
  # Primal infeasibility: a dual ray with y_ub ≥ 0, λ = −Kᵀdy compatible
  # with the bounds, and a positive dual ray objective.
  ray_reduced = -tf.matmul(dy, data.original)
  allowed = tf.clip_by_value(ray_reduced, lo, hi)
  ray_objective = tf.reduce_sum(dy * data.original_rhs, 1) + _bound_terms(
    allowed, data
  )
  violation = tf.norm(ray_reduced - allowed, axis=1) + tf.norm(
    tf.where(data.is_inequality, tf.minimum(dy, 0.0), 0.0), axis=1
  )
  primal_infeasible = (
    ray_objective > tolerance * (tf.norm(dy, axis=1) + tiny)
  ) & (violation <= tolerance * ray_objective)
  # Dual infeasibility: a primal ray with cᵀdx < 0, Kdx in the constraints'
  # recession cone, dx in the bounds' recession cone.
  activity = tf.matmul(dx, data.original, transpose_b=True)
  ray_violation = tf.norm(
    tf.where(data.is_inequality, tf.minimum(activity, 0.0), activity), axis=1
  ) + tf.norm(
    tf.where(data.finite_lower, tf.minimum(dx, 0.0), 0.0)
    + tf.where(data.finite_upper, tf.maximum(dx, 0.0), 0.0),
    axis=1,
  )
  descent = -tf.reduce_sum(c * dx, 1)
  dual_infeasible = (descent > tolerance * (tf.norm(dx, axis=1) + tiny)) & (
    ray_violation <= tolerance * descent
  )
  return primal_infeasible, dual_infeasible


class _Problem(NamedTuple):
  """What every piece of the loop reads: the program, the rows' costs
  (normalised, and scaled by D_c), the step and the settings."""

  data: Data
  c: tf.Tensor
  c_scaled: tf.Tensor
  eta: tf.Tensor
  tolerance: tf.Tensor
  infeasibility_tolerance: float
  options: Options

  def rows(self, index: tf.Tensor) -> _Problem:
    return self._replace(
      c=tf.gather(self.c, index), c_scaled=tf.gather(self.c_scaled, index)
    )


def fixed_point_residual(
  x: tf.Tensor, y: tf.Tensor, omega: tf.Tensor, problem: _Problem
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
  """`(‖z − T(z)‖_ω, T(z))` per row."""
  tx, ty = pdhg_step(x, y, problem.c_scaled, omega, problem.eta, problem.data)
  return _weighted_norm(x - tx, y - ty, omega), tx, ty


def halpern_block(state: State, problem: _Problem, steps: int) -> State:
  """`steps` Halpern iterations (or plain PDHG steps) of every row."""
  options = problem.options

  def step(x: tf.Tensor, y: tf.Tensor, k: tf.Tensor) -> tuple:
    tx, ty = pdhg_step(
      x, y, problem.c_scaled, state.primal_weight, problem.eta, problem.data
    )
    if not options.halpern:
      return tx, ty, k + 1.0
    weight = ((k + 1.0) / (k + 2.0))[:, None]
    return (
      weight * (2.0 * tx - x) + (1.0 - weight) * state.anchor_x,
      weight * (2.0 * ty - y) + (1.0 - weight) * state.anchor_y,
      k + 1.0,
    )

  unroll = _unroll()

  def unrolled(x: tf.Tensor, y: tf.Tensor, k: tf.Tensor) -> tuple:
    for _ in range(unroll):
      x, y, k = step(x, y, k)
    return x, y, k

  x, y, k = tf.while_loop(
    lambda *_: True,
    unrolled,
    (state.x, state.y, state.halpern_steps),
    maximum_iterations=steps // unroll,
  )
  return state._replace(x=x, y=y, halpern_steps=k)


def restart(
  state: State,
  residual: tf.Tensor,
  tx: tf.Tensor,
  ty: tf.Tensor,
  problem: _Problem,
  steps: int,
) -> State:
  """Restarts the rows whose residual decayed enough (or after 0.36 of
  their iterations), from T(z), with an updated primal weight."""
  iterations = state.iterations + steps
  since = state.since_restart + steps
  r0 = state.restart_residual
  should = (
    (residual <= _SUFFICIENT_DECAY * r0)
    | ((residual <= _NECESSARY_DECAY * r0) & (residual > state.last_residual))
    | (
      tf.cast(since, tf.float64)
      >= _ARTIFICIAL_RESTART * tf.cast(iterations, tf.float64)
    )
  ) & problem.options.restarts
  # The primal weight follows the restart points' movement.
  omega = state.primal_weight
  delta_x = tf.norm(tx - state.anchor_x, axis=1)
  delta_y = tf.norm(ty - state.anchor_y, axis=1)
  usable = (delta_x > _SMALLEST_MOVE) & (delta_y > _SMALLEST_MOVE)
  moved = tf.exp(
    _PRIMAL_WEIGHT_SMOOTHING
    * tf.math.log(
      tf.where(usable, delta_y / tf.where(usable, delta_x, 1.0), 1.0)
    )
    + (1.0 - _PRIMAL_WEIGHT_SMOOTHING) * tf.math.log(omega)
  )
  update = should & usable & problem.options.adaptive_primal_weight
  omega = tf.where(update, moved, omega)
  column = should[:, None]
  x = tf.where(column, tx, state.x)
  y = tf.where(column, ty, state.y)
  return state._replace(
    x=x,
    y=y,
    anchor_x=tf.where(column, tx, state.anchor_x),
    anchor_y=tf.where(column, ty, state.anchor_y),
    halpern_steps=tf.where(
      should, tf.zeros_like(state.halpern_steps), state.halpern_steps
    ),
    primal_weight=omega,
    restart_residual=tf.where(
      should, fixed_point_residual(x, y, omega, problem)[0], r0
    ),
    last_residual=residual,
    iterations=iterations,
    since_restart=tf.where(should, 0, since),
  )


def update_status(
  state: State, tx: tf.Tensor, ty: tf.Tensor, problem: _Problem
) -> State:
  """Termination and infeasibility of T(z), in the unscaled space."""
  data = problem.data
  x, y = tx * data.col_scale, ty * data.row_scale
  primal, dual, gap = kkt_errors(x, y, problem.c, data)
  tolerance = problem.tolerance
  converged = (primal <= tolerance) & (dual <= tolerance) & (gap <= tolerance)
  primal_infeasible, dual_infeasible = _infeasibility(
    x - state.ray_x,
    y - state.ray_y,
    problem.c,
    data,
    problem.infeasibility_tolerance,
  )
  primal_infeasible &= ~converged
  dual_infeasible &= ~converged & ~primal_infeasible
  status = tf.where(
    converged,
    CONVERGED,
    tf.where(
      primal_infeasible,
      PRIMAL_INFEASIBLE,
      tf.where(dual_infeasible, DUAL_INFEASIBLE, ITERATION_LIMIT),
    ),
  )
  return state._replace(
    status=status,
    done=converged | primal_infeasible | dual_infeasible,
    ray_x=x,
    ray_y=y,
    primal_residual=primal,
    dual_residual=dual,
    gap=gap,
  )


def check(state: State, problem: _Problem, steps: int) -> State:
  """`steps` iterations, then restarts and statuses; finished rows keep
  their state."""
  advanced = halpern_block(state, problem, steps)
  residual, tx, ty = fixed_point_residual(
    advanced.x, advanced.y, state.primal_weight, problem
  )
  advanced = restart(advanced, residual, tx, ty, problem, steps)
  advanced = update_status(advanced, tx, ty, problem)
  frozen = state.done
  return State(
    *(
      tf.where(tf.reshape(frozen, [-1] + [1] * (new.shape.rank - 1)), old, new)
      for old, new in zip(state, advanced)
    )
  )


def initial_state(
  x0: tf.Tensor, y0: tf.Tensor, problem: _Problem, valid: tf.Tensor
) -> State:
  """The state at `(x0, y0)` (scaled space, projected); rows not `valid`
  (padding) start done."""
  data = problem.data
  x0 = tf.clip_by_value(x0, data.lower, data.upper)
  y0 = _project_dual(y0, data)
  c_norm = tf.norm(problem.c_scaled, axis=1)
  rhs_norm = tf.norm(data.rhs)
  omega = tf.where(
    (c_norm > 0) & (rhs_norm > 0),
    c_norm / tf.maximum(rhs_norm, 1e-30),
    tf.ones_like(c_norm),
  )
  r0, _, _ = fixed_point_residual(x0, y0, omega, problem)
  zeros = tf.zeros_like(c_norm)
  count = tf.zeros_like(c_norm, tf.int32)
  return State(
    x=x0,
    y=y0,
    anchor_x=x0,
    anchor_y=y0,
    halpern_steps=zeros,
    primal_weight=omega,
    restart_residual=r0,
    last_residual=r0,
    iterations=count,
    since_restart=count,
    status=tf.where(valid, ITERATION_LIMIT, CONVERGED),
    done=~valid,
    ray_x=x0 * data.col_scale,
    ray_y=y0 * data.row_scale,
    primal_residual=zeros,
    dual_residual=zeros,
    gap=zeros,
  )


def _run(
  state: State,
  problem: _Problem,
  count: tf.Tensor,
  checks: tf.Tensor,
  rows_left: int | tf.Tensor,
  steps: int,
) -> tuple[tf.Tensor, State]:
  """Checks until at most `rows_left` rows are unfinished or `checks`
  checks are spent; returns `(count, state)`."""

  def unfinished(count: tf.Tensor, state: State) -> tf.Tensor:
    left = tf.reduce_sum(tf.cast(~state.done, tf.int32))
    return (count < checks) & (left > rows_left)

  return tf.while_loop(
    unfinished,
    lambda count, state: (count + 1, check(state, problem, steps)),
    (count, state),
  )


def solve(
  costs: tf.Tensor,
  data: Data,
  tolerance: tf.Tensor | float,
  max_iterations: tf.Tensor | int,
  *,
  initial_x: tf.Tensor | None = None,
  initial_y: tf.Tensor | None = None,
  valid: tf.Tensor | None = None,
  check_every: int = CHECK_EVERY,
  infeasibility_tolerance: float = 1e-6,
  options: Options | None = None,
) -> Result:
  """Solves `min cᵀx` for each row of `costs` over a prepared program.

  Args:
    costs: `[B, n']` float64 costs of the remaining variables.
    data: the prepared program (`PreparedProgram.tensors()`).
    tolerance: the relative tolerance of convergence (see the module).
    max_iterations: the most iterations (rounded up to `check_every`).
    initial_x: `[B, n']` normalised primal starting points (default 0,
      projected onto the bounds).
    initial_y: `[B, m']` starting multipliers (default 0), in the units of
      the costs as given.
    valid: `[B]` bool, False for padding rows (they cost no iterations).
    check_every: iterations between checks (a multiple of 8).
    infeasibility_tolerance: the relative tolerance of the Farkas rays.
    options: the method's ingredients (default: all on).

  Returns:
    The `Result`.
  """
  options = options or Options()
  c = tf.convert_to_tensor(costs, tf.float64)
  magnitude = tf.reduce_max(tf.abs(c), 1)
  cost_scale = tf.where(magnitude > 0, magnitude, 1.0)
  c = c / cost_scale[:, None]
  b = tf.shape(c)[0]
  m = tf.shape(data.rhs)[0]
  problem = _Problem(
    data=data,
    c=c,
    c_scaled=c * data.col_scale,
    eta=data.step * options.step_fraction / 0.998,
    tolerance=tf.cast(tolerance, tf.float64),
    infeasibility_tolerance=infeasibility_tolerance,
    options=options,
  )
  x0 = (
    tf.zeros_like(c)
    if initial_x is None
    else tf.cast(initial_x, tf.float64) / data.col_scale
  )
  y0 = (
    tf.zeros(tf.stack([b, m]), tf.float64)
    if initial_y is None
    else tf.cast(initial_y, tf.float64) / cost_scale[:, None] / data.row_scale
  )
  valid = tf.ones([b], tf.bool) if valid is None else valid
  state = initial_state(x0, y0, problem, valid)
  checks = (tf.cast(max_iterations, tf.int32) + check_every - 1) // check_every
  checks = tf.maximum(checks, 1)
  # The whole batch until a few rows are left; those few then go on alone,
  # in a batch of their own size: a slow row costs that small batch's
  # iterations instead of the whole batch's.
  static_b = costs.shape[0]
  tail = (
    max(1, -(-static_b // _TAIL_FRACTION))
    if static_b is not None
    else tf.maximum(1, (b + _TAIL_FRACTION - 1) // _TAIL_FRACTION)
  )
  if static_b == 1:  # No tail to split off (and half the graph to compile).
    _, final = _run(state, problem, 0, checks, 0, check_every)
  else:
    count, state = _run(state, problem, 0, checks, tail, check_every)
    final = _tail(state, problem, count, checks, tail, check_every)
  return Result(
    x=final.ray_x,
    y=final.ray_y * cost_scale[:, None],
    status=final.status,
    iterations=final.iterations,
    primal_residual=final.primal_residual,
    dual_residual=final.dual_residual,
    gap=final.gap,
  )


def _tail(
  state: State,
  problem: _Problem,
  count: tf.Tensor,
  checks: tf.Tensor,
  tail: int | tf.Tensor,
  steps: int,
) -> State:
  """The `tail` rows left unfinished (and finished ones to fill it) go on
  alone until done; the state with theirs scattered back."""
  rows = tf.argsort(tf.cast(state.done, tf.int32), stable=True)[:tail]
  _, rest = _run(
    State(*(tf.gather(t, rows) for t in state)),
    problem.rows(rows),
    count,
    checks,
    0,
    steps,
  )
  return State(
    *(
      tf.tensor_scatter_nd_update(whole, rows[:, None], part)
      for whole, part in zip(state, rest)
    )
  )
