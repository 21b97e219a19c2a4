"""PyEPO's synthetic predict-then-optimize data, and a data set solved once.

The generators follow `pyepo.data.*.genData` (PyEPO 2.2.7) number for
number: one `np.random.RandomState(seed)`, the same draws in the same order,
so a seed gives PyEPO's own instances (the tests compare them with PyEPO's
where it is installed). They are written from the formulas of Tang & Khalil,
"PyEPO: A PyTorch-based End-to-End Predict-then-Optimize Library for Linear
and Integer Programming" (2022), after Elmachtoub & Grigas's design:
features `x ~ N(0, I_p)`, a fixed 0/1 matrix `B` with Bernoulli(0.5)
entries, costs a degree-`deg` polynomial of `Bx/√p` times uniform noise of
half-width `noise_width`.

`make_dataset` solves the costs once and yields `(x, stack_targets(c, w*))`
batches, the target every loss and metric of the library accepts;
`knn_targets` first replaces each instance by its neighbourhood's (Schutte
et al.'s kNN-robust targets).
"""

from __future__ import annotations

import math
from numbers import Real

import numpy as np
import tensorflow as tf

from perturbations_tf._src import grid_paths
from perturbations_tf._src import registry
from perturbations_tf._src import targets
from perturbations_tf._src import validation
from perturbations_tf._src.types import SolverLike
from perturbations_tf._src.types import TensorLike


def _check(deg: int, noise: float, noise_name: str = "noise_width"):
  validation.positive_int(deg, "deg")
  if (
    isinstance(noise, bool)
    or not isinstance(noise, Real)
    or not math.isfinite(noise)
    or noise < 0
  ):
    raise ValueError(
      f"{noise_name} must be a finite non-negative number, got {noise!r}."
    )


def _polynomial(x: np.ndarray, b: np.ndarray, deg: int) -> np.ndarray:
  """`((Bx)/√p + 3)^deg + 1`, noise-free, `[n, d]` (before rescaling)."""
  return (x @ b.T / np.sqrt(x.shape[1]) + 3) ** deg + 1


def shortest_path_data(
  num_data: int,
  num_features: int,
  grid: tuple[int, int] = (5, 5),
  deg: int = 1,
  noise_width: float = 0.0,
  seed: int = 135,
) -> tuple[np.ndarray, np.ndarray]:
  """Features and arc costs of PyEPO's shortest path on a grid DAG.

  `c = [((Bx)/√p + 3)^deg + 1] / 3.5^deg · U[1 − ε̄, 1 + ε̄]`, arcs in
  PyEPO's order (`ptf.solvers.grid_arcs`), for
  `ptf.solvers.grid_arc_shortest_path`.

  Args:
    num_data: the number of instances.
    num_features: p, the feature dimension.
    grid: `(rows, columns)` of nodes.
    deg: the polynomial degree (model misspecification grows with it).
    noise_width: ε̄, the half-width of the multiplicative noise.
    seed: PyEPO's seed.

  Returns:
    `(x, c)`: `[num_data, num_features]` float64 and
    `[num_data, num_arcs]` float32.

  Example:
    >>> x, c = shortest_path_data(100, 5, grid=(5, 5), deg=4, noise_width=0.5)
    >>> x.shape, c.shape
    ((100, 5), (100, 40))
  """
  _check(deg, noise_width)
  rng = np.random.RandomState(seed)
  num_arcs = len(grid_paths.grid_arcs(tuple(grid)))
  b = rng.binomial(1, 0.5, (num_arcs, num_features))
  x = rng.normal(0, 1, (num_data, num_features))
  c = _polynomial(x, b, deg) / 3.5**deg
  c *= rng.uniform(1 - noise_width, 1 + noise_width, (num_data, num_arcs))
  return x, c.astype(np.float32)


