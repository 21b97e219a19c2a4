"""The structured SVM and imitation losses against their definitions: the
maximum over every path of a small grid, the Gumbel closed form, the
Fenchel–Young loss they reduce to, finite differences, and training."""

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


def ssvm_by_enumeration(theta, y_bar, maximize, alpha=1.0, margin=1.0):
  """`max_y m‖y − ȳ‖₁ + α s⟨θ, y − ȳ⟩` over every path."""
  paths = grid_paths.all_paths(GRID)
  s = 1.0 if maximize else -1.0
  hamming = np.abs(paths[None] - y_bar[:, None]).sum(-1)
  scores = alpha * s * (theta @ paths.T - np.sum(theta * y_bar, 1)[:, None])
  return (margin * hamming + scores).max(1)


@pytest.mark.parametrize("maximize", [False, True])
@pytest.mark.parametrize("alpha,margin", [(1.0, 1.0), (0.5, 2.0), (2.0, 0.0)])
def test_structured_svm_is_its_definition(maximize, alpha, margin, rng):
  theta = rng.normal(size=(200, NUM_ARCS))
  y_bar, _ = grid_paths.brute_force(
    theta + rng.normal(scale=1.0, size=theta.shape), GRID, maximize
  )
  solver = LONGEST if maximize else SHORTEST
  got = ptf.losses.structured_svm_loss(
    y_bar, theta, solver, alpha=alpha, margin=margin
  ).numpy()
  want = ssvm_by_enumeration(theta, y_bar, maximize, alpha, margin)
  np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)
  assert (got > 0).mean() > 0.5  # Not a trivial case.
  # At scores that put the target ahead by more than the margin: zero.
  far = -(1 if maximize else -1) * 10.0 * (1.0 - 2.0 * y_bar)
  zero = ptf.losses.structured_svm_loss(y_bar, far, solver, alpha=alpha)
  np.testing.assert_allclose(zero, 0.0, atol=1e-12)


@pytest.mark.parametrize("maximize", [False, True])
def test_structured_svm_gradient_matches_finite_differences(maximize, rng):
  theta = tf.constant(rng.normal(size=(20, NUM_ARCS)))
  y_bar, _ = grid_paths.brute_force(rng.normal(size=(20, NUM_ARCS)), GRID)
  solver = LONGEST if maximize else SHORTEST
  upstream = tf.constant(rng.uniform(0.5, 1.5, 20))
  with tf.GradientTape() as tape:
    tape.watch(theta)
    value = tf.reduce_sum(
      upstream * ptf.losses.structured_svm_loss(y_bar, theta, solver, alpha=0.7)
    )
  grad = tape.gradient(value, theta).numpy()
  h = 1e-6  # Piecewise linear: exact off the kinks.
  for k in range(NUM_ARCS):
    step = np.zeros(NUM_ARCS)
    step[k] = h
    diff = ssvm_by_enumeration(
      theta.numpy() + step, y_bar, maximize, 0.7
    ) - ssvm_by_enumeration(theta.numpy() - step, y_bar, maximize, 0.7)
    np.testing.assert_allclose(grad[:, k], upstream * diff / (2 * h), atol=1e-6)


def test_imitation_loss_reduces_to_the_svm_and_to_fenchel_young(rng):
  theta = tf.constant(rng.normal(size=(32, NUM_ARCS)), tf.float32)
  y_bar = SHORTEST(
    theta + tf.constant(rng.normal(size=(32, NUM_ARCS)), tf.float32)
  )
  # Ω = 0: the structured SVM, exactly.
  np.testing.assert_array_equal(
    ptf.losses.imitation_loss(y_bar, theta, SHORTEST, sigma=0.0, alpha=0.5),
    ptf.losses.structured_svm_loss(y_bar, theta, SHORTEST, alpha=0.5),
  )
  # δ = 0, α = 1: the perturbed Fenchel–Young loss, value and gradient.
  with tf.GradientTape(persistent=True) as tape:
    tape.watch(theta)
    imitation = ptf.losses.imitation_loss(
      y_bar, theta, SHORTEST, 50, 0.3, margin=0.0, seed=4
    )
    fy = ptf.losses.fenchel_young_loss(y_bar, theta, SHORTEST, 50, 0.3, seed=4)
  np.testing.assert_array_equal(imitation, fy)
  np.testing.assert_array_equal(
    tape.gradient(imitation, theta), tape.gradient(fy, theta)
  )


