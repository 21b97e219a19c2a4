"""Reference solvers the benchmarks and tests compare with: what a user
without a batched solver would write."""

from __future__ import annotations

import numpy as np

from perturbations_tf import solvers


def scipy_shortest_path(costs: np.ndarray, grid) -> np.ndarray:
  """One instance through `scipy.sparse.csgraph.dijkstra`, as a user without
  a batched solver would: the 0/1 arc vector of its shortest path."""
  from scipy.sparse import csgraph
  from scipy.sparse import csr_matrix

  arcs = solvers.grid_arcs(tuple(grid))
  size = grid[0] * grid[1]
  tails, heads = zip(*arcs)
  graph = csr_matrix((costs, (tails, heads)), shape=(size, size))
  _, predecessors = csgraph.dijkstra(graph, indices=0, return_predecessors=True)
  index = {arc: k for k, arc in enumerate(arcs)}
  w, node = np.zeros(len(arcs)), size - 1
  while node != 0:
    w[index[predecessors[node], node]] = 1
    node = predecessors[node]
  return w