def knapsack_data(
  num_data: int,
  num_features: int,
  num_items: int,
  dim: int,
  deg: int = 1,
  noise_width: float = 0.0,
  seed: int = 135,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Weights, features and item values of PyEPO's multi-dimensional knapsack.

  Weights `[dim, num_items]` uniform on {3.00, 3.01, …, 7.99}; values
  `⌈5·[((Bx)/√p + 3)^deg + 1] / 3.5^deg · U[1 − ε̄, 1 + ε̄]⌉`, for
  `ptf.solvers.Knapsack(weights, capacity)`.

  Returns:
    `(weights, x, c)`: `[dim, num_items]` float64, `[num_data,
    num_features]` float64 and `[num_data, num_items]` float32.

  Example:
    >>> weights, x, c = knapsack_data(100, 5, num_items=32, dim=2, deg=2)
    >>> weights.shape, c.shape, float(c.min()) >= 1
    ((2, 32), (100, 32), True)
  """
  _check(deg, noise_width)
  rng = np.random.RandomState(seed)
  weights = rng.choice(range(300, 800), size=(dim, num_items)) / 100
  b = rng.binomial(1, 0.5, (num_items, num_features))
  x = rng.normal(0, 1, (num_data, num_features))
  c = 5 * _polynomial(x, b, deg) / 3.5**deg
  c *= rng.uniform(1 - noise_width, 1 + noise_width, (num_data, num_items))
  return weights, x, np.ceil(c).astype(np.float32)


def tsp_data(
  num_data: int,
  num_features: int,
  num_nodes: int,
  deg: int = 1,
  noise_width: float = 0.0,
  seed: int = 135,
) -> tuple[np.ndarray, np.ndarray]:
  """Features and edge costs of PyEPO's travelling salesperson problem.

  Node coordinates: half uniform on `[−2, 2]²`, half standard normal; an
  edge costs its Euclidean length plus
  `((B'x)/√p + 3)^deg / 3^(deg − 1) · U[1 − ε̄, 1 + ε̄]`, with `B'` a
  Bernoulli(0.5) matrix times uniform `[−2, 2]` entries; rounded to 4
  decimals. Edges in PyEPO's order (`tsp_edges`).

  Returns:
    `(x, c)`: `[num_data, num_features]` float64 and
    `[num_data, num_nodes·(num_nodes − 1)/2]` float32.

  Example:
    >>> x, c = tsp_data(10, 5, num_nodes=6)
    >>> c.shape
    (10, 15)
  """
  _check(deg, noise_width)
  validation.positive_int(num_nodes, "num_nodes")
  rng = np.random.RandomState(seed)
  m, p = num_nodes, num_features
  coords = np.concatenate(
    (rng.uniform(-2, 2, (m // 2, 2)), rng.normal(0, 1, (m - m // 2, 2)))
  )
  i, j = np.triu_indices(m, k=1)  # Row-major: PyEPO's (condensed) order.
  lengths = np.sqrt(np.sum((coords[i] - coords[j]) ** 2, axis=1))
  num_edges = m * (m - 1) // 2
  b = rng.binomial(1, 0.5, (num_edges, p)) * rng.uniform(-2, 2, (num_edges, p))
  x = rng.normal(0, 1, (num_data, p))
  feature_cost = (x @ b.T / np.sqrt(p) + 3) ** deg / 3 ** (deg - 1)
  noise = rng.uniform(1 - noise_width, 1 + noise_width, (num_data, num_edges))
  c = lengths + feature_cost * noise
  return x, np.around(c, decimals=4).astype(np.float32)


def portfolio_data(
  num_data: int,
  num_features: int,
  num_assets: int,
  deg: int = 1,
  noise_level: float = 1.0,
  seed: int = 135,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Covariance, features and expected returns of PyEPO's portfolio.

  A factor model: `r = (0.05·(Bx)/√p + 0.1^(1/deg))^deg + L f + 0.01·τ·ε`
  with factor loadings `L` uniform on `[−0.0025τ, 0.0025τ]`, `f` and `ε`
  standard normal, τ = `noise_level`; the covariance `L Lᵀ + (0.01τ)² I`
  is shared by all instances.

  Returns:
    `(cov, x, r)`: `[num_assets, num_assets]` float64, `[num_data,
    num_features]` float64 and `[num_data, num_assets]` float32.

  Example:
    >>> cov, x, r = portfolio_data(10, 5, num_assets=4)
    >>> cov.shape, r.shape, bool(np.all(np.linalg.eigvalsh(cov) > 0))
    ((4, 4), (10, 4), True)
  """
  _check(deg, noise_level, "noise_level")
  validation.positive_int(num_assets, "num_assets")
  rng = np.random.RandomState(seed)
  m, p = num_assets, num_features
  b = rng.binomial(1, 0.5, (m, p))
  loadings = rng.uniform(-2.5e-3 * noise_level, 2.5e-3 * noise_level, (m, p))
  x = rng.normal(0, 1, (num_data, p))
  r = (0.05 * (x @ b.T) / np.sqrt(p) + 0.1 ** (1 / deg)) ** deg
  factors_and_residuals = rng.randn(num_data, p + m)
  factors, residuals = (
    factors_and_residuals[:, :p],
    factors_and_residuals[:, p:],
  )
  r += factors @ loadings.T + 0.01 * noise_level * residuals
  cov = loadings @ loadings.T + (1e-2 * noise_level) ** 2 * np.eye(m)
  return cov, x, r.astype(np.float32)


def optimal_solutions(
  costs: TensorLike, solver: SolverLike, batch_size: int = 1024
) -> np.ndarray:
  """`w*(c)` of every row of `costs`, solved in batches, float32.

  Args:
    costs: `[N, ...]` costs.
    solver: a batched solver (a callable, a name or a solver object).
    batch_size: rows per solver call.

  Example:
    >>> _, c = shortest_path_data(3, 5, grid=(5, 5))
    >>> optimal_solutions(c, 'grid_arc_shortest_path').sum(axis=1)
    array([8., 8., 8.], dtype=float32)
  """
  solver = registry.get_solver(solver)
  costs = np.asarray(costs)
  validation.positive_int(batch_size, "batch_size")
  return np.concatenate(
    [
      np.asarray(solver(tf.constant(costs[i : i + batch_size])), np.float32)
      for i in range(0, len(costs), batch_size)
    ]
  ).reshape(costs.shape)


def _features_and_costs(
  x: TensorLike, c: TensorLike
) -> tuple[np.ndarray, np.ndarray]:
  """`x` and `c` as float32 arrays, checked to have as many rows."""
  x = np.asarray(x, np.float32)
  c = np.asarray(c, np.float32)
  if len(x) != len(c):
    raise ValueError(
      f"x and c must have as many rows, got {len(x)} and {len(c)}."
    )
  return x, c


def _nearest_neighbours(x: np.ndarray, k: int, chunk: int = 1024) -> np.ndarray:
  """`[N, k]` indices of each row's k nearest other rows (Euclidean), the
  nearest first; the distance matrix is built `chunk` rows at a time."""
  x = x.reshape(len(x), -1).astype(np.float64)
  norms = np.sum(x * x, axis=1)
  found = []
  for start in range(0, len(x), chunk):
    rows = slice(start, start + chunk)
    squared = norms[rows, None] - 2.0 * x[rows] @ x.T + norms[None]
    squared[np.arange(len(squared)), np.arange(start, start + len(squared))] = (
      np.inf  # Not its own neighbour.
    )
    nearest = np.argpartition(squared, k - 1, axis=1)[:, :k]
    order = np.argsort(np.take_along_axis(squared, nearest, 1), axis=1)
    found.append(np.take_along_axis(nearest, order, 1))
  return np.concatenate(found)


def knn_targets(
  x: TensorLike,
  c: TensorLike,
  solver: SolverLike,
  k: int = 10,
  weight: float = 0.5,
  *,
  batch_size: int = 1024,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Schutte et al.'s kNN-robust targets: each instance seen through its k
  nearest neighbours in feature space (PyEPO's `optDatasetKNN`).

  Schutte, Postek & Yorke-Smith, "Robust Losses for Decision-Focused
  Learning" (IJCAI 2024): with noisy costs, the realised `c_i` is a poor
  estimate of the costs expected at `x_i`; the neighbours' costs average
  the noise out. Instance i with neighbours `n_1 … n_k` (Euclidean distance
  between features, i itself excluded) yields the k interpolated costs
  `c_ij = weight·c_i + (1 − weight)·c_{n_j}` and their optimal decisions
  `w*(c_ij)`, as k training rows with the features `x_i`.

  A loss averaged over these rows is the paper's estimate of the expected
  loss in the neighbourhood; every label is a decision the solver makes,
  so every loss and metric of the library accepts them. PyEPO trains on
  their means over the k rows instead, `c̄_i` and `w̄_i` (a point of the
  decisions' convex hull): for the Fenchel–Young loss, linear in its label,
  the two agree; for the other losses the rows are the estimate above.

  Args:
    x: features `[N, ...]`.
    c: costs `[N, ...]`.
    solver: the batched solver of the problem (a callable, a name or a
      solver object).
    k: neighbours per instance, `1 ≤ k < N`.
    weight: the instance's own weight in each interpolation, in `[0, 1]`
      (1: no smoothing).
    batch_size: rows per solver call.

  Returns:
    `(x, c, w)`, each with `N·k` rows, row `i·k + j` the instance i's j-th
    nearest neighbour (nearest first): `x_i` repeated, `c_ij` and `w*(c_ij)`
    (float32). `make_dataset(x, c, solver, batch_size, solutions=w)` trains
    on them.

  Raises:
    ValueError: if `x` and `c` differ in rows, or on a `k` or `weight` out of
      range.

  Example:
    >>> x, c = shortest_path_data(100, 5, grid=(5, 5), noise_width=0.5)
    >>> xk, ck, wk = knn_targets(x, c, 'grid_arc_shortest_path', k=5)
    >>> xk.shape, ck.shape, wk.shape
    ((500, 5), (500, 40), (500, 40))
    >>> data = make_dataset(xk, ck, 'grid_arc_shortest_path', 160, solutions=wk)
  """
  x, c = _features_and_costs(x, c)
  k = validation.positive_int(k, "k")
  if k >= len(x):
    raise ValueError(
      f"k must be below the number of instances ({len(x)}): each has at "
      f"most {len(x) - 1} neighbours, got k={k}."
    )
  if isinstance(weight, bool) or not (
    isinstance(weight, Real) and 0 <= weight <= 1
  ):
    raise ValueError(f"weight must be a number in [0, 1], got {weight!r}.")
  neighbours = _nearest_neighbours(x, k)  # [N, k]
  own = np.repeat(c, k, axis=0)
  mixed = (weight * own + (1 - weight) * c[neighbours.reshape(-1)]).astype(
    np.float32
  )
  solutions = optimal_solutions(mixed, solver, batch_size)
  return np.repeat(x, k, axis=0), mixed, solutions


def make_dataset(
  x: TensorLike,
  c: TensorLike,
  solver: SolverLike,
  batch_size: int,
  *,
  shuffle: bool = True,
  seed: int = 0,
  solutions: TensorLike = None,
) -> tf.data.Dataset:
  """A `tf.data.Dataset` of `(x, stack_targets(c, w*(c)))` batches, the
  costs solved once (PyEPO's `optDataset`).

  Every loss and metric of the library accepts these targets: SPO+ and the
  regret metrics use the costs and skip their solve, the Fenchel–Young loss
  and the contrastive losses the optimal decisions.

  Args:
    x: features `[N, ...]`.
    c: true costs `[N, ...]`.
    solver: the batched solver of the problem (a callable, a name or a
      solver object).
    batch_size: the batch size.
    shuffle: reshuffle every epoch (from `seed`).
    seed: the shuffling seed.
    solutions: `w*(c)` if already known (skips the solve).

  Returns:
    The batched data set (the last batch may be smaller).

  Example:
    >>> x, c = shortest_path_data(100, 5, grid=(5, 5), deg=6, noise_width=0.5)
    >>> data = make_dataset(x, c, 'grid_arc_shortest_path', batch_size=32)
    >>> features, y = next(iter(data))
    >>> features.shape, y.shape
    (TensorShape([32, 5]), TensorShape([32, 2, 40]))
  """
  x, c = _features_and_costs(x, c)
  validation.positive_int(batch_size, "batch_size")
  w = (
    optimal_solutions(c, solver)
    if solutions is None
    else np.asarray(solutions, np.float32)
  )
  y = targets.stack_targets(c, w)
  data = tf.data.Dataset.from_tensor_slices((x, y))
  if shuffle:
    data = data.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
  return data.batch(batch_size).prefetch(tf.data.AUTOTUNE)
