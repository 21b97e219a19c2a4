"""`ptf.data`: PyEPO's generators number for number, and data sets solved
once whose targets every loss and metric accepts."""

import pathlib
import sys

import keras
import numpy as np
import pytest

import perturbations_tf as ptf
from tests import grid_paths
from tests import pyepo_modules


def pyepo_generators(monkeypatch):
  names = ("shortestpath", "knapsack", "tsp", "portfolio")
  modules = pyepo_modules.load(
    [f"data.{name}" for name in names],
    setitem=lambda name, module: monkeypatch.setitem(sys.modules, name, module),
  )
  return {name: modules[f"data.{name}"] for name in names}


@pytest.mark.parametrize(
  "deg,noise,seed", [(1, 0.0, 135), (6, 0.5, 7), (4, 0.25, 0), (2, 1.5, 3)]
)
def test_generators_equal_pyepo_own(monkeypatch, deg, noise, seed):
  pyepo = pyepo_generators(monkeypatch)
  cases = [
    (
      ptf.data.shortest_path_data(50, 5, (5, 5), deg, noise, seed),
      pyepo["shortestpath"].genData(50, 5, (5, 5), deg, noise, seed),
    ),
    (
      ptf.data.shortest_path_data(20, 3, (3, 4), deg, noise, seed),
      pyepo["shortestpath"].genData(20, 3, (3, 4), deg, noise, seed),
    ),
    (
      ptf.data.knapsack_data(50, 5, 32, 2, deg, noise, seed),
      pyepo["knapsack"].genData(50, 5, 32, 2, deg, noise, seed),
    ),
    (
      ptf.data.tsp_data(50, 5, 10, deg, noise, seed),
      pyepo["tsp"].genData(50, 5, 10, deg, noise, seed),
    ),
    (
      ptf.data.tsp_data(20, 4, 7, deg, noise, seed),
      pyepo["tsp"].genData(20, 4, 7, deg, noise, seed),
    ),
    (
      ptf.data.portfolio_data(50, 5, 20, deg, 1.0 + noise, seed),
      pyepo["portfolio"].genData(50, 5, 20, deg, 1.0 + noise, seed),
    ),
  ]
  for ours, theirs in cases:
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
      assert a.dtype == b.dtype and a.shape == b.shape
      np.testing.assert_array_equal(a, b)


def test_tsp_edges_are_the_order_of_the_costs():
  edges = ptf.solvers.tsp_edges(5)
  assert len(edges) == 10 and edges[:4] == [(0, 1), (0, 2), (0, 3), (0, 4)]
  _, c = ptf.data.tsp_data(3, 2, 5)
  assert c.shape == (3, len(edges))


@pytest.mark.parametrize(
  "call,message",
  [
    (
      lambda: ptf.data.shortest_path_data(5, 5, deg=0),
      "deg must be a positive",
    ),
    (
      lambda: ptf.data.knapsack_data(5, 5, 8, 2, noise_width=-0.1),
      "noise_width must be a finite non-negative",
    ),
    (
      lambda: ptf.data.portfolio_data(5, 5, 4, noise_level=float("nan")),
      "noise_level must be a finite non-negative",
    ),
    (lambda: ptf.data.tsp_data(5, 5, 0), "num_nodes must be a positive"),
  ],
)
def test_bad_settings_raise(call, message):
  with pytest.raises(ValueError, match=message):
    call()


def test_make_dataset_serves_every_loss_and_metric():
  x, c = ptf.data.shortest_path_data(
    200, 5, (3, 3), deg=4, noise_width=0.5, seed=1
  )
  solver = {"name": "grid_arc_shortest_path", "kwargs": {"grid": (3, 3)}}
  data = ptf.data.make_dataset(x, c, solver, batch_size=32, seed=0)
  features, y = next(iter(data))
  assert features.shape == (32, 5) and y.shape == (32, 2, 12)
  w = ptf.data.optimal_solutions(c, solver)
  assert {tuple(row) for row in y[:, 0].numpy()} <= {tuple(r) for r in c}
  np.testing.assert_array_equal(
    ptf.solvers.grid_arc_shortest_path(y[:, 0], grid=(3, 3)), y[:, 1]
  )
  cache = ptf.solvers.SolutionCache(solver, shape=(12,), initial_solutions=w)
  losses = [
    ptf.losses.SPOPlusLoss(solver),
    ptf.losses.FenchelYoungLoss(solver, 5, 1.0),
    ptf.losses.NCELoss(cache),
    ptf.losses.CMAPLoss(cache),
  ]
  metrics = [
    ptf.metrics.NormalizedRegret(solver),
    ptf.metrics.Regret(solver),
    ptf.metrics.HammingAccuracy(solver=solver),
    ptf.metrics.ExactMatchAccuracy(solver=solver),
  ]
  for loss in losses:  # Each monitored by regret inside fit.
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(12)])
    model.compile(keras.optimizers.Adam(0.05), loss=loss, metrics=metrics)
    before = model.evaluate(data, verbose=0, return_dict=True)
    history = model.fit(data, epochs=4, verbose=0)
    after = model.evaluate(data, verbose=0, return_dict=True)
    assert np.isfinite(history.history["loss"]).all(), loss.name
    assert after["normalized_regret"] < before["normalized_regret"], loss.name
    assert 0 <= after["hamming_accuracy"] <= 1


