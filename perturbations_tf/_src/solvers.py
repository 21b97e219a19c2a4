"""TF-native batched solvers of the last axis: argmax, top-k, ranks, sort.

Each maximises a linear objective `<y, θ>` over its structures (one-hot
vectors, k-hot vectors, permutations of `0..n-1`) and declares so
(`maximize = True`; see `sense.py`). They act on a leading batch axis with
whole-batch tensor operations, run in eager mode, in `tf.function` and under
XLA, refuse NaN and Inf, return floating solutions (float32 for integer
inputs), and check labels offered as their outputs (`check_solutions`). They
are registered with Keras serialisation, so layers and losses built on them
save and load by name.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from perturbations_tf._src import invariants
from perturbations_tf._src import sense
from perturbations_tf._src import validation
from perturbations_tf._src.types import TensorLike

_register = keras.saving.register_keras_serializable(package="perturbations_tf")
_maximizes = sense.declare_sense(maximize=True)


def _scores(x: TensorLike, name: str) -> tf.Tensor:
  """`x` checked finite, in its solutions' dtype."""
  x = tf.convert_to_tensor(x)
  return tf.cast(
    validation.check_finite(x, name), validation.solution_dtype(x.dtype)
  )


@_register
@_maximizes
def argmax(x: tf.Tensor, axis: int = -1) -> tf.Tensor:
  """One-hot argmax along `axis`; ties go to the first (lowest) index.

  Args:
    x: scores, `[..., n]`, finite.
    axis: the axis to maximise over.

  Returns:
    A one-hot tensor of `x`'s shape, in `x`'s dtype (float32 for integers).

  Raises:
    tf.errors.InvalidArgumentError: on NaN or Inf (eager and graphs).

  Example:
    >>> argmax(tf.constant([[1.0, 3.0, 3.0]])).numpy()
    array([[0., 1., 0.]], dtype=float32)
  """
  x = _scores(x, "argmax")
  n = tf.shape(x)[axis]
  is_max = x == tf.reduce_max(x, axis=axis, keepdims=True)
  shape = [1] * x.shape.rank
  shape[axis] = -1
  positions = tf.reshape(tf.range(n), shape)
  first = tf.reduce_min(tf.where(is_max, positions, n), axis=axis)
  return tf.one_hot(first, n, axis=axis, dtype=x.dtype)


def _check_argmax(y: tf.Tensor, owner: str, axis: int = -1) -> tf.Tensor:
  ok = invariants.is_binary(y) & (
    tf.reduce_sum(y, axis=axis, keepdims=True) == 1
  )
  return invariants.checked(
    y,
    ok,
    f"{owner}: the labels of argmax must be one-hot "
    f"along axis {axis} (one 1 per row, zeros elsewhere).",
  )


@_register
@_maximizes
def top_k(x: tf.Tensor, k: int = 1) -> tf.Tensor:
  """k-hot mask of the `k` largest entries of the last axis (ties: the
  lowest index).

  Args:
    x: scores, `[..., n]`, finite.
    k: how many entries to select, `1 <= k <= n`. Give it with the solver:
      `{'name': 'top_k', 'kwargs': {'k': 3}}` or
      `functools.partial(ptf.solvers.top_k, k=3)`.

  Returns:
    A 0/1 tensor of `x`'s shape (float32 for integers) with `k` ones per row.

  Raises:
    ValueError: if k is not in `[1, n]`.
    tf.errors.InvalidArgumentError: on NaN or Inf (eager and graphs).

  Example:
    >>> top_k(tf.constant([[1.0, 3.0, 2.0]]), k=2).numpy()
    array([[0., 1., 1.]], dtype=float32)
  """
  x = _scores(x, "top_k")
  n = x.shape[-1]
  if (
    isinstance(k, bool)
    or not isinstance(k, int)
    or k < 1
    or (n is not None and k > n)
  ):
    raise ValueError(f"k must be an integer in [1, {n}], got {k!r}.")
  indices = tf.math.top_k(x, k=k, sorted=False).indices
  return tf.reduce_sum(
    tf.one_hot(indices, tf.shape(x)[-1], dtype=x.dtype), axis=-2
  )


def _check_top_k(y: tf.Tensor, owner: str, k: int = 1) -> tf.Tensor:
  ok = invariants.is_binary(y) & (tf.reduce_sum(y, axis=-1, keepdims=True) == k)
  return invariants.checked(
    y,
    ok,
    (
      f"{owner}: the solver top_k was given k={k}, but the labels are not "
      f"{k}-hot rows (k ones per row). Give the solver the labels' k: "
      "{'name': 'top_k', 'kwargs': {'k': K}} or "
      "functools.partial(ptf.solvers.top_k, k=K)."
    ),
  )


@_register
@_maximizes
def ranks(x: tf.Tensor) -> tf.Tensor:
  """0-based ascending ranks along the last axis: the smallest entry gets 0.

  The ranks vector maximises `<y, θ>` over permutations of `0..n-1`. Ties go
  to the lower index (stable sort), so the result is deterministic.

  Example:
    >>> ranks(tf.constant([[0.3, -1.0, 2.0]])).numpy()
    array([[1., 0., 2.]], dtype=float32)
  """
  x = _scores(x, "ranks")
  order = tf.argsort(x, axis=-1, stable=True)
  return tf.cast(tf.argsort(order, axis=-1, stable=True), x.dtype)


def _check_ranks(y: tf.Tensor, owner: str) -> tf.Tensor:
  n = tf.shape(y)[-1]
  expected = tf.cast(tf.range(n), y.dtype)
  ok = tf.sort(y, axis=-1) == expected
  return invariants.checked(
    y,
    ok,
    f"{owner}: the labels of ranks must be permutations "
    "of 0, 1, ..., n - 1 along the last axis (0-based ranks).",
  )


@_register
@_maximizes
def sort(x: tf.Tensor, direction: str = "ASCENDING") -> tf.Tensor:
  """Sorts the last axis (`'ASCENDING'` or `'DESCENDING'`); the values keep
  their dtype (they are the input's own).

  Example:
    >>> sort(tf.constant([[0.3, -1.0, 2.0]])).numpy()
    array([[-1. ,  0.3,  2. ]], dtype=float32)
  """
  x = validation.check_finite(tf.convert_to_tensor(x), "sort")
  return tf.sort(x, axis=-1, direction=direction)


argmax.check_solutions = _check_argmax
top_k.check_solutions = _check_top_k
ranks.check_solutions = _check_ranks
