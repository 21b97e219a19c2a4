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

import concurrent.futures
import os
from typing import Any
from typing import Protocol

import keras
import numpy as np
import tensorflow as tf

from perturbations_tf._src import highs
from perturbations_tf._src import mps
from perturbations_tf._src import pdlp
from perturbations_tf._src import pdlp_solver
from perturbations_tf._src import polyhedron
from perturbations_tf._src import validation
from perturbations_tf._src.program import ArrayLike
from perturbations_tf._src.program import Bounds
from perturbations_tf._src.program import Program
from perturbations_tf._src.types import TensorLike

METHODS = ("highs", "pdlp")
Solution = pdlp_solver.Solution


class _Backend(Protocol):
  """What `LinearProgram` asks of its method: `highs.Highs` (on the host)
  or `pdlp_solver.Pdlp` (in the graph)."""

  def __call__(self, costs: tf.Tensor) -> tf.Tensor: ...

  def solve_with_status(
    self, costs: tf.Tensor
  ) -> tuple[tf.Tensor, tf.Tensor]: ...

  def solve_with_info(
    self, costs: tf.Tensor, initial: Solution | None
  ) -> Solution: ...

  def solve(self, costs: np.ndarray) -> np.ndarray: ...

  def close(self) -> None: ...


@keras.saving.register_keras_serializable(package="perturbations_tf")
class LinearProgram:
  """A linear program (or MILP) over fixed constraints, as a batched solver.

  Calling it on costs `[B, n]` returns the optimal `x` of each row,
  `[B, n]` in the costs' floating dtype (float32 for integer costs; low
  precision costs are solved in float64, and a solution beyond their range
  is an error). It declares its sense (`maximize`), which losses and
  metrics follow. Its settings serialise (`get_config`), so losses and
  metrics that hold it save with a model.

  - `method="highs"` (default): HiGHS through `numpy_solver`, exact (and
    the MILP path): a host call, so `compile()` leaves XLA off for models
    whose losses or metrics hold one. Each instance is normalised (costs,
    right-hand sides and bounds to magnitude 1) before HiGHS, whose
    tolerances are absolute.
  - `method="pdlp"`: a batched primal–dual method inside the graph (see
    `pdlp.py`) in eager mode, `tf.function` and under XLA, on a CPU or a
    GPU. A row has *converged* when every constraint holds to `tolerance`
    relative to its own right-hand side, `|a_iᵀx − b_i| ≤ tol·(1 + |b_i|)`
    (the 1 becomes the data's magnitude when every right-hand side and
    bound is below 1), the bounds hold exactly, and the reduced costs and
    the duality gap are within `tolerance` relative to the costs and the
    objective. Each row gets a status (`solve_with_status`) and
    `solve_with_info` reports iterations and residuals. When called, a row
    that hit the iteration limit returns its last iterate (count them with
    `metrics.ConvergedFraction`); an infeasible or unbounded row is an
    error in eager mode and `tf.function`, and NaN under XLA (which
    compiles assertions out). Programs of one shape share one compiled
    solver; a light presolve removes fixed variables and empty rows.

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
    tolerance: `pdlp`: the relative tolerance of convergence (above).
    max_iterations: `pdlp`: the most iterations per call.
    warm_starts: `pdlp`: how many solved rows to remember; each new row
      then starts from the remembered solution whose costs are nearest
      (scaled to unit ∞-norm) instead of from 0. In training, a memory of
      the training set's size starts each instance from its previous
      epoch's solution. 0 (default): every row starts from 0.

  Raises:
    ValueError: on malformed constraints or bounds, integrality with
      `method='pdlp'`, or `warm_starts` with `method='highs'`.
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
  Solution = Solution  # What `solve_with_info` returns.
  # The objective of the MPS file it was read from (`from_mps`), else None.
  costs: np.ndarray | None = None
  objective_offset: float = 0.0

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
    warm_starts: int = 0,
  ):
    self.method = validation.one_of(method, METHODS, "method")
    self.tolerance = validation.positive_number(tolerance, "tolerance")
    self.max_iterations = validation.positive_int(
      max_iterations, "max_iterations"
    )
    if time_limit is not None:
      validation.positive_number(time_limit, "time_limit")
    self._program = Program.of(A_ub, b_ub, A_eq, b_eq, bounds, integrality)
    if method == "pdlp" and self._program.is_integer:
      raise ValueError(
        "method='pdlp' solves linear programs only: integrality needs "
        "method='highs' (a MILP), or drop integrality for the LP relaxation."
      )
    if warm_starts and method != "pdlp":
      raise ValueError(
        "warm_starts applies to method='pdlp'; HiGHS's solves start cold."
      )
    if warm_starts:
      validation.positive_int(warm_starts, "warm_starts")
    self.num_variables = self._program.num_variables
    self.maximize = bool(maximize)
    self.__name__ = "LinearProgram"
    self.supports_jit = method == "pdlp"  # HiGHS is a host call.
    self._config = dict(
      self._program.config(),
      maximize=self.maximize,
      num_workers=num_workers,
      time_limit=time_limit,
      executor=executor if isinstance(executor, str) else "threads",
      method=method,
      tolerance=self.tolerance,
      max_iterations=self.max_iterations,
      warm_starts=warm_starts,
    )
    self._backend: _Backend
    if method == "pdlp":
      self._backend = pdlp_solver.Pdlp(
        self._program,
        self.maximize,
        self.tolerance,
        self.max_iterations,
        warm_starts=warm_starts,
      )
    else:
      self._backend = highs.Highs(
        self._program,
        maximize=self.maximize,
        executor=executor,
        num_workers=num_workers,
        time_limit=time_limit,
      )

  @classmethod
  def from_mps(
    cls, source: str | os.PathLike, *, fixed: bool = False, **kwargs: Any
  ) -> LinearProgram:
    """The linear program of an MPS file (fixed or free format).

    The file's constraints, bounds, integrality and sense make the solver;
    its objective is kept as `costs` (`[n]`, float64) and
    `objective_offset` (the objective's constant), to call the solver on
    or to perturb (they are not part of `get_config`, which rebuilds the
    solver). Ranged rows become two inequalities.

    Args:
      source: the file's path, or its text.
      fixed: fixed-column MPS, whose names may contain spaces (default:
        free MPS, which also reads fixed files whose names have none).
      **kwargs: `LinearProgram`'s other arguments (`method`, `tolerance`,
        …); `maximize` overrides the file's OBJSENSE.

    Returns:
      The `LinearProgram`.

    Raises:
      ValueError: on a malformed file (the line is named), or semi-continuous
        variables.

    Example:
      >>> lp = LinearProgram.from_mps('''NAME  TINY
      ... ROWS
      ...  N  COST
      ...  L  LIM
      ... COLUMNS
      ...     X  COST  -1.0  LIM  1.0
      ...     Y  COST  -2.0  LIM  1.0
      ... RHS
      ...     RHS  LIM  4.0
      ... BOUNDS
      ...  UP BND  Y  3.0
      ... ENDATA
      ... ''', method="pdlp")
      >>> np.round(lp(lp.costs[None]).numpy(), 4)
      array([[1., 3.]])
    """
    model = mps.read_mps(source, fixed=fixed)
    kwargs.setdefault("maximize", model.maximize)
    lp = cls(**model.arguments, **kwargs)
    lp.costs = model.costs
    lp.objective_offset = model.offset
    return lp

  def _check_costs(self, costs: TensorLike) -> tf.Tensor:
    return validation.check_rows(costs, self.num_variables, "LinearProgram")

  def __call__(self, costs: TensorLike) -> tf.Tensor:
    return self._backend(self._check_costs(costs))

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
    return self._backend.solve_with_status(self._check_costs(costs))

  def solve_with_info(
    self, costs: TensorLike, initial: pdlp_solver.Solution | None = None
  ) -> pdlp_solver.Solution:
    """PDLP's solutions with their multipliers, statuses, iterations and
    residuals; optionally warm-started.

    Args:
      costs: `[B, n]`.
      initial: a `Solution` of this program whose `(x, y)` each row starts
        from (a warm start; its batch must be `B`). It pays when the costs
        are close to those `initial` solved: the same instances after a
        small change (the previous epoch's predictions), not the perturbed
        copies of one instance (see the guide).

    Returns:
      A `Solution` (float64): `x`, `y`, `status`, `iterations`,
      `primal_residual`, `dual_residual` and `gap` per row.

    Raises:
      ValueError: with `method='highs'`, whose solutions are exact.

    Example:
      >>> lp = LinearProgram(A_ub=[[1.0, 1.0]], b_ub=[1.0], bounds=(0, 1),
      ...                    maximize=True, method="pdlp")
      >>> cold = lp.solve_with_info(tf.constant([[1.0, 2.0]]))
      >>> warm = lp.solve_with_info(tf.constant([[1.0, 2.1]]), initial=cold)
      >>> np.round(warm.x.numpy(), 4), LinearProgram.STATUSES[warm.status[0]]
      (array([[0., 1.]]), 'converged')
    """
    return self._backend.solve_with_info(self._check_costs(costs), initial)

  def solve(self, costs: np.ndarray) -> np.ndarray:
    """The optimal x of each row of a numpy `[B, n]` array."""
    return self._backend.solve(np.asarray(costs))

  def constraints(self) -> polyhedron.Polyhedron:
    """The feasible set (integrality aside) as arrays.

    Example:
      >>> lp = LinearProgram(A_ub=[[1.0, 1.0]], b_ub=[1.0], bounds=(0, 1))
      >>> lp.constraints().upper
      array([1., 1.])
    """
    return self._program.constraints()

  def close(self):
    """Shuts down HiGHS's worker pool (also done at exit)."""
    self._backend.close()

  def get_config(self) -> dict:
    return dict(self._config)

  @classmethod
  def from_config(cls, config: dict) -> LinearProgram:
    return cls(**config)
