"""`from_pyepo`: PyEPO's `optModel` interface as a batched solver, its sense
from `modelSense`, one model per thread or worker process."""

import functools
import sys

import numpy as np
import pytest
import tensorflow as tf

import perturbations_tf as ptf
from tests import pyepo_models
from tests import pyepo_modules


def best_subsets(costs, k, maximize):
  order = np.argsort(-costs if maximize else costs, axis=1, kind="stable")
  w = np.zeros_like(costs)
  np.put_along_axis(w, order[:, :k], 1.0, axis=1)
  return w


@pytest.mark.parametrize("sense", [1, -1])
def test_a_model_on_threads_solves_each_row_on_its_own_copy(sense, rng):
  model = pyepo_models.SubsetModel(num_cost=6, k=2, sense=sense)
  solver = ptf.solvers.from_pyepo(model, num_workers=2)
  assert solver.maximize == (sense == -1)  # EPO.MAXIMIZE is -1.
  costs = rng.normal(size=(40, 6))
  np.testing.assert_array_equal(
    solver(tf.constant(costs)), best_subsets(costs, 2, sense == -1)
  )
  assert 1 <= model.copies <= 2 and model.costs is None  # Never shared.
  # The sense reaches the losses: SPO+ is zero at the true costs and
  # equals its value through the same decisions computed here.
  c_hat = costs + rng.normal(size=costs.shape)
  stacked = ptf.data.stack_targets(costs, best_subsets(costs, 2, sense == -1))
  s = 1.0 if sense == 1 else -1.0  # Minimiser: (2ĉ − c)ᵀ(w* − ŵ); mirrored.
  w_hat = best_subsets(2 * c_hat - costs, 2, sense == -1)
  want = s * np.sum((2 * c_hat - costs) * (stacked[:, 1] - w_hat), 1)
  got = ptf.losses.spo_plus_loss(stacked, c_hat, solver)
  np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)
  solver.close()


def test_a_factory_builds_one_model_in_each_worker_process(rng):
  factory = functools.partial(pyepo_models.SubsetModel, 6, 3, -1)
  solver = ptf.solvers.from_pyepo(factory, num_workers=2, executor="processes")
  costs = rng.normal(size=(16, 6)).astype(np.float32)
  try:
    got = solver(tf.constant(costs))
  finally:
    solver.close()
  assert solver.maximize and got.dtype == tf.float32
  np.testing.assert_array_equal(got, best_subsets(costs, 3, True))


def test_what_is_not_a_pyepo_model_is_refused():
  with pytest.raises(ValueError, match="lacks \\['solve', 'num_cost'"):

    class HalfModel:
      modelSense = 1

      def setObj(self, c):
        pass

    ptf.solvers.from_pyepo(HalfModel())
  with pytest.raises(ValueError, match="EPO.MINIMIZE \\(1\\) or"):
    ptf.solvers.from_pyepo(pyepo_models.SubsetModel(sense=0))
  unpicklable = pyepo_models.SubsetModel()
  unpicklable.hook = lambda: None
  with pytest.raises(ValueError, match="cannot be pickled"):
    ptf.solvers.from_pyepo(unpicklable, executor="processes")
  solver = ptf.solvers.from_pyepo(pyepo_models.SubsetModel(num_cost=6))
  with pytest.raises(ValueError, match="takes 6 costs per example"):
    solver(np.zeros((2, 5)))


def test_pyepo_own_models_solve_as_our_native_solvers(monkeypatch, rng):
  # PyEPO's Pyomo models on HiGHS: the shortest path (EPO.MINIMIZE) on
  # one thread (Pyomo's solves redirect the process's output: two threads
  # deadlock, so more are refused), and the knapsack (EPO.MAXIMIZE) in
  # worker processes that build it from a factory; decisions equal our
  # TF-native solvers' on continuous costs (no ties).
  pyepo_modules.load(
    ["model.omo.shortestpath"],
    setitem=lambda name, module: monkeypatch.setitem(sys.modules, name, module),
  )
  model = pyepo_modules.shortest_path_model((5, 5))
  with pytest.raises(ValueError, match="Pyomo models cannot solve on two"):
    ptf.solvers.from_pyepo(model, num_workers=2)
  path = ptf.solvers.from_pyepo(model)
  costs = tf.constant(rng.uniform(size=(24, 40)), tf.float32)
  try:
    assert not path.maximize and path.num_workers == 1
    np.testing.assert_array_equal(
      path(costs), ptf.solvers.grid_arc_shortest_path(costs, (5, 5))
    )
    # Through the perturbed op, same seed: the same noise, the same paths.
    native, theirs = (
      ptf.ops.perturbed(s, num_samples=4, sigma=0.5, seed=3)(costs)
      for s in (ptf.solvers.grid_arc_shortest_path, path)
    )
    np.testing.assert_array_equal(theirs, native)
  finally:
    path.close()
  weights = rng.uniform(1.0, 5.0, size=(2, 10))
  factory = functools.partial(pyepo_modules.knapsack_model, weights, [12, 12])
  knapsack = ptf.solvers.from_pyepo(
    factory, num_workers=2, executor="processes"
  )
  values = tf.constant(rng.uniform(size=(12, 10)), tf.float32)
  try:
    assert knapsack.maximize
    np.testing.assert_array_equal(
      knapsack(values), ptf.solvers.Knapsack(weights, [12, 12])(values)
    )
  finally:
    knapsack.close()
