"""PyEPO's synthetic predict-then-optimize data, written from its formulas.

Features `x ~ N(0, I_p)`; a fixed 0/1 matrix `B` with Bernoulli(0.5)
entries; a degree-`deg` polynomial of `Bx/√p` gives the costs, times
uniform noise of half-width `noise_width` (Elmachtoub & Grigas's design, as
in Tang & Khalil, "PyEPO: A PyTorch-based End-to-End Predict-then-Optimize
Library for Linear and Integer Programming", 2022). The draws follow
`pyepo.data.shortestpath.genData` and `pyepo.data.knapsack.genData` number
for number (one `np.random.RandomState(seed)`, same order), so a seed gives
PyEPO's own instances (tests/test_pyepo_data.py compares with PyEPO where
it is installed).
"""

from __future__ import annotations

from typing import Tuple

import numpy as np

from perturbations_tf import solvers


def _check(deg: int, noise_width: float):
  if isinstance(deg, bool) or not isinstance(deg, int) or deg < 1:
    raise ValueError(f"deg must be a positive integer, got {deg!r}.")
  if not 0 <= noise_width < 1:
    raise ValueError(f"noise_width must be in [0, 1), got {noise_width!r}.")


def _polynomial(x, b, deg: int) -> np.ndarray:
  """`((Bx)/√p + 3)^deg + 1`, noise-free, `[n, d]` (before rescaling)."""
  return (x @ b.T / np.sqrt(x.shape[1]) + 3) ** deg + 1


def shortest_path(num_data: int, num_features: int = 5, grid=(5, 5),
                  deg: int = 1, noise_width: float = 0.0,
                  seed: int = 135) -> Tuple[np.ndarray, np.ndarray]:
  """Features and arc costs of PyEPO's shortest path on a grid DAG.

  `c = [((Bx)/√p + 3)^deg + 1] / 3.5^deg · U[1 − ε̄, 1 + ε̄]`, arcs in
  PyEPO's order (`solvers.grid_arcs`).

  Returns:
    `(x, c)`: `[num_data, num_features]` float64 and
    `[num_data, num_arcs]` float32.
  """
  _check(deg, noise_width)
  rng = np.random.RandomState(seed)
  num_arcs = len(solvers.grid_arcs(tuple(grid)))
  b = rng.binomial(1, 0.5, (num_arcs, num_features))
  x = rng.normal(0, 1, (num_data, num_features))
  c = _polynomial(x, b, deg) / 3.5**deg
  c *= rng.uniform(1 - noise_width, 1 + noise_width, (num_data, num_arcs))
  return x, c.astype(np.float32)


def knapsack(num_data: int, num_features: int = 5, num_items: int = 32,
             dim: int = 2, deg: int = 1, noise_width: float = 0.0,
             seed: int = 135) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Weights, features and item values of PyEPO's multi-dimensional knapsack.

  Weights `[dim, num_items]` uniform on {3.00, 3.01, …, 7.99}; values
  `⌈5·[((Bx)/√p + 3)^deg + 1] / 3.5^deg · U[1 − ε̄, 1 + ε̄]⌉`.

  Returns:
    `(weights, x, c)`.
  """
  _check(deg, noise_width)
  rng = np.random.RandomState(seed)
  weights = rng.choice(range(300, 800), size=(dim, num_items)) / 100
  b = rng.binomial(1, 0.5, (num_items, num_features))
  x = rng.normal(0, 1, (num_data, num_features))
  c = 5 * _polynomial(x, b, deg) / 3.5**deg
  c *= rng.uniform(1 - noise_width, 1 + noise_width, (num_data, num_items))
  return weights, x, np.ceil(c).astype(np.float32)


def scipy_shortest_path(costs: np.ndarray, grid) -> np.ndarray:
  """One instance through `scipy.sparse.csgraph.dijkstra`, as a user without
  a batched solver would: the 0/1 arc vector of its shortest path."""
  from scipy.sparse import csgraph  # pylint: disable=import-outside-toplevel
  from scipy.sparse import csr_matrix  # pylint: disable=import-outside-toplevel
  arcs = solvers.grid_arcs(tuple(grid))
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
