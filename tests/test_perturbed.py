"""Tests of `perturbed`: closed forms, finite differences, seeds, errors."""

import numpy as np
import pytest
import tensorflow as tf

import perturbations_tf as ptf
from perturbations_tf import solvers
from tests import stats

THETA = np.array([[1.0, 2.0, 0.5, -0.3], [0.2, 0.1, 0.0, 0.4]], np.float32)


def softmax_vjp(theta, g, sigma):
  """Exact `J softmax(θ/σ)ᵀ g`."""
  p = tf.nn.softmax(theta / sigma).numpy()
  return p * (g - np.sum(p * g, axis=-1, keepdims=True)) / sigma


def value_and_vjp(fn, theta, g, **kwargs):
  theta = tf.convert_to_tensor(theta)
  with tf.GradientTape() as tape:
    tape.watch(theta)
    y = fn(theta, **kwargs)
    inner = tf.reduce_sum(y * g)
  return y.numpy(), tape.gradient(inner, theta).numpy()


class TestGumbelArgmaxIsSoftmax:
  """Gumbel noise with one-hot argmax gives softmax(θ/σ) exactly."""

  M = 8000
  SIGMA = 0.7

  @pytest.mark.parametrize(
    "control_variate,symmetrize", [(False, False), (True, False), (True, True)]
  )
  def test_forward_and_vjp(self, control_variate, symmetrize):
    g = np.random.default_rng(1).normal(size=THETA.shape).astype(np.float32)
    fn = ptf.ops.perturbed(
      solvers.argmax,
      self.M,
      self.SIGMA,
      "gumbel",
      control_variate=control_variate,
      symmetrize=symmetrize,
    )
    y, vjp_se = stats.mean_and_se(
      lambda s: np.concatenate(value_and_vjp(fn, THETA, g, seed=s))
    )
    n = THETA.shape[0]
    y_mean, vjp = y[:n], y[n:]
    # Each forward entry is a mean of M Bernoulli draws: std <= 0.5/sqrt(M).
    bernoulli_se = 0.5 / np.sqrt(self.M * stats.NUM_REPEATS)
    np.testing.assert_array_less(
      np.abs(y_mean - tf.nn.softmax(THETA / self.SIGMA)),
      stats.Z_SCORE * bernoulli_se,
    )
    stats.assert_close_statistically(
      vjp, vjp_se[n:], softmax_vjp(THETA, g, self.SIGMA)
    )
    # The tolerance is informative: well below the Jacobian's own size.
    assert np.max(vjp_se[n:]) < 0.05 * np.max(np.abs(vjp))

  def vjp_mse(self, g, **options):
    """Mean squared error of the M = 100 VJP over 40 seeds."""
    truth = softmax_vjp(THETA, g, self.SIGMA)
    fn = ptf.ops.perturbed(solvers.argmax, 100, self.SIGMA, "gumbel", **options)
    return np.mean(
      [
        np.square(value_and_vjp(fn, THETA, g, seed=s)[1] - truth)
        for s in range(40)
      ]
    )

  def test_control_variate_reduces_error(self):
    # An upstream gradient with a common component, as losses produce: the
    # plain estimator's variance grows with it, the control variate's not.
    g = np.random.default_rng(3).normal(size=THETA.shape).astype(np.float32)
    g += 3.0
    assert self.vjp_mse(g, control_variate=True) < 0.5 * self.vjp_mse(
      g, control_variate=False
    )

  def test_symmetrizing_reduces_error(self):
    g = np.random.default_rng(4).normal(size=THETA.shape).astype(np.float32)
    assert self.vjp_mse(g, symmetrize=True) < 0.75 * self.vjp_mse(
      g, symmetrize=False
    )


def soft_or(x):
  """1 if any entry is positive: a scalar per example, no useful gradient."""
  return tf.cast(tf.reduce_max(x, axis=-1) > 0, x.dtype)


def sin_sum(x):
  return tf.reduce_sum(tf.sin(3.0 * x), axis=-1)


def fd_directional(fn, theta, g, v, h, seed):
  """Central finite difference of <g, fn(θ)> along v, at a fixed seed."""
  plus = tf.reduce_sum(g * fn(theta + h * v, seed=seed))
  minus = tf.reduce_sum(g * fn(theta - h * v, seed=seed))
  return float((plus - minus) / (2 * h))


