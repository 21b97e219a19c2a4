"""HiGHS on the host: `LinearProgram(method="highs")`'s backend, one
instance per cost vector through scipy (`linprog` for linear programs,
`milp` for mixed-integer ones), on the shared `HostSolver` shell.

HiGHS's tolerances are absolute (1e-7), so each instance is normalised
first: the costs divided by their largest magnitude and, for a linear
program, the right-hand sides and bounds by the program's magnitude
(`Program.scale`), the solution scaled back. A program in units of 1e-8
or 1e8 then gets the same vertex as in units of 1.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import functools
from typing import Any

import numpy as np
import tensorflow as tf

from perturbations_tf._src import host_solver
from perturbations_tf._src import optional
from perturbations_tf._src import program as program_lib
from perturbations_tf._src import validation
from perturbations_tf._src.errors import INFEASIBLE
from perturbations_tf._src.errors import InfeasibleProgramError
from perturbations_tf._src.errors import UnsolvedProgramError

# The status codes of linprog and milp.
_STATUS = {
  1: "stopped at its iteration or time limit",
  2: "infeasible",
  3: "unbounded",
  4: "stopped by numerical difficulties",
}


def _scipy_optimize():
  return optional.require(
    "scipy.optimize", "LinearProgram solves through scipy's HiGHS", "lp"
  )


@dataclasses.dataclass(frozen=True)
class Task:
  """One instance's fixed part, picklable for worker processes: the
  program normalised by `scale` (a linear program's; integer programs keep
  their units, which their integrality depends on)."""

  program: program_lib.Program
  scale: float
  maximize: bool
  time_limit: float | None

  @classmethod
  def of(
    cls,
    program: program_lib.Program,
    maximize: bool,
    time_limit: float | None,
  ) -> Task:
    scale = 1.0 if program.is_integer else program.scale()
    return cls(program.rescaled(scale), scale, maximize, time_limit)


def solve_program(costs: np.ndarray, task: Task) -> np.ndarray:
  """Solves one instance with HiGHS: the optimal x, `[n]` (on a worker).

  Raises:
    InfeasibleProgramError: on infeasible constraints.
    UnsolvedProgramError: on an unbounded instance, or HiGHS stopping
      without an optimum (time limit, numerical trouble).
  """
  optimize = _scipy_optimize()
  program = task.program
  c = np.asarray(costs, np.float64)
  validation.check_finite_array(c, "LinearProgram", "costs")
  c = -c if task.maximize else c
  magnitude = np.abs(c).max(initial=0.0)
  c = c / magnitude if magnitude > 0 else c
  options = {} if task.time_limit is None else {"time_limit": task.time_limit}
  if program.integrality is None:
    result = optimize.linprog(
      c,
      A_ub=program.a_ub,
      b_ub=program.b_ub,
      A_eq=program.a_eq,
      b_eq=program.b_eq,
      bounds=np.stack([program.lower, program.upper], 1),
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
    raise InfeasibleProgramError(f"{INFEASIBLE}.")
  if result.status != 0 or result.x is None:
    raise UnsolvedProgramError(
      f"HiGHS found no optimum: the instance is "
      f"{_STATUS.get(result.status, 'unsolved')} ({result.message})."
    )
  return result.x * task.scale


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


def _milp_constraint(program: program_lib.Program):
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


class Highs(host_solver.HostSolver):
  """The HiGHS backend: checks feasibility once (zero costs), then solves
  rows on the host.

  Raises:
    InfeasibleProgramError: at construction, when no x satisfies the
      constraints.
    ImportError: without scipy.
  """

  def __init__(
    self,
    program: program_lib.Program,
    *,
    maximize: bool,
    executor: str | concurrent.futures.Executor,
    num_workers: int | None,
    time_limit: float | None,
  ):
    self.maximize = maximize
    task = Task.of(program, maximize, time_limit)
    try:
      solve_program(np.zeros(program.num_variables), task)
    except UnsolvedProgramError:
      pass  # Feasible; zero costs stopped early only on a time limit.
    self._start(
      functools.partial(solve_program, task=task),
      program.num_variables,
      executor,
      num_workers,
      config={},
    )

  def solve_with_status(self, costs: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """`(x, status)`: every returned row converged (HiGHS raises else)."""
    x = self(costs)
    return x, tf.zeros(tf.shape(x)[:1], tf.int32)

  def solve_with_info(self, costs: tf.Tensor, initial: Any = None):
    raise ValueError(
      "solve_with_info reports PDLP's iterations and residuals: HiGHS's "
      "solutions are exact (use solve_with_status, or method='pdlp')."
    )
