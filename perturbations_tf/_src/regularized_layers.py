"""Closed-form regularised layers (InferOpt's `SoftArgmax`, `SparseArgmax`,
`SoftRank`, `SoftSort`) and the Fenchel–Young loss of their predictions.

A layer returns `ŷ(θ) = argmax_{μ ∈ C} ⟨θ, μ⟩ − εΩ(μ)` over the convex
hull C of the hard solver's outputs (the simplex for argmax, the
permutahedron for ranks), exactly and deterministically (`soft_sort.py`).
Its Fenchel–Young loss `L(θ; y) = ⟨θ, ŷ⟩ − εΩ(ŷ) − ⟨θ, y⟩ + εΩ(y)` is
non-negative, zero when `y = ŷ(θ)`, with gradient `ŷ(θ) − y`. Sorting has
no such loss: θ sets its permutahedron, not its objective.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
import tensorflow as tf

from perturbations_tf._src import labels
from perturbations_tf._src import soft_sort
from perturbations_tf._src import solvers
from perturbations_tf._src import targets
from perturbations_tf._src import validation
from perturbations_tf._src.types import DTypeLike
from perturbations_tf._src.types import TensorLike


class _RegularizedLayer(keras.layers.Layer):
  """A closed-form regularised prediction, `call(θ) → ŷ(θ)`, `[B, n]`."""

  OP: Callable[..., tf.Tensor]
  SOLVER: Callable | None  # The hard solver it tends to (labels' check).
  SHIFT = 0.0  # Added before the entropy (kl ranks live on ρ + 1).

  def __init__(
    self,
    regularization: str = "l2",
    regularization_strength: float = 1.0,
    **kwargs: Any,
  ):
    super().__init__(**kwargs)
    self.regularization = regularization
    self.regularization_strength = float(regularization_strength)
    type(self).OP(tf.ones([1, 2]), regularization, regularization_strength)

  def call(self, inputs: TensorLike) -> tf.Tensor:
    return type(self).OP(
      inputs, self.regularization, self.regularization_strength
    )

  def compute_output_shape(self, input_shape: tuple) -> tuple:
    return input_shape

  def get_config(self) -> dict:
    return {
      **super().get_config(),
      "regularization": self.regularization,
      "regularization_strength": self.regularization_strength,
    }

  def regularizer(self, mu: tf.Tensor) -> tf.Tensor:
    """`εΩ(μ)` per row, `[B]`."""
    eps = self.regularization_strength
    if self.regularization == "l2":
      return 0.5 * eps * tf.reduce_sum(mu * mu, axis=-1)
    mu = mu + self.SHIFT
    safe = tf.where(mu > 0, mu, tf.ones_like(mu))
    return eps * tf.reduce_sum(
      tf.where(mu > 0, mu * (tf.math.log(safe) - 1.0), tf.zeros_like(mu)),
      axis=-1,
    )


@keras.saving.register_keras_serializable(package="perturbations_tf")
class SoftArgmax(_RegularizedLayer):
  """`softmax(θ/ε)` (`'kl'`, the default) or `sparsemax(θ/ε)` (`'l2'`):
  the one-hot argmax as ε → 0, exact and deterministic.

  Args:
    regularization: `'kl'` (entropy: softmax) or `'l2'` (sparsemax).
    regularization_strength: ε > 0.

  Example:
    >>> y = SoftArgmax(regularization_strength=0.5)(tf.constant([[1., 0.]]))
    >>> y.numpy().round(3)
    array([[0.881, 0.119]], dtype=float32)
  """

  OP = staticmethod(soft_sort.soft_argmax)
  SOLVER = solvers.argmax

  def __init__(
    self,
    regularization: str = "kl",
    regularization_strength: float = 1.0,
    **kwargs: Any,
  ):
    super().__init__(regularization, regularization_strength, **kwargs)


@keras.saving.register_keras_serializable(package="perturbations_tf")
class SparseArgmax(SoftArgmax):
  """`sparsemax(θ/ε)` (Martins & Astudillo, 2016): `SoftArgmax` with the
  `'l2'` regularisation, sparse outputs.

  Args:
    regularization_strength: ε > 0.

  Example:
    >>> SparseArgmax()(tf.constant([[1.0, 0.5, -1.0]])).numpy()
    array([[0.75, 0.25, 0.  ]], dtype=float32)
  """

  def __init__(self, regularization_strength: float = 1.0, **kwargs: Any):
    kwargs.pop("regularization", None)  # Its config records 'l2'.
    super().__init__("l2", regularization_strength, **kwargs)


@keras.saving.register_keras_serializable(package="perturbations_tf")
class SoftRank(_RegularizedLayer):
  """Soft 0-based ascending ranks (`ptf.solvers.ranks` as ε → 0): the
  projection of θ/ε onto the permutahedron of `(0, ..., n − 1)`, in
  O(n log n), with its exact Jacobian (Blondel et al., 2020).

  Args:
    regularization: `'l2'` (Euclidean projection) or `'kl'`.
    regularization_strength: ε > 0.

  Example:
    >>> SoftRank(regularization_strength=0.1)(
    ...     tf.constant([[0.3, -1.0, 2.0]])).numpy()
    array([[1., 0., 2.]], dtype=float32)
  """

  OP = staticmethod(soft_sort.soft_rank)
  SOLVER = solvers.ranks
  SHIFT = 1.0


@keras.saving.register_keras_serializable(package="perturbations_tf")
class SoftSort(_RegularizedLayer):
  """Soft ascending sort (`ptf.solvers.sort` as ε → 0), in O(n log n), with
  its exact Jacobian (Blondel et al., 2020). `'kl'` sorts positive values.

  Args:
    regularization: `'l2'` or `'kl'`.
    regularization_strength: ε > 0.

  Example:
    >>> SoftSort(regularization_strength=0.1)(
    ...     tf.constant([[0.3, -1.0, 2.0]])).numpy().round(4)
    array([[-1. ,  0.3,  2. ]], dtype=float32)
  """

  OP = staticmethod(soft_sort.soft_sort)
  SOLVER = None


def regularized_fenchel_young_value(
  y_true: TensorLike, theta: TensorLike, layer: _RegularizedLayer
) -> tf.Tensor:
  """Per-example Fenchel–Young loss of `layer`'s prediction (see the
  module), `[B]`; its gradient in θ is `layer(θ) − y`."""
  if layer.SOLVER is None:
    raise ValueError(
      f"{type(layer).__name__} has no Fenchel–Young loss: its input sets "
      "the polytope, not a linear objective over it."
    )
  theta = validation.check_batched(theta, "theta")
  dtype = validation.compute_dtype(theta.dtype)
  y = labels.check_labels(
    layer.SOLVER,
    targets.solutions_of(y_true, theta),
    "ClosedFormFenchelYoungLoss",
  )
  y = tf.stop_gradient(tf.cast(y, dtype))

  @tf.custom_gradient
  def loss(theta: tf.Tensor):
    scores = tf.cast(theta, dtype)
    y_hat = layer.call(scores)  # In the scores' dtype (no autocast).
    value = tf.reduce_sum(scores * (y_hat - y), axis=-1)
    value += layer.regularizer(y) - layer.regularizer(y_hat)

    def grad(upstream: tf.Tensor) -> tf.Tensor:
      return tf.cast(upstream[:, None] * (y_hat - y), theta.dtype)

    return tf.cast(value, theta.dtype), grad

  return loss(theta)


@keras.saving.register_keras_serializable(package="perturbations_tf")
class ClosedFormFenchelYoungLoss(keras.losses.Loss):
  """The Fenchel–Young loss of a closed-form regularised layer: with
  `SparseArgmax` the sparsemax loss, with `SoftArgmax` ε times the
  cross-entropy, with `SoftRank` the soft-rank losses; its gradient is the
  layer's prediction minus the target (no solver call).

  Args:
    layer: a `SoftArgmax`, `SparseArgmax` or `SoftRank`.
    reduction: the Keras reduction over the batch.
    name: the loss's name.
    dtype: the loss's dtype (Keras).

  `y_true` is the target structures (one-hot classes, 0-based ranks) or
  `stack_targets(c, y)`; `y_pred` the scores θ.

  Raises:
    ValueError: for `SoftSort` (no such loss), or a layer of another kind.

  Example:
    >>> loss = ClosedFormFenchelYoungLoss(SparseArgmax())
    >>> float(loss(tf.constant([[1.0, 0.0]]), tf.constant([[3.0, 0.0]])))
    0.0
  """

  def __init__(
    self,
    layer: _RegularizedLayer | dict,
    *,
    reduction: str = "sum_over_batch_size",
    name: str = "closed_form_fenchel_young",
    dtype: DTypeLike = None,
  ):
    super().__init__(name=name, reduction=reduction, dtype=dtype)
    if isinstance(layer, dict):
      layer = keras.saving.deserialize_keras_object(layer)
    if not isinstance(layer, _RegularizedLayer) or layer.SOLVER is None:
      raise ValueError(
        "ClosedFormFenchelYoungLoss takes a SoftArgmax, SparseArgmax or "
        f"SoftRank layer, got {layer!r} (SoftSort has no Fenchel–Young "
        "loss: its input sets the polytope, not a linear objective)."
      )
    self.layer = layer

  def call(self, y_true: TensorLike, y_pred: TensorLike) -> tf.Tensor:
    return regularized_fenchel_young_value(y_true, y_pred, self.layer)

  def get_config(self) -> dict:
    return {
      **super().get_config(),
      "layer": keras.saving.serialize_keras_object(self.layer),
    }
