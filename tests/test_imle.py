"""I-MLE against closed forms: with Gumbel noise and argmax, its mean is
softmax(θ/σ) and its expected gradient a difference of two softmaxes."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import perturbations_tf as ptf
from perturbations_tf import noise as noise_lib
from perturbations_tf import solvers
from tests import serialization
from tests import stats
from tests import training


def argmin(x):
  return solvers.argmax(-x)


def softmax(x):
  return tf.nn.softmax(x, -1).numpy()


THETA = tf.constant([[0.5, -0.2, 0.1, 0.9], [0.0, 0.3, -0.4, 0.2]], tf.float64)
G = tf.constant([[1.0, -0.5, 0.2, 0.0], [0.3, 0.0, -1.0, 0.6]], tf.float64)


def run(op, seed):
  with tf.GradientTape() as tape:
    tape.watch(THETA)
    y = op(THETA, seed=seed)
  return np.concatenate([y.numpy(), tape.gradient(y, THETA, G).numpy()])


@pytest.mark.parametrize("maximize", [False, True])
@pytest.mark.parametrize("two_sided", [False, True])
def test_mean_and_expected_gradient_are_closed_forms(maximize, two_sided):
  sigma, lam, m = 0.5, 0.4, 1500
  op = ptf.ops.imle(
    solvers.argmax if maximize else argmin,
    num_samples=m,
    sigma=sigma,
    lam=lam,
    noise="gumbel",
    two_sided=two_sided,
    maximize=maximize,
  )
  mean, se = stats.mean_and_se(lambda seed: run(op, seed))
  s = -1.0 if maximize else 1.0  # The target moves by sλg.
  # A minimiser sees ĉ − σZ: argmin(ĉ − σZ) = argmax(−ĉ + σZ).
  dist = lambda t: softmax(-s * t / sigma)
  behind = dist(THETA - s * lam * G) if two_sided else dist(THETA)
  width = 2 * lam if two_sided else lam
  expected = np.concatenate(
    [dist(THETA), s * (dist(THETA + s * lam * G) - behind) / width]
  )
  stats.assert_close_statistically(mean, se, expected)
  assert np.abs(expected[2:]).max() > 0.1


def test_seeded_calls_repeat_in_eager_function_and_xla():
  op = ptf.ops.imle(
    solvers.argmax, num_samples=8, noise="gumbel", maximize=True, seed=3
  )
  eager = op(THETA).numpy()
  np.testing.assert_array_equal(tf.function(op)(THETA), eager)
  np.testing.assert_array_equal(tf.function(op, jit_compile=True)(THETA), eager)
  assert not np.array_equal(op(THETA, seed=4), eager)


def test_sum_of_gamma_noise_moments():
  # SoG(κ, τ, s): mean (τ/κ)(H_s − log s), variance (τ²/κ) Σ_{i≤s} 1/i².
  kappa, s, tau = 5.0, 10, 1.5
  noise = noise_lib.SumOfGamma(kappa, s, tau)
  z = noise.sample([200_000], tf.constant([1, 2]), tf.float64).numpy()
  harmonic = sum(1 / i for i in range(1, s + 1))
  mean = tau / kappa * (harmonic - np.log(s))
  var = tau**2 / kappa * sum(1 / i**2 for i in range(1, s + 1))
  se = np.sqrt(var / len(z))
  assert abs(z.mean() - mean) < stats.Z_SCORE * se
  assert abs(z.var() / var - 1) < stats.Z_SCORE * np.sqrt(8 / len(z)) + 0.01
  with pytest.raises(ValueError, match="no closed-form score"):
    ptf.ops.perturbed(solvers.argmax, noise="sum_of_gamma")


def test_layer_trains_with_pyepo_noise_and_serialises(rng):
  solver = {"name": "grid_arc_shortest_path", "kwargs": {"grid": [3, 3]}}
  layer = ptf.layers.IMLE(solver, num_samples=4, sigma=0.5, lam=5.0, seed=1)
  serialization.round_trip(layer)
  assert not layer.supports_jit  # TensorFlow's Gamma sampler has no XLA.
  x = rng.normal(size=(64, 4)).astype(np.float32)
  c = np.abs(x @ rng.normal(size=(4, 12))).astype(np.float32) + 0.1
  inputs = keras.Input((4,))
  model = keras.Model(inputs, layer(keras.layers.Dense(12)(inputs)))
  model.compile("adam", loss=lambda c, w: tf.reduce_sum(c * w, -1))
  history = model.fit(x, c, epochs=2, verbose=0)
  assert np.isfinite(history.history["loss"]).all()
  with pytest.raises(ValueError, match="num_samples must be"):
    ptf.ops.imle(solver, num_samples=0)


@pytest.mark.parametrize("two_sided", [False, True])
def test_aimle_is_imle_at_its_adaptive_step(two_sided, rng):
  # One backward pass of AIMLE is I-MLE's with λ = α‖θ‖/‖g‖ (same noise);
  # then α moves by its step, up while the gradient's density is below 1.
  theta = tf.constant(rng.normal(size=(4, 40)), tf.float32)
  upstream = tf.constant(rng.normal(size=(4, 40)), tf.float32)
  layer = ptf.layers.AIMLE(
    "grid_arc_shortest_path", num_samples=5, noise="gumbel", two_sided=two_sided
  )
  lam = float(tf.norm(theta) / tf.norm(upstream))  # α = 1 at the start.
  plain = ptf.ops.imle(
    "grid_arc_shortest_path",
    num_samples=5,
    lam=lam,
    noise="gumbel",
    two_sided=two_sided,
  )
  grads = []
  for fn in (layer._solve, plain):
    with tf.GradientTape() as tape:
      tape.watch(theta)
      y = fn(theta, seed=3)
    grads.append(tape.gradient(y, theta, output_gradients=upstream).numpy())
  np.testing.assert_allclose(grads[0], grads[1], rtol=1e-4, atol=1e-5)
  density = np.mean(np.abs(grads[0]) > 1e-7)
  assert density < 1
  np.testing.assert_allclose(layer.density.numpy(), 0.9 + 0.1 * density)
  np.testing.assert_allclose(layer.alpha.numpy(), 1.001)


def test_aimle_alpha_shrinks_once_the_gradient_is_dense_enough():
  layer = ptf.layers.AIMLE(
    "argmax", num_samples=50, noise="gumbel", target_density=0.1, seed=0
  )
  theta = tf.zeros([8, 4])
  for _ in range(3):
    with tf.GradientTape() as tape:
      tape.watch(theta)
      y = layer(theta, training=True)
    tape.gradient(y, theta, output_gradients=tf.tile(tf.eye(4)[:1], [8, 1]))
  np.testing.assert_allclose(layer.alpha.numpy(), 1.0 - 3e-3, rtol=1e-6)


def test_aimle_serialises_with_its_state():
  layer = ptf.layers.AIMLE("argmax", target_density=0.5, alpha_step=0.01)
  layer.alpha.assign(1.5)
  clone = serialization.round_trip(layer)
  assert "lam" not in layer.get_config()
  clone.set_weights(layer.get_weights())
  assert float(clone.alpha.numpy()) == 1.5
  with pytest.raises(ValueError, match="target_density"):
    ptf.layers.AIMLE("argmax", target_density=0.0)


def test_aimle_trains_a_linear_model_to_lower_regret():
  layer = ptf.layers.AIMLE(training.SOLVER, noise="gumbel", seed=0)

  def make_loss(w_train):
    def l1_to_the_solutions(y_true, y_pred):  # PyEPO's recipe for I-MLE.
      decisions = layer(y_pred, training=True)
      return tf.reduce_mean(tf.abs(decisions - y_true), -1)

    return l1_to_the_solutions

  before, after = training.regret_before_and_after(make_loss, "solutions")
  assert after < 0.5 * before, (before, after)
