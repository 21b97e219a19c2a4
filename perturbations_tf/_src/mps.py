"""Reading linear programs from MPS files, fixed or free format.

Sections: NAME, OBJSENSE (MIN/MAX, also as `OBJSENSE MAX` on one line),
ROWS (N, E, L, G; the first N row is the objective, others are dropped),
COLUMNS (with INTORG/INTEND markers), RHS (a right-hand side on the
objective row is minus the objective's constant), RANGES and BOUNDS (UP,
LO, FX, FR, MI, PL, BV, LI, UI; an UP bound below 0 on a variable whose
lower bound is still the default 0 makes that lower bound −∞, as most
readers do). Integer variables marked without bounds keep `[0, +∞)`.
"""

from __future__ import annotations

import dataclasses
import gzip
import os

import numpy as np

_SECTIONS = (
  "NAME",
  "OBJSENSE",
  "OBJSENS",
  "ROWS",
  "COLUMNS",
  "RHS",
  "RANGES",
  "BOUNDS",
  "ENDATA",
)
# Fixed MPS: the fields' columns (1-based 2–3, 5–12, 15–22, 25–36, 40–47,
# 50–61).
_FIXED_FIELDS = ((1, 3), (4, 12), (14, 22), (24, 36), (39, 47), (49, 61))


@dataclasses.dataclass(frozen=True)
class MpsModel:
  """A linear program read from an MPS file.

  Attributes:
    name: the NAME section's name.
    arguments: `LinearProgram`'s constraint arguments (`A_ub`, `b_ub`,
      `A_eq`, `b_eq`, `bounds`, `integrality`), numpy arrays or None.
    costs: `[n]` the objective's coefficients.
    offset: the objective's constant.
    maximize: OBJSENSE MAX.
    variables: the columns' names.
  """

  name: str
  arguments: dict
  costs: np.ndarray
  offset: float
  maximize: bool
  variables: tuple[str, ...]


def _fields(line: str, fixed: bool) -> list[str]:
  if not fixed:
    return line.split()
  # Empty fields (the type field of COLUMNS and RHS lines, a set's name
  # left out) drop, as in free MPS.
  fields = [line[a:b].strip() for a, b in _FIXED_FIELDS]
  return [field for field in fields if field]


