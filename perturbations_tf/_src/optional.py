"""Optional dependencies, imported where a solver first needs them.

The default import path needs none of them (scipy, Clarabel, Dask); a solver
that does asks here, and a missing one is an ImportError naming the extra
that installs it.
"""

from __future__ import annotations

import importlib
import types


def require(module: str, owner: str, extra: str) -> types.ModuleType:
  """The module `module`, or an ImportError naming the extra to install.

  Args:
    module: its dotted name, e.g. `"scipy.optimize"`.
    owner: who needs it and for what, for the message (e.g. "LinearProgram
      solves through scipy's HiGHS").
    extra: the `perturbations-tf` extra that installs it (e.g. `"lp"`).

  Returns:
    The imported module.

  Raises:
    ImportError: when it is not installed.

  Example:
    >>> require("math", "a doctest", "none").sqrt(4.0)
    2.0
  """
  try:
    return importlib.import_module(module)
  except ImportError as error:
    raise ImportError(
      f"{owner}: pip install 'perturbations-tf[{extra}]' (it needs "
      f"{module.split('.')[0]})."
    ) from error
