"""Regularised Frank–Wolfe against exact projections: sparsemax (argmax),
the capped simplex (top-k), and the hull of every path of a grid; its
Fenchel–Young loss against the sparsemax loss."""

import functools

import numpy as np
import pytest
from scipy import optimize
import tensorflow as tf

import perturbations_tf as ptf
from perturbations_tf import solvers
from tests import grid_paths
from tests import serialization
from tests import training

GRID = (3, 3)
SHORTEST = functools.partial(solvers.grid_arc_shortest_path, grid=GRID)


def sparsemax(theta):
  """Martins & Astudillo (2016): the projection onto the simplex."""
  z = np.sort(theta, 1)[:, ::-1]
  k = np.arange(1, theta.shape[1] + 1)
  cumulative = np.cumsum(z, 1)
  support = 1 + k * z > cumulative
  size = support.sum(1)
  tau = (cumulative[np.arange(len(z)), size - 1] - 1) / size
  return np.maximum(theta - tau[:, None], 0)


def capped_simplex(theta, k):
  """The projection onto {0 ≤ y ≤ 1, Σy = k} by bisection on the shift."""
  lo, hi = theta.min(1) - 1, theta.max(1)
  for _ in range(200):
    mid = (lo + hi) / 2
    total = np.clip(theta - mid[:, None], 0, 1).sum(1)
    lo, hi = np.where(total > k, mid, lo), np.where(total > k, hi, mid)
  return np.clip(theta - lo[:, None], 0, 1)


def hull_projection(theta, vertices):
  """The projection onto conv(vertices) as a simplex-weighted NNLS (the
  weights' sum held at 1 by a row of weight 1e4)."""
  rows = []
  for t in theta:
    a = np.vstack([vertices.T, 1e4 * np.ones(len(vertices))])
    weights, _ = optimize.nnls(a, np.append(t, 1e4), maxiter=10_000)
    rows.append(weights @ vertices)
  return np.array(rows)


def test_argmax_gives_sparsemax_and_its_jacobian(rng):
  theta = tf.constant(rng.normal(size=(16, 6)))
  layer = ptf.layers.RegularizedFrankWolfe("argmax", tolerance=1e-9)
  u = rng.normal(size=(16, 6))
  with tf.GradientTape() as tape:
    tape.watch(theta)
    y = layer(theta)
    product = tf.reduce_sum(y * u)
  grad = tape.gradient(product, theta).numpy()
  expected = sparsemax(theta.numpy())
  np.testing.assert_allclose(y, expected, atol=1e-6)
  # Sparsemax's Jacobian: diag(s) − s sᵀ/|s| on the support s.
  s = (expected > 0).astype(float)
  jacobian_u = s * u - s * (s * u).sum(1, keepdims=True) / s.sum(
    1, keepdims=True
  )
  np.testing.assert_allclose(grad, jacobian_u, atol=1e-5)


def test_top_k_gives_the_capped_simplex(rng):
  theta = rng.normal(size=(16, 8))
  y = ptf.ops.regularized_frank_wolfe(
    functools.partial(solvers.top_k, k=3), lam=0.5, tolerance=1e-10
  )(tf.constant(theta))
  np.testing.assert_allclose(y, capped_simplex(theta / 0.5, 3), atol=1e-5)


@pytest.mark.parametrize("lam", [0.5, 2.0])
def test_shortest_path_gives_the_projection_onto_the_hull_of_paths(lam, rng):
  c = rng.normal(size=(12, 12))
  y = ptf.ops.regularized_frank_wolfe(SHORTEST, lam=lam, tolerance=1e-10)(
    tf.constant(c)
  )
  # A minimiser: ŷ = Π(−c/λ).
  expected = hull_projection(-c / lam, grid_paths.all_paths(GRID))
  np.testing.assert_allclose(y, expected, atol=1e-4)


def test_its_jacobian_is_the_finite_difference_on_paths(rng):
  c = tf.constant(rng.normal(size=(6, 12)))
  fw = ptf.ops.regularized_frank_wolfe(SHORTEST, tolerance=1e-12)
  u = rng.normal(size=(6, 12))
  with tf.GradientTape() as tape:
    tape.watch(c)
    product = tf.reduce_sum(fw(c) * u)
  grad = tape.gradient(product, c).numpy()
  direction = rng.normal(size=(6, 12))
  eps = 1e-5
  difference = np.sum(
    (fw(c + eps * direction) - fw(c - eps * direction)) * u, 1
  ) / (2 * eps)
  np.testing.assert_allclose((grad * direction).sum(1), difference, atol=1e-4)


def test_fenchel_young_loss_is_the_sparsemax_loss(rng):
  theta = tf.constant(rng.normal(size=(16, 6)))
  y = np.eye(6)[rng.integers(0, 6, 16)]
  with tf.GradientTape() as tape:
    tape.watch(theta)
    loss = ptf.losses.regularized_fenchel_young_loss(
      y, theta, "argmax", tolerance=1e-10
    )
  grad = tape.gradient(loss, theta).numpy()
  t = theta.numpy()
  p = sparsemax(t)
  expected = 0.5 * ((y - t) ** 2).sum(1) - 0.5 * ((p - t) ** 2).sum(1)
  np.testing.assert_allclose(loss, expected, atol=1e-6)
  np.testing.assert_allclose(grad, p - y, atol=1e-6)


def test_fenchel_young_gradient_follows_a_minimiser(rng):
  c = tf.constant(rng.normal(size=(8, 12)))
  w = SHORTEST(rng.uniform(size=(8, 12))).numpy()
  with tf.GradientTape() as tape:
    tape.watch(c)
    loss = ptf.losses.regularized_fenchel_young_loss(w, c, SHORTEST, lam=2.0)
  grad = tape.gradient(loss, c).numpy()
  y_hat = ptf.ops.regularized_frank_wolfe(SHORTEST, lam=2.0)(c).numpy()
  np.testing.assert_allclose(grad, -(y_hat - w), atol=1e-5)
  assert loss.numpy().min() >= -1e-6


def test_xla_and_graphs_give_the_eager_projection(rng):
  layer = ptf.layers.RegularizedFrankWolfe(training.SOLVER)
  c = tf.constant(rng.normal(size=(8, 40)), tf.float32)
  eager = layer(c)
  compiled = tf.function(layer, jit_compile=True)(c)
  np.testing.assert_allclose(compiled, eager, atol=1e-6)
  np.testing.assert_allclose(tf.reduce_sum(eager, 1), 8.0, rtol=1e-5)


def test_keras_objects_serialise_and_check_settings():
  layer = ptf.layers.RegularizedFrankWolfe("argmax", lam=2.0)
  serialization.round_trip(layer)
  loss = ptf.losses.RegularizedFenchelYoungLoss(training.SOLVER, lam=2.0)
  serialization.round_trip(loss)
  for bad in ({"lam": 0.0}, {"max_iterations": 0}, {"tolerance": -1.0}):
    with pytest.raises(ValueError, match=next(iter(bad))):
      ptf.layers.RegularizedFrankWolfe("argmax", **bad)


def test_the_fenchel_young_loss_trains_a_linear_model_to_lower_regret():
  before, after = training.regret_before_and_after(
    lambda w: ptf.losses.RegularizedFenchelYoungLoss(training.SOLVER),
    "solutions",
  )
  assert after < 0.5 * before, (before, after)
