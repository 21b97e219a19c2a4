"""A linear program made ready for PDLP, once, in numpy: a light presolve,
normalisation and diagonal preconditioning; and the way back.

1. **Presolve.** Fixed variables (`lb = ub`) leave the program, their
   columns moved to the right-hand sides; rows left empty leave it too (or
   prove the program infeasible: `0 = b` with `b ≠ 0`, `0 ≤ b` with
   `b < 0`).
2. **Stacking.** `A_eq x = b_eq` and `A_ub x ≤ b_ub` become `Kx − q ∈
   {0}^{m_eq} × ℝ₊^{m_ub}` (the inequalities as `−A_ub x ≥ −b_ub`).
3. **Normalisation.** Right-hand sides and bounds are divided by the data's
   magnitude `s` (their largest absolute value), so that the iterations and
   their thresholds see data of order 1 whatever the units (the costs are
   normalised per row by the solver).
4. **Preconditioning.** Ruiz equilibration (the rows' and columns' infinity
   norms to 1) then Pock–Chambolle (α = 1), `K̃ = D_r K D_c`, and the step
   `η = 0.998/‖K̃‖₂`.

The arrays become the solver's inputs (`Data`), not constants of its
graph: programs of one shape share one compiled solver.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import numpy as np
import tensorflow as tf

from perturbations_tf._src import program as program_lib

# |b| of an empty row below this (relative to the data's magnitude) is 0.
_EMPTY_ROW_TOLERANCE = 1e-12


class Data(NamedTuple):
  """The prepared program as float64 tensors (`m` rows, `n` columns left
  after the presolve); the compiled solver's inputs."""

  matrix: tf.Tensor  # K̃ = D_r K D_c, [m, n].
  rhs: tf.Tensor  # q̃ = D_r q / s, [m].
  lower: tf.Tensor  # l / (s D_c), [n].
  upper: tf.Tensor  # u / (s D_c), [n].
  row_scale: tf.Tensor  # D_r, [m].
  col_scale: tf.Tensor  # D_c, [n].
  original: tf.Tensor  # K, [m, n].
  original_rhs: tf.Tensor  # q / s, [m].
  is_inequality: tf.Tensor  # [m] bool.
  finite_lower: tf.Tensor  # [n] bool.
  finite_upper: tf.Tensor  # [n] bool.
  lower0: tf.Tensor  # l / s, 0 where infinite, [n].
  upper0: tf.Tensor  # u / s, 0 where infinite, [n].
  step: tf.Tensor  # η, scalar.
  primal_floor: tf.Tensor  # min(1, s) / s, scalar: see `pdlp.kkt_errors`.


@dataclasses.dataclass(frozen=True)
class PreparedProgram:
  """A program presolved, normalised and preconditioned (numpy, float64).

  Attributes:
    arrays: the `Data` fields as numpy arrays.
    columns: `[n']` the variables that remain, indices into the original.
    fixed: `[n − n']` the fixed variables' indices.
    fixed_values: `[n − n']` their values.
    rows: `[m']` the stacked rows that remain (equalities first).
    num_rows: the stacked rows before the presolve.
    num_variables: `n`, the variables before the presolve.
    scale: `s`, the right-hand sides' and bounds' magnitude.
    infeasible: the presolve proved that no x satisfies the constraints.
  """

  arrays: dict
  columns: np.ndarray
  fixed: np.ndarray
  fixed_values: np.ndarray
  rows: np.ndarray
  num_rows: int
  num_variables: int
  scale: float
  infeasible: bool

  @property
  def shape(self) -> tuple[int, int]:
    """`(m', n')`: rows and columns after the presolve."""
    return self.arrays["original"].shape

  def tensors(self) -> Data:
    """The arrays as tensors (float64; masks boolean)."""
    return Data(
      **{
        name: tf.constant(value, tf.bool if value.dtype == bool else tf.float64)
        for name, value in self.arrays.items()
      }
    )

  def reduced_costs(self, costs: tf.Tensor) -> tf.Tensor:
    """`[B, n]` costs restricted to the remaining variables, `[B, n']`."""
    return tf.gather(costs, self.columns, axis=1)

  def reduced_primal(self, x: tf.Tensor) -> tf.Tensor:
    """A solution `[B, n]` in the solver's units, `[B, n']` (for warm
    starts)."""
    return tf.gather(x, self.columns, axis=1) / self.scale

  def reduced_dual(self, y: tf.Tensor) -> tf.Tensor:
    """Multipliers of the stacked rows `[B, m]`, restricted, `[B, m']`."""
    return tf.gather(y, self.rows, axis=1)

  def full_primal(
    self, x: tf.Tensor, lower: np.ndarray, upper: np.ndarray
  ) -> tf.Tensor:
    """The solver's `[B, n']` (normalised) back to `[B, n]` in the
    program's units, fixed variables in place and within the bounds."""
    b = tf.shape(x)[0]
    fixed = tf.broadcast_to(
      tf.constant(self.fixed_values, x.dtype), tf.stack([b, len(self.fixed)])
    )
    order = np.argsort(np.concatenate([self.columns, self.fixed]))
    full = tf.gather(tf.concat([x * self.scale, fixed], 1), order, axis=1)
    return tf.clip_by_value(
      full, tf.constant(lower, x.dtype), tf.constant(upper, x.dtype)
    )

  def full_dual(self, y: tf.Tensor) -> tf.Tensor:
    """`[B, m']` multipliers back to the `[B, m]` stacked rows (0 on the
    rows the presolve removed)."""
    position = np.full(self.num_rows, len(self.rows))
    position[self.rows] = np.arange(len(self.rows))
    padded = tf.concat([y, tf.zeros(tf.stack([tf.shape(y)[0], 1]), y.dtype)], 1)
    return tf.gather(padded, position, axis=1)


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


