"""Tests of the metrics against hand-computed values."""

import functools

import numpy as np
import pytest
import tensorflow as tf

import perturbations_tf as ptf
from perturbations_tf import metrics
from perturbations_tf import solvers
from tests import grid_paths
from tests import serialization


def test_exact_match_accuracy():
  m = metrics.ExactMatchAccuracy()
  m.update_state([[0, 1, 2], [0, 1, 2]], [[0, 1, 2], [1, 0, 2]])
  assert float(m.result()) == pytest.approx(0.5)
  m.update_state([[[1, 0], [0, 1]]], [[[1, 0], [0, 1.0001]]])  # Tolerance.
  assert float(m.result()) == pytest.approx(2 / 3)
  m.reset_state()
  m.update_state([[0, 1]], [[1, 0]])
  assert float(m.result()) == 0.0


def test_exact_match_through_a_solver():
  m = metrics.ExactMatchAccuracy(solver="ranks")
  scores = [[0.1, 0.5, 0.3], [2.0, 1.0, 0.0]]
  m.update_state([[0, 2, 1], [0, 1, 2]], scores)
  assert float(m.result()) == pytest.approx(0.5)
  assert serialization.round_trip(m).solver


def test_hamming_accuracy_with_weights():
  m = metrics.HammingAccuracy()
  m.update_state(
    [[1, 0, 0, 1], [1, 1, 1, 1]],
    [[1, 1, 0, 1], [0, 0, 0, 0]],
    sample_weight=[3.0, 1.0],
  )
  assert float(m.result()) == pytest.approx((3 * 0.75 + 0.0) / 4)


def test_spearman_correlation():
  m = metrics.SpearmanCorrelation()
  # Ranks [0,2,1,3] vs [0,1,2,3]: Σd² = 2, ρ = 1 - 6·2/(4·15) = 0.8.
  m.update_state([[0.0, 1.0, 2.0, 3.0]], [[0.1, 0.3, 0.2, 0.9]])
  assert float(m.result()) == pytest.approx(0.8)
  m.update_state([[0.0, 1.0, 2.0, 3.0]], [[3.0, 2.0, 1.0, 0.0]])
  assert float(m.result()) == pytest.approx((0.8 - 1.0) / 2)
  fresh = metrics.SpearmanCorrelation()
  tf.function(fresh.update_state)(np.eye(3), np.eye(3))
  assert float(fresh.result()) == pytest.approx(1.0)


def test_projection_accuracy():
  metric = metrics.ProjectionAccuracy(solver="ranks")
  # Predicted ranks [0, 2, 1] against [0, 1, 2]: (0 + 2 + 2) / (0 + 1 + 4).
  metric.update_state([[0.0, 1.0, 2.0]], [[0.1, 0.9, 0.5]])
  np.testing.assert_allclose(metric.result(), 0.8)
  metric.update_state([[0.0, 1.0, 2.0]], [[-1.0, 0.0, 3.0]])  # Perfect: 1.
  np.testing.assert_allclose(metric.result(), 0.9)
  one_hot = metrics.ProjectionAccuracy(solver="argmax")
  one_hot.update_state(np.eye(3)[[0, 1]], [[2.0, 1.0, 0.0], [2.0, 1.0, 0.0]])
  np.testing.assert_allclose(one_hot.result(), 0.5)  # The accuracy.
  restored = serialization.round_trip(metric)
  assert restored.solver is solvers.ranks


@pytest.mark.parametrize("maximize", [False, True])
def test_regret_and_normalized_regret_are_their_definitions(maximize, rng):
  grid = (3, 3)
  shortest = functools.partial(solvers.grid_arc_shortest_path, grid=grid)
  solver = (lambda x: shortest(-x)) if maximize else shortest
  c = rng.uniform(0.1, 2.0, (40, 12))
  c_hat = c + rng.normal(scale=0.5, size=c.shape)
  w_hat, _ = grid_paths.brute_force(c_hat, grid, maximize)
  _, z = grid_paths.brute_force(c, grid, maximize)
  regret = (np.sum(c * w_hat, 1) - z) * (-1 if maximize else 1)
  weights = rng.uniform(0, 2, 40)
  assert (regret >= -1e-12).all() and (regret > 0).any()
  for metric, want in (
    (metrics.Regret(solver, maximize=maximize), np.mean(regret)),
    (
      metrics.NormalizedRegret(solver, maximize=maximize),
      np.sum(regret) / np.sum(np.abs(z)),
    ),
  ):
    metric.update_state(c[:25], c_hat[:25])  # Two batches accumulate.
    metric.update_state(
      ptf.data.stack_targets(c[25:], solver(c[25:])), c_hat[25:]
    )
    np.testing.assert_allclose(metric.result(), want, rtol=1e-5)
    metric.reset_state()
    metric.update_state(c, c_hat, sample_weight=weights)
    weighted = (
      np.sum(regret * weights) / np.sum(weights)
      if type(metric) is metrics.Regret
      else np.sum(regret * weights) / np.sum(np.abs(z) * weights)
    )
    np.testing.assert_allclose(metric.result(), weighted, rtol=1e-5)
  serialization.round_trip(metrics.NormalizedRegret("grid_arc_shortest_path"))


@pytest.mark.parametrize("maximize", [False, True])
def test_unambiguous_regret_charges_the_worst_tied_decision(maximize, rng):
  grid = (3, 3)
  solver = ptf.solvers.declare_sense(maximize=maximize)(
    lambda x: solvers.grid_arc_shortest_path(-x if maximize else x, grid)
  )
  paths = grid_paths.all_paths(grid)
  c = rng.uniform(0.1, 2.0, (16, 12))
  # Predictions with ties: half the rows all zeros (every path optimal), half
  # costs that tie two paths exactly (the rest of the arcs priced out).
  c_hat = np.zeros((16, 12))
  c_hat[8:] = 10.0 * (1 - paths[0] - paths[1] + paths[0] * paths[1])
  c_hat[8:] *= -1.0 if maximize else 1.0
  metric = ptf.metrics.UnambiguousRegret(solver)
  metric.update_state(c, c_hat)
  objectives = c @ paths.T
  optimal = objectives.max(1) if maximize else objectives.min(1)
  predicted = c_hat @ paths.T
  best = predicted.max(1) if maximize else predicted.min(1)
  tied = np.abs(predicted - best[:, None]) < 1e-9
  worst = np.where(tied, objectives, np.inf if maximize else -np.inf)
  worst = worst.min(1) if maximize else worst.max(1)
  s = 1.0 if maximize else -1.0
  expected = np.sum(s * (optimal - worst)) / np.sum(np.abs(optimal))
  np.testing.assert_allclose(metric.result(), expected, rtol=1e-5)
  # Without ties it is the normalised regret.
  unique = rng.uniform(0.1, 2.0, (16, 12))
  plain = ptf.metrics.NormalizedRegret(solver)
  plain.update_state(c, unique)
  metric.reset_state()
  metric.update_state(c, unique)
  np.testing.assert_allclose(metric.result(), plain.result(), rtol=1e-6)
  assert metric.tolerance == 1e-5
  with pytest.raises(ValueError, match="tolerance"):
    ptf.metrics.UnambiguousRegret(solver, tolerance=0.0)
