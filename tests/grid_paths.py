"""Exhaustive references on PyEPO's grid DAG: every path, the best by brute
force, and scipy's Dijkstra (what a user would otherwise call)."""

import itertools

import numpy as np

from perturbations_tf import solvers


def all_paths(grid):
  """The 0/1 arc vectors of every north-west to south-east path, `[P, A]`."""
  m, n = grid
  index = {arc: k for k, arc in enumerate(solvers.grid_arcs(grid))}
  paths = []
  for south_steps in itertools.combinations(range(m + n - 2), m - 1):
    w, node = np.zeros(len(index)), 0
    for step in range(m + n - 2):
      nxt = node + (n if step in south_steps else 1)
      w[index[node, nxt]] = 1
      node = nxt
    paths.append(w)
  return np.array(paths)


def brute_force(costs, grid, maximize=False):
  """The best path of each row of `costs` and its objective, by enumeration."""
  paths = all_paths(grid)
  objectives = np.asarray(costs, np.float64) @ paths.T
  best = objectives.argmax(1) if maximize else objectives.argmin(1)
  return paths[best], objectives[np.arange(len(best)), best]


def scipy_dijkstra(costs, grid):
  """One instance through `scipy.sparse.csgraph.dijkstra`: its arc vector."""
  from scipy.sparse import csgraph, csr_matrix  # pylint: disable=import-outside-toplevel
  arcs = solvers.grid_arcs(grid)
  size = grid[0] * grid[1]
  tails, heads = zip(*arcs)
  graph = csr_matrix((costs, (tails, heads)), shape=(size, size))
  _, predecessors = csgraph.dijkstra(graph, indices=0,
                                     return_predecessors=True)
  index = {arc: k for k, arc in enumerate(arcs)}
  w, node = np.zeros(len(arcs)), size - 1
  while node != 0:
    w[index[predecessors[node], node]] = 1
    node = predecessors[node]
  return w
