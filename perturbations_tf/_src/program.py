"""A linear program's data, validated once: the constraints, the bounds and
the integrality of

    min (or max)  cᵀx   s.t.  A_ub x ≤ b_ub,  A_eq x = b_eq,  lb ≤ x ≤ ub,

as float64 numpy arrays, picklable for HiGHS's worker processes. The costs
are not part of it: each row of a solver's input is one cost vector.
"""

from __future__ import annotations

from collections.abc import Sequence
import dataclasses
from typing import Any

import numpy as np

from perturbations_tf._src import polyhedron

ArrayLike = np.ndarray | Sequence[Any]
# One (lower, upper) pair for every variable or one per variable; None: none.
Bounds = Sequence[float | None] | Sequence[Sequence[float | None]]


@dataclasses.dataclass(frozen=True)
class Program:
  """The constraints of a linear program (or MILP) as float64 arrays.

  Attributes:
    a_ub, b_ub: `A_ub x ≤ b_ub`, or None.
    a_eq, b_eq: `A_eq x = b_eq`, or None.
    lower, upper: `[n]` bounds, ±inf where there is none.
    integrality: `[n]` 0/1 (1: integer), or None for a linear program.
  """

  a_ub: np.ndarray | None
  b_ub: np.ndarray | None
  a_eq: np.ndarray | None
  b_eq: np.ndarray | None
  lower: np.ndarray
  upper: np.ndarray
  integrality: np.ndarray | None = None

  @classmethod
  def of(
    cls,
    A_ub: ArrayLike | None = None,
    b_ub: ArrayLike | None = None,
    A_eq: ArrayLike | None = None,
    b_eq: ArrayLike | None = None,
    bounds: Bounds = (0, None),
    integrality: ArrayLike | None = None,
  ) -> Program:
    """The program of `LinearProgram`'s arguments, validated.

    Raises:
      ValueError: on malformed or non-finite constraints, bounds with
        `lower > upper`, integrality other than 0/1, or a number of
        variables that does not follow from the arguments.
    """
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
    lower, upper = _bounds(bounds, n)
    if integrality is not None and not integrality.any():
      integrality = None
    return cls(a_ub, ub, a_eq, eq, lower, upper, integrality)

  @property
  def num_variables(self) -> int:
    return len(self.lower)

  @property
  def is_integer(self) -> bool:
    return self.integrality is not None

  def constraints(self) -> polyhedron.Polyhedron:
    """The feasible set, integrality aside."""
    return polyhedron.Polyhedron.of(
      self.num_variables,
      self.a_ub,
      self.b_ub,
      self.a_eq,
      self.b_eq,
      self.lower,
      self.upper,
      relaxed=self.is_integer,
    )

  def config(self) -> dict:
    """The arguments of `LinearProgram` that rebuild it, as lists."""
    return dict(
      A_ub=_listed(self.a_ub),
      b_ub=_listed(self.b_ub),
      A_eq=_listed(self.a_eq),
      b_eq=_listed(self.b_eq),
      bounds=[
        [_finite_or_none(lo), _finite_or_none(hi)]
        for lo, hi in zip(self.lower, self.upper)
      ],
      integrality=_listed(self.integrality),
    )

  def scale(self) -> float:
    """The data's magnitude: the largest |b| or finite bound (1 if none is
    non-zero), by which the HiGHS path and PDLP normalise."""
    parts = [b for b in (self.b_ub, self.b_eq) if b is not None]
    return magnitude(*parts, self.lower, self.upper)

  def rescaled(self, factor: float) -> Program:
    """The program with every right-hand side and bound divided by
    `factor`: its solutions are this program's divided by `factor`."""

    def divided(b: np.ndarray | None) -> np.ndarray | None:
      return None if b is None else b / factor

    return dataclasses.replace(
      self,
      b_ub=divided(self.b_ub),
      b_eq=divided(self.b_eq),
      lower=self.lower / factor,
      upper=self.upper / factor,
    )


def magnitude(*arrays: np.ndarray) -> float:
  """The largest finite |value| of the arrays, or 1 if there is none."""
  values = np.abs(np.concatenate([a[np.isfinite(a)] for a in arrays]))
  largest = float(values.max()) if values.size else 0.0
  return largest if largest > 0 else 1.0


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
  if (
    np.any(lower > upper) or np.any(lower == np.inf) or np.any(upper == -np.inf)
  ):
    raise ValueError(f"bounds must have lower <= upper, got {bounds!r}.")
  return lower, upper


def _listed(array: np.ndarray | None) -> list | None:
  return None if array is None else np.asarray(array).tolist()


def _finite_or_none(value: float):
  return None if np.isinf(value) else float(value)
