"""Linear programs solved inside the graph: a batched primal–dual hybrid
gradient (PDHG) method in the style of PDLP, XLA-compilable.

For fixed constraints and a batch of cost vectors `c` (one per row),

    min cᵀx  s.t.  A_eq x = b_eq,  A_ub x ≤ b_ub,  l ≤ x ≤ u,

written as `min cᵀx s.t. Kx − q ∈ {0}^{m_eq} × ℝ₊^{m_ub}, x ∈ [l, u]` (the
inequalities as `−A_ub x ≥ −b_ub`), whose saddle point `min_x max_y cᵀx −
yᵀ(Kx − q)`, `y_ub ≥ 0`, PDHG approaches by the steps

    x⁺ = proj_[l,u](x − τ(c − Kᵀy)),   y⁺ = proj_Y(y + σ(q − K(2x⁺ − x))),

`τ = η/ω`, `σ = ηω` — matrix products and elementwise operations on the whole
batch, with static shapes. The ingredients of a practical PDLP (Applegate
et al., "Practical Large-Scale Linear Programming using Primal-Dual Hybrid
Gradient", NeurIPS 2021; Lu & Yang, "Restarted Halpern PDHG for Linear
Programming", 2024), each measured in `benchmarks/pdlp.py`:

- **Diagonal preconditioning**, once, at construction: Ruiz equilibration
  (the rows' and columns' infinity norms to 1) then Pock–Chambolle
  (α = 1), `K̃ = D_r K D_c`.
- **A constant step** `η = 0.998/‖K̃‖₂` (the largest singular value of the
  preconditioned matrix, computed once): PDHG converges for `η‖K̃‖ < 1`.
- **Halpern iterations with reflection**: `z_{k+1} = (k+1)/(k+2)·(2T(z_k) −
  z_k) + 1/(k+2)·z_0`, with `T` the PDHG step and `z_0` the last restart
  point; the output is `T(z_k)`.
- **Adaptive restarts** on the fixed-point residual `‖z − T(z)‖` in the
  primal weight's norm: restart when it fell to 0.2 of its value at the last
  restart, or to 0.8 and stopped decreasing, or after 36% of the iterations
  so far; each row restarts on its own.
- **The primal weight** ω, per row: initialised to `‖c̃‖/‖q̃‖`, updated at
  each restart towards `‖Δy‖/‖Δx‖` of the restart points (geometric mean,
  smoothing 0.5).

The iterations run in float64 whatever the costs' dtype: in float32 the
residuals stall at 1e-4 to 1e-6 of the problem's scale (measured: 7 of 64
random LPs short of a 1e-6 tolerance after 20,000 iterations, where float64
converged in at most 3,264).

Termination, per row, every `check_every` iterations, in the problem's own
units: the relative primal residual, dual residual and duality gap below
`tolerance`. A row whose iterates diverge along a ray certifies primal or
dual infeasibility (the difference of the last two checks, normalised, is a
Farkas ray). Converged and infeasible rows are frozen. Once at most 1/16 of
the rows are unfinished, they go on alone in a batch of that size (gathered,
then scattered back), so that a few slow rows do not cost the whole batch's
iterations: on 1,024 random LPs the median row converges in 640 iterations
and the slowest in 14,144, and the solve takes 0.44 s instead of 2.15 s.
The loop ends when every row is done or at `max_iterations`.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow as tf

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
# PDHG steps per loop trip: fewer trips (kernel launches and condition
# checks on a GPU) for a graph eight steps long.
_UNROLL = 8
# Once at most 1/16 of the rows are unfinished, they go on alone.
_TAIL_FRACTION = 16


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


@dataclasses.dataclass(frozen=True)
class ScaledProgram:
  """The constraints, stacked and preconditioned once (numpy, float64).

  Rows of `matrix` are the equality constraints, then the inequalities as
  `≥` rows. Scaled quantities: `matrix = D_r K D_c`, `rhs = D_r q`, bounds
  divided by `D_c`, costs multiplied by `D_c`; the solution is `D_c x̃`, the
  dual `D_r ỹ`.
  """

  matrix: np.ndarray  # K̃, [m, n].
  rhs: np.ndarray  # q̃, [m].
  lower: np.ndarray  # l̃, [n], −inf where free.
  upper: np.ndarray  # ũ, [n], +inf where free.
  row_scale: np.ndarray  # D_r, [m].
  col_scale: np.ndarray  # D_c, [n].
  num_eq: int
  step: float  # η = 0.998 / ‖K̃‖₂.
  original: np.ndarray  # K, [m, n].
  original_rhs: np.ndarray  # q, [m].
  original_lower: np.ndarray
  original_upper: np.ndarray


def _ruiz(matrix: np.ndarray, iterations: int = 10):
  """Row and column scalings equilibrating the infinity norms to 1."""
  m, n = matrix.shape
  rows, cols = np.ones(m), np.ones(n)
  scaled = matrix.copy()
  for _ in range(iterations):
    row_norm = np.sqrt(np.max(np.abs(scaled), axis=1))
    col_norm = np.sqrt(np.max(np.abs(scaled), axis=0))
    row_norm[row_norm == 0] = 1.0
    col_norm[col_norm == 0] = 1.0
    rows /= row_norm
    cols /= col_norm
    scaled = matrix * rows[:, None] * cols[None, :]
  return rows, cols


def _pock_chambolle(matrix: np.ndarray):
  """Pock–Chambolle scalings (α = 1): rows by 1/√(Σ|k_ij|), columns alike."""
  absolute = np.abs(matrix)
  row_sum = np.sqrt(absolute.sum(axis=1))
  col_sum = np.sqrt(absolute.sum(axis=0))
  row_sum[row_sum == 0] = 1.0
  col_sum[col_sum == 0] = 1.0
  return 1.0 / row_sum, 1.0 / col_sum


def scale_program(
  a_eq: np.ndarray | None,
  b_eq: np.ndarray | None,
  a_ub: np.ndarray | None,
  b_ub: np.ndarray | None,
  lower: np.ndarray,
  upper: np.ndarray,
  precondition: bool = True,
) -> ScaledProgram:
  """Stacks `A_eq x = b_eq` and `A_ub x ≤ b_ub` as `Kx − q ∈ C` and
  preconditions them.

  Args:
    a_eq, b_eq: equality constraints, or None.
    a_ub, b_ub: inequality constraints, or None.
    lower, upper: `[n]` bounds, ±inf where free.
    precondition: Ruiz then Pock–Chambolle scalings (else the identity).

  Returns:
    The `ScaledProgram`.
  """
  n = len(lower)
  blocks, rhs = [], []
  num_eq = 0
  if a_eq is not None:
    blocks.append(np.asarray(a_eq, np.float64))
    rhs.append(np.asarray(b_eq, np.float64))
    num_eq = len(blocks[0])
  if a_ub is not None:
    blocks.append(-np.asarray(a_ub, np.float64))
    rhs.append(-np.asarray(b_ub, np.float64))
  matrix = np.concatenate(blocks) if blocks else np.zeros((0, n))
  q = np.concatenate(rhs) if rhs else np.zeros(0)
  rows, cols = np.ones(len(q)), np.ones(n)
  if precondition and matrix.size:
    rows, cols = _ruiz(matrix)
    scaled = matrix * rows[:, None] * cols[None, :]
    pc_rows, pc_cols = _pock_chambolle(scaled)
    rows, cols = rows * pc_rows, cols * pc_cols
  scaled = matrix * rows[:, None] * cols[None, :]
  norm = np.linalg.norm(scaled, 2) if scaled.size else 1.0
  return ScaledProgram(
    matrix=scaled,
    rhs=q * rows,
    lower=np.asarray(lower, np.float64) / cols,
    upper=np.asarray(upper, np.float64) / cols,
    row_scale=rows,
    col_scale=cols,
    num_eq=num_eq,
    step=0.998 / max(float(norm), 1e-12),
    original=matrix,
    original_rhs=q,
    original_lower=np.asarray(lower, np.float64),
    original_upper=np.asarray(upper, np.float64),
  )


class _Constants:
  """The program's arrays as tensors of one dtype (built in the graph)."""

  def __init__(self, program: ScaledProgram, dtype: tf.DType):
    def const(array: np.ndarray) -> tf.Tensor:
      return tf.constant(np.asarray(array), dtype)

    self.matrix = const(program.matrix)
    self.rhs = const(program.rhs)
    self.lower = const(program.lower)
    self.upper = const(program.upper)
    self.row_scale = const(program.row_scale)
    self.col_scale = const(program.col_scale)
    self.original = const(program.original)
    self.original_rhs = const(program.original_rhs)
    finite_lower = np.isfinite(program.original_lower)
    finite_upper = np.isfinite(program.original_upper)
    self.finite_lower = tf.constant(finite_lower)
    self.finite_upper = tf.constant(finite_upper)
    # Bounds with 0 where infinite, for the dual objective's terms.
    self.lower0 = const(np.where(finite_lower, program.original_lower, 0.0))
    self.upper0 = const(np.where(finite_upper, program.original_upper, 0.0))
    m = len(program.rhs)
    self.is_ineq = tf.constant(np.arange(m) >= program.num_eq)
    self.rhs_norm = tf.norm(self.original_rhs)
    self.step = program.step
    self.dtype = dtype


