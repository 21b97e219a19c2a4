"""Solvers by name, for configs: built-ins, registered callables, partials.

A solver is stored in a config as its registered Keras name (e.g.
`'perturbations_tf>ranks'`), or as `{'name': ..., 'kwargs': {...}}` for a
`functools.partial` of one, so layers and losses that hold a solver serialise.
"""

from __future__ import annotations

from collections.abc import Callable
import functools

import keras

from perturbations_tf._src import grid_paths
from perturbations_tf._src import solvers
from perturbations_tf._src.types import SolverLike

BUILTIN = {
  f.__name__: f
  for f in (
    solvers.argmax,
    solvers.top_k,
    solvers.ranks,
    solvers.sort,
    grid_paths.shortest_path,
    grid_paths.grid_arc_shortest_path,
  )
}


def get_solver(solver: SolverLike) -> Callable:
  """Resolves a solver from a callable, a name or a config dict
  (`ptf.solvers.get`).

  Args:
    solver: a callable; a built-in name (`'argmax'`, `'top_k'`, `'ranks'`,
      `'sort'`, `'shortest_path'`, `'grid_arc_shortest_path'`); a
      registered Keras name; or `{'name': ..., 'kwargs': {...}}`; or a
      serialised solver object (a `SolutionCache` or a `NumpySolver`).

  Returns:
    The solver callable.

  Raises:
    ValueError: for an unknown name.

  Example:
    >>> ptf.solvers.get({'name': 'top_k', 'kwargs': {'k': 2}})
    ... # doctest: +ELLIPSIS
    functools.partial(<function top_k at ...>, k=2)
  """
  if isinstance(solver, dict) and "class_name" in solver:
    return keras.saving.deserialize_keras_object(solver)
  if isinstance(solver, dict):
    return functools.partial(
      get_solver(solver["name"]), **solver.get("kwargs", {})
    )
  if isinstance(solver, str):
    found = BUILTIN.get(solver) or keras.saving.get_registered_object(solver)
    if found is None:
      raise ValueError(
        f"Unknown solver {solver!r}: use a built-in name {sorted(BUILTIN)}, "
        "a callable, or the name of a callable registered with "
        "keras.saving.register_keras_serializable."
      )
    return found
  if not callable(solver):
    raise ValueError(f"A solver must be callable or a name, got {solver!r}.")
  return solver


def solver_config(solver: Callable) -> str | dict:
  """The config entry of a solver (`ptf.solvers.serialize`; the inverse of
  `ptf.solvers.get`).

  Raises:
    ValueError: if the solver is neither built in nor registered.

  Example:
    >>> ptf.solvers.serialize(functools.partial(ptf.solvers.top_k, k=2))
    {'name': 'top_k', 'kwargs': {'k': 2}}
  """
  if isinstance(solver, functools.partial) and not solver.args:
    return {"name": solver_config(solver.func), "kwargs": dict(solver.keywords)}
  if hasattr(solver, "get_config"):  # A SolutionCache, a NumpySolver.
    return keras.saving.serialize_keras_object(solver)
  for name, builtin in BUILTIN.items():
    if solver is builtin:
      return name
  name = keras.saving.get_registered_name(solver)
  if keras.saving.get_registered_object(name) is solver:
    return name
  raise ValueError(
    f"Cannot serialise the solver {solver!r}: decorate it with "
    "@keras.saving.register_keras_serializable() or use a built-in name."
  )
