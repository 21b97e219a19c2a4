"""A task loss on the decisions of a decision layer: how PyEPO trains the
methods that return decisions rather than a loss (DBB, NID, DPO, I-MLE,
AIMLE; its "pattern B").

The layer maps the predicted costs `ĉ` to decisions `ŵ` (exact, or a mean of
perturbed ones) with a usable gradient; the loss compares them with the
true optimum:

- `target='objective'`: `|cᵀŵ − z*(c)|`, the regret of exact decisions
  (DBB and NID), in either sense;
- `target='solution'`: `mean |ŵ − w*|` (`norm='l1'`: I-MLE, AIMLE) or
  `mean (ŵ − w*)²` (`norm='l2'`: DPO).
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from perturbations_tf._src import targets
from perturbations_tf._src import validation
from perturbations_tf._src.types import DTypeLike
from perturbations_tf._src.types import TensorLike

TARGETS = ("objective", "solution")
NORMS = ("l1", "l2")


@keras.saving.register_keras_serializable(package="perturbations_tf")
class DecisionLoss(keras.losses.Loss):
  """A loss on the decisions `ŵ = layer(ĉ)` of a decision layer.

  `y_true` is `ptf.data.stack_targets(c, w*(c))` (what
  `ptf.data.make_dataset` yields); with `target='solution'` the decisions
  `w*` alone also do. `y_pred` is the predicted costs `ĉ`, which the layer
  maps to decisions in training mode (fresh noise at every step for the
  perturbed layers: a loss does not inherit the model's training flag).

  Args:
    layer: a decision layer (`ptf.layers.Blackbox`, `NegativeIdentity`,
      `Perturbed`, `IMLE`, `AIMLE`, …), or its serialised config.
    target: `'objective'` (`|cᵀŵ − z*(c)|`) or `'solution'` (a distance
      between `ŵ` and `w*`).
    norm: `'l1'` or `'l2'`, the distance of `target='solution'`.
    reduction: the Keras reduction over the batch.
    name: the loss's name.
    dtype: the loss's dtype (Keras).

  Raises:
    ValueError: on an unknown `target` or `norm`, a `layer` that is not a
      Keras layer, or (when called) `y_true` of the wrong shape.

  Example:
    >>> grid = {'name': 'grid_arc_shortest_path', 'kwargs': {'grid': (2, 2)}}
    >>> c = tf.constant([[1.0, 5.0, 2.0, 1.0]])
    >>> w = ptf.solvers.grid_arc_shortest_path(c, grid=(2, 2))
    >>> loss = DecisionLoss(ptf.layers.Blackbox(grid, lam=10.0))
    >>> float(loss(ptf.data.stack_targets(c, w), 3.0 * c))  # No regret.
    0.0
  """

  def __init__(
    self,
    layer: keras.layers.Layer | dict[str, Any],
    target: str = "objective",
    norm: str = "l1",
    *,
    reduction: str = "sum_over_batch_size",
    name: str = "decision_loss",
    dtype: DTypeLike = None,
  ):
    super().__init__(name=name, reduction=reduction, dtype=dtype)
    self.target = validation.one_of(target, TARGETS, "target")
    self.norm = validation.one_of(norm, NORMS, "norm")
    if isinstance(layer, dict):
      layer = keras.layers.deserialize(layer)
    if not isinstance(layer, keras.layers.Layer):
      raise ValueError(
        f"DecisionLoss needs a decision layer (ptf.layers.Blackbox, "
        f"Perturbed, …), got {layer!r}."
      )
    self.layer = layer

  @property
  def supports_jit(self) -> bool:
    """As the layer: False over a host solver."""
    return bool(getattr(self.layer, "supports_jit", True))

  def call(self, y_true: TensorLike, y_pred: TensorLike) -> tf.Tensor:
    y_pred = validation.check_batched(y_pred, "y_pred")
    decisions = tf.cast(self.layer(y_pred, training=True), y_pred.dtype)
    if self.target == "solution":
      error = decisions - targets.solutions_of(y_true, y_pred)
      error = tf.abs(error) if self.norm == "l1" else tf.square(error)
      return tf.reduce_mean(error, axis=tf.range(1, tf.rank(error)))
    y_true = tf.convert_to_tensor(y_true)
    if y_true.shape.rank != y_pred.shape.rank + 1:
      raise ValueError(
        "DecisionLoss(target='objective') needs y_true = "
        "stack_targets(costs, solutions), of shape [B, 2, ...] for y_pred "
        f"of shape {y_pred.shape}; got {y_true.shape}."
      )
    costs = targets.costs_of(y_true, y_pred)
    solutions = targets.solutions_of(y_true, y_pred)
    return tf.abs(
      targets.inner(costs, decisions) - targets.inner(costs, solutions)
    )

  def get_config(self) -> dict[str, Any]:
    return {
      **super().get_config(),
      "layer": keras.layers.serialize(self.layer),
      "target": self.target,
      "norm": self.norm,
    }
