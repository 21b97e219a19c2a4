"""Linear and mixed-integer linear programs as batched solvers: through
scipy's HiGHS on the host (`scipy.optimize.linprog` / `scipy.optimize.milp`),
or, for linear programs, inside the graph by a batched PDLP (`pdlp.py`).

    min (or max)  cᵀx   s.t.  A_ub x ≤ b_ub,  A_eq x = b_eq,  lb ≤ x ≤ ub,
                              x_i integer where integrality_i = 1.

The constraints are fixed; each row of the input is one cost vector `c`.
With `method="highs"` the solves run through `numpy_solver` (threads or
worker processes); with `method="pdlp"` they are TensorFlow operations
(eager, `tf.function`, XLA; CPU or GPU). Either way `perturbed`,
`FenchelYoungLoss`, `SPOPlusLoss` and the regret metrics take a
`LinearProgram` as they take any solver. scipy is imported on first use of
HiGHS only: `pip install "perturbations-tf[lp]"`.
"""

from __future__ import annotations

from collections.abc import Sequence
import concurrent.futures
import dataclasses
import functools
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from perturbations_tf._src import numpy_solver as numpy_solver_lib
from perturbations_tf._src import optional
from perturbations_tf._src import pdlp
from perturbations_tf._src import polyhedron
from perturbations_tf._src import validation
from perturbations_tf._src.errors import InfeasibleProgramError
from perturbations_tf._src.errors import UnsolvedProgramError
from perturbations_tf._src.types import TensorLike

ArrayLike = np.ndarray | Sequence[Any]
# One (lower, upper) pair for every variable or one per variable; None: none.
Bounds = Sequence[float | None] | Sequence[Sequence[float | None]]


_INFEASIBLE = "The linear program is infeasible: no x satisfies its constraints"


def _scipy_optimize():
  return optional.require(
    "scipy.optimize", "LinearProgram solves through scipy's HiGHS", "lp"
  )


@dataclasses.dataclass(frozen=True)
class _Program:
  """The constraints as numpy arrays: picklable, for worker processes."""

  a_ub: np.ndarray | None
  b_ub: np.ndarray | None
  a_eq: np.ndarray | None
  b_eq: np.ndarray | None
  lower: np.ndarray
  upper: np.ndarray
  integrality: np.ndarray | None  # None: a pure LP, solved by linprog.
  maximize: bool
  time_limit: float | None


# The status codes of linprog and milp.
_STATUS = {
  1: "stopped at its iteration or time limit",
  2: "infeasible",
  3: "unbounded",
  4: "stopped by numerical difficulties",
}


def solve_program(costs: np.ndarray, program: _Program) -> np.ndarray:
  """Solves one instance with HiGHS: the optimal x, `[n]` (on a worker).

  Raises:
    InfeasibleProgramError: on infeasible constraints.
    UnsolvedProgramError: on an unbounded instance, or HiGHS stopping
      without an optimum (time limit, numerical trouble).
  """
  optimize = _scipy_optimize()
  c = np.asarray(costs, np.float64)
  validation.check_finite_array(c, "LinearProgram", "costs")
  c = -c if program.maximize else c
  options = (
    {} if program.time_limit is None else {"time_limit": program.time_limit}
  )
  if program.integrality is None:
    bounds = [
      (None if np.isinf(lo) else lo, None if np.isinf(hi) else hi)
      for lo, hi in zip(program.lower, program.upper)
    ]
    result = optimize.linprog(
      c,
      A_ub=program.a_ub,
      b_ub=program.b_ub,
      A_eq=program.a_eq,
      b_eq=program.b_eq,
      bounds=bounds,
      method="highs",
      options=options,
    )
  else:
    result = optimize.milp(
      c,
      integrality=program.integrality,
      constraints=_milp_constraint(program),
      bounds=optimize.Bounds(program.lower, program.upper),
      options=options,
    )
  if result.status == 2:
    raise InfeasibleProgramError(f"{_INFEASIBLE}.")
  if result.status != 0 or result.x is None:
    raise UnsolvedProgramError(
      f"HiGHS found no optimum: the instance is "
      f"{_STATUS.get(result.status, 'unsolved')} ({result.message})."
    )
  return result.x


def sparse_constraint(a: np.ndarray, lower: np.ndarray, upper: np.ndarray):
  """`lower ≤ a x ≤ upper` as the one sparse `LinearConstraint` of a `milp`.

  Sparse, and one: scipy checks a dense constraint matrix (and a list of
  three constraints) under `warnings.catch_warnings()` with an "error"
  filter, which is process-wide, so on a solver thread it turns warnings
  of the training loop's thread into exceptions.
  """
  from scipy import sparse

  return _scipy_optimize().LinearConstraint(
    sparse.csr_array(np.asarray(a, np.float64)), lower, upper
  )


