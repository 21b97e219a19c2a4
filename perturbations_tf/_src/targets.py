"""The targets of losses and metrics: true costs, their optimal decisions, or
both stacked.

Every loss and metric of the library accepts `stack_targets(c, w*(c))`, the
true costs and their optimal decisions stacked on axis 1, beside its natural
`y_true`: the costs for SPO+ and the regret metrics (which then solve them),
the optimal decisions for the Fenchel–Young loss, NCE, CMAP and the
structure metrics. A data set solved once (`ptf.data.make_dataset`) thus
serves every method, and regret can be monitored beside any loss.
"""

from __future__ import annotations

from collections.abc import Callable

import tensorflow as tf

from perturbations_tf._src import labels
from perturbations_tf._src import solving
from perturbations_tf._src.types import TensorLike


def stack_targets(costs: TensorLike, solutions: TensorLike) -> tf.Tensor:
  """`y_true` holding the true costs and their optimal decisions, `[B, 2, ...]`.

  Args:
    costs: the true costs `c`, `[B, ...]`.
    solutions: `w*(c)`, the same shape.

  Returns:
    `tf.stack([costs, solutions], axis=1)` in the costs' floating dtype
    (float32 for integer costs).

  Raises:
    ValueError: if the shapes differ.

  Example:
    >>> c = tf.constant([[1.0, 5.0, 2.0, 1.0]])
    >>> w = ptf.solvers.grid_arc_shortest_path(c, grid=(2, 2))
    >>> stack_targets(c, w).shape
    TensorShape([1, 2, 4])
  """
  costs = tf.convert_to_tensor(costs)
  if not costs.dtype.is_floating:
    costs = tf.cast(costs, tf.float32)
  solutions = tf.cast(tf.convert_to_tensor(solutions), costs.dtype)
  if costs.shape != solutions.shape:
    raise ValueError(
      f"costs and solutions must have the same shape, got "
      f"{costs.shape} and {solutions.shape}."
    )
  return tf.stack([costs, solutions], axis=1)


def _is_stacked(y_true: tf.Tensor, y_pred: tf.Tensor) -> bool:
  return y_true.shape.rank == y_pred.shape.rank + 1 and y_true.shape[1] == 2


def _shape_error(
  y_true: tf.Tensor, y_pred: tf.Tensor, natural: str
) -> ValueError:
  return ValueError(
    f"y_true must hold {natural}, of y_pred's shape {y_pred.shape}, or "
    f"stack_targets(costs, solutions) of shape [B, 2, ...]; got "
    f"{y_true.shape}."
  )


def split_targets(
  y_true: TensorLike, y_pred: tf.Tensor, solver: Callable, owner: str
) -> tuple[tf.Tensor, tf.Tensor]:
  """The true costs and their optimal decisions, for a loss or metric whose
  natural `y_true` is the costs.

  Args:
    y_true: the true costs, `y_pred`'s shape; or `stack_targets(c, w*(c))`.
    y_pred: the predicted costs, `[B, ...]`.
    solver: solves `y_true`'s costs when they come alone.
    owner: who asks, for messages.

  Returns:
    `(c, w*(c))`, both in `y_pred`'s dtype and shape.

  Raises:
    ValueError: if `y_true` is neither of the two shapes.
    tf.errors.InvalidArgumentError: if the stacked solutions are not
      structures the solver can produce (where it can tell: tours, feasible
      packings, paths that conserve flow, allocations within budget).
  """
  y_true = tf.cast(tf.convert_to_tensor(y_true), y_pred.dtype)
  if _is_stacked(y_true, y_pred):
    costs = y_true[:, 0]
    solutions = labels.check_labels(solver, y_true[:, 1], owner)
  elif y_true.shape.rank == y_pred.shape.rank:
    costs = y_true
    solutions = solving.call_solver(
      solver,
      tf.stop_gradient(costs),
      owner,
      dtype=y_pred.dtype,
      same_shape=True,
    )
  else:
    raise _shape_error(y_true, y_pred, "the true costs")
  if not costs.shape.is_compatible_with(y_pred.shape):
    raise _shape_error(y_true, y_pred, "the true costs")
  return costs, solutions


def _natural_part(
  y_true: TensorLike, y_pred: TensorLike, index: int, natural: str
) -> tf.Tensor:
  """`y_true` itself, or part `index` of `stack_targets` (0: the costs, 1:
  the solutions), checked against `y_pred`'s shape and in its dtype."""
  y_pred = tf.convert_to_tensor(y_pred)
  y_true = tf.convert_to_tensor(y_true)
  if _is_stacked(y_true, y_pred):
    y_true = y_true[:, index]
  if not y_true.shape.is_compatible_with(y_pred.shape):
    raise _shape_error(y_true, y_pred, natural)
  return tf.cast(y_true, y_pred.dtype)


def solutions_of(y_true: TensorLike, y_pred: TensorLike) -> tf.Tensor:
  """The optimal decisions, for a loss or metric whose natural `y_true` is
  the decisions: `y_true` itself, or the solutions of `stack_targets`.

  Args:
    y_true: `w*`, `y_pred`'s shape; or `stack_targets(c, w*)`.
    y_pred: the model's output, `[B, ...]`.

  Returns:
    `w*` in `y_pred`'s dtype.

  Raises:
    ValueError: if `y_true` is neither of the two shapes.
  """
  return _natural_part(y_true, y_pred, 1, "the optimal decisions w*")


def costs_of(y_true: TensorLike, y_pred: TensorLike) -> tf.Tensor:
  """The true costs, for a loss whose natural `y_true` is the costs and that
  needs no optimal decision: `y_true` itself, or the costs of
  `stack_targets`.

  Args:
    y_true: `c`, `y_pred`'s shape; or `stack_targets(c, w*)`.
    y_pred: the predicted costs, `[B, ...]`.

  Returns:
    `c` in `y_pred`'s dtype.

  Raises:
    ValueError: if `y_true` is neither of the two shapes.
  """
  return _natural_part(y_true, y_pred, 0, "the true costs")


def inner(a: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
  """`<a, b>` per example over all axes but the first, `[B]`."""
  return tf.reduce_sum(a * b, axis=tf.range(1, tf.rank(a)))


def per_example(values: TensorLike, like: tf.Tensor) -> tf.Tensor:
  """`[B]` per-example values (a loss's upstream gradient) shaped to
  broadcast against `like`, `[B, ...]`, in `like`'s dtype."""
  return tf.reshape(
    tf.cast(values, like.dtype), [-1] + [1] * (like.shape.rank - 1)
  )


def objective_scale(
  costs: tf.Tensor, solution: tf.Tensor, other: tf.Tensor
) -> tf.Tensor:
  """`Σ_i |c_i| (|w_i| + |w'_i|)` per example, `[B]`: the magnitude of a
  difference of two objectives `cᵀw − cᵀw'`, against which its rounding is
  measured."""
  return inner(tf.abs(costs), tf.abs(solution) + tf.abs(other))
