"""The perturbed Fenchel–Young loss, `L_ε(θ; y) = F_ε(θ) + εΩ(y) - <θ, y>`.

Its gradient `y_ε(θ) - y` needs no Jacobian, only the M solver calls of the
forward pass. The value reported is the true loss up to the label-only
constant `εΩ(y)`: the Monte Carlo mean of `<y_m, η_m>` minus `<θ, y>`.
"""

from __future__ import annotations

import warnings
from typing import Callable, Optional

import keras
import tensorflow as tf

from perturbations_tf import noise as noise_lib
from perturbations_tf import perturbed as perturbed_lib
from perturbations_tf import registry

_MULTIPLICATIVE_WARNING = (
    "The Fenchel–Young loss with perturbation='multiplicative' is positively "
    "homogeneous in θ (L(cθ; y) = c·L(θ; y)) and non-negative, so training "
    "drives θ towards 0. Prefer perturbation='additive' (with a min_cost "
    "floor for shortest paths) for the loss, and keep the multiplicative "
    "perturbation for perturbed layers.")


def fenchel_young_loss(y_true: tf.Tensor,
                       theta: tf.Tensor,
                       func: Callable,
                       num_samples: int = 1000,
                       sigma: float = 0.01,
                       noise="normal",
                       batched: bool = True,
                       maximize: bool = True,
                       *,
                       perturbation: str = perturbed_lib.ADDITIVE,
                       seed: perturbed_lib.SeedLike = None) -> tf.Tensor:
  """Per-example perturbed Fenchel–Young loss (up to the label constant).

  For `maximize=True` the solver is `y*(θ) = argmax_y <y, θ>` and the value is
  `mean_m <y_m, η_m> - <θ, y>` with `y_m = func(η_m)`; its gradient in θ is
  `mean_m y_m - y` (additive) or `mean_m y_m ⊙ exp(εZ_m - ε²/2) - y`
  (multiplicative): exactly the gradient of the reported estimate. For
  `maximize=False`, `func` minimises `<y, θ>` (e.g. a shortest path over costs
  θ) and everything is applied to `-θ`: func sees `θ - εZ` (additive) or
  `θ ⊙ exp(εZ - ε²/2)` (multiplicative).

  Args:
    y_true: the target structures, θ's shape (`[B, ...]`, or one example when
      `batched=False`).
    theta: the model's scores (maximize) or costs (minimize).
    func: the solver, as in `perturbed`; its output has θ's shape.
    num_samples: M.
    sigma: ε.
    noise: `'normal'`, `'gumbel'` or a noise object.
    batched: whether θ carries a leading batch axis.
    maximize: whether func maximises (`True`) or minimises `<y, θ>`.
    perturbation: `'additive'` or `'multiplicative'` (degenerate for this loss;
      see the warning it raises).
    seed: None (fresh noise per call), an int, or a `[2]` integer tensor.

  Returns:
    The loss per example, `[B]` (a scalar when `batched=False`), θ's dtype.

  Raises:
    ValueError: on invalid settings or shapes.

  Example:
    >>> theta = tf.constant([[1.0, 2.0, 0.5]])
    >>> y = tf.constant([[0.0, 1.0, 0.0]])
    >>> loss = fenchel_young_loss(y, theta, solvers.argmax, sigma=0.5,
    ...                           noise='gumbel', seed=0)
  """
  spec = perturbed_lib.get_perturbation(num_samples, sigma, noise,
                                        perturbation)
  sign = 1.0 if maximize else -1.0
  theta, z, eta, inputs, solver = perturbed_lib.prepare(
      spec, theta, func, batched, perturbed_lib.resolve_seed(seed), sign)
  y_true = tf.cast(tf.convert_to_tensor(y_true), theta.dtype)
  if not batched:
    y_true = y_true[tf.newaxis]
  if (theta.shape.is_fully_defined() and y_true.shape.is_fully_defined()
      and theta.shape != y_true.shape):
    raise ValueError(
        f"y_true and theta must have the same shape, got {y_true.shape} and "
        f"{theta.shape}.")

  @tf.custom_gradient
  def fy_op(theta, y_true):
    y = _solve_checked(solver, inputs, spec.num_samples, z.dtype, theta)
    value, y_eps = _value_and_mean(spec, y, eta, z, theta, y_true, sign)

    def grad(upstream, variables=None):
      grads = _gradients(upstream, y_eps, theta, y_true, sign)
      if variables:
        return grads, [None] * len(variables)
      return grads

    return value, grad

  value = fy_op(theta, y_true)
  return value if batched else value[0]


def _value_and_mean_graph(spec, y, eta, z, theta, y_true, sign):
  """`mean_m <y_m, η_m> - <θ', y>` and `y_ε` (with θ' = sign·θ)."""
  axes = tf.range(2, tf.rank(y))
  theta_c = sign * tf.cast(theta, y.dtype)
  value = (tf.reduce_mean(tf.reduce_sum(y * eta, axis=axes), axis=0)
           - tf.reduce_sum(theta_c * tf.cast(y_true, y.dtype), axis=axes - 1))
  if spec.perturbation != perturbed_lib.ADDITIVE:  # Additive: ∂η/∂θ = 1.
    y = y * spec.tangent(z)
  y_eps = tf.reduce_mean(y, axis=0)
  return tf.cast(value, theta.dtype), y_eps


_value_and_mean = perturbed_lib.Compiled(_value_and_mean_graph)


