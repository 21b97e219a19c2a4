"""A pure-Python reference: Dijkstra on a vertex-weighted grid, with a heap."""

import heapq

import numpy as np

import perturbations_tf as ptf


def neighbours(connectivity):
  return [
    (dr, dc)
    for dr in (-1, 0, 1)
    for dc in (-1, 0, 1)
    if (dr, dc) != (0, 0) and (connectivity == 8 or dr == 0 or dc == 0)
  ]


def shortest_path(costs: np.ndarray, connectivity: int = 8):
  """Returns (path mask, path cost) from the top-left to the bottom-right."""
  h, w = costs.shape
  dist = np.full((h, w), np.inf)
  parent = {}
  dist[0, 0] = costs[0, 0]
  heap = [(costs[0, 0], 0, 0)]
  moves = neighbours(connectivity)
  while heap:
    d, i, j = heapq.heappop(heap)
    if d > dist[i, j]:
      continue
    for dr, dc in moves:
      r, c = i + dr, j + dc
      if 0 <= r < h and 0 <= c < w and d + costs[r, c] < dist[r, c]:
        dist[r, c] = d + costs[r, c]
        parent[r, c] = (i, j)
        heapq.heappush(heap, (dist[r, c], r, c))
  mask = np.zeros((h, w), costs.dtype)
  node = (h - 1, w - 1)
  mask[node] = 1
  while node != (0, 0):
    node = parent[node]
    mask[node] = 1
  return mask, dist[h - 1, w - 1]


@ptf.solvers.declare_sense(maximize=False)
def path_mask(costs: np.ndarray, min_cost: float = 0.0) -> np.ndarray:
  """The 8-connected shortest-path mask of one grid, costs floored at
  `min_cost` as `solvers.shortest_path(min_cost=...)` does: a black-box
  solver for `ptf.solvers.numpy_solver` (module level, so worker processes can
  receive it), declared a minimiser."""
  return shortest_path(np.maximum(costs, min_cost), 8)[0]
