"""The errors of problem solvers, one type per failure, for every solver:
`LinearProgram` (HiGHS and PDLP), `TSP` and `Portfolio` alike."""

from __future__ import annotations


class InfeasibleProgramError(ValueError):
  """The program's constraints admit no point, whatever the costs."""


class UnsolvedProgramError(RuntimeError):
  """An instance is unbounded, or the solver stopped without an optimum."""


INFEASIBLE = "The linear program is infeasible: no x satisfies its constraints"
