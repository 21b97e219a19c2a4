"""Shortest paths on grids, TF-native and batched: vertex costs on a 2-D grid
(the Warcraft maps of Vlastelica et al.) and arc costs on PyEPO's grid DAG.

Both minimise the cost of a path (`maximize = False`; see `sense.py`), run
in eager mode, in `tf.function` and under XLA, refuse NaN and Inf, and
check labels offered as their outputs (0/1 entries).
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence
import functools
import math

import keras
import numpy as np
import tensorflow as tf

from perturbations_tf._src import invariants
from perturbations_tf._src import perturbation
from perturbations_tf._src import sense
from perturbations_tf._src import validation

_register = keras.saving.register_keras_serializable(package="perturbations_tf")
_minimizes = sense.declare_sense(maximize=False)


# Neighbour offsets (row, column), in the fixed order that breaks ties.
_OFFSETS = {
  4: ((-1, 0), (0, -1), (0, 1), (1, 0)),
  8: ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)),
}


Offsets = Sequence[tuple[int, int]]


def _neighbours(x: tf.Tensor, offsets: Offsets, fill: float) -> tf.Tensor:
  """`[K, B, H, W]`: entry k at (i, j) is x at (i + dr_k, j + dc_k), or fill."""
  h, w = tf.shape(x)[1], tf.shape(x)[2]
  padded = tf.pad(x, [[0, 0], [1, 1], [1, 1]], constant_values=fill)
  return tf.stack(
    [padded[:, 1 + dr : 1 + dr + h, 1 + dc : 1 + dc + w] for dr, dc in offsets]
  )


def _max_neighbour(x: tf.Tensor, connectivity: int) -> tf.Tensor:
  """The largest value among each cell's neighbours and itself, `[B, H, W, 1]`.

  Distances are relaxed negated (padding never wins a max), as a running
  maximum of shifted copies, not a 3×3 `max_pool2d`, which is slow for one
  channel on AMD EPYC CPUs."""
  h, w = tf.shape(x)[1], tf.shape(x)[2]
  padded = tf.pad(
    x, [[0, 0], [1, 1], [1, 1], [0, 0]], constant_values=-float("inf")
  )
  out = x
  for dr, dc in _OFFSETS[connectivity]:
    out = tf.maximum(out, padded[:, 1 + dr : 1 + dr + h, 1 + dc : 1 + dc + w])
  return out


# Loop schedules. On a GPU every while_loop trip is a kernel launch and a
# device-to-host check of its condition, and the solver is latency-bound:
# 'latency' makes few trips (several relaxations per convergence check, the
# path marked by pointer jumping). On a CPU trips are cheap and the work
# counts: 'throughput' checks after every relaxation and traces the path one
# cell per trip. Both return the same paths, bit for bit.
SCHEDULES = {"latency": 8, "throughput": 1}  # Relaxations per trip.


def default_schedule() -> str:
  """'latency' where a GPU is visible, else 'throughput'."""
  return "latency" if tf.config.list_logical_devices("GPU") else "throughput"


def _until_stable(
  relax: Callable[[tf.Tensor], tf.Tensor],
  x: tf.Tensor,
  max_relaxations: int | tf.Tensor,
  per_trip: int,
  first: int = 0,
):
  """Applies `relax` until `x` stops changing; returns `(x, trips)`.

  `first` relaxations known to be needed (the path's fewest moves) are
  applied unchecked in the first trip; then `per_trip` per trip, until a
  trip's last relaxation changes nothing (a fixed point: at most
  `per_trip - 1` relaxations are wasted)."""

  def block(x: tf.Tensor, _: tf.Tensor, trips: tf.Tensor):
    for _ in range(per_trip - 1):
      x = relax(x)
    new = relax(x)
    return new, tf.reduce_any(new != x), trips + 1

  for _ in range(first):
    x = relax(x)
  x, _, trips = tf.while_loop(
    lambda x, changed, trips: changed,
    block,
    (x, tf.constant(True), 1 if first else 0),
    maximum_iterations=max_relaxations // per_trip + 2,
  )
  return x, trips


def _hop_counts(
  candidate: tf.Tensor, source: tf.Tensor, offsets: Offsets, per_trip: int
):
  """Fewest moves from the source along predecessor links (`candidate[k]`:
  neighbour k is a predecessor), used to break distance plateaus; and the
  loop trips taken."""
  big = tf.int32.max

  def relax(hops: tf.Tensor) -> tf.Tensor:
    n_hops = tf.where(candidate, _neighbours(hops, offsets, big), big)
    best = tf.reduce_min(n_hops, axis=0)
    return tf.where(source, 0, tf.where(best == big, big, best + 1))

  return _until_stable(
    relax, tf.where(source, 0, big), tf.size(source[0]), per_trip
  )


def _ancestors(parent: tf.Tensor, start: tf.Tensor, size: int | tf.Tensor):
  """Marks `start` and all its ancestors along `parent` (`[B, N]` indices
  into the same row; a root is its own parent), by pointer jumping: after
  k doublings every ancestor within 2^k generations is marked, so
  `ceil(log2 N)` steps mark the whole chain (unrolled when N is static).
  Returns `(marked, steps)`."""
  b = tf.shape(parent)[0]
  rows = tf.range(b)[:, tf.newaxis] * size

  def jump(marked: tf.Tensor, parent: tf.Tensor):
    # Each marked node marks its 2^k-th ancestor, in one scatter.
    reached = tf.math.unsorted_segment_max(
      tf.reshape(tf.cast(marked, tf.int32), [-1]),
      tf.reshape(parent + rows, [-1]),
      b * size,
    )
    marked = marked | (tf.reshape(reached, [b, size]) > 0)
    return marked, tf.gather(parent, parent, batch_dims=1)

  steps = (
    math.ceil(math.log2(size)) if isinstance(size, int) and size > 1 else None
  )
  if steps is not None:
    for _ in range(steps):
      start, parent = jump(start, parent)
    return start, steps
  steps = tf.cast(
    tf.math.ceil(tf.math.log(tf.cast(size, tf.float32)) / math.log(2.0)),
    tf.int32,
  )
  start, _ = tf.while_loop(
    lambda m, p: True, jump, (start, parent), maximum_iterations=steps
  )
  return start, steps


def _chain(parent: tf.Tensor, size: int | tf.Tensor):
  """Marks the last node and its ancestors along `parent`, one generation
  per trip (node 0 is the root); returns `(marked, trips)`."""
  b = tf.shape(parent)[0]
  position = tf.fill([b], size - 1)
  marked = tf.one_hot(position, size, on_value=True, off_value=False)

  def step(position: tf.Tensor, marked: tf.Tensor, trips: tf.Tensor):
    position = tf.gather(parent, position, batch_dims=1)
    return (
      position,
      marked | tf.one_hot(position, size, on_value=True, off_value=False),
      trips + 1,
    )

  _, marked, trips = tf.while_loop(
    lambda p, m, t: tf.reduce_any(p != 0),
    step,
    (position, marked, 0),
    maximum_iterations=size,
  )
  return marked, trips


def _shortest_path_and_trips(
  costs: tf.Tensor, connectivity: int, schedule: str
):
  """`shortest_path` on checked, floored float costs; and its sequential
  loop trips (a proxy for its latency on a GPU)."""
  per_trip = SCHEDULES[schedule]
  offsets = _OFFSETS[connectivity]
  shape = tf.shape(costs)
  b, h, w = shape[0], shape[1], shape[2]
  static = costs.shape[1:].is_fully_defined()
  size = costs.shape[1] * costs.shape[2] if static else h * w
  source = tf.pad(tf.ones([b, 1, 1], tf.bool), [[0, 0], [0, h - 1], [0, w - 1]])
  neg_c = -costs[..., tf.newaxis]

  def relax(neg_dist: tf.Tensor) -> tf.Tensor:  # -dist, [B, H, W, 1].
    return tf.maximum(neg_dist, neg_c + _max_neighbour(neg_dist, connectivity))

  # A path needs at least max(H, W) - 1 moves (8-connected; 4-connected:
  # H + W - 2), so as many relaxations are certainly needed: the latency
  # schedule makes them in one trip.
  fewest_moves = 0
  if schedule == "latency" and static:
    rows, cols = costs.shape[1], costs.shape[2]
    fewest_moves = max(rows, cols) - 1 if connectivity == 8 else rows + cols - 2
  neg_dist, trips = _until_stable(
    relax,
    tf.where(source, -costs, -float("inf"))[..., tf.newaxis],
    h * w,
    per_trip,
    first=fewest_moves,
  )
  dist = -neg_dist[..., 0]

  # Predecessors of a cell: its neighbours of least distance. Distances fall
  # strictly along them unless costs are 0 (or vanish in rounding); only then
  # are hop counts needed to keep the path from cycling on a plateau.
  n_dist = _neighbours(dist, offsets, float("inf"))
  is_pred = n_dist == tf.reduce_min(n_dist, axis=0)
  plateau = tf.reduce_any(~source & (tf.reduce_min(n_dist, axis=0) >= dist))
  hops, hop_trips = tf.cond(
    plateau,
    lambda: _hop_counts(is_pred, source, offsets, per_trip),
    lambda: (tf.zeros_like(dist, tf.int32), 0),
  )
  n_hops = tf.where(
    is_pred, _neighbours(hops, offsets, tf.int32.max), tf.int32.max
  )
  which = tf.argmin(  # The first predecessor of fewest hops.
    tf.cast(n_hops != tf.reduce_min(n_hops, axis=0), tf.int32),
    axis=0,
    output_type=tf.int32,
  )

  # The path: the bottom-right cell and its ancestors along the chosen
  # predecessors (the top-left cell is its own).
  moves = tf.constant(offsets, tf.int32)  # [K, 2]
  step = tf.gather(moves, which)  # [B, H, W, 2]
  cells = tf.range(h * w)
  parent = tf.where(
    tf.reshape(source, [b, -1]),
    0,
    cells + tf.reshape(step[..., 0] * w + step[..., 1], [b, -1]),
  )
  if schedule == "latency":
    sink = tf.tile(tf.equal(cells, h * w - 1)[tf.newaxis], [b, 1])
    on_path, jumps = _ancestors(parent, sink, size)
  else:
    on_path, jumps = _chain(parent, h * w)
  return (
    tf.reshape(tf.cast(on_path, costs.dtype), shape),
    trips + hop_trips + jumps,
  )


_COMPILED: dict = {}


def _compiled(connectivity: int, schedule: str):
  """The solver on checked, floored costs as one XLA program, in every mode:
  XLA fuses each relaxation and runs the loops without TensorFlow's
  per-operation dispatch, and the same program in eager mode, graphs and
  jit-compiled steps."""
  key = (connectivity, schedule)
  if key not in _COMPILED:
    _COMPILED[key] = tf.function(
      lambda c: _shortest_path_and_trips(c, connectivity, schedule)[0],
      jit_compile=True,
      reduce_retracing=True,
      autograph=False,
    )
  return _COMPILED[key]


@_register
@_minimizes
def shortest_path(
  costs: tf.Tensor, connectivity: int = 8, min_cost: float | None = None
) -> tf.Tensor:
  """Shortest top-left to bottom-right path on vertex-weighted grids.

  The path's cost is the sum of the costs of its cells, both ends included;
  moves go to the 8 (or 4) neighbouring cells. Distances are computed for the
  whole batch at once by min-plus (Bellman–Ford) relaxations on the grid until
  they stop changing, then each cell takes as predecessor the neighbour of
  least (distance, hop count) — the first in a fixed order on exact ties —
  and the path is the bottom-right cell's chain of predecessors; so the
  result is deterministic and loop-free even with zero costs. Where a GPU
  is visible the loops make few sequential trips (8 relaxations per
  convergence check, `log2(H·W)` jumps: its latency is the trips),
  elsewhere little work (see `SCHEDULES`); the paths are the same.

  Args:
    costs: non-negative vertex costs, `[B, H, W]`.
    connectivity: 8 (diagonal moves allowed, the Warcraft setting) or 4.
    min_cost: if given, costs are floored at this value first — a documented,
      explicit floor for perturbed costs. If None (the default), negative
      costs raise an error (in eager mode and `tf.function`; XLA compiles
      assertions out).

  Returns:
    The 0/1 path mask, `costs`' shape and dtype (float32 for integers).

  Raises:
    ValueError: on a wrong rank or connectivity.
    tf.errors.InvalidArgumentError: on NaN or infinite costs, and on negative
      costs when `min_cost` is None (in eager mode and `tf.function`).

  Example:
    >>> costs = tf.constant([[[1.0, 9.0], [1.0, 1.0]]])
    >>> shortest_path(costs, connectivity=4).numpy()
    array([[[1., 0.],
            [1., 1.]]], dtype=float32)
  """
  costs = tf.convert_to_tensor(costs)
  if costs.shape.rank != 3:
    raise ValueError(
      f"costs must have shape [batch, height, width], got {costs.shape}."
    )
  check_connectivity(connectivity)
  dtype = validation.compute_dtype(costs.dtype)
  # Checked before the floor, which would silently turn NaN into a path.
  c = tf.cast(validation.check_finite(costs, "shortest_path"), dtype)
  if min_cost is not None:
    c = tf.maximum(c, tf.cast(min_cost, dtype))
  else:
    tf.debugging.assert_non_negative(
      c,
      message="shortest_path needs non-negative costs (negative cycles "
      "make it undefined). Keep costs positive with a softplus output, use "
      "perturbation='multiplicative', or set an explicit min_cost floor",
    )
  mask = _compiled(connectivity, default_schedule())(c)
  return tf.cast(mask, validation.solution_dtype(costs.dtype))


def grid_arcs(grid: Sequence[int]) -> list:
  """The arcs `(u, v)` of PyEPO's grid DAG, in its order; nodes row by row.

  Each row's east arcs, then (except for the last row) its south arcs down
  to the next row: `(m - 1)·n + m·(n - 1)` arcs for an `m × n` grid of nodes.

  Example:
    >>> grid_arcs((2, 2))
    [(0, 1), (0, 2), (1, 3), (2, 3)]
  """
  m, n = _check_grid(grid)
  arcs = []
  for i in range(m):
    arcs += [(i * n + j, i * n + j + 1) for j in range(n - 1)]
    if i < m - 1:
      arcs += [(i * n + j, (i + 1) * n + j) for j in range(n)]
  return arcs


def grid_flow_constraints(grid: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
  """PyEPO's grid shortest path as a flow linear program's constraints.

  One unit of flow leaves the north-west node and reaches the south-east
  one: `A_eq x = b_eq` with `A_eq` the node–arc incidence matrix (+1 where
  an arc leaves a node, −1 where it enters) and `b_eq` +1 at the source, −1
  at the sink; with `0 ≤ x ≤ 1` its vertices are the paths (the matrix is
  totally unimodular), so `LinearProgram(A_eq=..., b_eq=..., bounds=(0, 1))`
  solves the shortest path, arcs in `grid_arcs` order.

  Args:
    grid: `(m, n)` nodes.

  Returns:
    `(A_eq, b_eq)`: `[m·n, num_arcs]` and `[m·n]` float64 arrays.

  Example:
    >>> a_eq, b_eq = grid_flow_constraints((2, 2))
    >>> a_eq.astype(int).tolist()
    [[1, 1, 0, 0], [-1, 0, 1, 0], [0, -1, 0, 1], [0, 0, -1, -1]]
    >>> b_eq.tolist()
    [1.0, 0.0, 0.0, -1.0]
  """
  m, n = _check_grid(grid)
  arcs = grid_arcs((m, n))
  incidence = np.zeros((m * n, len(arcs)))
  for k, (tail, head) in enumerate(arcs):
    incidence[tail, k] = 1.0
    incidence[head, k] = -1.0
  supply = np.zeros(m * n)
  supply[0], supply[-1] = 1.0, -1.0
  return incidence, supply


def _check_grid(grid: Sequence[int]) -> tuple:
  if (
    not isinstance(grid, (tuple, list))
    or len(grid) != 2
    or any(isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in grid)
    or tuple(grid) == (1, 1)
  ):
    raise ValueError(
      "grid must be (rows, columns) of nodes, two positive "
      f"integers and more than one node, got {grid!r}."
    )
  return int(grid[0]), int(grid[1])


def _shift(x: tf.Tensor, axis: int, fill: bool | float = False) -> tf.Tensor:
  """`[B, m, n]` x moved one node south (axis 1) or east (axis 2), `fill` in."""
  pad = [[0, 0], [0, 0], [0, 0]]
  pad[axis][0] = 1
  padded = tf.pad(x, pad, constant_values=fill)
  return padded[:, :-1] if axis == 1 else padded[:, :, :-1]


def _unshift(x: tf.Tensor, axis: int) -> tf.Tensor:
  """`[B, m, n]` booleans moved one node north (axis 1) or west (axis 2)."""
  pad = [[0, 0], [0, 0], [0, 0]]
  pad[axis][1] = 1
  padded = tf.pad(x, pad)
  return padded[:, 1:] if axis == 1 else padded[:, :, 1:]


@_register
@_minimizes
def grid_arc_shortest_path(
  costs: tf.Tensor, grid: tuple[int, int] = (5, 5)
) -> tf.Tensor:
  """Shortest north-west to south-east path on PyEPO's grid DAG, arc costs.

  The grid has `m × n` nodes; arcs go east and south only, so the graph is
  acyclic and any costs, negative ones included, have a shortest path. The
  arcs are in PyEPO's order (`pyepo.model.*.shortestPathModel`; see
  `grid_arcs`): row by row, a row's east arcs, then its south arcs. It
  minimises `<w, c>` over the 0/1 arc vectors `w` of such paths.

  Distances are exact dynamic programming on the DAG, `m + n - 2` sweeps of
  whole-grid min-plus updates (node `(i, j)` is final after `i + j` sweeps,
  with the very additions that the trace-back compares), for the whole batch
  at once; the path is then marked backwards from the sink in as many sweeps,
  each node taking the predecessor of least `distance + arc cost` (the west
  one on exact ties), so the result is deterministic and optimal. The sweeps
  are unrolled: no `while_loop`, so no loop trips under XLA.

  Args:
    costs: arc costs, `[B, (m - 1)·n + m·(n - 1)]`.
    grid: `(m, n)`, the numbers of node rows and columns (PyEPO's `grid`).

  Returns:
    The 0/1 arc vectors of the shortest paths, `costs`' shape and dtype
    (float32 for integers).

  Raises:
    ValueError: on a bad grid or a number of arcs that does not match it.
    tf.errors.InvalidArgumentError: on NaN or infinite costs (in eager mode
      and `tf.function`; XLA compiles the check out).

  Example:
    >>> costs = tf.constant([[1.0, 5.0, 2.0, 1.0]])  # grid (2, 2)
    >>> grid_arc_shortest_path(costs, grid=(2, 2)).numpy()
    array([[1., 0., 1., 0.]], dtype=float32)
  """
  m, n = _check_grid(grid)
  costs = tf.convert_to_tensor(costs)
  num_arcs = (m - 1) * n + m * (n - 1)
  if costs.shape.rank != 2 or costs.shape[-1] != num_arcs:
    raise ValueError(
      f"costs must have shape [batch, {num_arcs}] for grid {tuple(grid)} "
      f"((m - 1)·n + m·(n - 1) arcs), got {costs.shape}."
    )
  dtype = validation.compute_dtype(costs.dtype)
  c = tf.cast(validation.check_finite(costs, "grid_arc_shortest_path"), dtype)
  b = tf.shape(c)[0]
  # East arc (i, j) -> (i, j + 1) and south arc (i, j) -> (i + 1, j), each
  # stored at its head node: [B, m, n], +inf where a node has no such arc.
  head = (m - 1) * (2 * n - 1)
  rows = tf.reshape(c[:, :head], [b, m - 1, 2 * n - 1])
  east = tf.concat([rows[..., : n - 1], c[:, tf.newaxis, head:]], axis=1)
  south = rows[..., n - 1 :]
  inf = tf.constant(float("inf"), dtype)
  into_east = tf.pad(east, [[0, 0], [0, 0], [1, 0]], constant_values=inf)
  into_south = tf.pad(south, [[0, 0], [1, 0], [0, 0]], constant_values=inf)

  source = tf.pad(tf.ones([1, 1, 1], tf.bool), [[0, 0], [0, m - 1], [0, n - 1]])
  dist = tf.where(source, tf.zeros([b, m, n], dtype), inf)
  for _ in range(m + n - 2):
    from_west = _shift(dist, 2, inf) + into_east
    from_north = _shift(dist, 1, inf) + into_south
    dist = tf.minimum(dist, tf.minimum(from_west, from_north))
  from_west = _shift(dist, 2, inf) + into_east
  from_north = _shift(dist, 1, inf) + into_south
  west_pred = from_west <= from_north  # Else the north one.

  sink = tf.pad(tf.ones([1, 1, 1], tf.bool), [[0, 0], [m - 1, 0], [n - 1, 0]])
  on_path = tf.tile(sink, [b, 1, 1])
  for _ in range(m + n - 2):  # A node is on the path if its successor on
    # the path picked it: the east neighbour from the west, or the south one.
    east_picks = _unshift(on_path & west_pred, 2)
    south_picks = _unshift(on_path & ~west_pred, 1)
    on_path = on_path | east_picks | south_picks
  # The source picks no arc: its candidates are both +inf, and the slices
  # below drop its row and column.
  used_east = on_path & west_pred
  used_south = on_path & ~west_pred
  out = validation.solution_dtype(costs.dtype)
  arcs_east = tf.cast(used_east[..., 1:], out)  # At the head nodes.
  arcs_south = tf.cast(used_south[:, 1:], out)
  blocks = tf.concat([arcs_east[:, : m - 1], arcs_south], axis=2)
  return tf.concat([tf.reshape(blocks, [b, head]), arcs_east[:, m - 1]], axis=1)


def check_connectivity(connectivity: int) -> int:
  """`connectivity` if it is 4 or 8 (a grid's neighbours), else ValueError.

  Example:
    >>> check_connectivity(8)
    8
  """
  if connectivity not in _OFFSETS:
    raise ValueError(f"connectivity must be 4 or 8, got {connectivity!r}.")
  return connectivity


def _vertex_paths_ok_graph(y: tf.Tensor) -> tf.Tensor:
  ends = tf.reduce_all(y[..., 0, 0] == 1) & tf.reduce_all(y[..., -1, -1] == 1)
  return tf.reduce_all(invariants.is_binary(y)) & ends


# One graph in eager mode: dispatched op by op, the check cost as much as
# the Fenchel–Young loss's own work at M = 3 (the overhead benchmark).
_vertex_paths_ok = perturbation.Compiled(_vertex_paths_ok_graph)


def _check_vertex_paths(
  y: tf.Tensor, owner: str, **solver_kwargs: object
) -> tf.Tensor:
  """Labels of `shortest_path`: 0/1 masks through both corners."""
  del solver_kwargs  # Any connectivity or floor: the same check.
  return invariants.checked(
    y,
    _vertex_paths_ok(tf.convert_to_tensor(y)),
    f"{owner}: the labels of shortest_path are 0/1 masks of paths from the "
    "top-left to the bottom-right cell (both ends set).",
  )


@functools.cache
def _flow_constraints(grid: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
  """`grid_flow_constraints(grid)`, built once per grid for the label
  checks (a Python loop over the arcs otherwise runs at every eager call)."""
  return grid_flow_constraints(grid)


def _check_arc_paths(
  y: tf.Tensor, owner: str, grid: tuple[int, int] = (5, 5)
) -> tf.Tensor:
  """Labels of `grid_arc_shortest_path`: 0/1 arc vectors that carry one
  unit of flow from the source to the sink (flow conservation)."""
  incidence, supply = _flow_constraints(tuple(grid))
  y = tf.convert_to_tensor(y)
  if y.shape.rank != 2 or y.shape[-1] != incidence.shape[1]:
    raise ValueError(
      f"{owner}: labels of grid_arc_shortest_path on a {grid} grid are "
      f"[batch, {incidence.shape[1]}] arc vectors, got {y.shape}."
    )
  flow = tf.matmul(tf.cast(y, tf.float64), incidence, transpose_b=True)
  conserved = tf.reduce_all(tf.abs(flow - supply) < 1e-6)
  return invariants.checked(
    y,
    tf.reduce_all(invariants.is_binary(y)) & conserved,
    f"{owner}: the labels of grid_arc_shortest_path must be 0/1 arc "
    f"vectors of source-to-sink paths on the {grid} grid (flow "
    "conserved at every node); are y_true's costs and solutions swapped?",
  )


shortest_path.check_solutions = _check_vertex_paths
grid_arc_shortest_path.check_solutions = _check_arc_paths
