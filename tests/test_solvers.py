"""Tests of the TF-native solvers against exact references."""

import itertools

import numpy as np
import pytest
import tensorflow as tf

from benchmarks import references
from experiments import dijkstra
import perturbations_tf as ptf
from perturbations_tf import solvers
from perturbations_tf._src import grid_paths as grid_paths_lib
from tests import grid_paths

MODES = {
  "eager": lambda f: f,
  "function": tf.function,
  "xla": lambda f: tf.function(f, jit_compile=True),
}


@pytest.mark.parametrize("mode", MODES)
def test_argmax_top_k_ranks_sort(mode, rng):
  x = rng.normal(size=(6, 5)).astype(np.float32)
  run = lambda f, *a: MODES[mode](f)(tf.constant(x), *a).numpy()
  np.testing.assert_array_equal(run(solvers.argmax), np.eye(5)[x.argmax(-1)])
  top2 = np.zeros_like(x)
  np.put_along_axis(top2, np.argsort(-x, -1)[:, :2], 1, -1)
  np.testing.assert_array_equal(run(lambda t: solvers.top_k(t, 2)), top2)
  np.testing.assert_array_equal(
    run(solvers.ranks), np.argsort(np.argsort(x, -1), -1)
  )
  np.testing.assert_array_equal(run(solvers.sort), np.sort(x, -1))


def test_ranks_maximise_inner_product_over_permutations(rng):
  x = rng.normal(size=5)
  best = max(itertools.permutations(range(5)), key=lambda p: np.dot(p, x))
  np.testing.assert_array_equal(solvers.ranks(tf.constant(x[None]))[0], best)


def test_ties_are_deterministic():
  x = tf.constant([[1.0, 3.0, 3.0, 0.0]])
  np.testing.assert_array_equal(solvers.argmax(x), [[0, 1, 0, 0]])
  np.testing.assert_array_equal(solvers.top_k(x, 1), [[0, 1, 0, 0]])
  np.testing.assert_array_equal(solvers.ranks(x), [[1, 2, 3, 0]])
  np.testing.assert_array_equal(solvers.argmax(x, axis=0), [[1, 1, 1, 1]])
  with pytest.raises(ValueError, match="k must be an integer in"):
    solvers.top_k(x, 5)


@pytest.mark.parametrize("connectivity", [4, 8])
@pytest.mark.parametrize("shape", [(12, 12), (5, 9), (1, 6), (18, 18)])
def test_shortest_path_matches_dijkstra(connectivity, shape, rng):
  costs = rng.uniform(0.05, 10.0, size=(40,) + shape)
  masks = tf.function(solvers.shortest_path, jit_compile=True)(
    tf.constant(costs), connectivity
  ).numpy()
  for cost, mask in zip(costs, masks):
    ref_mask, ref_cost = dijkstra.shortest_path(cost, connectivity)
    np.testing.assert_array_equal(mask, ref_mask)  # Unique with continuous.
    assert np.isclose(np.sum(mask * cost), ref_cost, rtol=1e-12)


def test_shortest_path_eager_function_and_float32_agree(rng):
  costs = rng.uniform(0.1, 5.0, size=(20, 8, 8)).astype(np.float32)
  eager = solvers.shortest_path(costs)
  np.testing.assert_array_equal(
    tf.function(solvers.shortest_path)(costs), eager
  )
  assert eager.dtype == tf.float32 and eager.shape == costs.shape


def test_shortest_path_ties_and_zero_costs_are_deterministic_and_optimal():
  # Integer costs: many optimal paths. Zero costs: distance plateaus.
  rng = np.random.default_rng(1)
  for costs in [
    rng.integers(0, 3, size=(30, 7, 7)).astype(np.float64),
    np.zeros((2, 6, 6)),
    rng.integers(0, 2, size=(30, 5, 8)).astype(np.float64),
  ]:
    for connectivity in (4, 8):
      first = solvers.shortest_path(costs, connectivity).numpy()
      again = tf.function(solvers.shortest_path, jit_compile=True)(
        costs, connectivity
      ).numpy()
      np.testing.assert_array_equal(first, again)
      for cost, mask in zip(costs, first):
        _, ref_cost = dijkstra.shortest_path(cost, connectivity)
        assert np.sum(mask * cost) == ref_cost
        assert mask[0, 0] == 1 and mask[-1, -1] == 1
        assert is_connected_path(mask, connectivity)


