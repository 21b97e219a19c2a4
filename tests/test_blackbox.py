"""DBB's gradient is the exact gradient of its interpolation, NID's the
negative identity; both in eager mode, tf.function and XLA, as layers."""

import functools

import keras
import numpy as np
import pytest
import tensorflow as tf

import perturbations_tf as ptf
from perturbations_tf import solvers
from tests import serialization

GRID = (3, 3)
SHORTEST = functools.partial(solvers.grid_arc_shortest_path, grid=GRID)
MODES = {
  "eager": lambda f: f,
  "function": tf.function,
  "xla": lambda f: tf.function(f, jit_compile=True),
}


def gradient(op, theta, upstream, mode="eager"):
  def run(theta):
    with tf.GradientTape() as tape:
      tape.watch(theta)
      value = tf.reduce_sum(op(theta) * upstream)
    return tape.gradient(value, theta)

  return MODES[mode](run)(theta).numpy()


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("maximize", [False, True])
def test_dbb_is_the_gradient_of_the_interpolation(mode, maximize, rng):
  # φ(θ) = min_w θᵀw (max_w for a maximiser); with g held fixed, the
  # interpolation is (φ(θ + λg) − φ(θ))/λ, or (φ(θ) − φ(θ − λg))/λ.
  solver = (lambda x: SHORTEST(-x)) if maximize else SHORTEST
  lam = 3.0
  theta = tf.constant(rng.uniform(0.1, 2.0, (12, 12)))
  g = tf.constant(rng.normal(size=(12, 12)))
  op = ptf.ops.blackbox(solver, lam, maximize=maximize)
  np.testing.assert_array_equal(op(theta), solver(theta))

  def interpolation(t):
    phi = lambda x: tf.reduce_sum(x * solver(x), 1)
    if maximize:
      return (phi(t) - phi(t - lam * g)) / lam
    return (phi(t + lam * g) - phi(t)) / lam

  h = 1e-6
  expected = np.stack(
    [
      (interpolation(theta + h * e) - interpolation(theta - h * e)) / (2 * h)
      for e in np.eye(12)
    ],
    1,
  )
  np.testing.assert_allclose(gradient(op, theta, g, mode), expected, atol=1e-6)
  assert np.abs(expected).max() > 0.1  # The solutions do move.


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("maximize", [False, True])
def test_negative_identity(mode, maximize, rng):
  theta = tf.constant(rng.uniform(0.1, 2.0, (4, 12)), tf.float32)
  g = tf.constant(rng.normal(size=(4, 12)), tf.float32)
  solver = (lambda x: SHORTEST(-x)) if maximize else SHORTEST
  op = ptf.ops.negative_identity(solver, maximize=maximize)
  np.testing.assert_array_equal(op(theta), solver(theta))
  np.testing.assert_allclose(
    gradient(op, theta, g, mode), g if maximize else -g
  )


def test_layers_serialise_and_train_under_xla(rng):
  solver = {"name": "grid_arc_shortest_path", "kwargs": {"grid": [3, 3]}}
  for layer in (
    ptf.layers.Blackbox(solver, lam=5.0, name="dbb"),
    ptf.layers.NegativeIdentity(solver),
  ):
    copy = serialization.round_trip(layer)
    assert copy.maximize is False  # As the shortest path declares.
  x = rng.normal(size=(64, 4)).astype(np.float32)
  c = np.abs(x @ rng.normal(size=(4, 12))).astype(np.float32) + 0.1
  inputs = keras.Input((4,))
  decisions = ptf.layers.Blackbox(solver, lam=5.0)(
    keras.layers.Dense(12)(inputs)
  )
  model = keras.Model(inputs, decisions)
  # PyEPO's DBB objective: the true cost of the decisions.
  model.compile(
    "adam", loss=lambda c, w: tf.reduce_sum(c * w, -1), jit_compile=True
  )
  history = model.fit(x, c, epochs=3, verbose=0)
  assert np.isfinite(history.history["loss"]).all()
  with pytest.raises(ValueError, match="lam must be a positive"):
    ptf.ops.blackbox(SHORTEST, lam=0.0)
  with pytest.raises(
    ValueError,
    match=r"(?s)maximize=True.*"
    "grid_arc_shortest_path declares maximize=False",
  ):
    ptf.layers.NegativeIdentity(solver, maximize=True)
