"""The PG losses against the value function by enumeration of all paths."""

import functools

import numpy as np
import pytest
import tensorflow as tf

import perturbations_tf as ptf
from perturbations_tf import solvers
from tests import grid_paths
from tests import serialization
from tests import training

GRID = (3, 3)
SHORTEST = functools.partial(solvers.grid_arc_shortest_path, grid=GRID)
PATHS = grid_paths.all_paths(GRID)


def value(theta, maximize=False):
  """V(θ) and its maximiser/minimiser, by enumeration."""
  objectives = theta @ PATHS.T
  best = objectives.argmax(1) if maximize else objectives.argmin(1)
  return objectives[np.arange(len(theta)), best], PATHS[best]


@pytest.mark.parametrize("central", [False, True])
@pytest.mark.parametrize("maximize", [False, True])
def test_value_and_gradient_are_the_finite_difference(central, maximize, rng):
  solver = ptf.solvers.declare_sense(maximize=maximize)(
    lambda x: SHORTEST(-x) if maximize else SHORTEST(x)
  )
  c = rng.uniform(0.1, 2.0, (32, 12))
  c_hat = tf.constant(rng.uniform(0.1, 2.0, (32, 12)))
  h = 0.3
  with tf.GradientTape() as tape:
    tape.watch(c_hat)
    loss = ptf.losses.pg_loss(c, c_hat, solver, h=h, central=central)
  grad = tape.gradient(loss, c_hat).numpy()
  theta = c_hat.numpy()
  ahead = theta + h * c if central else theta
  v_ahead, w_ahead = value(ahead, maximize)
  v_behind, w_behind = value(theta - h * c, maximize)
  width = 2 * h if central else h
  s = 1.0 if maximize else -1.0
  np.testing.assert_allclose(loss, -s * (v_ahead - v_behind) / width, 1e-6)
  np.testing.assert_allclose(grad, -s * (w_ahead - w_behind) / width, 1e-6)


def test_small_h_gives_the_decision_cost(rng):
  # V is piecewise linear: for h below the distance to the next kink,
  # (V(ĉ) − V(ĉ − hc))/h is exactly cᵀw*(ĉ).
  c = rng.uniform(0.1, 2.0, (32, 12))
  c_hat = rng.uniform(0.1, 2.0, (32, 12))
  loss = ptf.losses.pg_loss(c, c_hat, SHORTEST, h=1e-6)
  _, w_hat = value(c_hat)
  np.testing.assert_allclose(loss, np.sum(c * w_hat, 1), rtol=1e-6)


def test_keras_loss_serialises_and_checks_h():
  loss = ptf.losses.PGLoss(training.SOLVER, h=0.2, central=True)
  clone = serialization.round_trip(loss)
  assert clone.options == {"h": 0.2, "central": True}
  with pytest.raises(ValueError, match="h"):
    ptf.losses.PGLoss(training.SOLVER, h=0.0)


@pytest.mark.parametrize("central", [False, True])
def test_it_trains_a_linear_model_to_lower_regret(central):
  before, after = training.regret_before_and_after(
    lambda w: ptf.losses.PGLoss(training.SOLVER, h=0.5, central=central),
    "costs",
  )
  assert after < 0.5 * before, (before, after)


def test_xla_gives_the_eager_losses(rng):
  c = rng.uniform(0.1, 2.0, (8, 12)).astype(np.float32)
  c_hat = rng.uniform(0.1, 2.0, (8, 12)).astype(np.float32)
  loss = functools.partial(ptf.losses.pg_loss, solver=SHORTEST, central=True)
  compiled = tf.function(loss, jit_compile=True)
  np.testing.assert_allclose(compiled(c, c_hat), loss(c, c_hat), rtol=1e-6)