def read_mps(source: str | os.PathLike, fixed: bool = False) -> MpsModel:
  """Reads an MPS file (or MPS text).

  Args:
    source: a path (gzip-compressed if it ends in `.gz`), or the file's
      text (anything containing a newline).
    fixed: fixed-column MPS, whose names may contain spaces (default: free
      MPS, fields separated by spaces, which reads fixed files whose names
      have none).

  Returns:
    The `MpsModel`.

  Raises:
    ValueError: on an unknown section, row type or bound type, a reference
      to an undeclared row or column, or semi-continuous variables.

  Example:
    >>> model = read_mps('''NAME TINY
    ... ROWS
    ...  N  COST
    ...  L  LIM
    ... COLUMNS
    ...     X  COST  -1.0  LIM  1.0
    ... RHS
    ...     RHS  LIM  4.0
    ... BOUNDS
    ...  UP BND  X  3.0
    ... ENDATA
    ... ''')
    >>> model.costs, model.arguments["b_ub"], model.arguments["bounds"]
    (array([-1.]), array([4.]), [(0.0, 3.0)])
  """
  text = str(source)
  if "\n" not in text:
    opener = gzip.open if text.endswith(".gz") else open
    with opener(source, "rt") as f:
      text = f.read()
  name, section = "", None
  maximize = False
  objective = None
  row_types: dict[str, str] = {}
  row_order: list[str] = []
  columns: dict[str, int] = {}
  entries: list[tuple[str, int, float]] = []
  integer: list[bool] = []
  marking_integers = False
  rhs: dict[str, float] = {}
  ranges: dict[str, float] = {}
  lower: dict[int, float] = {}
  upper: dict[int, float] = {}
  for number, raw in enumerate(text.splitlines(), 1):
    line = raw.rstrip()
    if not line.strip() or line.lstrip().startswith("*"):
      continue
    if not line[0].isspace():
      words = line.split()
      keyword = words[0].upper()
      if keyword not in _SECTIONS:
        raise ValueError(f"MPS line {number}: unknown section {words[0]!r}.")
      section = keyword
      if keyword == "NAME":
        name = " ".join(words[1:])
      elif keyword in ("OBJSENSE", "OBJSENS") and len(words) > 1:
        maximize = words[1].upper() in ("MAX", "MAXIMIZE")
      elif keyword == "ENDATA":
        break
      continue
    fields = _fields(line, fixed)
    if section in ("OBJSENSE", "OBJSENS"):
      maximize = fields[0].upper() in ("MAX", "MAXIMIZE")
    elif section == "ROWS":
      kind, row = fields[0].upper(), fields[1]
      if kind not in ("N", "E", "L", "G"):
        raise ValueError(f"MPS line {number}: unknown row type {kind!r}.")
      if kind == "N":
        objective = objective or row
      else:
        row_order.append(row)
      row_types[row] = kind
    elif section == "COLUMNS":
      if len(fields) >= 3 and fields[1].strip("'").upper() == "MARKER":
        marking_integers = fields[2].strip("'").upper() == "INTORG"
        continue
      column = fields[0]
      if column not in columns:
        columns[column] = len(columns)
        integer.append(marking_integers)
      for row, text_value in zip(fields[1::2], fields[2::2]):
        _known(row, row_types, number)
        entries.append((row, columns[column], float(text_value)))
    elif section in ("RHS", "RANGES"):
      # The set's name is optional in free MPS: pairs from the end.
      pairs = fields[1:] if len(fields) % 2 else fields
      target = rhs if section == "RHS" else ranges
      for row, text_value in zip(pairs[::2], pairs[1::2]):
        _known(row, row_types, number)
        target[row] = float(text_value)
    elif section == "BOUNDS":
      kind = fields[0].upper()
      # Type, (set name), column, (value).
      has_value = kind not in ("FR", "MI", "PL", "BV")
      rest = fields[1:]
      column = rest[-2] if has_value else rest[-1]
      bound = float(rest[-1]) if has_value else 0.0
      if column not in columns:
        raise ValueError(f"MPS line {number}: unknown column {column!r}.")
      j = columns[column]
      if kind in ("UP", "UI"):
        upper[j] = bound
        if bound < 0 and j not in lower:
          lower[j] = -np.inf
      elif kind in ("LO", "LI"):
        lower[j] = bound
      elif kind == "FX":
        lower[j] = upper[j] = bound
      elif kind == "FR":
        lower[j], upper[j] = -np.inf, np.inf
      elif kind == "MI":
        lower[j] = -np.inf
      elif kind == "PL":
        upper[j] = np.inf
      elif kind == "BV":
        lower[j], upper[j] = 0.0, 1.0
      else:
        raise ValueError(
          f"MPS line {number}: bound type {kind!r} is not supported."
        )
      if kind in ("LI", "UI", "BV"):
        integer[j] = True
  n = len(columns)
  index = {row: i for i, row in enumerate(row_order)}
  matrix = np.zeros((len(row_order), n))
  costs = np.zeros(n)
  for row, j, value in entries:
    if row == objective:
      costs[j] += value
    elif row in index:
      matrix[index[row], j] += value
  b = np.array([rhs.get(row, 0.0) for row in row_order])
  ub_rows, ub_rhs, eq_rows, eq_rhs = [], [], [], []
  for i, row in enumerate(row_order):
    kind, r = row_types[row], ranges.get(row)
    low, high = {"E": (b[i], b[i]), "L": (-np.inf, b[i]), "G": (b[i], np.inf)}[
      kind
    ]
    if r is not None:
      if kind == "E":
        low, high = (b[i], b[i] + r) if r > 0 else (b[i] + r, b[i])
      elif kind == "L":
        low = b[i] - abs(r)
      else:
        high = b[i] + abs(r)
    if low == high:
      eq_rows.append(matrix[i])
      eq_rhs.append(low)
      continue
    if np.isfinite(high):
      ub_rows.append(matrix[i])
      ub_rhs.append(high)
    if np.isfinite(low):
      ub_rows.append(-matrix[i])
      ub_rhs.append(-low)
  arguments = dict(
    A_ub=np.array(ub_rows) if ub_rows else None,
    b_ub=np.array(ub_rhs) if ub_rows else None,
    A_eq=np.array(eq_rows) if eq_rows else None,
    b_eq=np.array(eq_rhs) if eq_rows else None,
    bounds=[
      (
        _finite_or_none(lower.get(j, 0.0)),
        _finite_or_none(upper.get(j, np.inf)),
      )
      for j in range(n)
    ],
    integrality=np.array(integer, np.int64) if any(integer) else None,
  )
  return MpsModel(
    name=name,
    arguments=arguments,
    costs=costs,
    offset=-rhs.get(objective, 0.0) if objective else 0.0,
    maximize=maximize,
    variables=tuple(columns),
  )


def _finite_or_none(value: float) -> float | None:
  return None if np.isinf(value) else value


def _known(row: str, row_types: dict, number: int) -> None:
  if row not in row_types:
    raise ValueError(f"MPS line {number}: unknown row {row!r}.")
