"""The symmetric travelling salesperson problem, exact, as a batched solver.

    min cᵀx  over the tours x ∈ {0, 1}^E of the complete graph on n nodes,

one cost per undirected edge in PyEPO's order (`data.tsp_edges`). Each row
is solved by HiGHS (scipy's `milp`) in the Dantzig–Fulkerson–Johnson
formulation with its subtour constraints added as they are violated: solve
with every node of degree 2, split the solution into its cycles, and, while
there is more than one, forbid each cycle's node set S from closing on
itself (`Σ_{e ⊆ S} x_e ≤ |S| − 1`) and solve again. The final solution is
a single cycle through every node and optimal for the full formulation,
whose other constraints it satisfies — so it is exact.

DFJ is the fastest of the three usual formulations here: on PyEPO's 20-node
instances, 20.5 ms a tour against 904 ms (Gavish–Graves' flows, 44×)
and 998 ms (Miller–Tucker–Zemlin's orders, 48.6×) with the same HiGHS on one
thread (`benchmarks/tsp_formulations.py`), as it asks HiGHS for a few small
matchings instead of one big model.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import functools
import math

import keras
import numpy as np
import tensorflow as tf

from perturbations_tf._src import highs
from perturbations_tf._src import host_solver
from perturbations_tf._src import invariants
from perturbations_tf._src import optional
from perturbations_tf._src import validation
from perturbations_tf._src.errors import UnsolvedProgramError


def _scipy():
  owner = "TSP solves through scipy's HiGHS"
  return tuple(
    optional.require(name, owner, "lp")
    for name in ("scipy.optimize", "scipy.sparse", "scipy.sparse.csgraph")
  )


def tsp_edges(num_nodes: int) -> list[tuple[int, int]]:
  """The edges `(i, j)`, `i < j`, of the complete graph in PyEPO's order
  (row-major upper triangle): the order of a tour's costs and variables.

  Example:
    >>> tsp_edges(4)
    [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]
  """
  validation.positive_int(num_nodes, "num_nodes")
  return [(i, j) for i in range(num_nodes) for j in range(i + 1, num_nodes)]


@dataclasses.dataclass(frozen=True)
class _Graph:
  """The complete graph's edges, picklable for worker processes."""

  num_nodes: int
  time_limit: float | None

  @functools.cached_property
  def ends(self) -> np.ndarray:
    return np.array(tsp_edges(self.num_nodes)).reshape(-1, 2)

  @functools.cached_property
  def endpoints(self) -> tuple[np.ndarray, np.ndarray]:
    """`[n, E]` one-hot matrices of each edge's first and second node."""
    eye = np.eye(self.num_nodes)
    return eye[self.ends[:, 0]].T, eye[self.ends[:, 1]].T

  @functools.cached_property
  def incidence(self) -> np.ndarray:
    """`[n, E]`: 1 where the edge touches the node."""
    e = np.arange(len(self.ends))
    incidence = np.zeros((self.num_nodes, len(e)))
    incidence[self.ends[:, 0], e] = incidence[self.ends[:, 1], e] = 1
    return incidence


def cycles(graph: _Graph, x: np.ndarray) -> list[np.ndarray]:
  """The node sets of the connected components of the chosen edges."""
  _, sparse, csgraph = _scipy()
  ends = graph.ends[x > 0.5]
  n = graph.num_nodes
  adjacency = sparse.coo_matrix(
    (np.ones(len(ends)), (ends[:, 0], ends[:, 1])), shape=(n, n)
  )
  count, label = csgraph.connected_components(adjacency, directed=False)
  return [np.flatnonzero(label == k) for k in range(count)]


def solve_tour(costs: np.ndarray, graph: _Graph) -> np.ndarray:
  """The optimal tour of one cost vector, `[E]` 0/1 (on a worker).

  Raises:
    ValueError: on non-finite costs.
    UnsolvedProgramError: when HiGHS stops without an optimum (its time
      limit).
  """
  optimize, _, _ = _scipy()
  c = np.asarray(costs, np.float64)
  validation.check_finite_array(c, "TSP", "costs")
  rows, upper = [graph.incidence], [np.full(graph.num_nodes, 2.0)]
  options = {} if graph.time_limit is None else {"time_limit": graph.time_limit}
  while True:
    result = optimize.milp(
      c,
      integrality=np.ones_like(c),
      bounds=optimize.Bounds(0, 1),
      constraints=_constraint(rows, upper, graph.num_nodes),
      options=options,
    )
    if result.status != 0 or result.x is None:
      raise UnsolvedProgramError(f"HiGHS found no tour: {result.message}")
    x = np.round(result.x)
    parts = cycles(graph, x)
    if len(parts) == 1:
      return x
    for nodes in parts:  # Each subtour's node set may not close on itself.
      inside = np.zeros(graph.num_nodes, bool)
      inside[nodes] = True
      rows.append((inside[graph.ends[:, 0]] & inside[graph.ends[:, 1]])[None])
      upper.append(np.array([len(nodes) - 1.0]))


def _constraint(rows: list, upper: list, num_nodes: int):
  """`degree = 2` and the cuts so far."""
  lower = np.full(sum(len(u) for u in upper), -np.inf)
  lower[:num_nodes] = 2.0
  return highs.sparse_constraint(
    np.concatenate(rows), lower, np.concatenate(upper)
  )