def precondition(matrix: np.ndarray, enabled: bool = True):
  """`(D_r, D_c)`: Ruiz then Pock–Chambolle, or ones when not `enabled`."""
  m, n = matrix.shape
  if not enabled or not matrix.size:
    return np.ones(m), np.ones(n)
  rows, cols = _ruiz(matrix)
  pc_rows, pc_cols = _pock_chambolle(matrix * rows[:, None] * cols[None, :])
  return rows * pc_rows, cols * pc_cols


def stacked(program: program_lib.Program) -> tuple[np.ndarray, np.ndarray, int]:
  """`(K, q, m_eq)`: the equalities, then the inequalities as `≥` rows."""
  p = program.constraints()
  return (
    np.concatenate([p.A_eq, -p.A_ub]),
    np.concatenate([p.b_eq, -p.b_ub]),
    len(p.b_eq),
  )


def prepare(
  program: program_lib.Program, precondition_matrix: bool = True
) -> PreparedProgram:
  """Presolves, normalises and preconditions `program` (see the module).

  Args:
    program: the constraints and bounds.
    precondition_matrix: Ruiz and Pock–Chambolle scalings (else none; only
      to measure what they bring).

  Returns:
    The `PreparedProgram`.
  """
  matrix, q, num_eq = stacked(program)
  lower, upper = program.lower, program.upper
  is_fixed = lower == upper
  columns, fixed = np.flatnonzero(~is_fixed), np.flatnonzero(is_fixed)
  q = q - matrix[:, fixed] @ lower[fixed]
  matrix = matrix[:, columns]
  lower, upper = lower[columns], upper[columns]
  scale = program_lib.magnitude(q, lower, upper)
  empty = ~np.any(matrix != 0, axis=1)
  is_inequality = np.arange(len(q)) >= num_eq
  slack = _EMPTY_ROW_TOLERANCE * scale
  infeasible = bool(
    np.any(empty & ~is_inequality & (np.abs(q) > slack))
    or np.any(empty & is_inequality & (q > slack))
  )
  rows = np.flatnonzero(~empty)
  matrix, q, is_inequality = matrix[rows], q[rows] / scale, is_inequality[rows]
  lower, upper = lower / scale, upper / scale
  row_scale, col_scale = precondition(matrix, precondition_matrix)
  scaled = matrix * row_scale[:, None] * col_scale[None, :]
  norm = np.linalg.norm(scaled, 2) if scaled.size else 1.0
  finite_lower, finite_upper = np.isfinite(lower), np.isfinite(upper)
  arrays = dict(
    matrix=scaled,
    rhs=q * row_scale,
    lower=lower / col_scale,
    upper=upper / col_scale,
    row_scale=row_scale,
    col_scale=col_scale,
    original=matrix,
    original_rhs=q,
    is_inequality=is_inequality,
    finite_lower=finite_lower,
    finite_upper=finite_upper,
    lower0=np.where(finite_lower, lower, 0.0),
    upper0=np.where(finite_upper, upper, 0.0),
    step=np.float64(0.998 / max(float(norm), 1e-12)),
    primal_floor=np.float64(min(1.0, scale) / scale),
  )
  return PreparedProgram(
    arrays=arrays,
    columns=columns,
    fixed=fixed,
    fixed_values=program.lower[fixed],
    rows=rows,
    num_rows=len(empty),
    num_variables=program.num_variables,
    scale=scale,
    infeasible=infeasible,
  )
