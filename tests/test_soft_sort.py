"""Closed-form soft argmax, ranks and sorts against their definitions: the
projection by brute force over the permutahedron's vertices, the hard
solvers as ε → 0, finite differences, XLA, and their Fenchel–Young losses
against closed forms and training."""

import itertools

import keras
import numpy as np
import pytest
from scipy import optimize
import tensorflow as tf

import perturbations_tf as ptf
from perturbations_tf._src import soft_sort
from tests import serialization


def projection_by_brute_force(z, w, regularization):
  """`argmin_{μ ∈ P(w)}` of ½‖μ − z‖² or KL(μ, e^z), over convex
  combinations of the n! permutations of w (SLSQP, tight tolerances)."""
  vertices = np.array(
    [w[list(p)] for p in itertools.permutations(range(len(w)))]
  )

  def objective(weights):
    mu = weights @ vertices
    if regularization == "l2":
      return 0.5 * np.sum((mu - z) ** 2), vertices @ (mu - z)
    return np.sum(mu * np.log(mu) - mu - mu * z), vertices @ (np.log(mu) - z)

  start = np.full(len(vertices), 1.0 / len(vertices))
  result = optimize.minimize(
    objective,
    start,
    jac=True,
    bounds=[(0, 1)] * len(vertices),
    constraints=[{"type": "eq", "fun": lambda weights: weights.sum() - 1}],
    method="SLSQP",
    options={"ftol": 1e-15, "maxiter": 2000},
  )
  return result.x @ vertices


@pytest.mark.parametrize("regularization", ["l2", "kl"])
def test_the_projection_is_the_brute_force_one(regularization, rng):
  z = 2.0 * rng.normal(size=(6, 4))
  w = rng.uniform(0.2, 3.0, size=(6, 4))
  got = soft_sort.project_permutahedron(z, w, regularization).numpy()
  want = [
    projection_by_brute_force(z[i], w[i], regularization) for i in range(6)
  ]
  np.testing.assert_allclose(got, want, atol=2e-6)
  # A point of P(w): the same total as w.
  np.testing.assert_allclose(got.sum(1), w.sum(1), rtol=1e-12)


@pytest.mark.parametrize("regularization", ["l2", "kl"])
def test_small_strength_gives_the_hard_solvers_and_ties_share(
  regularization, rng
):
  theta = tf.constant(rng.normal(size=(16, 9)))
  np.testing.assert_allclose(
    ptf.ops.soft_rank(theta, regularization, 1e-4),
    ptf.solvers.ranks(theta),
    atol=1e-6,
  )
  positive = tf.abs(theta) + 0.1
  np.testing.assert_allclose(
    ptf.ops.soft_sort(positive, regularization, 1e-4),
    ptf.solvers.sort(positive),
    atol=1e-6,
  )
  np.testing.assert_allclose(
    ptf.ops.soft_argmax(theta, regularization, 1e-4),
    ptf.solvers.argmax(theta),
    atol=1e-6,
  )
  # Large ε: everything pooled, every rank the mean (n − 1)/2.
  np.testing.assert_allclose(
    ptf.ops.soft_rank(theta, "l2", 1e6), np.full((16, 9), 4.0), atol=1e-4
  )


def test_softmax_and_sparsemax_are_their_closed_forms(rng):
  theta = rng.normal(size=(8, 6))
  np.testing.assert_allclose(
    ptf.ops.soft_argmax(theta, "kl", 0.5), tf.nn.softmax(theta / 0.5)
  )
  got = ptf.ops.soft_argmax(theta, "l2", 0.5).numpy()
  want = [
    projection_by_brute_force(theta[i] / 0.5, np.eye(6)[0], "l2")
    for i in range(3)
  ]  # The simplex is the permutahedron of a one-hot vector.
  np.testing.assert_allclose(got[:3], want, atol=2e-6)
  assert (got == 0).any() and np.allclose(got.sum(1), 1.0)


@pytest.mark.parametrize("regularization", ["l2", "kl"])
@pytest.mark.parametrize("op", ["soft_rank", "soft_sort", "soft_argmax"])
def test_jacobians_match_finite_differences(op, regularization, rng):
  fn = getattr(ptf.ops, op)
  theta = tf.constant(rng.uniform(0.5, 3.0, size=(6, 7)))
  upstream = tf.constant(rng.normal(size=(6, 7)))
  with tf.GradientTape() as tape:
    tape.watch(theta)
    value = tf.reduce_sum(upstream * fn(theta, regularization, 0.7))
  grad = tape.gradient(value, theta).numpy()
  h = 1e-6  # Piecewise smooth: exact off the block changes.
  for k in range(7):
    step = np.zeros((6, 7))
    step[:, k] = h
    diff = tf.reduce_sum(
      upstream
      * (
        fn(theta + step, regularization, 0.7)
        - fn(theta - step, regularization, 0.7)
      ),
      1,
    )
    np.testing.assert_allclose(grad[:, k], diff / (2 * h), atol=1e-6)


