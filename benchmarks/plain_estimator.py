"""The plain estimator of the reference implementation, as a baseline.

Written from the formula, not from the package: Gaussian noise from the
global generator, one batched solve of the M·B perturbed inputs, the mean as
the forward pass and `(1/(εM)) Σ_m <y_m, g> Z_m` (an einsum) as the backward
pass; no control variate, no seed, no checks.
"""

from __future__ import annotations

from collections.abc import Callable

import tensorflow as tf


def _perturb_and_solve(
  func: Callable, theta: tf.Tensor, num_samples: int, sigma: float
):
  shape = tf.shape(theta)
  z = tf.random.normal(tf.concat([[num_samples], shape], 0))
  eta = theta[tf.newaxis] + sigma * z
  flat = tf.reshape(eta, tf.concat([[-1], shape[1:]], 0))
  y = tf.reshape(tf.cast(func(flat), theta.dtype), tf.shape(eta))
  return z, eta, y


def perturbed(func: Callable, num_samples: int, sigma: float) -> Callable:
  """`θ ↦ mean_m func(θ + εZ_m)` with the plain score-function gradient."""

  @tf.custom_gradient
  def op(theta):
    z, _, y = _perturb_and_solve(func, theta, num_samples, sigma)

    def grad(g):
      inner = tf.reduce_sum(
        tf.reshape(y * g[tf.newaxis], [num_samples, tf.shape(g)[0], -1]), -1
      )
      return tf.einsum("mb,mb...->b...", inner, z) / (sigma * num_samples)

    return tf.reduce_mean(y, 0), grad

  return op


def fenchel_young_loss(
  y_true,
  theta,
  func: Callable,
  num_samples: int,
  sigma: float,
  maximize: bool = True,
) -> tf.Tensor:
  """Per-example `mean_m <y_m, η_m> - <θ, y>`, gradient `y_ε(θ) - y`."""
  sign = 1.0 if maximize else -1.0

  @tf.custom_gradient
  def op(theta):
    z, eta, y = _perturb_and_solve(
      lambda x: func(sign * x), sign * theta, num_samples, sigma
    )
    axes = tf.range(2, tf.rank(y))
    value = tf.reduce_mean(tf.reduce_sum(y * eta, axes), 0) - tf.reduce_sum(
      sign * theta * y_true, axes - 1
    )
    y_eps = tf.reduce_mean(y, 0)

    def grad(g):
      g = tf.reshape(g, tf.concat([tf.shape(g), tf.ones_like(axes)], 0))
      return sign * g * (y_eps - y_true)

    return value, grad

  return op(theta)