def _gradients(upstream, y_eps, theta, y_true, sign):
  """The gradients in θ (`sign·g·(y_ε - y)`) and in y (`-sign·g·θ`)."""
  dtype = y_eps.dtype
  g = tf.reshape(tf.cast(upstream, dtype), tf.concat(
      [tf.shape(upstream), tf.ones([tf.rank(y_eps) - 1], tf.int32)], 0))
  y_c = tf.cast(y_true, dtype)
  return (tf.cast(sign * g * (y_eps - y_c), theta.dtype),
          tf.cast(-sign * g * tf.cast(theta, dtype), theta.dtype))


def _solve_checked(solver, inputs, num_samples, dtype, theta):
  """Runs the solver and checks that it returns θ's shape per sample."""
  y = perturbed_lib.solve(solver, inputs, num_samples, dtype)
  if (y.shape.rank is not None and y.shape.rank != theta.shape.rank + 1):
    raise ValueError(
        "The Fenchel–Young loss needs a solver that returns a structure of "
        f"θ's shape {theta.shape[1:]} per example; got solutions of shape "
        f"{y.shape[2:]}.")
  return y


def _perturbed_solution(func: Callable, spec: perturbed_lib.Perturbation,
                        batched: bool, maximize: bool) -> Callable:
  """`y_ε(θ)` as the loss sees it: func of `θ + εZ`, or of `θ - εZ` when it
  minimises under additive noise (everything applies to `-θ`)."""
  options = dict(num_samples=spec.num_samples, sigma=spec.sigma,
                 noise=spec.noise, batched=batched,
                 perturbation=spec.perturbation)
  if maximize or spec.perturbation == perturbed_lib.MULTIPLICATIVE:
    return perturbed_lib.perturbed(func, **options)

  def of_negated(theta, *args, **kwargs):
    return func(-theta, *args, **kwargs)
  of_negated.maps_rows = getattr(func, "maps_rows", False)
  negated = perturbed_lib.perturbed(of_negated, **options)

  def minimiser(theta, *args, **kwargs):
    return negated(-tf.convert_to_tensor(theta), *args, **kwargs)
  return minimiser


@keras.saving.register_keras_serializable(package="perturbations_tf")
class FenchelYoungLoss(keras.losses.Loss):
  """Perturbed Fenchel–Young loss as a Keras loss, `call(y_true, theta)`.

  Args:
    func: the solver: a callable, a built-in solver name (`'argmax'`,
      `'top_k'`, `'ranks'`, `'sort'`, `'shortest_path'`) or a registered
      callable (`keras.saving.register_keras_serializable`); the last two
      serialise with the loss.
    num_samples: M.
    sigma: ε.
    noise: `'normal'`, `'gumbel'` or a noise object.
    batched: whether θ carries a leading batch axis.
    maximize: whether func maximises (`True`) or minimises `<y, θ>`.
    reduction: Keras reduction over the batch.
    name: the loss name.
    perturbation: `'additive'` or `'multiplicative'` (warns: degenerate).
    seed: the seed of the loss's `keras.random.SeedGenerator`: each call
      draws new noise, and a seeded loss draws the same sequence (an unseeded
      one follows `keras.utils.set_random_seed`). For identical noise on
      every call use the functional `fenchel_young_loss(seed=int)`.

  Attributes:
    perturbed: the perturbed solver `θ ↦ y_ε(θ)` whose difference to the
      label is the loss's gradient (as google-research `perturbations`
      exposes it): the same func, noise and perturbation, fresh noise per
      call unless given `seed=`.

  Example:
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    >>> model.compile('adam', loss=FenchelYoungLoss('argmax', sigma=0.1))
  """

  def __init__(self,
               func: Optional[Callable | str] = None,
               num_samples: int = 1000,
               sigma: float = 0.01,
               noise="normal",
               batched: bool = True,
               maximize: bool = True,
               reduction: str = "sum_over_batch_size",
               name: str = "fenchel_young",
               *,
               perturbation: str = perturbed_lib.ADDITIVE,
               seed: Optional[int] = None,
               dtype=None):
    super().__init__(name=name, reduction=reduction, dtype=dtype)
    if func is None:
      raise ValueError("FenchelYoungLoss needs a solver: pass func=... (a "
                       "callable or a built-in name such as 'argmax').")
    self.func = registry.get_solver(func)
    self.spec = perturbed_lib.get_perturbation(num_samples, sigma, noise,
                                               perturbation)  # Validates.
    if perturbation == perturbed_lib.MULTIPLICATIVE:
      warnings.warn(_MULTIPLICATIVE_WARNING, UserWarning, stacklevel=2)
    self.batched = batched
    self.maximize = maximize
    self.seed = seed
    self.seed_generator = keras.random.SeedGenerator(seed)
    self.perturbed = _perturbed_solution(self.func, self.spec, batched,
                                         maximize)

  def call(self, y_true, y_pred):
    """Per-example losses, in `y_pred`'s dtype."""
    return fenchel_young_loss(
        y_true, y_pred, self.func, self.spec.num_samples, self.spec.sigma,
        self.spec.noise, self.batched, self.maximize,
        perturbation=self.spec.perturbation,
        seed=self.seed_generator.next())

  def get_config(self) -> dict:
    spec = self.spec
    return {**super().get_config(),
            "func": registry.solver_name(self.func),
            "num_samples": spec.num_samples, "sigma": spec.sigma,
            "noise": noise_lib.noise_name(spec.noise), "batched": self.batched,
            "maximize": self.maximize, "perturbation": spec.perturbation,
            "seed": self.seed}
