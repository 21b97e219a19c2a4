"""Regularised optimisers solved by Frank–Wolfe, with their Fenchel–Young
loss: the "regularized" layers of InferOpt (Dalle et al., "Learning with
Combinatorial Optimization Layers: a Probabilistic Approach", 2022) and
PyEPO's RFWO/RFY (`pyepo.func.regularizedFrankWolfeOpt`,
`regularizedFrankWolfeFenchelYoung`).

For a solver of a linear objective over a finite set W (declaring its
sense, s = +1 for a maximiser, −1 for a minimiser) and λ > 0:

    ŷ(θ) = argmax_{y ∈ conv(W)} s⟨θ, y⟩ − (λ/2)‖y‖² = Π_conv(W)(sθ/λ),

the Euclidean projection of sθ/λ onto the hull: unique, continuous in θ,
and differentiable almost everywhere, its Jacobian `(s/λ)·P` with P the
orthogonal projector onto the directions of the face that holds ŷ. With
the argmax solver it is sparsemax.

The projection is computed by away-step Frank–Wolfe (Lacoste-Julien &
Jaggi, 2015) with the solver as linear maximisation oracle: each iteration
calls the solver once on the batch, moves towards the best vertex or away
from the worst active one with an exact line search, and drops atoms whose
weight reaches zero, so the iterate reaches the optimal face and its active
atoms span it; the convergence is linear on polytopes. It stops when every
row's Frank–Wolfe gap `⟨μ − θ, μ − v⟩` is at most `tolerance` (in units of
‖y‖², float64 iterates) or after `max_iterations`. The backward pass
projects the upstream gradient on the span of the active atoms (centred),
as PyEPO does; where fewer atoms than the face's dimension hold ŷ (a
degenerate point) that span, hence the Jacobian, is smaller.

The Fenchel–Young loss of Ω = (λ/2)‖·‖² needs no Jacobian:

    L(θ; y) = s⟨θ, ŷ − y⟩ − Ω(ŷ) + Ω(y) ≥ 0,   ∇_θ L = s(ŷ − y).
"""

from __future__ import annotations

from collections.abc import Callable
import math
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from perturbations_tf._src import labels
from perturbations_tf._src import registry
from perturbations_tf._src import sense
from perturbations_tf._src import solver_layer
from perturbations_tf._src import solver_loss
from perturbations_tf._src import solving
from perturbations_tf._src import targets
from perturbations_tf._src import validation
from perturbations_tf._src.types import DTypeLike
from perturbations_tf._src.types import SolverLike
from perturbations_tf._src.types import TensorLike

# Weights at most this small are no longer active atoms.
_DROP = 1e-12


