"""Tests of the Fenchel–Young loss: closed form, finite differences, Keras."""

import functools

import keras
import numpy as np
import pytest
import tensorflow as tf

import perturbations_tf as ptf
from perturbations_tf import solvers
from tests import serialization
from tests import stats

THETA = np.array(
  [[1.0, 2.0, 0.5, -0.3], [0.2, 0.1, 0.0, 0.4], [-1.0, 0.3, 0.9, 0.0]]
)
LABELS = np.eye(4)[[1, 3, 0]]


def value_and_grad(loss_fn, y, theta):
  theta = tf.convert_to_tensor(theta)
  with tf.GradientTape() as tape:
    tape.watch(theta)
    value = loss_fn(y, theta)
    total = tf.reduce_sum(value)
  return value.numpy(), tape.gradient(total, theta).numpy()


def test_gumbel_argmax_value_is_cross_entropy_and_grad_is_softmax():
  m, sigma = 8000, 0.5

  def run(seed):
    value, grad = value_and_grad(
      lambda y, t: ptf.losses.fenchel_young_loss(
        y, t, solvers.argmax, m, sigma, "gumbel", seed=seed
      ),
      LABELS,
      THETA,
    )
    return np.concatenate([value[:, None], grad], axis=1)

  estimate, se = stats.mean_and_se(run)
  cross_entropy = tf.nn.softmax_cross_entropy_with_logits(
    LABELS, THETA / sigma
  ).numpy()
  # max_i(θ_i + σG_i) is σ·Gumbel-distributed: std σπ/√6 per sample.
  value_se = sigma * np.pi / np.sqrt(6 * m * stats.NUM_REPEATS)
  stats.assert_close_statistically(
    estimate[:, 0], value_se, sigma * (cross_entropy + np.euler_gamma)
  )
  stats.assert_close_statistically(
    estimate[:, 1:],
    0.5 / np.sqrt(m * stats.NUM_REPEATS),
    tf.nn.softmax(THETA / sigma).numpy() - LABELS,
  )
  # The SE formula is not optimistic.
  assert np.all(se[:, 0] < 2 * stats.t_factor() * value_se)


@pytest.mark.parametrize(
  "perturbation,noise,maximize",
  [
    ("additive", "normal", True),
    ("additive", "gumbel", True),
    ("additive", "normal", False),
    ("multiplicative", "normal", True),
    ("multiplicative", "normal", False),
  ],
)
@pytest.mark.filterwarnings("ignore:The Fenchel")
def test_finite_difference_of_value_matches_gradient(
  perturbation, noise, maximize
):
  """At a fixed seed the estimate is piecewise linear: FD is exact."""
  theta = np.abs(THETA) + 0.2
  solver = solvers.ranks if maximize else lambda x: solvers.ranks(-x)
  loss = functools.partial(
    ptf.losses.fenchel_young_loss,
    solver=solver,
    num_samples=50,
    sigma=0.3,
    noise=noise,
    maximize=maximize,
    perturbation=perturbation,
    seed=11,
  )
  labels = solvers.ranks(tf.constant(theta[:, ::-1])).numpy()
  value, grad = value_and_grad(loss, labels, theta)
  for v in np.random.default_rng(0).normal(size=(3,) + theta.shape):
    h = 1e-6
    fd = (
      np.sum(loss(labels, theta + h * v)) - np.sum(loss(labels, theta - h * v))
    ) / (2 * h)
    np.testing.assert_allclose(fd, np.sum(grad * v), rtol=1e-6)
  assert np.all(np.isfinite(value))


