"""Coming from google-research `perturbations`: what a migrating user hits.

Each test is one entry of the README's "Coming from google-research
`perturbations`" section: what works unchanged, and what fails with a clear
error that says the one-line change.
"""

import numpy as np
import pytest
import tensorflow as tf

import perturbations_tf as ptf


def one_based_ranks(x):
  """Ranks from 1, as the reference's tests write them."""
  return 1.0 + tf.cast(tf.argsort(tf.argsort(x, -1), -1), x.dtype)


def test_positional_arguments_and_extra_kwargs_as_the_reference():
  def sign_any(x, axis=-1):  # Extra keyword arguments reach func.
    return tf.cast(tf.reduce_any(x > 0, axis=axis), x.dtype) * 2.0 - 1.0

  soft = ptf.ops.perturbed(sign_any, 1000, 0.01, "normal", True)
  theta = tf.constant([[-0.3, -1.2, 1.6], [-0.4, -2.4, -1.0]])
  np.testing.assert_allclose(soft(theta, axis=-1), [1.0, -1.0])


def test_fenchel_young_loss_exposes_its_perturbed_solver():
  # The reference's keyword `func` still names the solver; θ keeps its batch
  # axis even with batched=False (the solver then takes one example).
  loss = ptf.losses.FenchelYoungLoss(
    func=one_based_ranks, num_samples=2000, sigma=0.1, batched=False
  )
  theta = tf.constant([[1.0, 20.0, 7.3, 7.35]])
  y_eps = loss.perturbed(theta, seed=0)
  np.testing.assert_allclose(
    y_eps,
    ptf.ops.perturbed(
      func=one_based_ranks, num_samples=2000, sigma=0.1, batched=False, seed=0
    )(theta),
  )
  y_eps = y_eps[0]
  # The two close scores share ranks 2 and 3; the others are certain.
  np.testing.assert_allclose(y_eps[:2], [1.0, 4.0])
  assert 2.0 < y_eps[2] < 3.0 and 2.0 < y_eps[3] < 3.0

  def gradient(y):
    with tf.GradientTape() as tape:
      tape.watch(theta)
      value = loss(tf.reshape(tf.cast(y, tf.float32), [1, -1]), theta)
    return tape.gradient(value, theta).numpy()

  # The gradient is y_ε(θ) - y: smallest at y_ε itself, then at the hard
  # optimum, then at a wrong ranking; ranks sum to a constant, so does y_ε.
  at_soft = gradient(y_eps)
  at_hard = gradient([1.0, 4.0, 2.0, 3.0])
  at_wrong = gradient([1.0, 4.0, 3.0, 2.0])
  assert (
    np.linalg.norm(at_soft) < np.linalg.norm(at_hard) < np.linalg.norm(at_wrong)
  )
  for g in (at_soft, at_hard, at_wrong):
    assert abs(g.sum()) < 1e-5


def test_minimising_loss_perturbs_like_its_gradient():
  # maximize=False applies everything to -θ: with Gumbel noise (not
  # symmetric) the solver sees θ - εZ, and loss.perturbed says so.
  def argmin(x):
    return tf.one_hot(tf.argmin(x, -1), tf.shape(x)[-1])

  theta = tf.constant([[0.3, 0.1, 0.5]])
  loss = ptf.losses.FenchelYoungLoss(
    argmin, 20000, 0.5, "gumbel", maximize=False
  )
  np.testing.assert_allclose(
    loss.perturbed(theta, seed=1), tf.nn.softmax(-theta / 0.5), atol=0.01
  )


def test_stacked_copies_solver_fails_at_once_with_the_fix():
  # The reference calls an unbatched func once on the M perturbed copies
  # stacked along axis 0 (and θ has no batch axis); here θ always has one,
  # batched=False means the solver takes one example, and a func written
  # for the stack fails on its first trace, naming the difference.
  def argmax_of_stack(t):
    return tf.one_hot(tf.argmax(t, 1), 3)

  soft = ptf.ops.perturbed(
    argmax_of_stack, sigma=0.5, num_samples=1_000_000, batched=False
  )
  with pytest.raises(ValueError, match=r"(?s)one example.*batched=True"):
    soft(tf.constant([[-0.6, -0.5, 0.5]]))
  # Written for one example, the same solver works.
  one = ptf.ops.perturbed(
    lambda t: tf.one_hot(tf.argmax(t), 3),
    sigma=0.5,
    num_samples=1000,
    batched=False,
    seed=0,
  )
  assert one(tf.constant([[-0.6, -0.5, 0.5]])).shape == (1, 3)
  # An unbatched θ is an error that says how to add the axis.
  with pytest.raises(ValueError, match="leading batch axis"):
    one(tf.constant([-0.6, -0.5, 0.5]))
  with pytest.raises(ValueError, match="Pass the solver once"):
    ptf.ops.perturbed(argmax_of_stack, func=argmax_of_stack)


def test_loss_value_is_fenchel_young_not_a_squared_surrogate():
  # The reference reports ||y_ε - y||²; ours is F_ε(θ) - <θ, y>, which with
  # Gumbel noise and argmax is ε·(cross-entropy + γ) in expectation. The
  # gradients agree: y_ε(θ) - y.
  theta = tf.constant([[1.0, 2.0, 0.5]])
  y = tf.constant([[0.0, 1.0, 0.0]])
  loss = ptf.losses.FenchelYoungLoss(
    "argmax", 100_000, 1.0, "gumbel", reduction="sum", seed=0
  )
  cross_entropy = tf.nn.softmax_cross_entropy_with_logits(y, theta)
  np.testing.assert_allclose(
    loss(y, theta), cross_entropy + np.euler_gamma, atol=0.02
  )
  with tf.GradientTape() as tape:
    tape.watch(theta)
    value = loss(y, theta)
  np.testing.assert_allclose(
    tape.gradient(value, theta), tf.nn.softmax(theta) - y, atol=0.01
  )


def test_the_reference_names_still_work_with_a_deprecation_warning():
  with pytest.warns(DeprecationWarning, match="use ptf.ops.perturbed"):
    perturbed = ptf.perturbed
  with pytest.warns(DeprecationWarning, match="ptf.losses.FenchelYoungLoss"):
    loss_class = ptf.FenchelYoungLoss
  assert perturbed is ptf.ops.perturbed
  assert loss_class is ptf.losses.FenchelYoungLoss
  # The reference's convention: an undeclared solver maximises.
  assert loss_class(one_based_ranks).maximize is True


def test_maximize_is_keyword_only():
  with pytest.raises(TypeError, match="positional"):
    ptf.losses.FenchelYoungLoss(one_based_ranks, 10, 0.1, "normal", True, False)
  loss = ptf.losses.FenchelYoungLoss(
    one_based_ranks, 10, 0.1, "normal", True, maximize=False
  )
  assert loss.maximize is False