CASES = [
  # (solver, theta, batched, perturbation, noise)
  (solvers.ranks, THETA, True, "additive", "normal"),
  (solvers.ranks, THETA[:1], False, "additive", "normal"),
  (soft_or, THETA - 1.0, True, "additive", "normal"),
  (soft_or, THETA[1:] - 0.5, False, "additive", "gumbel"),
  (sin_sum, np.abs(THETA) + 0.5, True, "multiplicative", "normal"),
  (solvers.ranks, np.abs(THETA) + 0.1, True, "multiplicative", "normal"),
]


@pytest.mark.parametrize("solver,theta,batched,perturbation,noise", CASES)
@pytest.mark.parametrize(
  "estimator", ["plain", "control_variate", "antithetic", "symmetrize"]
)
def test_vjp_matches_finite_differences(
  solver, theta, batched, perturbation, noise, estimator
):
  antithetic = estimator == "antithetic" and noise == "normal"
  # Symmetrising is valid for linear maximisers (ranks) under additive noise.
  symmetrize = (
    estimator == "symmetrize"
    and solver is solvers.ranks
    and perturbation == "additive"
  )
  m, sigma = 4000, 0.5
  fn = ptf.ops.perturbed(
    solver,
    m,
    sigma,
    noise,
    batched,
    perturbation=perturbation,
    control_variate=estimator != "plain",
    antithetic=antithetic,
    symmetrize=symmetrize,
  )
  theta = tf.constant(theta, tf.float64)
  probe = np.random.default_rng(2)
  g = tf.constant(probe.normal(size=fn(theta, seed=0).shape))
  v = tf.constant(probe.normal(size=theta.shape))
  # The forward pass at a fixed seed, differenced over h = σ/2: the mean of M
  # independent pathwise differences, an estimate independent of the score one.
  estimate, se = stats.mean_and_se(
    lambda s: [
      np.sum(value_and_vjp(fn, theta, g, seed=s)[1] * v),
      fd_directional(fn, theta, g, v, 0.05, seed=100 + s),
    ]
  )
  stats.assert_close_statistically(estimate[0], se[0], estimate[1], se[1])
  assert se[0] < 0.2 * abs(estimate[1]) + 0.05


def _forward_backward(fn, theta):
  with tf.GradientTape() as tape:
    tape.watch(theta)
    y = fn(theta)
    weights = tf.range(1, tf.shape(y)[-1] + 1)
    loss = tf.reduce_sum(y * tf.cast(weights, y.dtype))
  return y, tape.gradient(loss, theta)


class TestSeeds:
  @pytest.mark.parametrize(
    "solver,batch,size,noise",
    [
      (solvers.ranks, 2, 4, "normal"),
      (solvers.argmax, 128, 1000, "normal"),  # A realistic size.
      (solvers.argmax, 128, 1000, "gumbel"),
    ],
  )
  def test_same_seed_identical_in_eager_function_and_xla(
    self, solver, batch, size, noise
  ):
    # The noise is the same bit for bit in every mode (the library's own
    # generator, run as one XLA program everywhere), so the solutions are;
    # the outputs and gradients are sums of the same terms, which XLA adds
    # in another order: equal to rounding.
    fn = ptf.ops.perturbed(solver, 100, 0.5, noise, seed=7)
    theta = tf.random.stateless_normal([batch, size], seed=[0, 1])
    seed = tf.Variable([7, 0], dtype=tf.int64)  # A runtime seed, as Keras's.

    def with_runtime_seed(theta):
      with tf.GradientTape() as tape:
        tape.watch(theta)
        y = fn(theta, seed=seed.read_value())
        loss = tf.reduce_sum(y * tf.range(1.0, size + 1.0))
      return y, tape.gradient(loss, theta)

    runs = [
      _forward_backward(fn, theta),
      tf.function(_forward_backward)(fn, theta),
      tf.function(_forward_backward, jit_compile=True)(fn, theta),
      tf.function(with_runtime_seed, jit_compile=True)(theta),
      with_runtime_seed(theta),
    ]
    scale = np.abs(runs[0][1]).max()  # Rounding is relative to the sums'.
    assert scale > 0.1  # The gradients are not all 0.
    for y, grad in runs[1:]:
      np.testing.assert_allclose(y, runs[0][0], rtol=1e-6, atol=1e-6)
      np.testing.assert_allclose(grad, runs[0][1], rtol=0, atol=1e-6 * scale)

  def test_different_or_no_seed_gives_different_noise(self):
    theta = tf.constant(THETA)
    a = ptf.ops.perturbed(solvers.ranks, 16, 0.5, seed=1)(theta)
    b = ptf.ops.perturbed(solvers.ranks, 16, 0.5, seed=2)(theta)
    fresh = ptf.ops.perturbed(solvers.ranks, 16, 0.5)
    assert not np.array_equal(a, b)
    assert not np.array_equal(fresh(theta), fresh(theta))
    step = tf.function(fresh)
    assert not np.array_equal(step(theta), step(theta))

  def test_call_seed_overrides(self):
    fn = ptf.ops.perturbed(solvers.ranks, 16, 0.5, seed=1)
    theta = tf.constant(THETA)
    np.testing.assert_array_equal(
      fn(theta, seed=tf.constant([1, 0])), fn(theta)
    )
    assert not np.array_equal(fn(theta, seed=3), fn(theta))