def _milp_constraint(program: _Program):
  """Every row of the program as one constraint, or None."""
  parts: list[tuple[Any, Any, Any]] = []
  if program.a_ub is not None:
    parts.append(
      (program.a_ub, np.full(len(program.a_ub), -np.inf), program.b_ub)
    )
  if program.a_eq is not None:
    parts.append((program.a_eq, program.b_eq, program.b_eq))
  if not parts:
    return None
  return sparse_constraint(*(np.concatenate(arrays) for arrays in zip(*parts)))


def _matrix(
  name: str, value: ArrayLike | None, num_rows_name: str, b: ArrayLike | None
) -> tuple:
  """Validated `(A, b)` as float64 arrays, or `(None, None)`."""
  if value is None and b is None:
    return None, None
  if value is None or b is None:
    raise ValueError(
      f"{name} and {num_rows_name} go together: pass both or neither."
    )
  a = np.atleast_2d(np.asarray(value, np.float64))
  b = np.atleast_1d(np.asarray(b, np.float64))
  if a.ndim != 2 or b.shape != (a.shape[0],):
    raise ValueError(
      f"{name} must be [rows, n] and {num_rows_name} [rows], "
      f"got {a.shape} and {b.shape}."
    )
  if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
    raise ValueError(f"{name} and {num_rows_name} must be finite.")
  return a, b


def _bounds(bounds: Bounds, n: int) -> tuple:
  """`(lower, upper)` arrays of n entries, ±inf where unbounded."""
  pairs = np.asarray(bounds, dtype=object)
  if pairs.shape == (2,):
    pairs = np.tile(pairs, (n, 1))
  if pairs.shape != (n, 2):
    raise ValueError(
      f"bounds must be one (lower, upper) pair or n = {n} "
      f"of them, got {bounds!r}."
    )
  lower = np.array([-np.inf if v is None else v for v in pairs[:, 0]], float)
  upper = np.array([np.inf if v is None else v for v in pairs[:, 1]], float)
  if np.any(lower > upper):
    raise ValueError(f"bounds must have lower <= upper, got {bounds!r}.")
  return lower, upper


METHODS = ("highs", "pdlp")