def test_minimize_is_maximize_of_negated_scores():
  argmin = lambda x: solvers.argmax(-x)
  kwargs = dict(num_samples=64, sigma=0.4, noise="normal", seed=5)
  v_min, g_min = value_and_grad(
    lambda y, t: ptf.losses.fenchel_young_loss(
      y, t, argmin, maximize=False, **kwargs
    ),
    LABELS,
    THETA,
  )
  v_max, g_max = value_and_grad(
    lambda y, t: ptf.losses.fenchel_young_loss(y, -t, solvers.argmax, **kwargs),
    LABELS,
    THETA,
  )
  np.testing.assert_allclose(v_min, v_max, rtol=1e-6)
  np.testing.assert_allclose(g_min, g_max, rtol=1e-6)


def test_multiplicative_gradient_is_weighted_mean_and_warns():
  with pytest.warns(UserWarning, match="positively homogeneous"):
    ptf.losses.FenchelYoungLoss(solvers.argmax, perturbation="multiplicative")
  loss = functools.partial(
    ptf.losses.fenchel_young_loss,
    solver=solvers.argmax,
    num_samples=200,
    sigma=0.5,
    perturbation="multiplicative",
    seed=0,
  )
  theta = np.abs(THETA) + 0.1
  value, grad = value_and_grad(loss, LABELS, theta)
  # Homogeneity, the reason for the warning: L(2θ) = 2 L(θ) at a fixed seed.
  np.testing.assert_allclose(loss(LABELS, 2 * theta), 2 * value, rtol=1e-6)
  # Euler's identity for degree-1 homogeneity: <θ, ∇L(θ)> = L(θ).
  np.testing.assert_allclose(np.sum(theta * grad, -1), value, rtol=1e-6)


def test_a_one_example_solver_gives_the_batched_solvers_loss():
  # batched=False: the solver takes one example; θ still has its batch axis.
  def one_example_argmax(t):
    return tf.one_hot(tf.argmax(t), tf.shape(t)[0], dtype=t.dtype)

  loss = ptf.losses.fenchel_young_loss(
    LABELS, THETA, one_example_argmax, 10, 0.1, batched=False, seed=0
  )
  batched = ptf.losses.fenchel_young_loss(
    LABELS, THETA, solvers.argmax, 10, 0.1, seed=0
  )
  assert loss.shape == (3,)
  np.testing.assert_allclose(loss, batched, rtol=1e-6)
  keras_loss = ptf.losses.FenchelYoungLoss(
    one_example_argmax, 10, 0.1, batched=False, seed=0
  )
  assert keras_loss(LABELS, THETA).shape == ()
  with pytest.raises(
    ValueError,
    match=r"(?s)returned shape \(4,\) for inputs "
    r"of shape \(30, 4\).*"
    "batched=False",
  ):
    ptf.losses.fenchel_young_loss(
      LABELS, THETA, lambda t: tf.reduce_sum(t, 0), 10, 0.1
    )


def test_stacked_targets_give_the_loss_of_their_solutions():
  costs = -THETA  # Any costs: the loss reads the solutions of the stack.
  stacked = ptf.data.stack_targets(costs, LABELS)
  kwargs = dict(num_samples=20, sigma=0.3, seed=2)
  np.testing.assert_allclose(
    ptf.losses.fenchel_young_loss(stacked, THETA, solvers.argmax, **kwargs),
    ptf.losses.fenchel_young_loss(LABELS, THETA, solvers.argmax, **kwargs),
  )
  loss = ptf.losses.FenchelYoungLoss("argmax", 20, 0.3, seed=2)
  assert np.isfinite(loss(stacked, THETA).numpy())