def is_connected_path(mask, connectivity):
  """Whether the mask's cells form one simple path between the corners."""
  cells = {tuple(c) for c in np.argwhere(mask)}
  moves = dijkstra.neighbours(connectivity)
  degree = {
    c: sum((c[0] + dr, c[1] + dc) in cells for dr, dc in moves) for c in cells
  }
  ends = {(0, 0), tuple(np.array(mask.shape) - 1)}
  # A shortest path has no shortcut: each inner cell touches two path cells.
  return all(degree[c] == (1 if c in ends else 2) for c in cells) or (
    len(cells) == len(ends) == 1
  )


def test_shortest_path_errors_and_min_cost():
  costs = tf.constant([[[1.0, -2.0], [1.0, 1.0]]])
  with pytest.raises(
    tf.errors.InvalidArgumentError, match="perturbation='multiplicative'"
  ):
    solvers.shortest_path(costs)
  floored = solvers.shortest_path(costs, connectivity=4, min_cost=1.0)
  np.testing.assert_array_equal(floored, [[[1, 1], [0, 1]]])
  # A floor would turn NaN into a path: non-finite costs are refused first.
  for bad in (np.nan, np.inf):
    for min_cost in (None, 0.0):
      with pytest.raises(
        tf.errors.InvalidArgumentError, match="needs finite inputs"
      ):
        solvers.shortest_path(
          tf.constant([[[1.0, bad], [1.0, 1.0]]]), min_cost=min_cost
        )
  with pytest.raises(ValueError, match="connectivity must be 4 or 8"):
    solvers.shortest_path(tf.ones([1, 2, 2]), connectivity=6)
  with pytest.raises(ValueError, match=r"\[batch, height, width\]"):
    solvers.shortest_path(tf.ones([2, 2]))


GRIDS = [(5, 5), (2, 3), (1, 4), (4, 1), (3, 7), (6, 2)]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("grid", GRIDS)
def test_grid_arc_shortest_path_matches_scipy_dijkstra(mode, grid, rng):
  num_arcs = len(solvers.grid_arcs(grid))
  costs = rng.uniform(0.01, 2.0, (30, num_arcs))
  paths = MODES[mode](lambda c: solvers.grid_arc_shortest_path(c, grid))(
    tf.constant(costs)
  ).numpy()
  for cost, path in zip(costs, paths):
    np.testing.assert_array_equal(
      path, references.scipy_shortest_path(cost, grid)
    )


@pytest.mark.parametrize("grid", [(3, 3), (4, 3), (2, 5)])
def test_grid_arc_shortest_path_is_optimal_with_negative_costs(grid, rng):
  # The graph is acyclic: negative costs are fine (Dijkstra is not).
  num_arcs = len(solvers.grid_arcs(grid))
  costs = rng.normal(size=(200, num_arcs)).astype(np.float32)
  paths = solvers.grid_arc_shortest_path(costs, grid).numpy()
  best, objective = grid_paths.brute_force(costs, grid)
  np.testing.assert_array_equal(paths, best)
  np.testing.assert_allclose(
    np.sum(paths * costs, 1), objective, rtol=1e-6, atol=1e-6
  )


def test_grid_arc_shortest_path_ties_and_zero_costs_are_deterministic():
  grid = (3, 4)
  paths = grid_paths.all_paths(grid)
  for costs in (
    np.zeros((2, 17)),
    np.ones((2, 17)),
    np.tile([0.0, 1.0], (2, 9))[:, :17],
  ):
    got = solvers.grid_arc_shortest_path(costs, grid).numpy()
    assert (paths == got[0]).all(1).any()  # A path, and an optimal one.
    assert np.isclose(got[0] @ costs[0], (paths @ costs[0]).min())
    np.testing.assert_array_equal(got[0], got[1])


@pytest.mark.parametrize("dtype", [tf.float16, tf.bfloat16, tf.float64])
def test_grid_arc_shortest_path_dtypes(dtype, rng):
  costs = rng.uniform(0.5, 2.0, (8, 40))
  got = solvers.grid_arc_shortest_path(tf.cast(costs, dtype), (5, 5))
  assert got.dtype == dtype
  want = solvers.grid_arc_shortest_path(
    tf.cast(tf.cast(costs, dtype), tf.float64), (5, 5)
  )
  np.testing.assert_array_equal(tf.cast(got, tf.float64), want)


def test_grid_arc_shortest_path_errors():
  with pytest.raises(ValueError, match=r"shape \[batch, 40\] for grid"):
    solvers.grid_arc_shortest_path(tf.zeros([2, 39]), (5, 5))
  with pytest.raises(ValueError, match="grid must be"):
    solvers.grid_arc_shortest_path(tf.zeros([2, 1]), (1, 1))
  with pytest.raises(ValueError, match="grid must be"):
    solvers.grid_arc_shortest_path(tf.zeros([2, 4]), (2, "2"))
  with pytest.raises(tf.errors.InvalidArgumentError, match="finite inputs"):
    solvers.grid_arc_shortest_path(tf.fill([1, 4], np.nan), (2, 2))


