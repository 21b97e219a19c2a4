"""Solvers with surrogate gradients: blackbox interpolation and negative
identity.

Both return the solver's exact decision `w*(ĉ)` in the forward pass and
replace its zero Jacobian in the backward pass:

- DBB, Vlastelica et al., "Differentiation of Blackbox Combinatorial
  Solvers" (ICLR 2020): for a minimiser and upstream gradient `g`,
  `−(w*(ĉ) − w*(ĉ + λg)) / λ`, the exact gradient of a piecewise-linear
  interpolation of the loss, `(φ(ĉ + λg) − φ(ĉ)) / λ` with
  `φ(c) = min_w cᵀw` and `g` held fixed. A maximiser mirrors it:
  `(w*(θ) − w*(θ − λg)) / λ`; with `s = sense.sign(maximize)` both read
  `s·(w*(θ) − w*(θ − sλg)) / λ`.
- NID, Sahoo et al., "Backpropagation through Combinatorial Algorithms:
  Identity with Projection Works" (ICLR 2023): the solver's Jacobian
  replaced by `−I` for a minimiser (lower costs, more use), `I` for a
  maximiser.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
import tensorflow as tf

from perturbations_tf._src import registry
from perturbations_tf._src import sense
from perturbations_tf._src import solver_layer
from perturbations_tf._src import solving
from perturbations_tf._src import validation
from perturbations_tf._src.types import SolverLike
from perturbations_tf._src.types import TensorLike


def interpolation_gradient(
  solver: Callable,
  theta: tf.Tensor,
  solution: tf.Tensor,
  upstream: tf.Tensor,
  lam: float,
  maximize: bool,
  owner: str,
) -> tf.Tensor:
  """`s·(w*(θ) − w*(θ − sλg)) / λ`, `s = sense.sign(maximize)`: the
  solutions move towards the target `θ − sλg`, a step against the loss's
  gradient. (I-MLE averages the same difference over perturbed θ.)"""
  s = sense.sign(maximize)
  g = tf.cast(upstream, theta.dtype)
  target = solving.call_solver(
    solver, theta - s * lam * g, owner, dtype=solution.dtype, same_shape=True
  )
  return tf.cast(s * (solution - target) / lam, theta.dtype)


def blackbox(
  solver: SolverLike, lam: float = 20.0, *, maximize: bool | None = None
) -> Callable[[TensorLike], tf.Tensor]:
  """The solver with the interpolation gradient of Vlastelica et al. (DBB).

  Args:
    solver: a batched solver, `[B, ...]` → `[B, ...]` (a callable or a
      solver name, as for `Perturbed`).
    lam: the interpolation strength λ > 0 (their recipe: 10 to 20).
    maximize: None (as the solver declares), True or False.

  Returns:
    `solve(theta)`: `solver(theta)` in θ's dtype, differentiable; one more
    solve in the backward pass.

  Raises:
    ValueError: if lam is not positive, or `maximize` contradicts the
      solver.

  Example:
    >>> path = blackbox({'name': 'shortest_path',
    ...                  'kwargs': {'min_cost': 0., 'connectivity': 4}},
    ...                 lam=20.0)
    >>> costs = tf.constant([[[1.0, 9.0], [1.0, 1.0]]])
    >>> with tf.GradientTape() as tape:  # Reward the path through (0, 1).
    ...   tape.watch(costs)
    ...   loss = -tf.reduce_sum(path(costs) * [[[0., 1.], [0., 0.]]])
    >>> (tape.gradient(loss, costs) + 0.0).numpy()  # (0, 1) gets cheaper.
    array([[[ 0.  ,  0.05],
            [-0.05,  0.  ]]], dtype=float32)
  """
  solver = registry.get_solver(solver)
  lam = validation.positive_number(lam, "lam")
  maximize = sense.resolve_sense(solver, maximize, "blackbox")

  @tf.custom_gradient
  def solve(theta: tf.Tensor):
    w = solving.call_solver(
      solver, theta, "blackbox", dtype=theta.dtype, same_shape=True
    )

    def grad(upstream: tf.Tensor) -> tf.Tensor:
      return interpolation_gradient(
        solver, theta, w, upstream, lam, maximize, "blackbox"
      )

    return w, grad

  def wrapper(theta: TensorLike) -> tf.Tensor:
    return solve(tf.convert_to_tensor(theta))

  return wrapper


def negative_identity(
  solver: SolverLike, *, maximize: bool | None = None
) -> Callable[[TensorLike], tf.Tensor]:
  """The solver with the negative-identity gradient of Sahoo et al. (NID).

  Args:
    solver: a batched solver (a callable or a solver name).
    maximize: None (as the solver declares), True (backward `g`) or False
      (backward `−g`).

  Returns:
    `solve(theta)`: `solver(theta)` in θ's dtype, with backward `±g`; no
    solve in the backward pass.

  Example:
    >>> decide = negative_identity('grid_arc_shortest_path')
    >>> decide(tf.ones([1, 40])).shape  # PyEPO's 5×5 grid: 40 arcs.
    TensorShape([1, 40])
  """
  solver = registry.get_solver(solver)
  s = sense.sign(sense.resolve_sense(solver, maximize, "negative_identity"))

  @tf.custom_gradient
  def solve(theta: tf.Tensor):
    def grad(upstream: tf.Tensor) -> tf.Tensor:
      return s * tf.cast(upstream, theta.dtype)

    return solving.call_solver(
      solver, theta, "negative_identity", dtype=theta.dtype, same_shape=True
    ), grad

  def wrapper(theta: TensorLike) -> tf.Tensor:
    return solve(tf.convert_to_tensor(theta))

  return wrapper


@keras.saving.register_keras_serializable(package="perturbations_tf")
class Blackbox(solver_layer.SolverLayer):
  """`blackbox(solver, lam, maximize=...)` as a Keras layer (DBB).

  Example:
    >>> layer = Blackbox('grid_arc_shortest_path', lam=10.0)
    >>> layer(tf.ones([2, 40])).shape
    TensorShape([2, 40])
  """

  def __init__(
    self,
    solver: SolverLike,
    lam: float = 20.0,
    *,
    maximize: bool | None = None,
    **kwargs: Any,
  ):
    super().__init__(solver, maximize=maximize, **kwargs)
    self.lam = validation.positive_number(lam, "lam")
    self._solve = blackbox(self.solver, self.lam, maximize=self.maximize)

  def call(self, inputs: tf.Tensor) -> tf.Tensor:
    return self._solve(inputs)

  def get_config(self) -> dict:
    return {**super().get_config(), "lam": self.lam}


@keras.saving.register_keras_serializable(package="perturbations_tf")
class NegativeIdentity(solver_layer.SolverLayer):
  """`negative_identity(solver, maximize=...)` as a Keras layer (NID).

  Example:
    >>> NegativeIdentity('grid_arc_shortest_path').maximize
    False
  """

  def __init__(
    self, solver: SolverLike, *, maximize: bool | None = None, **kwargs: Any
  ):
    super().__init__(solver, maximize=maximize, **kwargs)
    self._solve = negative_identity(self.solver, maximize=self.maximize)

  def call(self, inputs: tf.Tensor) -> tf.Tensor:
    return self._solve(inputs)
