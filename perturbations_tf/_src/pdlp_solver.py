"""PDLP as `LinearProgram(method="pdlp")`'s backend: the prepared program
(`pdlp_program.py`) as inputs of one compiled solver (`pdlp.py`) per shape.

Compile once: the program's arrays are arguments of the XLA program, not
constants in it, so programs of one shape share it; batches are padded to
the next power of two (padding rows cost no iterations), so batch sizes
compile to a few buckets; tolerance and iteration limit are arguments too.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np
import tensorflow as tf

from perturbations_tf._src import invariants
from perturbations_tf._src import pdlp
from perturbations_tf._src import pdlp_memory
from perturbations_tf._src import pdlp_program
from perturbations_tf._src import program as program_lib
from perturbations_tf._src import validation
from perturbations_tf._src.errors import INFEASIBLE
from perturbations_tf._src.errors import InfeasibleProgramError
from perturbations_tf._src.errors import UnsolvedProgramError


class Solution(NamedTuple):
  """PDLP's answer per row, in the program's units (float64).

  Attributes:
    x: `[B, n]` solutions (the last iterate where not converged).
    y: `[B, m]` multipliers of the equalities, then of the inequalities
      (`≥ 0`), for the costs as minimised.
    status: `[B]` int32, indices of `LinearProgram.STATUSES`.
    iterations: `[B]` int32.
    primal_residual: `[B]` the largest relative constraint violation (see
      `pdlp.py`; converged rows at most the tolerance).
    dual_residual: `[B]` the reduced costs' sign violation over `‖c‖∞`.
    gap: `[B]` the relative duality gap.
  """

  x: tf.Tensor
  y: tf.Tensor
  status: tf.Tensor
  iterations: tf.Tensor
  primal_residual: tf.Tensor
  dual_residual: tf.Tensor
  gap: tf.Tensor


@functools.cache
def _compiled(shape: tuple, options: pdlp.Options):
  """One XLA solver per `(rows, columns, batch)` shape and options, traced
  once."""

  def solve(
    costs: tf.Tensor,
    data: pdlp_program.Data,
    tolerance: tf.Tensor,
    max_iterations: tf.Tensor,
    x0: tf.Tensor,
    y0: tf.Tensor,
    valid: tf.Tensor,
  ) -> pdlp.Result:
    return pdlp.solve(
      costs,
      data,
      tolerance,
      max_iterations,
      initial_x=x0,
      initial_y=y0,
      valid=valid,
      options=options,
    )

  # A code object of its own per shape: TensorFlow counts traces per code
  # object and warns of "retracing" after five, while one per shape is the
  # design here.
  rows, columns, batch = shape
  solve.__code__ = solve.__code__.replace(
    co_name=f"pdlp_{rows}x{columns}_batch{batch}"
  )
  return tf.function(solve, jit_compile=True, autograph=False)


def _bucket(size: int) -> int:
  """The next power of two: the batch sizes that are compiled."""
  return 1 << max(0, size - 1).bit_length()


class Pdlp:
  """The PDLP backend over one program: solutions in the costs' dtype,
  statuses, and the policy for rows that fail (see `LinearProgram`).

  Args:
    program: the constraints and bounds.
    maximize: maximise `cᵀx` (the costs are negated for the solver).
    tolerance: the relative tolerance of convergence.
    max_iterations: the most iterations per call.
    options: the method's ingredients (`pdlp.Options`; default all on).
    precondition: the diagonal preconditioning (off only to measure it).
    warm_starts: the solved rows remembered to start new rows from (the
      nearest costs', `pdlp_memory.py`); 0 starts every row from 0.
  """

  def __init__(
    self,
    program: program_lib.Program,
    maximize: bool = False,
    tolerance: float = 1e-6,
    max_iterations: int = 20_000,
    options: pdlp.Options | None = None,
    precondition: bool = True,
    warm_starts: int = 0,
  ):
    self.program = program
    self.maximize = maximize
    self.prepared = pdlp_program.prepare(program, precondition)
    self.tolerance = tolerance
    self.max_iterations = max_iterations
    self.options = options or pdlp.Options()
    self._data: pdlp_program.Data | None = None
    m, n = self.prepared.shape
    self.memory = (
      pdlp_memory.WarmStartMemory(warm_starts, columns=n, rows=m)
      if warm_starts and m
      else None
    )

  def __call__(self, costs: tf.Tensor) -> tf.Tensor:
    """The solutions; infeasible or unbounded rows raise in eager mode and
    graphs, and are NaN under XLA."""
    x, status = self.solve_with_status(costs)
    failed = (status == pdlp.PRIMAL_INFEASIBLE) | (
      status == pdlp.DUAL_INFEASIBLE
    )
    if tf.executing_eagerly():
      _raise_unsolved(status.numpy())
      return x
    rows = tf.cast(tf.where(failed)[:, 0], tf.int32)
    x = invariants.checked(
      x,
      ~failed,
      "LinearProgram (pdlp) found no optimum for the rows (examples of "
      f"the batch) and statuses below ({pdlp.PRIMAL_INFEASIBLE}: primal "
      f"infeasible, no x satisfies the constraints; {pdlp.DUAL_INFEASIBLE}: "
      "dual infeasible, unbounded for the row's costs).",
      (rows, tf.gather(status, rows)),
    )
    # XLA compiles the assertion out: those rows are NaN instead.
    return tf.where(failed[:, None], tf.constant(np.nan, x.dtype), x)

  def solve_with_status(self, costs: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """`(x, status)`, x in the costs' floating dtype."""
    solution = self.solve_with_info(costs)
    return _in_dtype(solution.x, costs.dtype), solution.status

  def solve_with_info(
    self, costs: tf.Tensor, initial: Solution | None = None
  ) -> Solution:
    """Solves each row of `costs` `[B, n]` (in the program's sense), from
    `initial`'s `(x, y)` where given (a warm start), else from the
    memory's nearest solution (with `warm_starts`) or from 0."""
    costs = validation.check_finite(costs, "LinearProgram")
    c = tf.cast(costs, tf.float64)
    prepared = self.prepared
    c = prepared.reduced_costs(-c if self.maximize else c)
    m, _ = prepared.shape
    if initial is None and self.memory is not None:
      x0, y0 = self.memory.starts(c)
    elif initial is None:
      x0 = tf.zeros_like(c)
      y0 = tf.zeros(tf.stack([tf.shape(c)[0], m]), tf.float64)
    else:
      x0 = prepared.reduced_primal(tf.cast(initial.x, tf.float64))
      y0 = prepared.reduced_dual(tf.cast(initial.y, tf.float64))
    if prepared.infeasible:
      result = _everywhere(c, m, pdlp.PRIMAL_INFEASIBLE)
    elif m == 0:
      result = _bounds_only(c, self._tensors())
    else:
      result = self._iterate(c, x0, y0)
      if self.memory is not None:
        self.memory.remember(c, result.x, result.y)
    return Solution(
      x=prepared.full_primal(result.x, self.program.lower, self.program.upper),
      y=prepared.full_dual(result.y),
      status=result.status,
      iterations=result.iterations,
      primal_residual=result.primal_residual,
      dual_residual=result.dual_residual,
      gap=result.gap,
    )

  def solve(self, costs: np.ndarray) -> np.ndarray:
    """The solutions of a numpy `[B, n]` array."""
    return np.asarray(self(tf.constant(np.asarray(costs))))

  def close(self):
    """Nothing to shut down (no worker pool)."""

  def _tensors(self) -> pdlp_program.Data:
    """The prepared arrays as tensors, made once outside any graph."""
    if self._data is None:
      with tf.init_scope():
        self._data = self.prepared.tensors()
    return self._data

  def _iterate(self, c: tf.Tensor, x0: tf.Tensor, y0: tf.Tensor) -> pdlp.Result:
    """The compiled solver on the batch, padded to its bucket."""
    batch = c.shape[0]
    size = None if batch is None else _bucket(batch)
    solver = _compiled((*self.prepared.shape, size), self.options)
    valid = tf.ones(tf.shape(c)[:1], tf.bool)
    if size is not None and size != batch:
      pad = [[0, size - batch], [0, 0]]
      c, x0, y0 = (tf.pad(t, pad) for t in (c, x0, y0))
      valid = tf.pad(valid, pad[:1])
    result = solver(
      c,
      self._tensors(),
      tf.constant(self.tolerance, tf.float64),
      tf.constant(self.max_iterations, tf.int32),
      x0,
      y0,
      valid,
    )
    if size is None or size == batch:
      return result
    return pdlp.Result(*(t[:batch] for t in result))


def _in_dtype(x: tf.Tensor, dtype: tf.DType) -> tf.Tensor:
  """float64 solutions in the costs' floating dtype; beyond its range, an
  error (eager mode and graphs)."""
  dtype = validation.solution_dtype(dtype)
  cast = tf.cast(x, dtype)
  largest = float(dtype.max)  # A bfloat16 scalar in older TensorFlow.
  if largest >= tf.float64.max:
    return cast
  return invariants.checked(
    cast,
    tf.math.is_finite(cast) | ~tf.math.is_finite(x),
    f"LinearProgram: a solution exceeds the range of {dtype.name} "
    f"(±{largest:.4g}); pass float32 or float64 costs.",
  )


def _raise_unsolved(status: np.ndarray) -> None:
  """Raises for infeasible or unbounded rows, as HiGHS's path does:
  InfeasibleProgramError when a row is primal infeasible (then every row
  is), UnsolvedProgramError naming the unbounded rows."""
  infeasible = np.flatnonzero(status == pdlp.PRIMAL_INFEASIBLE)
  unbounded = np.flatnonzero(status == pdlp.DUAL_INFEASIBLE)
  if infeasible.size:
    raise InfeasibleProgramError(
      f"{INFEASIBLE} (PDLP's status primal_infeasible on examples "
      f"{_few(infeasible)} of the batch)."
    )
  if unbounded.size:
    raise UnsolvedProgramError(
      "PDLP found no optimum: the instance is unbounded for the costs of "
      f"examples {_few(unbounded)} of the batch (status dual_infeasible)."
    )


def _few(rows: np.ndarray) -> str:
  shown = ", ".join(str(r) for r in rows[:8])
  return shown + (f" and {rows.size - 8} more" if rows.size > 8 else "")


def _everywhere(c: tf.Tensor, m: int, status: int) -> pdlp.Result:
  """Every row with `status`, zero iterations, a zero point, no residuals
  (NaN)."""
  b = tf.shape(c)[0]
  nan = tf.fill([b], tf.constant(np.nan, tf.float64))
  return pdlp.Result(
    x=tf.zeros_like(c),
    y=tf.zeros(tf.stack([b, m]), tf.float64),
    status=tf.fill([b], status),
    iterations=tf.zeros([b], tf.int32),
    primal_residual=nan,
    dual_residual=nan,
    gap=nan,
  )


def _bounds_only(c: tf.Tensor, data: pdlp_program.Data) -> pdlp.Result:
  """A program without rows: each variable at the bound its cost points
  to, 0 projected onto the bounds for a zero cost; a row whose cost points
  to a missing bound is unbounded (dual infeasible)."""
  inf = tf.constant(np.inf, tf.float64)
  lower = tf.where(data.finite_lower, data.lower0, -inf)
  upper = tf.where(data.finite_upper, data.upper0, inf)
  middle = tf.clip_by_value(tf.zeros_like(c), lower, upper)
  x = tf.where(c > 0, lower, tf.where(c < 0, upper, middle))
  unbounded = tf.reduce_any(tf.math.is_inf(x), 1)
  b = tf.shape(c)[0]
  zeros = tf.zeros([b], tf.float64)
  return pdlp.Result(
    x=tf.where(tf.math.is_inf(x), middle, x),
    y=tf.zeros(tf.stack([b, 0]), tf.float64),
    status=tf.where(unbounded, pdlp.DUAL_INFEASIBLE, pdlp.CONVERGED),
    iterations=tf.zeros([b], tf.int32),
    primal_residual=zeros,
    dual_residual=zeros,
    gap=zeros,
  )