@keras.saving.register_keras_serializable(package="perturbations_tf")
class LinearProgram:
  """A linear program (or MILP) over fixed constraints, as a batched solver.

  Calling it on costs `[B, n]` returns the optimal `x` of each row,
  `[B, n]` in the costs' floating dtype (float32 for integer costs). It
  declares its sense (`maximize`), which losses and metrics follow. Its
  settings serialise (`get_config`), so losses and metrics that hold it save
  with a model.

  - `method="highs"` (default): HiGHS through `numpy_solver`, exact (and
    the MILP path): a host call, so `compile()` leaves XLA off for models
    whose losses or metrics hold one.
  - `method="pdlp"`: a batched primal–dual method inside the graph (see
    `pdlp.py`), accurate to `tolerance` (relative KKT error), in eager mode,
    `tf.function` and under XLA, on a CPU or a GPU. Each row gets a status
    (`solve_with_status`): converged, iteration limit, primal or dual
    infeasible. When called, a row that hit the iteration limit returns its
    last iterate (count them with `metrics.ConvergedFraction`); an
    infeasible or unbounded row is an error in eager mode and
    `tf.function`, and NaN under XLA (which compiles assertions out).

  Args:
    A_ub: the inequality constraints' matrix `[r, n]`: `A_ub x ≤ b_ub`.
    b_ub: their right-hand sides `[r]`.
    A_eq: the equality constraints' matrix: `A_eq x = b_eq`.
    b_eq: their right-hand sides.
    bounds: one `(lower, upper)` pair for every variable, or n pairs;
      `None` for no bound (default `(0, None)`: `x ≥ 0`, as `linprog`).
    integrality: None or zeros for an LP (`linprog`); else per variable 1
      (integer) or 0 (continuous), solved as a MILP (`milp`).
    maximize: maximise `cᵀx` instead of minimising it.
    executor: `'threads'` (default), `'processes'` (faster for many small
      programs; solves in spawned workers) or a `concurrent.futures.Executor`
      — as `numpy_solver`.
    num_workers: as `numpy_solver` (default: the CPU count).
    time_limit: seconds per instance before HiGHS gives up (and the call
      raises), or None.
    method: `'highs'` (default) or `'pdlp'`.
    tolerance: `pdlp`: the relative primal residual, dual residual and
      duality gap at which a row has converged.
    max_iterations: `pdlp`: the most iterations per call.

  Raises:
    ValueError: on malformed constraints or bounds, or integrality with
      `method='pdlp'`.
    InfeasibleProgramError: at construction with HiGHS, when no x satisfies
      the constraints (checked once with zero costs).
    ImportError: HiGHS without scipy.

  When called, an unbounded instance (or one HiGHS cannot finish) raises
  `UnsolvedProgramError` with a note naming the example of the batch (in
  graphs, TensorFlow re-raises it as a `tf.errors.OpError` whose message
  carries both).

  Example:
    >>> # A fractional knapsack: max cᵀx, weights·x ≤ 10, 0 ≤ x ≤ 1.
    >>> lp = LinearProgram(A_ub=[[3., 4., 5.]], b_ub=[10.], bounds=(0, 1),
    ...                    maximize=True)
    >>> lp(tf.constant([[1, 1, 1]])).numpy()  # Integer costs, float plans.
    array([[1. , 1. , 0.6]], dtype=float32)
  """

  maps_rows = True  # `perturbed(batched=False)` must not map it again.
  STATUSES = pdlp.STATUSES

  def __init__(
    self,
    A_ub: ArrayLike | None = None,
    b_ub: ArrayLike | None = None,
    A_eq: ArrayLike | None = None,
    b_eq: ArrayLike | None = None,
    bounds: Bounds = (0, None),
    integrality: ArrayLike | None = None,
    *,
    maximize: bool = False,
    executor: str | concurrent.futures.Executor = "threads",
    num_workers: int | None = None,
    time_limit: float | None = None,
    method: str = "highs",
    tolerance: float = 1e-6,
    max_iterations: int = 20_000,
  ):
    self.method = validation.one_of(method, METHODS, "method")
    self.tolerance = validation.positive_number(tolerance, "tolerance")
    self.max_iterations = validation.positive_int(
      max_iterations, "max_iterations"
    )
    a_ub, ub = _matrix("A_ub", A_ub, "b_ub", b_ub)
    a_eq, eq = _matrix("A_eq", A_eq, "b_eq", b_eq)
    widths = {a.shape[1] for a in (a_ub, a_eq) if a is not None}
    if integrality is not None:
      integrality = np.asarray(integrality, np.int64).reshape(-1)
      widths.add(len(integrality))
      if not np.isin(integrality, (0, 1)).all():
        raise ValueError(
          "integrality must hold 0 (continuous) or 1 "
          f"(integer) per variable, got {integrality}."
        )
    bounds_array = np.asarray(bounds, dtype=object)
    if bounds_array.ndim == 2:
      widths.add(bounds_array.shape[0])
    if len(widths) != 1:
      raise ValueError(
        "The number of variables n must follow from the constraints, "
        "integrality or per-variable bounds, and agree among them; got "
        f"{sorted(widths) or 'none'}."
      )
    (n,) = widths
    if method == "pdlp" and integrality is not None and integrality.any():
      raise ValueError(
        "method='pdlp' solves linear programs only: integrality needs "
        "method='highs' (a MILP), or drop integrality for the LP relaxation."
      )
    if time_limit is not None:
      validation.positive_number(time_limit, "time_limit")
    lower, upper = _bounds(bounds, n)
    self.num_variables = n
    self.maximize = bool(maximize)
    self._program = _Program(
      a_ub,
      ub,
      a_eq,
      eq,
      lower,
      upper,
      None if integrality is None or not integrality.any() else integrality,
      self.maximize,
      time_limit,
    )
    self._config = dict(
      A_ub=_listed(a_ub),
      b_ub=_listed(ub),
      A_eq=_listed(a_eq),
      b_eq=_listed(eq),
      bounds=[
        [_finite_or_none(lo), _finite_or_none(hi)]
        for lo, hi in zip(lower, upper)
      ],
      integrality=_listed(integrality),
      maximize=self.maximize,
      num_workers=num_workers,
      time_limit=time_limit,
      executor=executor if isinstance(executor, str) else "threads",
      method=method,
      tolerance=self.tolerance,
      max_iterations=self.max_iterations,
    )
    self.__name__ = "LinearProgram"
    self.supports_jit = method == "pdlp"  # HiGHS is a host call.
    if method == "pdlp":
      # One XLA program in every mode: in eager mode a graph at all (its
      # loops would otherwise run op by op), and the same numbers as in a
      # jit-compiled step.
      program = pdlp.scale_program(a_eq, eq, a_ub, ub, lower, upper)

      def solve_pdlp(costs: tf.Tensor) -> tuple:
        return pdlp.solve(costs, program, self.tolerance, self.max_iterations)

      self._pdlp = tf.function(
        solve_pdlp, jit_compile=True, reduce_retracing=True, autograph=False
      )
      return
    try:
      solve_program(np.zeros(n), self._program)
    except UnsolvedProgramError:
      pass  # Feasible; zero costs stopped early only on a time limit.
    self._solver = numpy_solver_lib.numpy_solver(
      functools.partial(solve_program, program=self._program),
      output_shape=(n,),
      output_dtype=None,
      executor=executor,
      num_workers=num_workers,
      maximize=self.maximize,
    )

  def _check_costs(self, costs: TensorLike) -> tf.Tensor:
    return validation.check_rows(costs, self.num_variables, "LinearProgram")

  def __call__(self, costs: TensorLike) -> tf.Tensor:
    costs = self._check_costs(costs)
    if self.method == "highs":
      return self._solver(costs)
    x, status = self.solve_with_status(costs)
    failed = (status == pdlp.PRIMAL_INFEASIBLE) | (
      status == pdlp.DUAL_INFEASIBLE
    )
    if tf.executing_eagerly():
      _raise_unsolved(status.numpy())
      return x
    rows = tf.cast(tf.where(failed)[:, 0], tf.int32)
    with tf.control_dependencies(
      [
        tf.debugging.Assert(
          ~tf.reduce_any(failed),
          [
            "LinearProgram (pdlp) found no optimum for the rows (examples "
            "of the batch)",
            rows,
            "of statuses",
            tf.gather(status, rows),
            f"({pdlp.PRIMAL_INFEASIBLE}: primal infeasible, no x satisfies "
            f"the constraints; {pdlp.DUAL_INFEASIBLE}: dual infeasible, "
            "unbounded for the row's costs).",
          ],
          summarize=16,
        )
      ]
    ):  # XLA compiles the assertion out: those rows are NaN instead.
      return tf.where(failed[:, None], tf.constant(np.nan, x.dtype), x)

  def solve_with_status(self, costs: TensorLike) -> tuple[tf.Tensor, tf.Tensor]:
    """The solutions and each row's status.

    Args:
      costs: `[B, n]`.

    Returns:
      `(x, status)`: `[B, n]` solutions in the costs' floating dtype, and
      `[B]` int32 statuses, indices of `LinearProgram.STATUSES`
      (`'converged'`, `'iteration_limit'`, `'primal_infeasible'`,
      `'dual_infeasible'`). With HiGHS every returned row converged (it
      raises otherwise).

    Example:
      >>> lp = LinearProgram(A_ub=[[1.0, 1.0]], b_ub=[1.0], method="pdlp",
      ...                    bounds=(None, None))
      >>> x, status = lp.solve_with_status(tf.constant([[-1.0, -2.0],
      ...                                              [1.0, 1.0]]))
      >>> print(*(LinearProgram.STATUSES[s] for s in status.numpy()))
      dual_infeasible dual_infeasible
    """
    costs = self._check_costs(costs)
    dtype = validation.solution_dtype(costs.dtype)
    if self.method == "highs":
      x = self._solver(costs)
      return x, tf.zeros(tf.shape(x)[:1], tf.int32)
    signed = validation.check_finite(costs, "LinearProgram")
    x, _, status, _ = self._pdlp(-signed if self.maximize else signed)
    return tf.cast(x, dtype), status

  def solve(self, costs: np.ndarray) -> np.ndarray:
    """The optimal x of each row of a numpy `[B, n]` array."""
    if self.method == "pdlp":
      return np.asarray(self(tf.constant(np.asarray(costs))))
    return self._solver.solve(np.asarray(costs))

  def constraints(self) -> polyhedron.Polyhedron:
    """The feasible set (integrality aside) as arrays.

    Example:
      >>> lp = LinearProgram(A_ub=[[1.0, 1.0]], b_ub=[1.0], bounds=(0, 1))
      >>> lp.constraints().upper
      array([1., 1.])
    """
    p = self._program
    return polyhedron.Polyhedron.of(
      self.num_variables,
      p.a_ub,
      p.b_ub,
      p.a_eq,
      p.b_eq,
      p.lower,
      p.upper,
      relaxed=p.integrality is not None and bool(np.any(p.integrality)),
    )

  def close(self):
    """Shuts down HiGHS's worker pool (also done at exit)."""
    if self.method == "highs":
      self._solver.close()

  def get_config(self) -> dict:
    return dict(self._config)

  @classmethod
  def from_config(cls, config: dict) -> LinearProgram:
    return cls(**config)


def _raise_unsolved(status: np.ndarray) -> None:
  """Raises for PDLP's infeasible or unbounded rows, as HiGHS's path does:
  InfeasibleProgramError when a row is primal infeasible (then every row
  is), UnsolvedProgramError naming the unbounded rows."""
  infeasible = np.flatnonzero(status == pdlp.PRIMAL_INFEASIBLE)
  unbounded = np.flatnonzero(status == pdlp.DUAL_INFEASIBLE)
  if infeasible.size:
    raise InfeasibleProgramError(
      f"{_INFEASIBLE} (PDLP's status primal_infeasible on examples "
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


def _listed(array: np.ndarray | None) -> list | None:
  return None if array is None else np.asarray(array).tolist()


def _finite_or_none(value: float):
  return None if np.isinf(value) else float(value)
