"""Solvers with surrogate gradients: blackbox interpolation and negative
identity.

Both return the solver's exact decision `w*(ĉ)` in the forward pass and
replace its zero Jacobian in the backward pass:

- DBB, Vlastelica et al., "Differentiation of Blackbox Combinatorial
  Solvers" (ICLR 2020): for a minimiser and upstream gradient `g`,
  `−(w*(ĉ) − w*(ĉ + λg)) / λ`, the exact gradient of a piecewise-linear
  interpolation of the loss, `(φ(ĉ + λg) − φ(ĉ)) / λ` with
  `φ(c) = min_w cᵀw` and `g` held fixed. A maximiser mirrors it:
  `(w*(θ) − w*(θ − λg)) / λ`.
- NID, Sahoo et al., "Backpropagation through Combinatorial Algorithms:
  Identity with Projection Works" (ICLR 2023): the solver's Jacobian
  replaced by `−I` for a minimiser (lower costs, more use), `I` for a
  maximiser.
"""

from __future__ import annotations

import math
from typing import Callable

import keras
import tensorflow as tf

from perturbations_tf import registry
from perturbations_tf import targets


def _interpolation_gradient(solver: Callable, theta: tf.Tensor,
                           solution: tf.Tensor, upstream: tf.Tensor,
                           lam: float, maximize: bool) -> tf.Tensor:
  """`s·(w*(θ + sλg) − w*(θ)) / λ`, s = +1 (minimise) or −1 (maximise).

  The solutions move towards the target `θ + sλg`, a step against the
  loss's gradient. (I-MLE averages the same difference over perturbed θ.)
  """
  sign = targets.sense(maximize)
  g = tf.cast(upstream, theta.dtype)
  target = tf.cast(solver(theta + sign * lam * g), solution.dtype)
  return tf.cast(sign * (target - solution) / lam, theta.dtype)


def check_lam(lam) -> float:
  if (isinstance(lam, bool) or not isinstance(lam, (int, float))
      or not math.isfinite(lam) or lam <= 0):
    raise ValueError(f"lam must be a positive finite number, got {lam!r}.")
  return float(lam)


def blackbox(solver: Callable, lam: float = 20.0,
             maximize: bool = False) -> Callable:
  """The solver with the interpolation gradient of Vlastelica et al. (DBB).

  Args:
    solver: a batched solver, `[B, ...]` → `[B, ...]` (a callable or a
      solver name, as for `Perturbed`).
    lam: the interpolation strength λ > 0 (their recipe: 10 to 20).
    maximize: whether the solver maximises `<w, θ>` (it minimises by
      default, as the costs of PyEPO's problems).

  Returns:
    `solve(theta)`: `solver(theta)` in θ's dtype, differentiable; one more
    solve in the backward pass.

  Raises:
    ValueError: if lam is not positive.

  Example:
    >>> path = blackbox({'name': 'shortest_path', 'kwargs': {'min_cost': 0.}},
    ...                 lam=20.0)
    >>> with tf.GradientTape() as tape:
    ...   tape.watch(costs)
    ...   loss = tf.reduce_sum(path(costs) * (1.0 - 2.0 * true_path))
    >>> tape.gradient(loss, costs)
  """
  solver = registry.get_solver(solver)
  lam = check_lam(lam)

  @tf.custom_gradient
  def solve(theta):
    w = tf.cast(solver(theta), theta.dtype)

    def grad(upstream):
      return _interpolation_gradient(solver, theta, w, upstream, lam, maximize)

    return w, grad

  def wrapper(theta):
    return solve(tf.convert_to_tensor(theta))
  return wrapper


def negative_identity(solver: Callable, maximize: bool = False) -> Callable:
  """The solver with the negative-identity gradient of Sahoo et al. (NID).

  Args:
    solver: a batched solver (a callable or a solver name).
    maximize: whether it maximises (backward `g`) or minimises (`−g`).

  Returns:
    `solve(theta)`: `solver(theta)` in θ's dtype, with backward `∓g`; no
    solve in the backward pass.

  Example:
    >>> decide = negative_identity('grid_arc_shortest_path')
  """
  solver = registry.get_solver(solver)
  sign = targets.sense(maximize)

  @tf.custom_gradient
  def solve(theta):
    def grad(upstream):
      return -sign * tf.cast(upstream, theta.dtype)
    return tf.cast(solver(theta), theta.dtype), grad

  def wrapper(theta):
    return solve(tf.convert_to_tensor(theta))
  return wrapper


class _SurrogateLayer(keras.layers.Layer):
  """A solver with a surrogate gradient, as a Keras layer."""

  def __init__(self, solver, maximize: bool = False, **kwargs):
    super().__init__(**kwargs)
    self.solver = registry.get_solver(solver)
    self.maximize = bool(maximize)
    self.supports_jit = getattr(self.solver, "supports_jit", True)

  def compute_output_shape(self, input_shape):
    return input_shape

  def get_config(self) -> dict:
    return {**super().get_config(), "solver": registry.solver_name(
        self.solver), "maximize": self.maximize}


@keras.saving.register_keras_serializable(package="perturbations_tf")
class Blackbox(_SurrogateLayer):
  """`blackbox(solver, lam, maximize)` as a Keras layer (DBB).

  Example:
    >>> decisions = Blackbox('grid_arc_shortest_path', lam=10.0)(costs)
  """

  def __init__(self, solver, lam: float = 20.0, maximize: bool = False,
               **kwargs):
    super().__init__(solver, maximize, **kwargs)
    self.lam = check_lam(lam)
    self._solve = blackbox(self.solver, self.lam, self.maximize)

  def call(self, inputs):
    return self._solve(inputs)

  def get_config(self) -> dict:
    return {**super().get_config(), "lam": self.lam}


@keras.saving.register_keras_serializable(package="perturbations_tf")
class NegativeIdentity(_SurrogateLayer):
  """`negative_identity(solver, maximize)` as a Keras layer (NID).

  Example:
    >>> decisions = NegativeIdentity('grid_arc_shortest_path')(costs)
  """

  def __init__(self, solver, maximize: bool = False, **kwargs):
    super().__init__(solver, maximize, **kwargs)
    self._solve = negative_identity(self.solver, self.maximize)

  def call(self, inputs):
    return self._solve(inputs)
