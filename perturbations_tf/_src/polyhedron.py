"""The feasible set of a linear program as arrays: what a method that reads
the constraints (CaVE's cone of binding constraints) needs from a solver."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike


class Polyhedron(NamedTuple):
  """`{x : A_ub x ≤ b_ub, A_eq x = b_eq, lower ≤ x ≤ upper}` (float64).

  Empty constraint sets are `[0, n]` matrices with `[0]` right-hand sides;
  infinite bounds are `±inf`. `relaxed` is True when the solver's problem is
  an integer program and this is its LP relaxation.
  """

  A_ub: np.ndarray
  b_ub: np.ndarray
  A_eq: np.ndarray
  b_eq: np.ndarray
  lower: np.ndarray
  upper: np.ndarray
  relaxed: bool = False

  @classmethod
  def of(
    cls,
    n: int,
    A_ub: ArrayLike | None = None,
    b_ub: ArrayLike | None = None,
    A_eq: ArrayLike | None = None,
    b_eq: ArrayLike | None = None,
    lower: ArrayLike | None = None,
    upper: ArrayLike | None = None,
    relaxed: bool = False,
  ) -> Polyhedron:
    """A polyhedron over n variables, missing parts empty or unbounded."""

    def matrix(a: ArrayLike | None) -> np.ndarray:
      return np.zeros((0, n)) if a is None else np.asarray(a, np.float64)

    def vector(b: ArrayLike | None, fill: float, size: int) -> np.ndarray:
      if b is None:
        return np.full(size, fill, np.float64)
      return np.broadcast_to(np.asarray(b, np.float64), (size,)).copy()

    a_ub, a_eq = matrix(A_ub), matrix(A_eq)
    return cls(
      a_ub,
      vector(b_ub, 0.0, len(a_ub)),
      a_eq,
      vector(b_eq, 0.0, len(a_eq)),
      vector(lower, -np.inf, n),
      vector(upper, np.inf, n),
      relaxed,
    )