def _away_step_frank_wolfe(
  oracle: Callable[[tf.Tensor], tf.Tensor],
  theta: tf.Tensor,
  max_iterations: int,
  tolerance: float,
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
  """`argmin_{μ ∈ conv(W)} ½‖μ − θ‖²` for each row of θ `[B, d]` (float64).

  Args:
    oracle: `x [B, d] → argmax_{v ∈ W} ⟨x, v⟩`, `[B, d]` float64.
    theta: the points to project, `[B, d]`, float64.
    max_iterations: the most iterations.
    tolerance: the Frank–Wolfe gap at which a row has converged.

  Returns:
    `(μ, atoms, weights)`: the projections `[B, d]`, and the active set,
    `[B, K, d]` vertices with `[B, K]` weights (0 for free slots).
  """
  batch, size = tf.shape(theta)[0], theta.shape[1]
  # Carathéodory: the optimum needs at most d + 1 atoms; twice as many slots
  # leave room for the atoms that away steps have not yet dropped.
  width = min(max_iterations + 1, 2 * size + 2)
  v0 = oracle(theta)
  atoms = tf.tile(v0[:, tf.newaxis], [1, width, 1])
  weights = tf.one_hot(tf.zeros([batch], tf.int32), width, dtype=theta.dtype)

  def body(
    i: tf.Tensor,
    mu: tf.Tensor,
    atoms: tf.Tensor,
    weights: tf.Tensor,
    all_done: tf.Tensor,
  ) -> tuple[tf.Tensor, ...]:
    del all_done
    grad = mu - theta
    v = oracle(theta - mu)
    gap_fw = tf.reduce_sum(grad * (mu - v), -1)
    done = gap_fw <= tolerance
    active = weights > _DROP
    scores = tf.einsum("bkd,bd->bk", atoms, grad)
    scores = tf.where(active, scores, tf.cast(-np.inf, scores.dtype))
    away = tf.argmax(scores, -1, output_type=tf.int32)
    a = tf.gather(atoms, away, batch_dims=1)
    alpha_a = tf.gather(weights, away, batch_dims=1)
    gap_away = tf.reduce_sum(grad * (a - mu), -1)
    use_fw = gap_fw >= gap_away
    direction = tf.where(use_fw[:, tf.newaxis], v - mu, mu - a)
    gap = tf.where(use_fw, gap_fw, gap_away)
    gamma_max = tf.where(
      use_fw,
      tf.ones_like(alpha_a),
      alpha_a / tf.maximum(1.0 - alpha_a, 1e-12),
    )
    squared = tf.maximum(tf.reduce_sum(direction * direction, -1), 1e-300)
    gamma = tf.minimum(tf.maximum(gap / squared, 0.0), gamma_max)
    gamma = tf.where(done, tf.zeros_like(gamma), gamma)
    # A Frank–Wolfe step adds γ to v's slot: the atom equal to v if active,
    # else a free slot, else the slot of least weight (its mass is dropped
    # and the weights renormalised: rare, the buffer holds 2d + 2 atoms).
    distance = tf.reduce_sum(tf.square(atoms - v[:, tf.newaxis]), -1)
    match = (distance < 1e-9) & active
    has_match = tf.reduce_any(match, -1)
    free = ~active
    slot = tf.where(
      has_match,
      tf.argmax(tf.cast(match, tf.int32), -1, output_type=tf.int32),
      tf.where(
        tf.reduce_any(free, -1),
        tf.argmax(tf.cast(free, tf.int32), -1, output_type=tf.int32),
        tf.argmin(weights, -1, output_type=tf.int32),
      ),
    )
    fw_slot = tf.one_hot(slot, width, dtype=theta.dtype)
    away_slot = tf.one_hot(away, width, dtype=theta.dtype)
    gamma_fw = tf.where(use_fw, gamma, tf.zeros_like(gamma))[:, tf.newaxis]
    gamma_away = tf.where(use_fw, tf.zeros_like(gamma), gamma)[:, tf.newaxis]
    place = (fw_slot > 0) & (~has_match & use_fw & (gamma > 0))[:, tf.newaxis]
    atoms = tf.where(place[..., tf.newaxis], v[:, tf.newaxis], atoms)
    weights = tf.where(place, tf.zeros_like(weights), weights)
    weights = weights * (1.0 - gamma_fw + gamma_away)
    weights = weights + gamma_fw * fw_slot - gamma_away * away_slot
    weights = tf.where(weights > _DROP, weights, tf.zeros_like(weights))
    weights = weights / tf.reduce_sum(weights, -1, keepdims=True)
    # μ as the convex combination itself: feasible, no drift.
    mu = tf.einsum("bk,bkd->bd", weights, atoms)
    return i + 1, mu, atoms, weights, tf.reduce_all(done)

  def keep_going(
    i: tf.Tensor,
    mu: tf.Tensor,
    atoms: tf.Tensor,
    weights: tf.Tensor,
    all_done: tf.Tensor,
  ) -> tf.Tensor:
    return (i < max_iterations) & ~all_done

  _, mu, atoms, weights, _ = tf.while_loop(
    keep_going,
    body,
    (tf.constant(0), v0, atoms, weights, tf.constant(False)),
  )
  return mu, atoms, weights


def _face_projector_product(
  atoms: tf.Tensor, weights: tf.Tensor, g: tf.Tensor
) -> tf.Tensor:
  """P·g, P the orthogonal projector onto the span of the active atoms
  centred at their mean, for each row `[B, d]`."""
  active = tf.cast(weights > _DROP, atoms.dtype)
  count = tf.maximum(tf.reduce_sum(active, -1, keepdims=True), 1.0)
  mean = tf.einsum("bk,bkd->bd", active, atoms) / count
  centred = (atoms - mean[:, tf.newaxis]) * active[..., tf.newaxis]
  gram = tf.matmul(centred, centred, transpose_b=True)
  # A ridge relative to the Gram matrix's scale: a least-squares projection
  # even when the centred atoms are linearly dependent.
  scale = tf.maximum(tf.reduce_max(tf.linalg.diag_part(gram), -1), 1.0)
  eye = tf.eye(tf.shape(gram)[-1], dtype=gram.dtype)
  gram += 1e-9 * scale[:, tf.newaxis, tf.newaxis] * eye
  coefficients = tf.linalg.solve(
    gram, tf.einsum("bkd,bd->bk", centred, g)[..., tf.newaxis]
  )
  return tf.einsum("bkd,bk->bd", centred, coefficients[..., 0])


def _check_settings(
  lam: float = 1.0, max_iterations: int = 1000, tolerance: float = 1e-6
) -> dict[str, Any]:
  return dict(
    lam=validation.positive_number(lam, "lam"),
    max_iterations=validation.positive_int(max_iterations, "max_iterations"),
    tolerance=validation.positive_number(tolerance, "tolerance"),
  )


def _solve(
  solver: Callable,
  s: float,
  theta: tf.Tensor,
  lam: float,
  max_iterations: int,
  tolerance: float,
  owner: str,
):
  """Frank–Wolfe on `sθ/λ` flattened: `(ŷ, atoms, weights)` in float64."""
  if not theta.shape[1:].is_fully_defined():
    raise ValueError(
      f"{owner} needs a static shape past the batch axis, got {theta.shape}."
    )
  shape, size = tf.shape(theta), math.prod(theta.shape[1:])
  flat = tf.reshape(tf.cast(theta, tf.float64), [-1, size])

  def oracle(x: tf.Tensor) -> tf.Tensor:
    y = solving.call_solver(
      solver,
      tf.cast(tf.reshape(s * x, shape), theta.dtype),
      owner,
      dtype=tf.float64,
      same_shape=True,
    )
    return tf.reshape(y, [-1, size])

  def run(point: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    return _away_step_frank_wolfe(oracle, point, max_iterations, tolerance)

  if tf.executing_eagerly():  # Its loop as one graph, not op by op.
    run = tf.function(run, reduce_retracing=True)
  return run(s * flat / lam)


def regularized_frank_wolfe(
  solver: SolverLike,
  lam: float = 1.0,
  max_iterations: int = 1000,
  tolerance: float = 1e-6,
  *,
  maximize: bool | None = None,
) -> Callable[[TensorLike], tf.Tensor]:
  """The solver made smooth by a quadratic regulariser, solved by Frank–Wolfe.

  Args:
    solver: the batched solver of a linear objective, the linear oracle.
    lam: λ > 0, the regulariser's weight (larger: smoother, further inside).
    max_iterations: the most Frank–Wolfe iterations (solver calls).
    tolerance: the Frank–Wolfe gap at which a row stops.
    maximize: None (as the solver declares), True or False.

  Returns:
    `fn(theta)`: `ŷ(θ) = argmax_{y ∈ conv(W)} s⟨θ, y⟩ − (λ/2)‖y‖²`, θ's
    shape and dtype, differentiable (the Jacobian `(s/λ)·P`).

  Raises:
    ValueError: on invalid settings.

  Example:
    >>> sparsemax = regularized_frank_wolfe('argmax')
    >>> sparsemax(tf.constant([[0.5, 0.2, -1.0]])).numpy().round(6)
    array([[0.65, 0.35, 0.  ]], dtype=float32)
  """
  solver = registry.get_solver(solver)
  lam, max_iterations, tolerance = _check_settings(
    lam, max_iterations, tolerance
  ).values()
  s = sense.sign(
    sense.resolve_sense(solver, maximize, "regularized_frank_wolfe")
  )

  def fn(theta: TensorLike) -> tf.Tensor:
    theta = validation.check_batched(theta, "regularized_frank_wolfe's input")
    theta = validation.check_floating(theta, "regularized_frank_wolfe's input")

    @tf.custom_gradient
    def op(theta: tf.Tensor):
      mu, atoms, weights = _solve(
        solver,
        s,
        theta,
        lam,
        max_iterations,
        tolerance,
        "regularized_frank_wolfe",
      )

      def grad(upstream: tf.Tensor) -> tf.Tensor:
        g = tf.reshape(tf.cast(upstream, tf.float64), tf.shape(mu))
        projected = _face_projector_product(atoms, weights, g)
        return tf.cast(
          tf.reshape(s * projected / lam, tf.shape(theta)), theta.dtype
        )

      return tf.cast(tf.reshape(mu, tf.shape(theta)), theta.dtype), grad

    return op(theta)

  return fn


def regularized_fenchel_young_loss(
  y_true: TensorLike,
  y_pred: TensorLike,
  solver: SolverLike,
  lam: float = 1.0,
  max_iterations: int = 1000,
  tolerance: float = 1e-6,
  *,
  maximize: bool | None = None,
) -> tuple[tf.Tensor] | tf.Tensor:
  """Per-example Fenchel–Young loss of the quadratic regulariser.

  Args:
    y_true: the target structures `y` (e.g. `w*(c)`), `y_pred`'s shape, or
      `stack_targets(c, w*)`.
    y_pred: the predicted costs or scores θ, `[B, ...]`.
    solver: the batched solver (the linear oracle).
    lam: λ > 0, the regulariser's weight.
    max_iterations: the most Frank–Wolfe iterations.
    tolerance: the Frank–Wolfe gap at which a row stops.
    maximize: None (as the solver declares), True or False.

  Returns:
    `[B]` losses `s⟨θ, ŷ − y⟩ − (λ/2)‖ŷ‖² + (λ/2)‖y‖²` in `y_pred`'s dtype
    (≥ 0 up to the solver's tolerance), with gradient `s(ŷ − y)`.

  Raises:
    ValueError: on invalid settings, shapes, or labels the solver cannot
      produce.

  Example:
    >>> # With argmax, the sparsemax loss ½‖y − θ‖² − ½‖ŷ − θ‖².
    >>> theta = tf.constant([[0.5, 0.2, -1.0]])  # ŷ = (0.65, 0.35, 0)
    >>> loss = regularized_fenchel_young_loss([[0., 1., 0.]], theta, 'argmax')
    >>> round(float(loss[0]), 6)  # 0.945 − 0.5225
    0.4225
  """
  solver = registry.get_solver(solver)
  lam, max_iterations, tolerance = _check_settings(
    lam, max_iterations, tolerance
  ).values()
  owner = "regularized_fenchel_young_loss"
  s = sense.sign(sense.resolve_sense(solver, maximize, owner))
  y_pred = validation.check_batched(y_pred, "y_pred")
  y = labels.check_labels(solver, targets.solutions_of(y_true, y_pred), owner)
  mu, _, _ = _solve(
    solver, s, tf.stop_gradient(y_pred), lam, max_iterations, tolerance, owner
  )
  dtype = validation.compute_dtype(y_pred.dtype)
  y_hat = tf.cast(tf.reshape(mu, tf.shape(y_pred)), dtype)
  y = tf.cast(y, dtype)
  theta = tf.cast(y_pred, dtype)
  value = (
    s * targets.inner(theta, y_hat - y)
    - 0.5 * lam * targets.inner(y_hat, y_hat)
    + 0.5 * lam * targets.inner(y, y)
  )
  return tf.cast(value, y_pred.dtype)


@keras.saving.register_keras_serializable(package="perturbations_tf")
class RegularizedFrankWolfe(solver_layer.SolverLayer):
  """`regularized_frank_wolfe(...)` as a Keras layer (deterministic).

  Args:
    solver: the batched solver (the linear oracle).
    lam: λ, the regulariser's weight.
    max_iterations: the most Frank–Wolfe iterations.
    tolerance: the Frank–Wolfe gap at which a row stops.
    maximize: None (as the solver declares), True or False.
    **kwargs: `keras.layers.Layer` arguments.

  Example:
    >>> layer = RegularizedFrankWolfe('grid_arc_shortest_path', lam=1.0)
    >>> float(tf.reduce_sum(layer(tf.ones([1, 40]))))  # A mean of 8-arc paths.
    8.0
  """

  def __init__(
    self,
    solver: SolverLike,
    lam: float = 1.0,
    max_iterations: int = 1000,
    tolerance: float = 1e-6,
    *,
    maximize: bool | None = None,
    **kwargs: Any,
  ):
    super().__init__(solver, maximize=maximize, **kwargs)
    self._solve = regularized_frank_wolfe(  # Validates the settings.
      self.solver, lam, max_iterations, tolerance, maximize=self.maximize
    )
    self.lam, self.max_iterations, self.tolerance = (
      float(lam),
      max_iterations,
      float(tolerance),
    )

  def call(self, inputs: tf.Tensor) -> tf.Tensor:
    return self._solve(inputs)

  def get_config(self) -> dict:
    return {
      **super().get_config(),
      "lam": self.lam,
      "max_iterations": self.max_iterations,
      "tolerance": self.tolerance,
    }


@keras.saving.register_keras_serializable(package="perturbations_tf")
class RegularizedFenchelYoungLoss(solver_loss.SolverLoss):
  """The Fenchel–Young loss of the quadratic regulariser (PyEPO's RFY) as a
  Keras loss, `call(y_true, y_pred)`; see `regularized_fenchel_young_loss`.

  Args:
    solver: the batched solver (the linear oracle).
    lam: λ, the regulariser's weight.
    max_iterations: the most Frank–Wolfe iterations.
    tolerance: the Frank–Wolfe gap at which a row stops.
    maximize: None (as the solver declares), True or False.
    reduction: the Keras reduction over the batch.
    name: the loss's name.
    dtype: the loss's dtype (Keras).

  Example:
    >>> loss = RegularizedFenchelYoungLoss('argmax')
    >>> round(float(loss([[0., 1., 0.]], [[0.5, 0.2, -1.0]])), 6)
    0.4225
  """

  FUNCTION = staticmethod(regularized_fenchel_young_loss)

  def __init__(
    self,
    solver: SolverLike,
    lam: float = 1.0,
    max_iterations: int = 1000,
    tolerance: float = 1e-6,
    *,
    maximize: bool | None = None,
    reduction: str = "sum_over_batch_size",
    name: str = "regularized_fenchel_young",
    dtype: DTypeLike = None,
  ):
    super().__init__(
      solver,
      maximize=maximize,
      reduction=reduction,
      name=name,
      dtype=dtype,
      lam=lam,
      max_iterations=max_iterations,
      tolerance=tolerance,
    )


regularized_fenchel_young_loss.check_settings = _check_settings  # type: ignore[attr-defined]