def test_imitation_loss_with_gumbel_noise_is_its_closed_form(rng):
  # Argmax with Gumbel noise: F_ε(ψ) = ε·logsumexp(ψ/ε) + εγ, so the loss
  # is that minus ⟨ψ, ȳ⟩ at ψ = αθ + m(1 − 2ȳ).
  theta = rng.normal(size=(8, 5))
  y_bar = np.eye(5)[rng.integers(0, 5, 8)]
  eps, alpha, margin, m = 0.5, 1.5, 0.7, 20_000
  got = ptf.losses.imitation_loss(
    y_bar,
    theta,
    "argmax",
    m,
    eps,
    "gumbel",
    alpha=alpha,
    margin=margin,
    seed=1,
  ).numpy()
  psi = alpha * theta + margin * (1.0 - 2.0 * y_bar)
  lse = np.log(np.exp(psi / eps).sum(1))
  want = eps * (lse + np.euler_gamma) - np.sum(psi * y_bar, 1)
  # ⟨y_m, η_m⟩ = max_i (ψ_i + εG_i) is Gumbel of scale ε: std επ/√6.
  tolerance = 5 * eps * np.pi / np.sqrt(6 * m)
  np.testing.assert_allclose(got, want, atol=tolerance)
  # Its gradient: α(softmax(ψ/ε) − ȳ), to the same Monte Carlo precision.
  psi_t = tf.constant(theta)
  with tf.GradientTape() as tape:
    tape.watch(psi_t)
    value = ptf.losses.imitation_loss(
      y_bar,
      psi_t,
      "argmax",
      m,
      eps,
      "gumbel",
      alpha=alpha,
      margin=margin,
      seed=1,
    )
  softmax = np.exp(psi / eps) / np.exp(psi / eps).sum(1, keepdims=True)
  np.testing.assert_allclose(
    tape.gradient(value, psi_t),
    alpha * (softmax - y_bar),
    atol=5 * alpha * 0.5 / np.sqrt(m),
  )


def test_targets_that_are_not_decisions_raise():
  theta = tf.constant([[1.0, 2.0, 0.5]])
  with pytest.raises(tf.errors.InvalidArgumentError, match="0/1 target"):
    ptf.losses.structured_svm_loss(
      tf.constant([[0.0, 0.5, 0.5]]), theta, "argmax"
    )
  with pytest.raises(tf.errors.InvalidArgumentError):  # Not one-hot.
    ptf.losses.imitation_loss(
      tf.constant([[1.0, 1.0, 0.0]]), theta, "argmax", sigma=0.1
    )
  with pytest.raises(ValueError, match="alpha must be positive"):
    ptf.losses.StructuredSVMLoss("argmax", alpha=0.0)
  with pytest.raises(ValueError, match="sigma must be non-negative"):
    ptf.losses.ImitationLoss("argmax", sigma=-1.0)
  with pytest.raises(ValueError, match="declare"):  # Undeclared sense.
    ptf.losses.structured_svm_loss(
      tf.constant([[0.0, 1.0, 0.0]]), theta, lambda t: t
    )


@pytest.mark.parametrize(
  "loss",
  [
    lambda solver: ptf.losses.StructuredSVMLoss(solver),
    lambda solver: ptf.losses.ImitationLoss(solver, 8, 0.3, seed=0),
  ],
  ids=["ssvm", "imitation"],
)
def test_training_under_xla_lowers_the_regret_and_round_trips(loss, rng):
  keras.utils.set_random_seed(0)
  x = rng.normal(size=(256, 5)).astype(np.float32)
  c = (0.3 * x @ rng.normal(size=(5, NUM_ARCS)) + 1.0).astype(np.float32)
  solver = {"name": "grid_arc_shortest_path", "kwargs": {"grid": GRID}}
  model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(NUM_ARCS)])
  model.compile(
    keras.optimizers.Adam(0.05),
    loss=loss(solver),
    metrics=[ptf.metrics.NormalizedRegret(solver)],
    jit_compile=True,
  )
  y = ptf.data.stack_targets(c, SHORTEST(c))
  before = model.evaluate(x, y, verbose=0, return_dict=True)
  model.fit(x, y, epochs=10, batch_size=32, verbose=0)
  after = model.evaluate(x, y, verbose=0, return_dict=True)
  assert after["normalized_regret"] < 0.3 * before["normalized_regret"]
  copy = serialization.round_trip(loss(solver))
  assert not copy.maximize and copy.solver.keywords == {"grid": GRID}
