"""Argument and input checks shared by the library: one of each.

Every check raises with a message that names the argument, what it got and
the fix, so that bad settings fail at construction and bad inputs before a
solver sees them.
"""

from __future__ import annotations

from collections.abc import Sequence
import math
from typing import Any

import numpy as np
import tensorflow as tf


def positive_int(value: Any, name: str) -> int:
  """`value` if it is an integer `>= 1` (not a bool), else ValueError.

  Example:
    >>> positive_int(3, "num_samples")
    3
  """
  if isinstance(value, bool) or not isinstance(value, int) or value < 1:
    raise ValueError(f"{name} must be a positive integer, got {value!r}.")
  return value


def positive_number(value: Any, name: str) -> float:
  """`value` as a float if it is a positive finite number, else ValueError.

  Example:
    >>> positive_number(2, "sigma")
    2.0
  """
  if (
    isinstance(value, bool)
    or not isinstance(value, (int, float))
    or not math.isfinite(value)
    or value <= 0
  ):
    raise ValueError(f"{name} must be a positive finite number, got {value!r}.")
  return float(value)


def fraction(value: Any, name: str) -> float:
  """`value` as a float if it is a number in `(0, 1]`, else ValueError.

  Example:
    >>> fraction(0.25, "solve_fraction")
    0.25
  """
  if (
    isinstance(value, bool)
    or not isinstance(value, (int, float))
    or not 0 < value <= 1
  ):
    raise ValueError(f"{name} must be a number in (0, 1], got {value!r}.")
  return float(value)


def one_of(value: Any, choices: Sequence[Any], name: str) -> Any:
  """`value` if it is one of `choices`, else ValueError listing them."""
  if value not in choices:
    raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}.")
  return value


def compute_dtype(dtype: tf.DType) -> tf.DType:
  """The dtype of the library's arithmetic on inputs of `dtype`: float64 for
  float64, float32 for everything else (half precisions and integers), so
  that noise, means and gradients keep their precision.

  Example:
    >>> compute_dtype(tf.bfloat16).name
    'float32'
  """
  return tf.float64 if dtype == tf.float64 else tf.float32


def solution_dtype(dtype: tf.DType) -> tf.DType:
  """The dtype of a solver's solutions for inputs of `dtype`: the input's
  when it is floating, float32 for integer inputs (a linear program's optimum
  on integer costs is fractional in general).

  Example:
    >>> solution_dtype(tf.int32).name
    'float32'
  """
  return dtype if dtype.is_floating else tf.float32


def check_finite(x: tf.Tensor, what: str) -> tf.Tensor:
  """`x`, after a check (in eager mode and `tf.function`) that it holds no
  NaN or Inf. XLA compiles the check out: validate inputs before a
  jit-compiled step.

  Args:
    x: a floating tensor (integer tensors are returned as they are).
    what: who needs finite values, for the message (e.g. "shortest_path").

  Raises:
    tf.errors.InvalidArgumentError: on NaN or Inf.
  """
  x = tf.convert_to_tensor(x)
  if not x.dtype.is_floating:
    return x
  return tf.debugging.check_numerics(
    x,
    f"{what} needs finite inputs, got NaN or Inf (check the model's "
    "outputs or the learning rate)",
  )


def check_finite_array(a: Any, owner: str, what: str) -> None:
  """Raises ValueError when a numpy array (a host solver's input) holds NaN
  or Inf, naming the solver and the argument.

  Example:
    >>> check_finite_array([1.0, float("nan")], "TSP", "costs")
    Traceback (most recent call last):
    ...
    ValueError: TSP needs finite costs, got NaN or Inf.
  """
  if not np.all(np.isfinite(a)):
    raise ValueError(f"{owner} needs finite {what}, got NaN or Inf.")


def check_batched(x: tf.Tensor, name: str, min_rank: int = 2) -> tf.Tensor:
  """`x` if it has a known rank `>= min_rank` (a leading batch axis), else
  ValueError naming its shape."""
  x = tf.convert_to_tensor(x)
  if x.shape.rank is None or x.shape.rank < min_rank:
    raise ValueError(
      f"{name} must have a leading batch axis, [batch, ...] of rank >= "
      f"{min_rank}, got shape {x.shape}. Add one with x[tf.newaxis]."
    )
  return x


def check_rows(
  x: Any, width: int, owner: str, what: str = "costs"
) -> tf.Tensor:
  """`x` as a tensor if it is `[batch, width]`, else ValueError naming the
  solver, the expected shape and the given one."""
  x = tf.convert_to_tensor(x)
  if x.shape.rank != 2 or x.shape[-1] != width:
    raise ValueError(
      f"{owner} takes {what} of shape [batch, {width}], got {x.shape}."
    )
  return x


def check_floating(x: tf.Tensor, name: str) -> tf.Tensor:
  """`x` if it is a floating tensor, else TypeError naming its dtype."""
  if not x.dtype.is_floating:
    raise TypeError(
      f"{name} must be a floating tensor, got {x.dtype}; cast "
      "it with tf.cast(x, tf.float32)."
    )
  return x
