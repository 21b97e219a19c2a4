"""PyEPO's `optModel` objects as batched solvers, without importing PyEPO.

A PyEPO model (Gurobi, COPT, Pyomo or OR-Tools underneath) has `num_cost`,
`modelSense` (PyEPO's `EPO.MINIMIZE = 1`, `EPO.MAXIMIZE = -1`),
`setObj(costs)` and `solve() -> (solution, objective)`; it holds one
solver's state, so every worker solves on its own model: a copy per thread
(`model.copy()`, PyEPO's own), or one built in each worker process from a
picklable factory.
"""

from __future__ import annotations

from collections.abc import Callable
import copy
import threading
from typing import Any

import numpy as np

from perturbations_tf._src import numpy_solver as numpy_solver_lib

# PyEPO's constants (pyepo.EPO): the sign of the objective it minimises.
PYEPO_MINIMIZE, PYEPO_MAXIMIZE = 1, -1
_INTERFACE = ("setObj", "solve", "num_cost", "modelSense")


def _check_model(model: Any) -> None:
  missing = [name for name in _INTERFACE if not hasattr(model, name)]
  if missing:
    raise ValueError(
      f"{model!r} lacks {missing} of PyEPO's optModel interface "
      f"({', '.join(_INTERFACE)})."
    )
  if model.modelSense not in (PYEPO_MINIMIZE, PYEPO_MAXIMIZE):
    raise ValueError(
      f"modelSense must be PyEPO's EPO.MINIMIZE (1) or EPO.MAXIMIZE (-1), "
      f"got {model.modelSense!r}."
    )


class PyEPOSolve:
  """One example's solve on a PyEPO model: `costs [num_cost] → w*`.

  Picklable when its source is: each thread copies the given model once,
  each worker process builds its own from the factory.
  """

  def __init__(self, source: Any, num_cost: int):
    self.source = source  # A model, or a zero-argument factory of one.
    self.num_cost = num_cost
    self._local = threading.local()
    self.__name__ = f"from_pyepo({type(source).__name__})"

  def __getstate__(self) -> dict:
    return {"source": self.source, "num_cost": self.num_cost}

  def __setstate__(self, state: dict) -> None:
    self.__init__(state["source"], state["num_cost"])  # type: ignore[misc]

  def model(self) -> Any:
    """This thread's model."""
    model = getattr(self._local, "model", None)
    if model is None:
      if hasattr(self.source, "setObj"):
        make = getattr(self.source, "copy", None)
        model = make() if make else copy.deepcopy(self.source)
      else:
        model = self.source()
      self._local.model = model
    return model

  def __call__(self, costs: np.ndarray) -> np.ndarray:
    if costs.shape != (self.num_cost,):
      raise ValueError(
        f"The PyEPO model takes {self.num_cost} costs per example "
        f"(num_cost), got an example of shape {costs.shape}."
      )
    model = self.model()
    model.setObj(np.asarray(costs, np.float64))
    solution, _ = model.solve()
    return np.asarray(solution, np.float64).reshape(self.num_cost)


def _uses_pyomo(model: Any) -> bool:
  """Whether `model` is one of PyEPO's Pyomo models (`pyepo.model.omo`)."""
  return any(
    cls.__module__.startswith("pyepo.model.omo") for cls in type(model).__mro__
  )


def from_pyepo(
  model: Any | Callable[[], Any],
  *,
  num_workers: int | None = None,
  executor: str = "threads",
) -> numpy_solver_lib.NumpySolver:
  """A PyEPO `optModel` as a batched solver with its declared sense.

  Args:
    model: a PyEPO model (anything with `setObj`, `solve`, `num_cost` and
      `modelSense`), or a picklable zero-argument factory of one (a
      `functools.partial` of the model's class): what worker processes
      need, since solver objects rarely pickle.
    num_workers: workers (default: one per CPU core).
    executor: `'threads'` (each thread solves on its own copy of the model;
      fast when the back-end releases the GIL, as Gurobi and HiGHS do) or
      `'processes'` (each worker builds its own model from the factory).
      PyEPO's Pyomo models (`pyepo.model.omo`) solve on one thread, since
      Pyomo redirects the process's output while it solves: use processes
      to solve them in parallel.

  Returns:
    A `NumpySolver`: `[B, num_cost]` costs → `[B, num_cost]` decisions
    (in the costs' floating dtype), declaring the model's sense (PyEPO's
    `EPO.MINIMIZE` → a minimiser), usable by every loss, layer and metric
    of the library (not under XLA: it is a host call).

  Raises:
    ValueError: on an object without PyEPO's interface, an unknown
      `modelSense`, `executor='processes'` with a model that does not
      pickle, a Pyomo model on more than one thread, and, when called,
      costs of the wrong width.

  Example:
    >>> class Cheapest:  # PyEPO's interface, duck-typed: pick 1 of 3.
    ...   num_cost, modelSense = 3, 1  # EPO.MINIMIZE
    ...   def setObj(self, c): self.c = c
    ...   def solve(self):
    ...     w = np.eye(3)[np.argmin(self.c)]
    ...     return w, float(self.c @ w)
    >>> solver = from_pyepo(Cheapest())
    >>> solver.maximize, solver(tf.constant([[3.0, 1.0, 2.0]])).numpy()
    (False, array([[0., 1., 0.]], dtype=float32))
  """
  prototype: Any = model if hasattr(model, "setObj") else model()
  _check_model(prototype)
  if executor == "threads" and _uses_pyomo(prototype):
    # Pyomo swaps the process's sys.stdout while it solves: two threads
    # solving at once deadlock (appsi solvers) or fail (`highs`).
    if num_workers not in (None, 1):
      raise ValueError(
        "PyEPO's Pyomo models cannot solve on two threads at once (Pyomo "
        "redirects the process's output while it solves): pass "
        "executor='processes' with a factory of the model, or num_workers=1."
      )
    num_workers = 1
  num_cost = int(prototype.num_cost)
  return numpy_solver_lib.numpy_solver(
    PyEPOSolve(model, num_cost),
    output_shape=(num_cost,),
    num_workers=num_workers,
    executor=executor,
    maximize=prototype.modelSense == PYEPO_MAXIMIZE,
  )
