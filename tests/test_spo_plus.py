"""SPO+ against its definition by exhaustive enumeration of the paths of a
small grid, its subgradient against finite differences, and training."""

import functools

import keras
import numpy as np
import pytest
import tensorflow as tf

import perturbations_tf as ptf
from perturbations_tf import solvers
from tests import grid_paths
from tests import serialization

GRID = (3, 4)
NUM_ARCS = len(solvers.grid_arcs(GRID))
SHORTEST = functools.partial(solvers.grid_arc_shortest_path, grid=GRID)


LONGEST = grid_paths.longest_path_solver(GRID)


def spo_plus_by_enumeration(c_hat, c, maximize):
  """`max_w (c − 2ĉ)ᵀw + 2ĉᵀw* − z*` (mirrored for maximisation)."""
  paths = grid_paths.all_paths(GRID)
  w_true, z_true = grid_paths.brute_force(c, GRID, maximize)
  inner = (c - 2 * c_hat) @ paths.T
  if maximize:
    return (-inner).max(1) - np.sum(2 * c_hat * w_true, 1) + z_true
  return inner.max(1) + np.sum(2 * c_hat * w_true, 1) - z_true


def regret(c_hat, c, maximize):
  w_hat, _ = grid_paths.brute_force(c_hat, GRID, maximize)
  _, z_true = grid_paths.brute_force(c, GRID, maximize)
  value = np.sum(c * w_hat, 1) - z_true
  return -value if maximize else value


@pytest.mark.parametrize("maximize", [False, True])
def test_value_is_the_definition_and_bounds_the_regret(maximize, rng):
  c = rng.uniform(0.1, 2.0, (300, NUM_ARCS))
  c_hat = c + rng.normal(scale=0.7, size=c.shape)
  solver = LONGEST if maximize else SHORTEST
  got = ptf.losses.spo_plus_loss(c, c_hat, solver, maximize=maximize).numpy()
  np.testing.assert_allclose(
    got, spo_plus_by_enumeration(c_hat, c, maximize), rtol=1e-10, atol=1e-10
  )
  assert (got >= regret(c_hat, c, maximize) - 1e-10).all()
  assert (regret(c_hat, c, maximize) > 0).mean() > 0.3  # Not a trivial case.
  np.testing.assert_allclose(
    ptf.losses.spo_plus_loss(c, c, solver, maximize=maximize), 0.0, atol=1e-12
  )


@pytest.mark.parametrize("maximize", [False, True])
def test_subgradient_matches_finite_differences(maximize, rng):
  c = rng.uniform(0.1, 2.0, (20, NUM_ARCS))
  c_hat = tf.constant(c + rng.normal(scale=0.7, size=c.shape))
  solver = LONGEST if maximize else SHORTEST
  upstream = tf.constant(rng.uniform(0.5, 1.5, 20))
  with tf.GradientTape() as tape:
    tape.watch(c_hat)
    value = tf.reduce_sum(
      upstream * ptf.losses.spo_plus_loss(c, c_hat, solver, maximize=maximize)
    )
  grad = tape.gradient(value, c_hat).numpy()
  # Piecewise linear: central differences are exact off the kinks.
  h = 1e-6
  for k in range(NUM_ARCS):
    step = np.zeros(NUM_ARCS)
    step[k] = h
    diff = spo_plus_by_enumeration(
      c_hat.numpy() + step, c, maximize
    ) - spo_plus_by_enumeration(c_hat.numpy() - step, c, maximize)
    np.testing.assert_allclose(grad[:, k], upstream * diff / (2 * h), atol=1e-6)


@pytest.mark.parametrize("jit", [False, True])
def test_stacked_targets_skip_the_solve_and_give_the_same_values(jit, rng):
  c = tf.constant(rng.uniform(0.1, 2.0, (16, NUM_ARCS)), tf.float32)
  c_hat = tf.constant(rng.uniform(0.1, 2.0, (16, NUM_ARCS)), tf.float32)
  calls = []

  def counting(x):
    calls.append(x.shape[0])
    return SHORTEST(x)

  loss = ptf.losses.SPOPlusLoss(counting, maximize=False)
  run = tf.function(loss.call, jit_compile=jit)
  plain = run(c, c_hat)
  stacked = run(ptf.data.stack_targets(c, SHORTEST(c)), c_hat)
  np.testing.assert_allclose(plain, stacked, rtol=1e-6)
  assert calls == [16, 16, 16]  # Traced: two solves, then one.
  with pytest.raises(ValueError, match="y_true must hold the true costs"):
    loss.call(tf.zeros([16, 3, NUM_ARCS]), c_hat)


def test_keras_training_lowers_the_regret_and_config_round_trips(rng):
  keras.utils.set_random_seed(0)
  x = rng.normal(size=(256, 5)).astype(np.float32)
  c = (0.3 * x @ rng.normal(size=(5, NUM_ARCS)) + 1.0).astype(np.float32)
  solver = {"name": "grid_arc_shortest_path", "kwargs": {"grid": GRID}}
  model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(NUM_ARCS)])
  model.compile(
    keras.optimizers.Adam(0.05),
    loss=ptf.losses.SPOPlusLoss(solver),
    metrics=[ptf.metrics.NormalizedRegret(solver)],
    jit_compile=True,
  )
  before = model.evaluate(x, c, verbose=0, return_dict=True)
  model.fit(x, c, epochs=10, batch_size=32, verbose=0)
  after = model.evaluate(x, c, verbose=0, return_dict=True)
  assert after["normalized_regret"] < 0.3 * before["normalized_regret"]
  loss = ptf.losses.SPOPlusLoss(solver, name="spo")
  copy = serialization.round_trip(loss)
  assert not copy.maximize and copy.solver.keywords == {"grid": GRID}
  with pytest.raises(ValueError, match="declares maximize=False"):
    ptf.losses.SPOPlusLoss(solver, maximize=True)
