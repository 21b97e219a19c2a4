"""Two-stage least squares: the baseline of predict-then-optimize.

The model regresses the costs themselves, `mean((ĉ − c)²)`, and the solver
only enters at decision time. The loss is Keras's mean squared error, with
one difference that lets it train on the same data as every decision-focused
loss: it takes `stack_targets(c, w*)` (what `ptf.data.make_dataset` yields)
as well as the costs.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from perturbations_tf._src import targets
from perturbations_tf._src import validation
from perturbations_tf._src.types import DTypeLike
from perturbations_tf._src.types import TensorLike


def least_squares_loss(y_true: TensorLike, y_pred: TensorLike) -> tf.Tensor:
  """Per-example mean squared error of predicted costs.

  Args:
    y_true: the true costs `c`, `y_pred`'s shape, or
      `stack_targets(c, w*)` (the solutions are not used).
    y_pred: the predicted costs `ĉ`, `[B, ...]`.

  Returns:
    `mean((ĉ − c)²)` over all axes but the first, `[B]`, in `y_pred`'s
    dtype.

  Raises:
    ValueError: if `y_true` is neither of the two shapes.

  Example:
    >>> c = tf.constant([[1.0, 2.0]])
    >>> y_true = ptf.data.stack_targets(c, tf.constant([[1.0, 0.0]]))
    >>> least_squares_loss(y_true, tf.constant([[2.0, 2.0]])).numpy()
    array([0.5], dtype=float32)
  """
  y_pred = validation.check_batched(y_pred, "y_pred")
  error = tf.square(y_pred - targets.costs_of(y_true, y_pred))
  return tf.reduce_mean(error, axis=tf.range(1, tf.rank(error)))


@keras.saving.register_keras_serializable(package="perturbations_tf")
class LeastSquaresLoss(keras.losses.Loss):
  """Two-stage least squares as a Keras loss, `call(y_true, y_pred)`; see
  `least_squares_loss`.

  Args:
    reduction: the Keras reduction over the batch.
    name: the loss's name.
    dtype: the loss's dtype (Keras).

  Example:
    >>> model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(40)])
    >>> model.compile("adam", loss=LeastSquaresLoss())  # On make_dataset.
  """

  def __init__(
    self,
    *,
    reduction: str = "sum_over_batch_size",
    name: str = "least_squares",
    dtype: DTypeLike = None,
  ):
    super().__init__(name=name, reduction=reduction, dtype=dtype)

  def call(self, y_true: TensorLike, y_pred: TensorLike) -> tf.Tensor:
    return least_squares_loss(y_true, y_pred)