@pytest.mark.parametrize("regularization", ["l2", "kl"])
def test_xla_gives_the_same_values_and_gradients(regularization, rng):
  theta = tf.constant(rng.normal(size=(32, 100)), tf.float32)

  def rank_and_grad(t):
    with tf.GradientTape() as tape:
      tape.watch(t)
      r = ptf.ops.soft_rank(t, regularization, 0.3)
      total = tf.reduce_sum(r * tf.range(100, dtype=t.dtype))
    return r, tape.gradient(total, t)

  eager = rank_and_grad(theta)
  xla = tf.function(rank_and_grad, jit_compile=True)(theta)
  for a, b in zip(eager, xla):  # float32, summed in another order.
    np.testing.assert_allclose(a, b, atol=1e-5 * np.abs(b).max())


def test_bad_settings_are_refused():
  with pytest.raises(ValueError, match="regularization must be one of"):
    ptf.layers.SoftRank("entropy")
  with pytest.raises(ValueError, match="must be positive"):
    ptf.layers.SoftSort(regularization_strength=0.0)
  with pytest.raises(ValueError, match="batch, n"):
    ptf.ops.soft_rank(tf.zeros([2, 3, 4]))
  with pytest.raises(tf.errors.InvalidArgumentError, match="positive"):
    ptf.ops.soft_sort([[1.0, -1.0]], "kl")
  with pytest.raises(ValueError, match="no Fenchel–Young loss"):
    ptf.losses.ClosedFormFenchelYoungLoss(ptf.layers.SoftSort())


def test_fenchel_young_losses_are_their_closed_forms(rng):
  theta = rng.normal(size=(8, 5))
  y = np.eye(5)[rng.integers(0, 5, 8)]
  # Entropy: ε times the cross-entropy of softmax(θ/ε).
  loss = ptf.losses.ClosedFormFenchelYoungLoss(ptf.layers.SoftArgmax("kl", 0.7))
  log_p = theta / 0.7 - np.log(np.exp(theta / 0.7).sum(1, keepdims=True))
  np.testing.assert_allclose(
    loss.call(y, theta), -0.7 * np.sum(y * log_p, 1), rtol=1e-10
  )
  # Sparsemax loss (Martins & Astudillo): ⟨θ, p − y⟩ − ½‖p‖² + ½‖y‖².
  sparse = ptf.losses.ClosedFormFenchelYoungLoss(ptf.layers.SparseArgmax())
  p = ptf.ops.soft_argmax(theta, "l2").numpy()
  want = np.sum(theta * (p - y), 1) - 0.5 * np.sum(p * p, 1) + 0.5
  np.testing.assert_allclose(sparse.call(y, theta), want, rtol=1e-10)


@pytest.mark.parametrize("regularization", ["l2", "kl"])
def test_the_soft_rank_loss_is_non_negative_with_gradient_rank_minus_target(
  regularization, rng
):
  theta = tf.constant(rng.normal(size=(16, 6)))
  y = ptf.solvers.ranks(tf.constant(rng.normal(size=(16, 6))))
  layer = ptf.layers.SoftRank(regularization, 0.5)
  loss = ptf.losses.ClosedFormFenchelYoungLoss(layer)
  with tf.GradientTape() as tape:
    tape.watch(theta)
    value = loss.call(y, theta)
    total = tf.reduce_sum(value)
  assert (value.numpy() > 0).all()
  np.testing.assert_allclose(
    tape.gradient(total, theta),
    ptf.ops.soft_rank(theta, regularization, 0.5) - y,
    atol=1e-12,
  )
  # At scores whose soft ranks are the (vertex) targets: zero.
  far = 100.0 * tf.cast(y, tf.float64)
  np.testing.assert_allclose(loss.call(y, far), 0.0, atol=1e-6)
  with pytest.raises(tf.errors.InvalidArgumentError):  # Not ranks.
    loss.call(tf.ones([16, 6]), theta)


def test_training_with_the_soft_rank_loss_learns_to_rank_and_round_trips(rng):
  keras.utils.set_random_seed(0)
  w = rng.normal(size=(8, 1))
  x = rng.normal(size=(512, 10, 8)).astype(np.float32)
  y = ptf.solvers.ranks(tf.constant((x @ w)[..., 0])).numpy()
  model = keras.Sequential(
    [keras.Input((10, 8)), keras.layers.Dense(1), keras.layers.Reshape((10,))]
  )
  layer = ptf.layers.SoftRank("l2", 0.1)
  model.compile(
    keras.optimizers.Adam(0.05),
    loss=ptf.losses.ClosedFormFenchelYoungLoss(layer),
    jit_compile=True,
  )
  model.fit(x, y, epochs=5, batch_size=32, verbose=0)
  exact = ptf.solvers.ranks(model.predict(x, verbose=0)).numpy()
  assert (exact == y).all(axis=1).mean() > 0.8
  for obj in (
    layer,
    ptf.layers.SoftArgmax(),
    ptf.layers.SparseArgmax(0.5),
    ptf.layers.SoftSort("kl", 2.0),
    ptf.losses.ClosedFormFenchelYoungLoss(ptf.layers.SoftRank("kl", 0.3)),
  ):
    serialization.round_trip(obj)