def test_make_dataset_checks_and_accepts_known_solutions():
  x, c = ptf.data.shortest_path_data(10, 5, (3, 3))
  w = ptf.data.optimal_solutions(
    c, {"name": "grid_arc_shortest_path", "kwargs": {"grid": (3, 3)}}
  )
  data = ptf.data.make_dataset(
    x, c, None, batch_size=4, shuffle=False, solutions=w
  )
  _, y = next(iter(data))
  np.testing.assert_array_equal(y[:, 1], w[:4])
  with pytest.raises(ValueError, match="as many rows"):
    ptf.data.make_dataset(x[:5], c, "argmax", batch_size=4)
  with pytest.raises(ValueError, match="batch_size"):
    ptf.data.make_dataset(x, c, "argmax", batch_size=0)


def knn_reference(x, c, k, weight):
  """Schutte et al.'s interpolated costs from the definition: every pair's
  distance, each instance's k nearest others, nearest first."""
  distances = np.linalg.norm(x[:, None] - x[None], axis=-1)
  np.fill_diagonal(distances, np.inf)
  nearest = np.argsort(distances, axis=1, kind="stable")[:, :k]
  return weight * c[:, None] + (1 - weight) * c[nearest]  # [N, k, d]


@pytest.mark.parametrize("k,weight", [(1, 0.5), (5, 0.5), (10, 0.0), (3, 1.0)])
def test_knn_targets_follow_the_definition(k, weight):
  grid = (4, 4)
  x, c = ptf.data.shortest_path_data(60, 5, grid, deg=4, noise_width=0.5)
  solver = {"name": "grid_arc_shortest_path", "kwargs": {"grid": grid}}
  xk, ck, wk = ptf.data.knn_targets(x, c, solver, k=k, weight=weight)
  expected = knn_reference(x, c, k, weight)
  np.testing.assert_array_equal(xk, np.repeat(x, k, axis=0).astype(np.float32))
  np.testing.assert_allclose(ck.reshape(expected.shape), expected, rtol=1e-6)
  # Every label is the optimum of its row's costs, by enumeration.
  best, objective = grid_paths.brute_force(ck, grid)
  np.testing.assert_allclose(np.sum(ck * wk, 1), objective, rtol=1e-5)
  np.testing.assert_array_equal(wk, best)


def test_knn_targets_smooth_the_cost_noise():
  # Noise-free costs are a function of x: the neighbours' costs estimate
  # them better than one noisy draw does.
  x, clean = ptf.data.shortest_path_data(400, 5, (5, 5), deg=2, seed=3)
  _, noisy = ptf.data.shortest_path_data(
    400, 5, (5, 5), deg=2, noise_width=0.5, seed=3
  )
  _, ck, _ = ptf.data.knn_targets(x, noisy, "grid_arc_shortest_path", k=10)
  smoothed = ck.reshape(400, 10, -1).mean(1)
  assert np.mean((smoothed - clean) ** 2) < 0.6 * np.mean((noisy - clean) ** 2)


@pytest.mark.parametrize(
  "kwargs,message",
  [
    (dict(k=0), "k must be a positive integer"),
    (dict(k=20), "k must be below the number of instances"),
    (dict(weight=1.5), r"weight must be a number in \[0, 1\]"),
    (dict(weight=True), r"weight must be a number in \[0, 1\]"),
  ],
)
def test_knn_targets_reject_bad_settings(kwargs, message):
  x, c = ptf.data.shortest_path_data(20, 5, (3, 3))
  solver = {"name": "grid_arc_shortest_path", "kwargs": {"grid": (3, 3)}}
  with pytest.raises(ValueError, match=message):
    ptf.data.knn_targets(x, c, solver, **kwargs)
  with pytest.raises(ValueError, match="as many rows"):
    ptf.data.knn_targets(x[:5], c, solver)


def test_knn_targets_average_to_pyepo_own():
  # PyEPO 2.2.7's optDatasetKNN(shortestPathModel((5, 5)), x, c, k=5,
  # weight=0.5) on genData(60, 5, (5, 5), deg=4, noise_width=0.5, seed=11),
  # its costs, sols and objs saved (PyEPO needs torch, CI installs none).
  pyepo = np.load(
    pathlib.Path(__file__).parent / "data" / "pyepo_knn_shortest_path.npz"
  )
  x, c = ptf.data.shortest_path_data(
    60, 5, (5, 5), deg=4, noise_width=0.5, seed=11
  )
  _, ck, wk = ptf.data.knn_targets(x, c, "grid_arc_shortest_path", k=5)
  np.testing.assert_allclose(ck.reshape(60, 5, 40).mean(1), pyepo["costs"])
  np.testing.assert_allclose(wk.reshape(60, 5, 40).mean(1), pyepo["sols"])
  np.testing.assert_allclose(
    np.sum(ck * wk, 1).reshape(60, 5).mean(1), pyepo["objs"][:, 0], rtol=1e-6
  )