@pytest.mark.parametrize(
  "dtype", [tf.float16, tf.bfloat16, tf.float32, tf.float64]
)
def test_dtypes(dtype):
  fn = ptf.ops.perturbed(solvers.argmax, 2000, 0.7, "gumbel", seed=0)
  theta = tf.constant(THETA, dtype)
  y, grad = _forward_backward(fn, theta)
  assert y.dtype == dtype and grad.dtype == dtype
  np.testing.assert_allclose(
    tf.cast(y, tf.float32), tf.nn.softmax(THETA / 0.7), atol=0.06
  )
  assert np.all(np.isfinite(tf.cast(grad, tf.float32)))


def test_higher_rank_inputs_and_args():
  fn = ptf.ops.perturbed(solvers.top_k, 50, 0.3, seed=0)
  theta = tf.random.stateless_normal([2, 3, 4], seed=[0, 1])
  y, grad = _forward_backward(lambda t: fn(t, k=2), theta)
  assert y.shape == theta.shape and grad.shape == theta.shape
  np.testing.assert_allclose(tf.reduce_sum(y, -1), 2.0, rtol=1e-5)


def test_unbatched_falls_back_to_map_fn_for_python_control_flow():
  def eager_only(x):  # Python branching on a value: cannot be vectorised.
    return solvers.ranks(x) if float(x[0]) > -100 else x

  theta = tf.constant(THETA[:1])
  fn = ptf.ops.perturbed(eager_only, 8, 0.5, batched=False, seed=3)
  reference = ptf.ops.perturbed(solvers.ranks, 8, 0.5, batched=False, seed=3)
  np.testing.assert_array_equal(fn(theta), reference(theta))


def test_func_reading_variables_gets_gradient_for_theta_only():
  scale = tf.Variable(2.0)
  fn = ptf.ops.perturbed(lambda x: solvers.ranks(x * scale), 32, 0.5, seed=0)
  theta = tf.constant(THETA)

  @tf.function
  def step():
    with tf.GradientTape() as tape:
      loss = tf.reduce_sum(fn(theta) * tf.range(4.0))
    return tape.gradient(loss, [scale])

  assert step() == [None]


def test_custom_noise_object():
  class Laplace:
    symmetric = True

    def sample(self, shape, seed, dtype=tf.float32):
      u = tf.random.stateless_uniform(shape, seed, -0.5, 0.5, dtype)
      return -tf.sign(u) * tf.math.log1p(-2 * tf.abs(u))

    def grad_neg_log_density(self, z):
      return tf.sign(z)

  fn = ptf.ops.perturbed(
    solvers.argmax, 100, 0.5, Laplace(), antithetic=True, seed=0
  )
  _, grad = _forward_backward(fn, tf.constant(THETA))
  assert np.all(np.isfinite(grad))