def test_grid_arcs_follow_pyepo_order():
  # Row by row: a row's east arcs, then its south arcs down to the next row.
  assert solvers.grid_arcs((2, 3)) == [
    (0, 1),
    (1, 2),
    (0, 3),
    (1, 4),
    (2, 5),
    (3, 4),
    (4, 5),
  ]
  assert len(solvers.grid_arcs((5, 5))) == 40


@pytest.mark.parametrize("mode", ["function", "xla"])
def test_shortest_path_schedules_return_the_same_paths(mode, rng):
  # The GPU schedule (few trips) and the CPU one (little work), on
  # continuous costs, integer costs with ties, and zero-cost plateaus.
  cases = [
    (rng.uniform(0.05, 10.0, (30, 12, 12)), 8),
    (rng.integers(0, 3, (30, 7, 9)).astype(np.float64), 8),
    (rng.integers(0, 2, (30, 5, 8)).astype(np.float64), 4),
    (np.zeros((2, 6, 6)), 8),
    (rng.uniform(0, 1, (4, 1, 6)), 4),
  ]
  for costs, connectivity in cases:
    run = {
      s: MODES[mode](
        lambda c, s=s, k=connectivity: grid_paths_lib._shortest_path_and_trips(
          c, k, s
        )
      )(tf.constant(costs))
      for s in grid_paths_lib.SCHEDULES
    }
    np.testing.assert_array_equal(run["latency"][0], run["throughput"][0])
    np.testing.assert_array_equal(
      run["throughput"][0], solvers.shortest_path(costs, connectivity)
    )
    assert int(run["latency"][1]) <= int(run["throughput"][1])


def test_shortest_path_latency_schedule_makes_few_trips(rng):
  costs = tf.constant(rng.uniform(0.1, 10.0, (64, 30, 30)), tf.float32)
  _, throughput = grid_paths_lib._shortest_path_and_trips(
    costs, 8, "throughput"
  )
  _, latency = grid_paths_lib._shortest_path_and_trips(costs, 8, "latency")
  # log2(900) = 10 jumps and a few relaxation trips, against one trip per
  # relaxation and per cell of the path.
  assert int(latency) <= 20 < 60 < int(throughput)


def test_shortest_path_latency_schedule_with_unknown_grid_size(rng):
  # Unknown H and W: the jumps run in a while_loop instead of unrolled.
  costs = rng.uniform(0.1, 10.0, (8, 7, 5)).astype(np.float32)
  solve = tf.function(
    lambda c: grid_paths_lib._shortest_path_and_trips(c, 8, "latency"),
    input_signature=[tf.TensorSpec([None, None, None], tf.float32)],
  )
  mask, trips = solve(costs)
  np.testing.assert_array_equal(mask, solvers.shortest_path(costs))
  assert int(trips) < 20


NATIVE = {
  "argmax": solvers.argmax,
  "top_k": solvers.top_k,
  "ranks": solvers.ranks,
  "sort": solvers.sort,
  "shortest_path": lambda x: solvers.shortest_path(tf.reshape(x, [1, 2, 3])),
  "grid_arc_shortest_path": lambda x: solvers.grid_arc_shortest_path(
    tf.concat([x, x[:, :1]], 1), grid=(2, 3)
  ),  # 7 arcs.
  "Knapsack": ptf.solvers.Knapsack(np.ones((1, 6)), [2.0]),
}


@pytest.mark.parametrize("name", NATIVE)
@pytest.mark.parametrize("mode", ["eager", "function"])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_every_tf_native_solver_refuses_nan_and_inf(name, mode, bad):
  x = np.array([[1.0, 2.0, 0.5, 0.3, 1.5, 2.5]], np.float32)
  x[0, 2] = bad
  solve = NATIVE[name] if mode == "eager" else tf.function(NATIVE[name])
  with pytest.raises(
    tf.errors.InvalidArgumentError, match="needs finite inputs"
  ):
    solve(tf.constant(x))


@pytest.mark.parametrize(
  "name",
  [
    "argmax",
    "top_k",
    "ranks",
    "shortest_path",
    "grid_arc_shortest_path",
    "Knapsack",
  ],
)
def test_integer_inputs_give_floating_solutions(name):
  y = NATIVE[name](tf.constant([[1, 2, 0, 3, 1, 2]]))
  assert y.dtype == tf.float32
  assert solvers.sort(tf.constant([[3, 1]])).dtype == tf.int32  # Values.
