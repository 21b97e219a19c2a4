"""DecisionLoss: the regret of a decision layer's exact decisions, the L1 and
L2 distances of its decisions to `w*`, the layer's gradient through it, the
targets it accepts, and training with it."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import perturbations_tf as ptf

GRID = {"name": "grid_arc_shortest_path", "kwargs": {"grid": (3, 3)}}


def instances(seed=0, count=16):
  x, c = ptf.data.shortest_path_data(
    count, 5, (3, 3), deg=4, noise_width=0.5, seed=seed
  )
  return x, c, ptf.data.optimal_solutions(c, GRID)


def test_the_objective_target_is_the_regret_of_the_exact_decisions():
  _, c, w = instances()
  c_hat = c + np.random.default_rng(0).normal(size=c.shape).astype(np.float32)
  loss = ptf.losses.DecisionLoss(
    ptf.layers.NegativeIdentity(GRID), reduction=None
  )
  value = loss(ptf.data.stack_targets(c, w), c_hat).numpy()
  decided = ptf.solvers.grid_arc_shortest_path(c_hat, grid=(3, 3)).numpy()
  expected = np.sum(c * decided, 1) - np.sum(c * w, 1)
  np.testing.assert_allclose(value, expected, rtol=1e-6, atol=1e-6)
  assert (value > 0).any() and (value >= 0).all()


@pytest.mark.parametrize("norm", ["l1", "l2"])
def test_the_solution_target_is_a_distance_to_w_star(norm):
  _, c, w = instances()
  c_hat = c[::-1].copy()  # Other instances' costs: other paths.
  loss = ptf.losses.DecisionLoss(
    ptf.layers.Blackbox(GRID, lam=10.0), "solution", norm, reduction=None
  )
  decided = ptf.solvers.grid_arc_shortest_path(c_hat, grid=(3, 3)).numpy()
  error = np.abs(decided - w) if norm == "l1" else np.square(decided - w)
  for y_true in (w, ptf.data.stack_targets(c, w)):  # Either target form.
    np.testing.assert_allclose(loss(y_true, c_hat), error.mean(1), atol=1e-7)


def test_the_gradient_is_the_layers():
  # NID's backward is −g: through |cᵀŵ − z*| that is −sign(regret)·c.
  _, c, w = instances()
  c_hat = tf.constant(c[::-1].copy())
  loss = ptf.losses.DecisionLoss(
    ptf.layers.NegativeIdentity(GRID), reduction="sum"
  )
  with tf.GradientTape() as tape:
    tape.watch(c_hat)
    value = loss(ptf.data.stack_targets(c, w), c_hat)
  gradient = tape.gradient(value, c_hat).numpy()
  decided = ptf.solvers.grid_arc_shortest_path(c_hat, grid=(3, 3)).numpy()
  sign = np.sign(np.sum(c * decided, 1) - np.sum(c * w, 1))
  np.testing.assert_allclose(gradient, -sign[:, None] * c, rtol=1e-6)


def test_bad_settings_and_targets_raise():
  layer = ptf.layers.NegativeIdentity(GRID)
  with pytest.raises(ValueError, match="target must be one of"):
    ptf.losses.DecisionLoss(layer, "regret")
  with pytest.raises(ValueError, match="norm must be one of"):
    ptf.losses.DecisionLoss(layer, "solution", "l3")
  with pytest.raises(ValueError, match="needs a decision layer"):
    ptf.losses.DecisionLoss(ptf.solvers.argmax)
  _, c, w = instances()
  with pytest.raises(ValueError, match="stack_targets"):
    ptf.losses.DecisionLoss(layer)(w, c)  # The regret needs c and w*.
  host = ptf.solvers.numpy_solver(
    lambda costs: ptf.solvers.argmax(costs).numpy(), maximize=True
  )
  assert not ptf.losses.DecisionLoss(ptf.layers.Blackbox(host)).supports_jit
  assert ptf.losses.DecisionLoss(layer).supports_jit


def test_a_blackbox_layer_trains_through_it_under_xla():
  x, c, w = instances(seed=1, count=200)
  data = ptf.data.make_dataset(x, c, GRID, batch_size=25, seed=0)
  keras.utils.set_random_seed(0)
  model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(12)])
  model.compile(
    keras.optimizers.Adam(0.05),
    loss=ptf.losses.DecisionLoss(ptf.layers.Blackbox(GRID, lam=10.0)),
    metrics=[ptf.metrics.NormalizedRegret(GRID)],
    jit_compile=True,
  )
  before = model.evaluate(data, verbose=0, return_dict=True)
  model.fit(data, epochs=4, verbose=0)
  after = model.evaluate(data, verbose=0, return_dict=True)
  assert after["normalized_regret"] < 0.6 * before["normalized_regret"]