def test_num_samples_one_uses_plain_estimator():
  theta = tf.constant(THETA)
  kwargs = dict(num_samples=1, sigma=0.5, seed=4)
  with_cv = _forward_backward(ptf.ops.perturbed(solvers.ranks, **kwargs), theta)
  plain = _forward_backward(
    ptf.ops.perturbed(solvers.ranks, control_variate=False, **kwargs), theta
  )
  np.testing.assert_array_equal(with_cv[1], plain[1])
  assert np.any(plain[1] != 0)


@pytest.mark.parametrize(
  "kwargs,match",
  [
    (dict(num_samples=0), "num_samples must be a positive integer"),
    (dict(num_samples=2.5), "num_samples must be a positive integer"),
    (dict(sigma=0.0), "sigma must be a positive finite number"),
    (dict(sigma=float("nan")), "sigma must be a positive finite number"),
    (dict(noise="cauchy"), r"supported names are \['gumbel', 'normal'\]"),
    (dict(noise=object()), "sample"),
    (dict(noise="gumbel", antithetic=True), "symmetric noise"),
    (dict(num_samples=5, antithetic=True), "must be even"),
    (
      dict(noise="gumbel", perturbation="multiplicative"),
      "needs noise='normal'",
    ),
    (dict(perturbation="affine"), "perturbation must be one of"),
    (
      dict(perturbation="multiplicative", symmetrize=True),
      "symmetrize=True needs perturbation='additive'",
    ),
    (dict(seed="x"), "seed must be"),
  ],
)
def test_bad_settings_raise_at_construction(kwargs, match):
  with pytest.raises(ValueError, match=match):
    ptf.ops.perturbed(solvers.argmax, **kwargs)


def test_bad_inputs_raise():
  fn = ptf.ops.perturbed(solvers.argmax, 4)
  with pytest.raises(ValueError, match="must have a leading batch axis"):
    fn(tf.constant([1.0, 2.0]))
  with pytest.raises(TypeError, match="floating"):
    fn(tf.constant([[1, 2]]))
  with pytest.raises(tf.errors.InvalidArgumentError, match="NaN or Inf"):
    fn(tf.constant([[1.0, np.nan]]))
  with pytest.raises(tf.errors.InvalidArgumentError, match="NaN or Inf"):
    tf.function(fn)(tf.constant([[1.0, np.inf]]))
  multiplicative = ptf.ops.perturbed(
    solvers.argmax, 4, perturbation="multiplicative"
  )
  with pytest.raises(tf.errors.InvalidArgumentError, match="needs theta > 0"):
    multiplicative(tf.constant([[1.0, -2.0]]))
  with pytest.raises(
    ValueError, match="symmetrize=True needs the solver's output"
  ):
    theta = tf.constant([[1.0, 2.0]])
    with tf.GradientTape() as tape:
      tape.watch(theta)
      y = ptf.ops.perturbed(soft_or, 4, symmetrize=True)(theta)
    tape.gradient(y, theta)
  with pytest.raises(ValueError, match="one solution per input row"):
    ptf.ops.perturbed(lambda x: tf.reduce_sum(x), 4)(tf.constant([[1.0, 2.0]]))
  with pytest.raises(
    ValueError,
    match=r"(?s)returned shape \(2, 2\) for "
    r"inputs of shape \(4, 2\).*batched=False",
  ):
    ptf.ops.perturbed(lambda x: tf.one_hot(tf.argmax(x), 2), 4)(
      tf.constant([[1.0, 2.0]])
    )


@pytest.mark.parametrize("mode", ["eager", "function", "xla"])
def test_regenerated_noise_gives_the_same_numbers(mode):
  theta = tf.constant(THETA)
  runs = []
  for regenerate in (False, True):
    fn = ptf.ops.perturbed(
      solvers.ranks,
      64,
      0.5,
      symmetrize=True,
      regenerate_noise=regenerate,
      seed=5,
    )
    step = (
      _forward_backward
      if mode == "eager"
      else tf.function(_forward_backward, jit_compile=mode == "xla")
    )
    runs.append(step(fn, theta))
  np.testing.assert_array_equal(runs[0][0], runs[1][0])
  np.testing.assert_array_equal(runs[0][1], runs[1][1])
  assert np.any(runs[0][1] != 0)