def _project_dual(y: tf.Tensor, const: _Constants) -> tf.Tensor:
  """Onto Y: the inequality rows' multipliers non-negative."""
  return tf.where(const.is_ineq, tf.maximum(y, 0.0), y)


def _pdhg_step(
  x: tf.Tensor,
  y: tf.Tensor,
  c: tf.Tensor,
  tau: tf.Tensor,
  sigma: tf.Tensor,
  const: _Constants,
) -> tuple[tf.Tensor, tf.Tensor]:
  """T(z): one PDHG step from `(x, y)` in the scaled space."""
  x_new = tf.clip_by_value(
    x - tau * (c - tf.matmul(y, const.matrix)), const.lower, const.upper
  )
  extrapolated = 2.0 * x_new - x
  y_new = _project_dual(
    y
    + sigma
    * (const.rhs - tf.matmul(extrapolated, const.matrix, transpose_b=True)),
    const,
  )
  return x_new, y_new


def _weighted_norm(dx: tf.Tensor, dy: tf.Tensor, omega: tf.Tensor) -> tf.Tensor:
  """`sqrt(ω‖dx‖² + ‖dy‖²/ω)` per row: the norm PDHG contracts in."""
  return tf.sqrt(
    omega * tf.reduce_sum(dx * dx, 1) + tf.reduce_sum(dy * dy, 1) / omega
  )


