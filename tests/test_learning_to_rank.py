"""The learning-to-rank losses against their definitions over the pool."""

import functools

import numpy as np
import pytest
import tensorflow as tf

import perturbations_tf as ptf
from perturbations_tf import solvers
from tests import grid_paths
from tests import serialization
from tests import test_solution_cache
from tests import training

GRID = (3, 3)
SHORTEST = functools.partial(solvers.grid_arc_shortest_path, grid=GRID)
LOSSES = {
  "pointwise": ptf.losses.pointwise_ltr_loss,
  "pairwise": ptf.losses.pairwise_ltr_loss,
  "listwise": ptf.losses.listwise_ltr_loss,
}


def softmax(x):
  e = np.exp(x - x.max(1, keepdims=True))
  return e / e.sum(1, keepdims=True)


def reference(name, c, c_hat, pool, s, margin=0.0, tau=1.0):
  """Value and gradient per example from the paper's formulas (numpy)."""
  true, pred = c @ pool.T, c_hat @ pool.T
  if name == "pointwise":
    error = pred - true
    return (error**2).mean(1), 2 * error @ pool / len(pool)
  if name == "pairwise":
    best = np.argmax(s * true, 1)
    others = np.arange(len(pool))[None] != best[:, None]
    z = margin + s * (pred - pred[np.arange(len(c)), best][:, None])
    active = (z > 0) & others
    value = (np.maximum(z, 0) * others).sum(1) / (len(pool) - 1)
    grad = s * (
      active.astype(float) @ pool - active.sum(1, keepdims=True) * pool[best]
    )
    return value, grad / (len(pool) - 1)
  p, q = softmax(s * true / tau), softmax(s * pred / tau)
  value = -(p * np.log(q)).sum(1)
  return value, -s * (p @ pool - q @ pool) / tau


@pytest.mark.parametrize("name", sorted(LOSSES))
@pytest.mark.parametrize("maximize", [False, True])
def test_values_and_gradients_are_the_definitions(name, maximize, rng):
  solver = ptf.solvers.declare_sense(maximize=maximize)(
    lambda x: SHORTEST(-x) if maximize else SHORTEST(x)
  )
  pool = grid_paths.all_paths(GRID)  # All 6 paths of the 3×3 grid.
  cache = ptf.solvers.SolutionCache(solver, shape=(12,), initial_solutions=pool)
  c = rng.uniform(0.1, 2.0, (16, 12))
  c_hat = tf.constant(rng.uniform(0.1, 2.0, (16, 12)))
  options = {"pairwise": {"margin": 0.3}, "listwise": {"temperature": 0.5}}
  with tf.GradientTape() as tape:
    tape.watch(c_hat)
    value = LOSSES[name](c, c_hat, cache, **options.get(name, {}))
  grad = tape.gradient(value, c_hat)
  s = 1.0 if maximize else -1.0
  expected, expected_grad = reference(
    name,
    c,
    c_hat.numpy(),
    pool,
    s,
    margin=0.3,
    tau=0.5,
  )
  np.testing.assert_allclose(value, expected, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(grad, expected_grad, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", sorted(LOSSES))
@pytest.mark.parametrize("capacity, size", test_solution_cache.PREFIX_CASES)
def test_every_filled_slot_counts_whatever_the_prefix(
  name, capacity, size, rng
):
  """Pools that end in each prefix the losses are scored on: the values and
  gradients over the filled slots only, as the definitions say."""
  pool = test_solution_cache.distinct_binary_rows(size, 12, rng)
  cache = ptf.solvers.SolutionCache(
    SHORTEST, shape=(12,), capacity=capacity, initial_solutions=pool
  )
  c = rng.uniform(0.1, 2.0, (8, 12))
  c_hat = tf.constant(rng.uniform(0.1, 2.0, (8, 12)))
  with tf.GradientTape() as tape:
    tape.watch(c_hat)
    value = LOSSES[name](c, c_hat, cache)
  expected, expected_grad = reference(name, c, c_hat.numpy(), pool, -1.0)
  np.testing.assert_allclose(value, expected, rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(
    tape.gradient(value, c_hat), expected_grad, rtol=1e-4, atol=1e-5
  )


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_stacked_targets_give_the_same_losses(name, rng):
  pool = grid_paths.all_paths(GRID)
  cache = ptf.solvers.SolutionCache(
    SHORTEST, shape=(12,), initial_solutions=pool
  )
  c = rng.uniform(0.1, 2.0, (4, 12)).astype(np.float32)
  c_hat = rng.uniform(0.1, 2.0, (4, 12)).astype(np.float32)
  stacked = ptf.data.stack_targets(c, SHORTEST(c))
  np.testing.assert_allclose(
    LOSSES[name](c, c_hat, cache), LOSSES[name](stacked, c_hat, cache)
  )


def test_a_perfect_prediction_has_the_least_listwise_loss(rng):
  pool = grid_paths.all_paths(GRID)
  cache = ptf.solvers.SolutionCache(
    SHORTEST, shape=(12,), initial_solutions=pool
  )
  c = rng.uniform(0.1, 2.0, (8, 12))
  exact = ptf.losses.listwise_ltr_loss(c, c, cache).numpy()
  p = softmax(-(c @ pool.T))
  np.testing.assert_allclose(exact, -(p * np.log(p)).sum(1), rtol=1e-5)
  assert ptf.losses.pairwise_ltr_loss(c, c, cache).numpy().max() == 0.0


def test_the_keras_losses_grow_the_pool_and_serialise():
  cache = ptf.solvers.SolutionCache(
    SHORTEST, shape=(12,), solve_fraction=0.5, seed=0
  )
  for cls in (
    ptf.losses.PointwiseLTRLoss,
    ptf.losses.PairwiseLTRLoss,
    ptf.losses.ListwiseLTRLoss,
  ):
    loss = cls(cache)
    before = int(cache.total_rows.numpy())
    loss(tf.ones([4, 12]), tf.ones([4, 12]))
    assert int(cache.total_rows.numpy()) == before + 4
    serialization.round_trip(loss)
  with pytest.raises(ValueError, match="SolutionCache"):
    ptf.losses.ListwiseLTRLoss("grid_arc_shortest_path")
  with pytest.raises(ValueError, match="margin"):
    ptf.losses.PairwiseLTRLoss(cache, margin=-1.0)
  with pytest.raises(ValueError, match="temperature"):
    ptf.losses.ListwiseLTRLoss(cache, temperature=0.0)


@pytest.mark.parametrize(
  "cls",
  [
    ptf.losses.PointwiseLTRLoss,
    ptf.losses.PairwiseLTRLoss,
    ptf.losses.ListwiseLTRLoss,
  ],
)
def test_it_trains_a_linear_model_to_lower_regret(cls):
  def make_loss(w_train):
    cache = ptf.solvers.SolutionCache(
      training.SOLVER,
      shape=(40,),
      solve_fraction=0.25,
      initial_solutions=w_train,
      seed=0,
    )
    return cls(cache)

  before, after = training.regret_before_and_after(make_loss, "costs")
  assert after < 0.5 * before, (before, after)