@pytest.mark.parametrize(
  "solver,labels,message",
  [
    ("argmax", [[1.0, 1.0, 0.0, 0.0]], "must be one-hot"),
    ("argmax", [[0.5, 0.5, 0.0, 0.0]], "must be one-hot"),
    ("top_k", [[1.0, 1.0, 1.0, 0.0]], "top_k was given k=1"),
    (
      {"name": "top_k", "kwargs": {"k": 2}},
      [[1.0, 1.0, 1.0, 0.0]],
      "top_k was given k=2",
    ),
    ("ranks", [[0.0, 0.0, 1.0, 2.0]], "permutations of 0, 1"),
  ],
)
def test_labels_the_solver_cannot_produce_raise(solver, labels, message):
  loss = ptf.losses.FenchelYoungLoss(solver, 10, 0.1, seed=0)
  with pytest.raises(tf.errors.InvalidArgumentError, match=message):
    loss(np.array(labels, np.float32), THETA[:1])
  with pytest.raises(tf.errors.InvalidArgumentError, match=message):
    tf.function(loss)(np.array(labels, np.float32), THETA[:1])
  # The right k is accepted.
  three_hot = ptf.losses.FenchelYoungLoss(
    {"name": "top_k", "kwargs": {"k": 3}}, 10, 0.1, seed=0
  )
  assert np.isfinite(three_hot([[1.0, 1.0, 1.0, 0.0]], THETA[:1]).numpy())


def test_the_sense_follows_the_solver_and_contradictions_raise():
  assert ptf.losses.FenchelYoungLoss("shortest_path").maximize is False
  assert ptf.losses.FenchelYoungLoss("argmax").maximize is True
  assert (
    ptf.losses.FenchelYoungLoss(lambda x: x).maximize is True
  )  # Undeclared.
  assert (
    ptf.losses.FenchelYoungLoss(lambda x: x, maximize=False).maximize is False
  )
  with pytest.raises(
    ValueError,
    match=r"(?s)maximize=True.*shortest_path "
    "declares maximize=False",
  ):
    ptf.losses.FenchelYoungLoss("shortest_path", maximize=True)


def test_keras_loss_config_round_trip_and_errors():
  loss = ptf.losses.FenchelYoungLoss("top_k", 10, 0.2, "gumbel", seed=3)
  assert loss.get_config()["solver"] == "top_k"
  clone = serialization.round_trip(loss)
  first = loss(LABELS, THETA)
  np.testing.assert_array_equal(clone(LABELS, THETA), first)  # Same sequence.
  assert not np.array_equal(loss(LABELS, THETA), first)  # Fresh noise.
  partial = ptf.losses.FenchelYoungLoss(
    functools.partial(solvers.shortest_path, min_cost=0.1), maximize=False
  )
  assert partial.get_config()["solver"] == {
    "name": "shortest_path",
    "kwargs": {"min_cost": 0.1},
  }
  restored = serialization.round_trip(partial)
  assert restored.solver.keywords == {"min_cost": 0.1}
  assert restored.maximize is False
  with pytest.raises(ValueError, match="register_keras_serializable"):
    ptf.losses.FenchelYoungLoss(lambda x: x).get_config()
  with pytest.raises(ValueError, match="needs a solver"):
    ptf.losses.FenchelYoungLoss()
  with pytest.raises(ValueError, match="Unknown solver"):
    ptf.losses.FenchelYoungLoss("dijkstra")
  with pytest.raises(ValueError, match="of y_pred's shape"):
    loss(LABELS[:, :3], THETA)


def test_keras_model_trains_with_fit():
  rng = np.random.default_rng(0)
  centers = rng.normal(size=(3, 5)) * 3
  labels = rng.integers(0, 3, size=600)
  x = (centers[labels] + rng.normal(size=(600, 5))).astype(np.float32)
  y = np.eye(3, dtype=np.float32)[labels]
  keras.utils.set_random_seed(0)
  model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(3)])
  model.compile(
    keras.optimizers.Adam(0.05),
    loss=ptf.losses.FenchelYoungLoss("argmax", 100, 0.5),
    metrics=["categorical_accuracy"],
  )
  before = model.evaluate(x, y, verbose=0)
  history = model.fit(x, y, batch_size=32, epochs=3, verbose=0)
  accuracy = history.history["categorical_accuracy"]
  assert accuracy[-1] > max(before[1], 0.5) + 0.2
  assert history.history["loss"][-1] < history.history["loss"][0]