def _reduced_cost_bounds(const: _Constants):
  """Where the reduced cost λ = c − Kᵀy may lie: `λ_i ≥ 0` needs a finite
  lower bound, `λ_i ≤ 0` a finite upper one."""
  big = tf.constant(np.inf, const.dtype)
  lo = tf.where(const.finite_upper, -big, tf.zeros([], const.dtype))
  hi = tf.where(const.finite_lower, big, tf.zeros([], const.dtype))
  return lo, hi


def kkt_errors(
  x: tf.Tensor, y: tf.Tensor, c: tf.Tensor, const: _Constants
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
  """Relative primal residual, dual residual and gap per row, in the
  problem's own units (x, y unscaled)."""
  lo, hi = _reduced_cost_bounds(const)
  activity = tf.matmul(x, const.original, transpose_b=True) - const.original_rhs
  primal = tf.where(const.is_ineq, tf.minimum(activity, 0.0), activity)
  reduced = c - tf.matmul(y, const.original)
  allowed = tf.clip_by_value(reduced, lo, hi)
  dual = reduced - allowed
  primal_objective = tf.reduce_sum(c * x, 1)
  dual_objective = (
    tf.reduce_sum(y * const.original_rhs, 1)
    + tf.reduce_sum(tf.maximum(allowed, 0.0) * const.lower0, 1)
    + tf.reduce_sum(tf.minimum(allowed, 0.0) * const.upper0, 1)
  )
  c_norm = tf.norm(c, axis=1)
  return (
    tf.norm(primal, axis=1) / (1.0 + const.rhs_norm),
    tf.norm(dual, axis=1) / (1.0 + c_norm),
    tf.abs(primal_objective - dual_objective)
    / (1.0 + tf.abs(primal_objective) + tf.abs(dual_objective)),
  )


def _infeasibility(
  dx: tf.Tensor,
  dy: tf.Tensor,
  c: tf.Tensor,
  const: _Constants,
  tolerance: float,
):
  """Whether the ray differences certify primal (dual ray `dy`) or dual
  (primal ray `dx`) infeasibility, per row (unscaled rays)."""
  lo, hi = _reduced_cost_bounds(const)
  tiny = tf.constant(1e-30, const.dtype)
  # Primal infeasibility: a dual ray with y_ub ≥ 0, λ = −Kᵀdy compatible
  # with the bounds, and a positive dual ray objective.
  ray_reduced = -tf.matmul(dy, const.original)
  allowed = tf.clip_by_value(ray_reduced, lo, hi)
  ray_objective = (
    tf.reduce_sum(dy * const.original_rhs, 1)
    + tf.reduce_sum(tf.maximum(allowed, 0.0) * const.lower0, 1)
    + tf.reduce_sum(tf.minimum(allowed, 0.0) * const.upper0, 1)
  )
  violation = tf.norm(ray_reduced - allowed, axis=1) + tf.norm(
    tf.where(const.is_ineq, tf.minimum(dy, 0.0), 0.0), axis=1
  )
  scale = tf.norm(dy, axis=1) + tiny
  primal_infeasible = (ray_objective > tolerance * scale) & (
    violation <= tolerance * ray_objective
  )
  # Dual infeasibility: a primal ray with cᵀdx < 0, Kdx in the constraints'
  # recession cone, dx in the bounds' recession cone.
  activity = tf.matmul(dx, const.original, transpose_b=True)
  ray_violation = tf.norm(
    tf.where(const.is_ineq, tf.minimum(activity, 0.0), activity), axis=1
  ) + tf.norm(
    tf.where(const.finite_lower, tf.minimum(dx, 0.0), 0.0)
    + tf.where(const.finite_upper, tf.maximum(dx, 0.0), 0.0),
    axis=1,
  )
  descent = -tf.reduce_sum(c * dx, 1)
  dual_infeasible = (descent > tolerance * (tf.norm(dx, axis=1) + tiny)) & (
    ray_violation <= tolerance * descent
  )
  return primal_infeasible, dual_infeasible


def solve(
  costs: tf.Tensor,
  program: ScaledProgram,
  tolerance: float,
  max_iterations: int,
  check_every: int = 64,
  infeasibility_tolerance: float = 1e-6,
  options: Options = Options(),
):
  """Solves `min cᵀx` for each row of `costs` (a minimisation).

  Args:
    costs: `[B, n]`, floating.
    program: the stacked, preconditioned constraints.
    tolerance: the relative KKT tolerance of convergence.
    max_iterations: the most PDHG iterations (a multiple of `check_every`
      is used).
    check_every: iterations between convergence and restart checks (a
      multiple of 8).
    infeasibility_tolerance: the relative tolerance of the Farkas rays.
    options: the method's ingredients (all on by default).

  Returns:
    `(x, y, status, iterations)`: `[B, n]` primal and `[B, m]` dual
    solutions in float64, `[B]` int32 statuses (`STATUSES`) and `[B]` int32
    iterations.
  """
  dtype = tf.float64
  const = _Constants(program, dtype)
  c = tf.cast(costs, dtype)
  c_scaled = c * const.col_scale
  b = tf.shape(c)[0]
  m = len(program.rhs)
  one = tf.ones([b], dtype)
  c_norm = tf.norm(c_scaled, axis=1)
  rhs_norm = tf.norm(const.rhs)
  omega = tf.where(
    (c_norm > 0) & (rhs_norm > 0), c_norm / tf.maximum(rhs_norm, 1e-30), one
  )
  x0 = tf.clip_by_value(tf.zeros_like(c_scaled), const.lower, const.upper)
  y0 = tf.zeros(tf.stack([b, m]), dtype)
  eta = tf.constant(program.step * options.step_fraction / 0.998, dtype)
  checks = max(1, -(-max_iterations // check_every))

  def restart_residual(
    x: tf.Tensor, y: tf.Tensor, omega: tf.Tensor, c_scaled: tf.Tensor
  ):
    tau, sigma = (eta / omega)[:, None], (eta * omega)[:, None]
    tx, ty = _pdhg_step(x, y, c_scaled, tau, sigma, const)
    return _weighted_norm(x - tx, y - ty, omega), tx, ty

  def halpern(state: tuple, c_scaled: tf.Tensor) -> tuple:
    x, y, ax, ay, k, omega = state
    tau, sigma = (eta / omega)[:, None], (eta * omega)[:, None]
    tx, ty = _pdhg_step(x, y, c_scaled, tau, sigma, const)
    if not options.halpern:
      return tx, ty, ax, ay, k + 1.0, omega
    weight = ((k + 1.0) / (k + 2.0))[:, None]
    x = weight * (2.0 * tx - x) + (1.0 - weight) * ax
    y = weight * (2.0 * ty - y) + (1.0 - weight) * ay
    return x, y, ax, ay, k + 1.0, omega

  def check(state: tuple, c: tf.Tensor, c_scaled: tf.Tensor) -> tuple:
    """`check_every` Halpern steps, then restarts, termination and
    infeasibility per row (of the rows of `state`, `c` and `c_scaled`)."""
    (
      x,
      y,
      ax,
      ay,
      k,
      omega,
      r0,
      r_last,
      total,
      since,
      status,
      done,
      last_x,
      last_y,
      out_x,
      out_y,
    ) = state

    def steps(*inner: tf.Tensor) -> tuple:
      for _ in range(_UNROLL):
        inner = halpern(inner, c_scaled)
      return inner

    nx, ny, _, _, nk, _ = tf.while_loop(
      lambda *inner: True,
      steps,
      (x, y, ax, ay, k, omega),
      maximum_iterations=check_every // _UNROLL,
    )
    residual, tx, ty = restart_residual(nx, ny, omega, c_scaled)
    total_new = total + check_every
    since_new = since + check_every
    restart = (
      (residual <= _SUFFICIENT_DECAY * r0)
      | ((residual <= _NECESSARY_DECAY * r0) & (residual > r_last))
      | (
        tf.cast(since_new, dtype)
        >= _ARTIFICIAL_RESTART * tf.cast(total_new, dtype)
      )
    ) & options.restarts
    # The primal weight follows the restart points' movement.
    delta_x = tf.norm(tx - ax, axis=1)
    delta_y = tf.norm(ty - ay, axis=1)
    usable = (delta_x > 1e-10) & (delta_y > 1e-10)
    new_omega = tf.exp(
      _PRIMAL_WEIGHT_SMOOTHING
      * tf.math.log(
        tf.where(usable, delta_y / tf.where(usable, delta_x, 1.0), 1.0)
      )
      + (1.0 - _PRIMAL_WEIGHT_SMOOTHING) * tf.math.log(omega)
    )
    omega_next = tf.where(
      restart & usable & options.adaptive_primal_weight, new_omega, omega
    )
    restart_col = restart[:, None]
    x_next = tf.where(restart_col, tx, nx)
    y_next = tf.where(restart_col, ty, ny)
    ax_next = tf.where(restart_col, tx, ax)
    ay_next = tf.where(restart_col, ty, ay)
    k_next = tf.where(restart, tf.zeros_like(nk), nk)
    r0_next = tf.where(
      restart, restart_residual(x_next, y_next, omega_next, c_scaled)[0], r0
    )
    since_next = tf.where(restart, tf.zeros_like(since_new), since_new)
    # Termination in the problem's units, on T(z).
    ux = tx * const.col_scale
    uy = ty * const.row_scale
    primal, dual, gap = kkt_errors(ux, uy, c, const)
    converged = (primal <= tolerance) & (dual <= tolerance) & (gap <= tolerance)
    primal_infeasible, dual_infeasible = _infeasibility(
      ux - last_x, uy - last_y, c, const, infeasibility_tolerance
    )
    primal_infeasible &= ~converged
    dual_infeasible &= ~converged & ~primal_infeasible
    new_status = tf.where(
      converged,
      CONVERGED,
      tf.where(
        primal_infeasible,
        PRIMAL_INFEASIBLE,
        tf.where(dual_infeasible, DUAL_INFEASIBLE, ITERATION_LIMIT),
      ),
    )
    finished = converged | primal_infeasible | dual_infeasible
    keep = done[:, None]  # Frozen rows keep everything.
    return (
      tf.where(keep, x, x_next),
      tf.where(keep, y, y_next),
      tf.where(keep, ax, ax_next),
      tf.where(keep, ay, ay_next),
      tf.where(done, k, k_next),
      tf.where(done, omega, omega_next),
      tf.where(done, r0, r0_next),
      tf.where(done, r_last, residual),
      tf.where(done, total, total_new),
      tf.where(done, since, since_next),
      tf.where(done, status, new_status),
      done | finished,
      tf.where(keep, last_x, ux),
      tf.where(keep, last_y, uy),
      tf.where(keep, out_x, ux),
      tf.where(keep, out_y, uy),
    )

  r_start, _, _ = restart_residual(x0, y0, omega, c_scaled)
  zeros_b = tf.zeros([b], dtype)
  state = (
    x0,
    y0,
    x0,
    y0,
    zeros_b,
    omega,
    r_start,
    r_start,
    tf.zeros([b], tf.int32),
    tf.zeros([b], tf.int32),
    tf.fill([b], ITERATION_LIMIT),
    tf.zeros([b], tf.bool),
    x0 * const.col_scale,
    y0 * const.row_scale,
    x0 * const.col_scale,
    y0 * const.row_scale,
  )

  def run(
    rows_left: tf.Tensor | int,
    count: tf.Tensor,
    state: tuple,
    c: tf.Tensor,
    c_scaled: tf.Tensor,
  ) -> tuple:
    """Checks until at most `rows_left` rows are unfinished (or the
    iterations are spent)."""
    return tf.while_loop(
      lambda count, *s: (
        (count < checks)
        & (tf.reduce_sum(tf.cast(~s[11], tf.int32)) > rows_left)
      ),
      lambda count, *s: (count + 1, *check(s, c, c_scaled)),
      (count, *state),
    )

  # The whole batch until a few rows are left; those few then go on alone,
  # in a batch of their own size: a slow row costs that small batch's
  # iterations instead of the whole batch's.
  static_b = costs.shape[0]
  tail = (
    max(1, -(-static_b // _TAIL_FRACTION))
    if static_b is not None
    else tf.maximum(1, (b + _TAIL_FRACTION - 1) // _TAIL_FRACTION)
  )
  count, *batch = run(tail, tf.constant(0), state, c, c_scaled)
  unfinished_first = tf.argsort(tf.cast(batch[11], tf.int32), stable=True)
  rows = unfinished_first[:tail]
  _, *rest = run(
    0,
    count,
    tuple(tf.gather(t, rows) for t in batch),
    tf.gather(c, rows),
    tf.gather(c_scaled, rows),
  )
  x, y, status, iterations = (
    tf.tensor_scatter_nd_update(batch[i], rows[:, None], rest[i])
    for i in (14, 15, 10, 8)
  )
  return x, y, status, iterations
