"""The targets of predict-then-optimize losses and metrics: true costs and
their optimal decisions.

Losses such as SPO+ and metrics such as the regret take the true costs `c` as
`y_true` and need the optimal decisions `w*(c)` too. They solve for them,
unless `y_true` carries them already: `stack_targets(c, w*(c))` stacks both
on axis 1, so a data set solved once is not solved again at every step.
"""

from __future__ import annotations

from typing import Callable, Tuple

import tensorflow as tf


def stack_targets(costs, solutions) -> tf.Tensor:
  """`y_true` holding the true costs and their optimal decisions, `[B, 2, ...]`.

  Args:
    costs: the true costs `c`, `[B, ...]`.
    solutions: `w*(c)`, the same shape.

  Returns:
    `tf.stack([costs, solutions], axis=1)` in the costs' dtype.

  Raises:
    ValueError: if the shapes differ.

  Example:
    >>> y = stack_targets(c, ptf.solvers.grid_arc_shortest_path(c, (5, 5)))
    >>> SPOPlusLoss('grid_arc_shortest_path')(y, c_hat)  # No solve of c.
  """
  costs = tf.convert_to_tensor(costs)
  solutions = tf.cast(tf.convert_to_tensor(solutions), costs.dtype)
  if costs.shape != solutions.shape:
    raise ValueError(f"costs and solutions must have the same shape, got "
                     f"{costs.shape} and {solutions.shape}.")
  return tf.stack([costs, solutions], axis=1)


def split_targets(y_true, y_pred: tf.Tensor,
                  solver: Callable) -> Tuple[tf.Tensor, tf.Tensor]:
  """The true costs and their optimal decisions from `y_true`.

  Args:
    y_true: the true costs, `y_pred`'s shape; or `stack_targets(c, w*(c))`.
    y_pred: the predicted costs, `[B, ...]`.
    solver: solves `y_true`'s costs when they come alone.

  Returns:
    `(c, w*(c))`, both in `y_pred`'s dtype and shape.

  Raises:
    ValueError: if `y_true` is neither of the two shapes.
  """
  y_true = tf.cast(tf.convert_to_tensor(y_true), y_pred.dtype)
  shape = y_pred.shape
  if y_true.shape.rank == shape.rank + 1 and y_true.shape[1] == 2:
    costs, solutions = y_true[:, 0], y_true[:, 1]
  elif y_true.shape.rank == shape.rank:
    costs = y_true
    solutions = tf.cast(solver(tf.stop_gradient(costs)), y_pred.dtype)
  else:
    costs = solutions = None
  if costs is None or not costs.shape.is_compatible_with(shape):
    raise ValueError(
        f"y_true must hold the true costs, of y_pred's shape {shape}, or "
        f"stack_targets(costs, solutions) of shape [B, 2, ...]; got "
        f"{y_true.shape}.")
  return costs, solutions


def sense(maximize: bool) -> float:
  """+1 for minimisation, -1 for maximisation: the sign that turns every
  formula written for minimisation into its mirror."""
  return -1.0 if maximize else 1.0


def inner(a: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
  """`<a, b>` per example over all axes but the first, `[B]`."""
  return tf.reduce_sum(a * b, axis=tf.range(1, tf.rank(a)))
