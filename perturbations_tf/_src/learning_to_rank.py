"""Learning-to-rank losses over a pool of feasible solutions, Mandi et al.,
"Decision-Focused Learning: Through the Lens of Learning to Rank" (ICML
2022), as PyEPO offers them (`pyepo.func.pointwiseLearningToRank`,
`pairwiseLearningToRank`, `listwiseLearningToRank`).

The decision task is seen as ranking the pool S of solutions seen so far
by their objective: the model's costs `ĉ` should order S as the true costs
`c` do. Written for a minimisation (a maximisation mirrors every sign),
with `f(w) = ĉᵀw` and `f*(w) = cᵀw` for w ∈ S:

    pointwise  (1/|S|) Σ_{w ∈ S} (f(w) − f*(w))²
    pairwise   (1/(|S| − 1)) Σ_{w ≠ w_b} max(0, m + f(w_b) − f(w)),
               w_b = argmin_S f* (the best pooled solution)
    listwise   −Σ_{w ∈ S} softmax(−f*/τ)_w · log softmax(−f/τ)_w

The pairwise loss compares the best solution with each other one, the
paper's variant that PyEPO implements; its margin m defaults to PyEPO's 0
(the paper tunes it per problem, as it tunes the temperature τ, PyEPO's 1).
PyEPO clamps the listwise target probabilities at 1e-8; here they are
used as they are, so the loss is an exact cross-entropy.

Only the true costs are needed (the natural `y_true`), never `w*(c)`: the
pool, seeded with the training solutions, holds the best solution. Each
Keras loss first passes `ĉ` through its `SolutionCache`, which solves a
fraction of the rows and grows the pool (PyEPO's `solve_ratio`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from perturbations_tf._src import pool_loss
from perturbations_tf._src import sense
from perturbations_tf._src import solution_cache
from perturbations_tf._src import targets
from perturbations_tf._src import validation
from perturbations_tf._src.types import DTypeLike
from perturbations_tf._src.types import SolverLike
from perturbations_tf._src.types import TensorLike


def _over_pool(
  y_true: TensorLike,
  y_pred: TensorLike,
  solver: SolverLike,
  maximize: bool | None,
  owner: str,
  per_row: Callable[[tf.Tensor, tf.Tensor, tf.Tensor, float], tf.Tensor],
) -> tf.Tensor:
  """The `[B]` losses `per_row(f*, f, filled, s)`, in `y_pred`'s dtype, on
  the filled part of the pool (`SolutionCache.over_pool`): the true and
  predicted objectives of its K slots `[B, K]` (in the pool's dtype, `f`
  differentiable), the mask of the slots that hold a solution `[K]`, and
  the sign of the sense."""
  cache = pool_loss.check_cache(solver, owner)
  y_pred = validation.check_batched(y_pred, "y_pred")
  s = sense.sign(sense.resolve_sense(cache, maximize, owner))
  costs = cache.flatten(tf.stop_gradient(targets.costs_of(y_true, y_pred)))

  # Each row's loss depends on its own costs only: a branch of `over_pool`
  # returns the losses and their gradients row by row, and nothing is
  # differentiated through the branches (XLA compiled that gradient for
  # over 20 s, against about 3 s for this).
  @tf.custom_gradient
  def loss_of(predicted: tf.Tensor):
    def scored(pool: tf.Tensor, filled: tf.Tensor):
      with tf.GradientTape() as tape:
        tape.watch(predicted)
        loss = per_row(
          tf.matmul(costs, pool, transpose_b=True),
          tf.matmul(predicted, pool, transpose_b=True),
          filled,
          s,
        )
      return loss, tape.gradient(loss, predicted)

    loss, gradient = cache.over_pool(scored)
    return loss, lambda upstream: upstream[:, tf.newaxis] * gradient

  loss = loss_of(cache.flatten(y_pred))
  return tf.cast(loss, y_pred.dtype)


def _masked_mean(values: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
  """Per row, the mean of `values` over the `mask`ed slots (0 if none)."""
  mask = tf.cast(mask, values.dtype)
  return tf.math.divide_no_nan(
    tf.reduce_sum(values * mask, -1), tf.reduce_sum(mask, -1)
  )


def _masked_logits(logits: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
  """`logits` on the masked slots, and elsewhere a value whose softmax
  weight is 0 (half the dtype's lowest: no overflow when shifted)."""
  return tf.where(mask, logits, logits.dtype.min / 2)


def _check_margin(margin: float = 0.0) -> dict[str, Any]:
  if not margin >= 0:
    raise ValueError(f"margin must be >= 0, got {margin!r}.")
  return dict(margin=float(margin))


def _check_temperature(temperature: float = 1.0) -> dict[str, Any]:
  return dict(
    temperature=validation.positive_number(temperature, "temperature")
  )


def pointwise_ltr_loss(
  y_true: TensorLike,
  y_pred: TensorLike,
  solver: solution_cache.SolutionCache,
  *,
  maximize: bool | None = None,
) -> tf.Tensor:
  """Per-example pointwise ranking loss: the mean squared error of the pooled
  solutions' objectives, `mean_S (ĉᵀw − cᵀw)²` (the pool as it is).

  Args:
    y_true: the true costs `c`, `y_pred`'s shape, or `stack_targets(c, w*)`.
    y_pred: the predicted costs `ĉ`, `[B, ...]`.
    solver: the `SolutionCache` whose pool (and sense) is used.
    maximize: None (as the cache declares), True or False.

  Returns:
    `[B]` losses in `y_pred`'s dtype (0 while the pool is empty).

  Raises:
    ValueError: if `solver` is not a `SolutionCache`, or on shapes that do
      not match.

  Example:
    >>> cache = ptf.solvers.SolutionCache('grid_arc_shortest_path', shape=(40,),
    ...                           initial_solutions=tf.eye(40)[:2])
    >>> c = tf.ones([1, 40])
    >>> pointwise_ltr_loss(c, 3.0 * c, cache).numpy()  # (3 − 1)² per slot.
    array([4.], dtype=float32)
  """

  def per_row(
    true_objective: tf.Tensor, predicted: tf.Tensor, filled: tf.Tensor, s: float
  ) -> tf.Tensor:
    return _masked_mean(tf.square(predicted - true_objective), filled)

  return _over_pool(
    y_true, y_pred, solver, maximize, "pointwise_ltr_loss", per_row
  )


def pairwise_ltr_loss(
  y_true: TensorLike,
  y_pred: TensorLike,
  solver: solution_cache.SolutionCache,
  margin: float = 0.0,
  *,
  maximize: bool | None = None,
) -> tf.Tensor:
  """Per-example pairwise ranking loss: the best pooled solution (under the
  true costs) against each other one, a hinge on their predicted objectives
  with margin m.

  Args:
    y_true: the true costs `c`, `y_pred`'s shape, or `stack_targets(c, w*)`.
    y_pred: the predicted costs `ĉ`, `[B, ...]`.
    solver: the `SolutionCache` whose pool (and sense) is used.
    maximize: None (as the cache declares), True or False.
    margin: m ≥ 0, by how much the best solution should beat the others.

  Returns:
    `[B]` losses `mean_{w ≠ w_b} max(0, m + ĉᵀw_b − ĉᵀw)` (minimisation),
    in `y_pred`'s dtype.

  Raises:
    ValueError: as `pointwise_ltr_loss`, or a negative margin.

  Example:
    >>> cache = ptf.solvers.SolutionCache('grid_arc_shortest_path', shape=(40,),
    ...                           initial_solutions=tf.eye(40)[:2])
    >>> c = tf.one_hot([1], 40)  # Solution 0 is the best under c …
    >>> c_hat = tf.one_hot([0], 40)  # … but predicted 1 worse than 1.
    >>> pairwise_ltr_loss(c, c_hat, cache, margin=0.5).numpy()
    array([1.5], dtype=float32)
  """
  margin = _check_margin(margin)["margin"]

  def per_row(
    true_objective: tf.Tensor, predicted: tf.Tensor, filled: tf.Tensor, s: float
  ) -> tf.Tensor:
    best = tf.argmax(tf.where(filled, s * true_objective, -np.inf), -1)
    best_predicted = tf.gather(predicted, best, batch_dims=1)[:, tf.newaxis]
    violation = tf.nn.relu(margin + s * (predicted - best_predicted))
    others = filled & (
      tf.range(tf.shape(filled)[0], dtype=best.dtype) != best[:, tf.newaxis]
    )
    return _masked_mean(violation, others)

  return _over_pool(
    y_true, y_pred, solver, maximize, "pairwise_ltr_loss", per_row
  )


def listwise_ltr_loss(
  y_true: TensorLike,
  y_pred: TensorLike,
  solver: solution_cache.SolutionCache,
  temperature: float = 1.0,
  *,
  maximize: bool | None = None,
) -> tf.Tensor:
  """Per-example listwise ranking loss: the cross-entropy between the pool's
  distributions `softmax(−cᵀw/τ)` and `softmax(−ĉᵀw/τ)` (minimisation).

  Args:
    y_true: the true costs `c`, `y_pred`'s shape, or `stack_targets(c, w*)`.
    y_pred: the predicted costs `ĉ`, `[B, ...]`.
    solver: the `SolutionCache` whose pool (and sense) is used.
    maximize: None (as the cache declares), True or False.
    temperature: τ > 0.

  Returns:
    `[B]` losses in `y_pred`'s dtype; the gradient in `ĉ` is
    `(E_c[w] − E_ĉ[w])/τ`, the expectations under the two softmax
    distributions over the pool (minimisation).

  Raises:
    ValueError: as `pointwise_ltr_loss`, or τ ≤ 0.

  Example:
    >>> cache = ptf.solvers.SolutionCache('grid_arc_shortest_path', shape=(40,),
    ...                           initial_solutions=tf.eye(40)[:2])
    >>> c = tf.zeros([1, 40])  # Both solutions equally good: p = (½, ½).
    >>> float(listwise_ltr_loss(c, c, cache)[0])  # log 2
    0.6931471824645996
  """
  temperature = _check_temperature(temperature)["temperature"]

  def per_row(
    true_objective: tf.Tensor, predicted: tf.Tensor, filled: tf.Tensor, s: float
  ) -> tf.Tensor:
    # One fused cross-entropy over the pool's slots (its gradient is the
    # difference of the two softmax distributions); empty slots weigh 0.
    target = tf.nn.softmax(
      _masked_logits(s * true_objective / temperature, filled)
    )
    loss = tf.nn.softmax_cross_entropy_with_logits(
      tf.stop_gradient(target),
      _masked_logits(s * predicted / temperature, filled),
    )
    # An empty pool scores nothing (its slots would be uniform).
    return loss * tf.cast(tf.reduce_any(filled), loss.dtype)

  return _over_pool(
    y_true, y_pred, solver, maximize, "listwise_ltr_loss", per_row
  )


pairwise_ltr_loss.check_settings = _check_margin  # type: ignore[attr-defined]
listwise_ltr_loss.check_settings = _check_temperature  # type: ignore[attr-defined]


@keras.saving.register_keras_serializable(package="perturbations_tf")
class PointwiseLTRLoss(pool_loss.PoolLoss):
  """The pointwise learning-to-rank loss over a solution pool, a Keras loss.

  `call(y_true, y_pred)`: `y_true` the true costs (or `stack_targets(c,
  w*)`), `y_pred` the predicted costs. Each call first passes `y_pred`
  through the cache, growing its pool. See `pointwise_ltr_loss`.

  Args:
    solver: a `SolutionCache` (solver, sense, pool), seeded with the
      training solutions (`initial_solutions`).
    maximize: None (as the cache declares), True or False.
    reduction: the Keras reduction over the batch.
    name: the loss's name.
    dtype: the loss's dtype (Keras).

  Example:
    >>> cache = ptf.solvers.SolutionCache('grid_arc_shortest_path', shape=(40,))
    >>> ptf.losses.PointwiseLTRLoss(cache).maximize
    False
  """

  FUNCTION = staticmethod(pointwise_ltr_loss)

  def __init__(
    self,
    solver: SolverLike,
    *,
    maximize: bool | None = None,
    reduction: str = "sum_over_batch_size",
    name: str = "pointwise_ltr",
    dtype: DTypeLike = None,
  ):
    super().__init__(
      solver, maximize=maximize, reduction=reduction, name=name, dtype=dtype
    )


@keras.saving.register_keras_serializable(package="perturbations_tf")
class PairwiseLTRLoss(pool_loss.PoolLoss):
  """The pairwise learning-to-rank loss over a solution pool, a Keras loss;
  as `PointwiseLTRLoss`, with the hinge's `margin` (see
  `pairwise_ltr_loss`).

  Example:
    >>> cache = ptf.solvers.SolutionCache('grid_arc_shortest_path', shape=(40,))
    >>> ptf.losses.PairwiseLTRLoss(cache, margin=0.1).get_config()['margin']
    0.1
  """

  FUNCTION = staticmethod(pairwise_ltr_loss)

  def __init__(
    self,
    solver: SolverLike,
    margin: float = 0.0,
    *,
    maximize: bool | None = None,
    reduction: str = "sum_over_batch_size",
    name: str = "pairwise_ltr",
    dtype: DTypeLike = None,
  ):
    super().__init__(
      solver,
      maximize=maximize,
      reduction=reduction,
      name=name,
      dtype=dtype,
      margin=margin,
    )


@keras.saving.register_keras_serializable(package="perturbations_tf")
class ListwiseLTRLoss(pool_loss.PoolLoss):
  """The listwise learning-to-rank loss over a solution pool, a Keras loss;
  as `PointwiseLTRLoss`, with the softmax's `temperature` (see
  `listwise_ltr_loss`).

  Example:
    >>> cache = ptf.solvers.SolutionCache('grid_arc_shortest_path', shape=(40,))
    >>> model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(40)])
    >>> model.compile('adam', loss=ptf.losses.ListwiseLTRLoss(cache))
  """

  FUNCTION = staticmethod(listwise_ltr_loss)

  def __init__(
    self,
    solver: SolverLike,
    temperature: float = 1.0,
    *,
    maximize: bool | None = None,
    reduction: str = "sum_over_batch_size",
    name: str = "listwise_ltr",
    dtype: DTypeLike = None,
  ):
    super().__init__(
      solver,
      maximize=maximize,
      reduction=reduction,
      name=name,
      dtype=dtype,
      temperature=temperature,
    )
