"""Solvers: TF-native batched solvers, exact problem solvers, and the tools
to bring your own.

Every solver declares its sense (`maximize`); `declare_sense` declares yours.

- TF-native, eager / `tf.function` / XLA: `argmax`, `top_k`, `ranks`, `sort`,
  `shortest_path` (vertex costs on a grid), `grid_arc_shortest_path`
  (PyEPO's grid DAG, arcs in `grid_arcs` order), `Knapsack` (exact 0/1,
  over `maximal_packings`).
- Host solvers: `LinearProgram` (LP / MILP through HiGHS), `TSP` (exact
  tours through HiGHS), `Portfolio` (PyEPO's Markowitz portfolio through
  Clarabel), `numpy_solver` (any numpy / Python solver, on threads,
  processes or a cluster), `from_pyepo` (a PyEPO `optModel`).
- `SolutionCache`: answers part of the rows from a pool of seen solutions.
- `get` and `serialize`: a solver from its name or config, and back (what a
  custom Keras layer or loss over a solver needs for `get_config`).
"""

from perturbations_tf._src.errors import InfeasibleProgramError
from perturbations_tf._src.errors import UnsolvedProgramError
from perturbations_tf._src.executors import WorkerCrashError
from perturbations_tf._src.grid_paths import grid_arc_shortest_path
from perturbations_tf._src.grid_paths import grid_arcs
from perturbations_tf._src.grid_paths import grid_flow_constraints
from perturbations_tf._src.grid_paths import shortest_path
from perturbations_tf._src.knapsack import Knapsack
from perturbations_tf._src.knapsack import maximal_packings
from perturbations_tf._src.linear_program import LinearProgram
from perturbations_tf._src.numpy_solver import NumpySolver
from perturbations_tf._src.numpy_solver import numpy_solver
from perturbations_tf._src.portfolio import Portfolio
from perturbations_tf._src.pyepo_model import from_pyepo
from perturbations_tf._src.registry import get_solver as get
from perturbations_tf._src.registry import solver_config as serialize
from perturbations_tf._src.sense import declare_sense
from perturbations_tf._src.solution_cache import SolutionCache
from perturbations_tf._src.solvers import argmax
from perturbations_tf._src.solvers import ranks
from perturbations_tf._src.solvers import sort
from perturbations_tf._src.solvers import top_k
from perturbations_tf._src.tsp import TSP
from perturbations_tf._src.tsp import tsp_edges

__all__ = [
  "InfeasibleProgramError",
  "Knapsack",
  "LinearProgram",
  "NumpySolver",
  "Portfolio",
  "SolutionCache",
  "TSP",
  "UnsolvedProgramError",
  "WorkerCrashError",
  "argmax",
  "declare_sense",
  "from_pyepo",
  "get",
  "grid_arc_shortest_path",
  "grid_arcs",
  "grid_flow_constraints",
  "maximal_packings",
  "numpy_solver",
  "ranks",
  "serialize",
  "shortest_path",
  "sort",
  "top_k",
  "tsp_edges",
]