@keras.saving.register_keras_serializable(package="perturbations_tf")
class TSP(host_solver.HostSolver):
  """The symmetric travelling salesperson problem on `num_nodes` nodes,
  exact, as a batched solver (it minimises).

  Calling it on edge costs `[B, E]`, `E = n(n − 1)/2` in PyEPO's edge order
  (`tsp_edges`, `data.tsp`), returns each row's optimal tour as a 0/1 edge
  vector `[B, E]` (n ones) in the costs' floating dtype. Any finite costs
  are allowed, negative ones included (SPO+'s `2ĉ − c`, perturbations):
  every tour has n edges. A host call through `numpy_solver` (HiGHS
  releases the GIL, so threads use every core); needs scipy.

  Args:
    num_nodes: n ≥ 3.
    executor: `'threads'` (default), `'processes'` or a
      `concurrent.futures.Executor`, as `numpy_solver`.
    num_workers: as `numpy_solver` (default: the CPU count).
    time_limit: seconds per HiGHS call before it gives up (and the call
      raises), or None.

  Raises:
    ValueError: on fewer than 3 nodes.

  Example:
    >>> # Four corners of a unit square: the tour goes round it.
    >>> corners = np.array([[0., 0.], [1., 0.], [1., 1.], [0., 1.]])
    >>> i, j = np.array(tsp_edges(4)).T
    >>> lengths = np.linalg.norm(corners[i] - corners[j], axis=1)
    >>> TSP(4)(tf.constant([lengths])).numpy()  # The diagonals are out.
    array([[1., 0., 1., 1., 0., 1.]])
  """

  maximize = False

  def __init__(
    self,
    num_nodes: int,
    *,
    executor: str | concurrent.futures.Executor = "threads",
    num_workers: int | None = None,
    time_limit: float | None = None,
  ):
    validation.positive_int(num_nodes, "num_nodes")
    if num_nodes < 3:
      raise ValueError(f"A tour needs num_nodes >= 3, got {num_nodes}.")
    if time_limit is not None:
      validation.positive_number(time_limit, "time_limit")
    self.num_nodes = num_nodes
    self._graph = _Graph(num_nodes, time_limit)
    _scipy()  # Fails here, not in the first training step.
    self._start(
      functools.partial(solve_tour, graph=self._graph),
      num_nodes * (num_nodes - 1) // 2,
      executor,
      num_workers,
      dict(num_nodes=num_nodes, time_limit=time_limit),
    )

  def check_solutions(self, y: tf.Tensor, owner: str) -> tf.Tensor:
    """`y` after a check that its rows are tours: 0/1 edge vectors with two
    edges at every node, all on one cycle (no subtours).

    Example:
      >>> square = tf.constant([[1., 0., 1., 1., 0., 1.]])
      >>> TSP(4).check_solutions(square, "test").shape
      TensorShape([1, 6])
    """
    y = validation.check_rows(y, self.num_variables, owner, "labels")
    graph = self._graph
    first, second = graph.endpoints
    w = tf.cast(y, tf.float64)
    degrees = tf.matmul(w, graph.incidence, transpose_b=True)
    half = tf.einsum("ie,be,je->bij", first, w, second)
    reach = tf.minimum(
      half + tf.transpose(half, [0, 2, 1]) + np.eye(self.num_nodes), 1.0
    )
    for _ in range(math.ceil(math.log2(self.num_nodes))):
      reach = tf.minimum(tf.matmul(reach, reach), 1.0)
    ok = (
      tf.reduce_all(invariants.is_binary(y))
      & tf.reduce_all(degrees == 2.0)
      & tf.reduce_all(reach[:, 0] > 0)
    )
    return invariants.checked(
      y,
      ok,
      f"{owner}: the labels of a TSP must be tours of all {self.num_nodes} "
      "nodes (0/1 edge vectors, two edges at every node, one cycle); are "
      "y_true's costs and solutions swapped?",
    )

  @staticmethod
  def tour(solution: np.ndarray, num_nodes: int) -> list[int]:
    """The order of the nodes along a tour, from node 0.

    Args:
      solution: one 0/1 edge vector `[E]` (a row of the solver's output).
      num_nodes: n.

    Returns:
      The n nodes in visiting order, starting at 0 towards its smaller
      neighbour.

    Example:
      >>> TSP.tour(np.array([1., 0., 1., 1., 0., 1.]), 4)
      [0, 1, 2, 3]
    """
    ends = np.array(tsp_edges(num_nodes))[np.asarray(solution) > 0.5]
    neighbours: dict[int, list[int]] = {v: [] for v in range(num_nodes)}
    for i, j in ends:
      neighbours[int(i)].append(int(j))
      neighbours[int(j)].append(int(i))
    order = [0]
    if all(len(v) == 2 for v in neighbours.values()):
      previous, node = 0, min(neighbours[0])
      while node != 0:
        order.append(node)
        previous, node = node, sum(neighbours[node]) - previous
    if len(order) != num_nodes:
      raise ValueError(
        f"The solution is not a tour of all {num_nodes} nodes: every node "
        "needs two edges, on one cycle."
      )
    return order
