"""What cannot be, checked where it is computed.

Two kinds of check, one helper each:

- `checked(x, ok, message)`: `x` after an assertion that every entry of `ok`
  holds (labels a solver cannot produce, infeasible targets). In eager mode
  a failure raises `tf.errors.InvalidArgumentError` with the message alone;
  in graphs (`tf.function`, Keras's `fit`) the same error type from an
  assertion op. XLA compiles assertions out: validate data before a
  jit-compiled step (e.g. once, in eager mode, on the data set).
- `non_negative(value, scale, owner, quantity, maximize)`: a per-example
  quantity that is never negative when the solver's sense and the targets
  are right (SPO+, regret). Negative beyond `NEGATIVE_TOLERANCE · scale`
  (rounding, and the optimality gaps of iterative and MILP solvers), it is
  an error in eager mode and graphs, naming the examples and the likely
  causes; under XLA, where nothing can raise, those entries become NaN, so
  the loss or metric shows NaN instead of a plausible wrong number.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

# Relative to the objective's scale `Σ_i |c_i| (|w_i| + |ŵ_i|)`.
NEGATIVE_TOLERANCE = 1e-4


def is_binary(y: tf.Tensor) -> tf.Tensor:
  """Where `y` is 0 or 1, elementwise: the test every label check of a 0/1
  structure starts from.

  Example:
    >>> is_binary(tf.constant([0.0, 1.0, 0.5])).numpy()
    array([ True,  True, False])
  """
  return (y == 0) | (y == 1)


def checked(
  x: tf.Tensor, ok: tf.Tensor, message: str, data: tuple = ()
) -> tf.Tensor:
  """`x`, after checking that `ok` holds everywhere.

  Args:
    x: the tensor to return.
    ok: a boolean tensor, true where all is well.
    message: what went wrong and the fix.
    data: tensors printed after the message (e.g. the failing rows).

  Returns:
    `x` (with the assertion attached in graphs).

  Raises:
    tf.errors.InvalidArgumentError: in eager mode, when `ok` fails.

  Example:
    >>> try:
    ...   checked(tf.constant([1.0]), tf.constant([False]), "x must be 0.")
    ... except tf.errors.InvalidArgumentError as error:
    ...   print(error.message)
    x must be 0.
  """
  if tf.executing_eagerly():
    if not bool(tf.reduce_all(ok)):
      shown = " ".join(
        np.array2string(np.asarray(d), precision=6, separator=", ")
        for d in data
      )
      raise tf.errors.InvalidArgumentError(
        None, None, f"{message} {shown}".strip()
      )
    return x
  with tf.control_dependencies(
    [tf.debugging.Assert(tf.reduce_all(ok), [message, *data], summarize=8)]
  ):
    return tf.identity(x)


def non_negative(
  value: tf.Tensor,
  scale: tf.Tensor,
  owner: str,
  quantity: str,
  maximize: bool,
) -> tf.Tensor:
  """`value` `[B]`, checked to be non-negative up to rounding.

  Args:
    value: the per-example quantity, `[B]`.
    scale: its magnitude per example, `[B]` (`Σ|c|(|w*| + |ŵ|)`).
    owner: who computes it, for the message.
    quantity: its name, for the message (e.g. "SPO+").
    maximize: the sense used, for the message.

  Returns:
    `value`; under XLA, NaN where it is negative.

  Raises:
    tf.errors.InvalidArgumentError: in eager mode and graphs, where it is
      negative.

  Example:
    >>> non_negative(tf.constant([0.5, 0.0]), tf.constant([1.0, 1.0]),
    ...              "regret", "the regret", False).numpy()
    array([0.5, 0. ], dtype=float32)
    >>> try:
    ...   non_negative(tf.constant([0.5, -0.2]), tf.constant([1.0, 1.0]),
    ...                "Regret", "the regret", True)
    ... except tf.errors.InvalidArgumentError as error:
    ...   print(error.message[:53], "...", error.message[-10:])
    Regret: the regret is negative for the examples below ... [1] [-0.2]
  """
  tolerance = tf.cast(NEGATIVE_TOLERANCE, value.dtype) * tf.cast(
    scale, value.dtype
  )
  negative = value < -tolerance
  rows = tf.cast(tf.where(negative)[:, 0], tf.int32)
  message = (
    f"{owner}: {quantity} is negative for the examples below, which cannot "
    "be when the solver's sense and the targets are right. Likely causes: "
    f"the sense (maximize={maximize} here; a PyEPO-style minimiser needs "
    "ptf.solvers.declare_sense(maximize=False) or maximize=False); y_true's "
    "decisions not optimal for its costs (stack_targets(c, w) needs w = "
    "w*(c)); or the two swapped (stack_targets(costs, solutions)). "
    "Examples and values:"
  )
  value = checked(value, ~negative, message, (rows, tf.gather(value, rows)))
  return tf.where(negative, tf.constant(np.nan, value.dtype), value)
