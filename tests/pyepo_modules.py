"""PyEPO's own modules, loaded without its package `__init__` (which imports
torch, which CI does not install): `pip install --no-deps pyepo` is enough.

Its data generators need nothing more. Its models need `pyepo.utils`, which
imports torch only to recognise tensors (`costToNumpy`): where torch is
missing, it gets a module whose `Tensor` matches nothing, so every line that
runs is PyEPO's. The model factories here are importable by spawned worker
processes, which load the modules again on their own.
"""

import importlib
import importlib.metadata
import sys
import types

import pytest

# PyEPO's Pyomo models on HiGHS (highspy), both open source.
SOLVER = "appsi_highs"


def load(names, setitem=sys.modules.__setitem__):
  """`pyepo.<name>` for each name, PyEPO's packages as bare namespaces.

  Args:
    names: module paths below `pyepo` (`"data.tsp"`, `"model.omo.knapsack"`).
    setitem: how to enter a module into `sys.modules` (a test passes
      `monkeypatch.setitem` bound to `sys.modules`, to restore it after).

  Returns:
    The modules, by name.
  """
  try:
    root = importlib.metadata.distribution("pyepo").locate_file("pyepo")
  except importlib.metadata.PackageNotFoundError:
    pytest.skip(
      "PyEPO is not installed (CI installs it: pip install --no-deps pyepo)"
    )
  try:
    importlib.import_module("torch")
  except ImportError:
    torch = types.ModuleType("torch")
    torch.Tensor = type("Tensor", (), {})  # What no cost array is.
    setitem("torch", torch)
  packages = {part for name in names for part in _parents(name)}
  for package in sorted(packages):
    module = types.ModuleType(f"pyepo.{package}" if package else "pyepo")
    module.__path__ = [str(root.joinpath(*package.split(".")))]
    setitem(module.__name__, module)
  return {name: importlib.import_module(f"pyepo.{name}") for name in names}


def _parents(name):
  """`'model.omo.knapsack'` → `''`, `'model'`, `'model.omo'`."""
  parts = name.split(".")
  return [".".join(parts[:i]) for i in range(len(parts))]


def shortest_path_model(grid):
  """PyEPO's `pyepo.model.omo.shortestPathModel(grid)` on HiGHS."""
  module = load(["model.omo.shortestpath"])["model.omo.shortestpath"]
  return module.shortestPathModel(grid, solver=SOLVER)


def knapsack_model(weights, capacity):
  """PyEPO's `pyepo.model.omo.knapsackModel` on HiGHS (it maximises)."""
  module = load(["model.omo.knapsack"])["model.omo.knapsack"]
  return module.knapsackModel(weights, capacity, solver=SOLVER)
