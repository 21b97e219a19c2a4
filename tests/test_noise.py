"""Tests of the noise distributions: moments and E[∇ν(Z)] = 0."""

import numpy as np
import pytest
import tensorflow as tf

from perturbations_tf import noise

N = 200_000


@pytest.mark.parametrize("name,mean,var", [
    ("normal", 0.0, 1.0),
    ("gumbel", np.euler_gamma, np.pi**2 / 6),
])
def test_moments_and_zero_mean_score(name, mean, var):
  dist = noise.get_noise(name)
  z = dist.sample([N], tf.constant([0, 1], tf.int64), tf.float64).numpy()
  assert abs(z.mean() - mean) < 5 * np.sqrt(var / N)
  # Var of the sample variance ≈ (kurtosis-dependent) var²·c/N; c <= 6 here.
  assert abs(z.var() - var) < 5 * var * np.sqrt(6 / N)
  score = dist.grad_log_density(tf.constant(z)).numpy()
  assert abs(score.mean()) < 5 * score.std() / np.sqrt(N)
  assert np.all(np.isfinite(z))


def test_same_seed_same_samples_and_symmetry_flags():
  dist = noise.Gumbel()
  a = dist.sample([5], tf.constant([3, 4]), tf.float32)
  b = dist.sample([5], tf.constant([3, 4]), tf.float32)
  np.testing.assert_array_equal(a, b)
  assert noise.is_symmetric(noise.Normal())
  assert not noise.is_symmetric(dist)
  assert noise.noise_name(dist) == "gumbel"
