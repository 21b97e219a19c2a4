"""Tests of the noise distributions: moments and E[∇ν(Z)] = 0."""

import numpy as np
import pytest
import tensorflow as tf

from perturbations_tf import noise
from perturbations_tf._src import noise as noise_lib

N = 200_000


@pytest.mark.parametrize(
  "name,mean,var",
  [
    ("normal", 0.0, 1.0),
    ("gumbel", np.euler_gamma, np.pi**2 / 6),
  ],
)
def test_moments_and_zero_mean_score(name, mean, var):
  dist = noise.get_noise(name)
  z = dist.sample([N], tf.constant([0, 1], tf.int64), tf.float64).numpy()
  assert abs(z.mean() - mean) < 5 * np.sqrt(var / N)
  # Var of the sample variance ≈ (kurtosis-dependent) var²·c/N; c <= 6 here.
  assert abs(z.var() - var) < 5 * var * np.sqrt(6 / N)
  score = dist.grad_neg_log_density(tf.constant(z)).numpy()
  assert abs(score.mean()) < 5 * score.std() / np.sqrt(N)
  assert np.all(np.isfinite(z))


def test_same_seed_same_samples_and_symmetry_flags():
  dist = noise.Gumbel()
  a = dist.sample([5], tf.constant([3, 4]), tf.float32)
  b = dist.sample([5], tf.constant([3, 4]), tf.float32)
  np.testing.assert_array_equal(a, b)
  assert noise_lib.is_symmetric(noise.Normal())
  assert not noise_lib.is_symmetric(dist)
  assert noise_lib.noise_name(dist) == "gumbel"


@pytest.mark.parametrize("dtype", [tf.float32, tf.float64])
@pytest.mark.parametrize("dist", [noise.Normal(), noise.Gumbel()])
def test_the_same_noise_in_eager_function_and_xla(dist, dtype):
  # A runtime seed (as a Keras SeedGenerator's) and a large shape: the
  # library's generator draws the same numbers in every mode, bit for bit.
  seed = tf.Variable([5, 9], dtype=tf.int64)

  def draw():
    return dist.sample([100, 128, 100], seed.read_value(), dtype)

  eager = draw().numpy()
  np.testing.assert_array_equal(tf.function(draw)(), eager)
  np.testing.assert_array_equal(tf.function(draw, jit_compile=True)(), eager)
  seed.assign([5, 10])
  assert not np.array_equal(draw(), eager)  # The counter moves the stream.


def test_uniforms_are_uniform_and_independent_across_seeds():
  from perturbations_tf._src import random

  n = 400_000
  draws = np.stack([random.uniform([n], [s, 0]).numpy() for s in range(4)])
  assert draws.min() > 0 and draws.max() < 1
  assert np.all(np.abs(draws.mean(1) - 0.5) < 5 * np.sqrt(1 / 12 / n))
  counts = np.histogram(draws[0], 100, (0, 1))[0]
  expected = n / 100  # χ² with 99 degrees of freedom: mean 99, sd 14.
  assert np.sum((counts - expected) ** 2 / expected) < 99 + 5 * 14
  # Neighbours within a stream and streams of consecutive seeds.
  for a, b in (
    (draws[0, :-1], draws[0, 1:]),
    (draws[0], draws[1]),
    (draws[1], draws[3]),
  ):
    assert abs(np.corrcoef(a, b)[0, 1]) < 5 / np.sqrt(n)
