"""Baseline losses of the experiments, next to the library's Fenchel–Young.

- `PerturbedSquaredLoss`: squared error of the perturbed solution
  `y_ε(θ)` (through its Monte Carlo Jacobian): what a perturbed layer gives a
  user who keeps an ordinary loss.
- `CentredSquaredLoss`: the squared loss on targets centred per example (a
  regression on ranks by a score without bias).
- `BlackboxLoss`: the Hamming loss of the solver's output, differentiated by
  the interpolation of Vlastelica et al. (2020), "Differentiation of Blackbox
  Combinatorial Solvers" (the library's `ptf.ops.blackbox`), with their λ.
"""

from __future__ import annotations

import keras
import tensorflow as tf

import perturbations_tf as ptf

_register = keras.saving.register_keras_serializable(package="experiments")


@_register
class PerturbedSquaredLoss(keras.losses.Loss):
  """`mean((y_ε(θ) - y)²)` per example, with `y_ε` a perturbed solver.

  Args:
    solver: the solver, as for `ptf.layers.Perturbed`.
    num_samples, sigma, noise, perturbation: as for `ptf.ops.perturbed`.
    seed: the seed of the loss's noise-seed generator.

  Example:
    >>> PerturbedSquaredLoss('ranks', num_samples=10, sigma=0.1)(y, theta)
  """

  def __init__(
    self,
    solver,
    num_samples=10,
    sigma=0.1,
    noise="normal",
    perturbation="additive",
    seed=None,
    name="perturbed_squared",
    **kwargs,
  ):
    super().__init__(name=name, **kwargs)
    self.solver = ptf.solvers.get(solver)
    self._perturbed = ptf.ops.perturbed(
      self.solver, num_samples, sigma, noise, perturbation=perturbation
    )
    self._options = dict(
      num_samples=num_samples,
      sigma=sigma,
      noise=noise,
      perturbation=perturbation,
      seed=seed,
    )
    self.seed_generator = keras.random.SeedGenerator(seed)

  def call(self, y_true, y_pred):
    y_eps = self._perturbed(y_pred, seed=self.seed_generator.next())
    error = tf.square(y_eps - tf.cast(y_true, y_eps.dtype))
    return tf.reduce_mean(error, axis=tf.range(1, tf.rank(error)))

  def get_config(self):
    return {
      **super().get_config(),
      **self._options,
      "solver": ptf.solvers.serialize(self.solver),
    }


@_register
class CentredSquaredLoss(keras.losses.Loss):
  """`mean((θ - (y - ȳ))²)`: the squared loss on targets centred per example.

  For ranks `0…n-1`, `ȳ = (n-1)/2`: a linear score without bias can then
  fit them without paying for their mean (the uncentred squared loss's
  error is mostly that mean, which also drives the noise of its direction).

  Example:
    >>> CentredSquaredLoss()(ranks, scores)
  """

  def __init__(self, name="centred_squared", **kwargs):
    super().__init__(name=name, **kwargs)

  def call(self, y_true, y_pred):
    y_true = tf.cast(y_true, y_pred.dtype)
    target = y_true - tf.reduce_mean(y_true, axis=-1, keepdims=True)
    return tf.reduce_mean(tf.square(y_pred - target), axis=-1)


@_register
class BlackboxLoss(keras.losses.Loss):
  """Hamming distance `Σ y(1 - y*) + (1 - y)y*` of the blackbox solver output.

  Summed over the structure's entries, as Vlastelica et al. do: the upstream
  gradient, hence the interpolation step λg, then has their scale.

  Args:
    solver: the solver (for shortest paths give it a `min_cost` floor: θ + λg
      can be negative).
    lam: the interpolation strength λ.

  Example:
    >>> BlackboxLoss({'name': 'shortest_path', 'kwargs': {'min_cost': 0.}}, 20.)
  """

  def __init__(self, solver, lam=20.0, name="blackbox", **kwargs):
    super().__init__(name=name, **kwargs)
    if not lam > 0:
      raise ValueError(f"lam must be > 0, got {lam!r}.")
    self.solver = ptf.solvers.get(solver)
    self.lam = lam

  def call(self, y_true, y_pred):
    y = ptf.ops.blackbox(self.solver, self.lam)(y_pred)
    y_true = tf.cast(y_true, y.dtype)
    hamming = y * (1.0 - y_true) + (1.0 - y) * y_true
    return tf.reduce_sum(hamming, axis=tf.range(1, tf.rank(hamming)))

  def get_config(self):
    return {
      **super().get_config(),
      "lam": self.lam,
      "solver": ptf.solvers.serialize(self.solver),
    }
