"""Calling a solver: one meaning of `batched`, and checked outputs.

Everywhere in the library, inputs carry a leading batch axis `[B, ...]`, and
`batched` describes the solver: `batched=True`, it maps a batch `[N, ...]`
to one solution per row, `[N, ...]` (or `[N]`); `batched=False`, it maps one
example and is vectorised over the rows. A solver's output is checked
against what the caller expects, and a mismatch is an error naming both
shapes (never a reshape error deep in the graph).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import tensorflow as tf

from perturbations_tf._src.sense import solver_name


def vectorize(solver: Callable, dtype: tf.DType) -> Callable:
  """Maps a one-example solver over the leading axis of its input.

  Uses `tf.vectorized_map`, and `tf.map_fn` where the solver works on one
  example but cannot be vectorised (e.g. Python control flow on tensor
  values in eager mode). A solver that already maps over rows
  (`solver.maps_rows`, as a `numpy_solver`) is called on all rows at once.

  Args:
    solver: a function of one example.
    dtype: the dtype of its solutions.

  Returns:
    `batched(x, *args, **kwargs)`, a solver of `[N, ...]` inputs.

  Raises:
    ValueError: at once, when the solver fails on one example (for example
      a function written for a batch).
  """

  def batched(x: tf.Tensor, *args: Any, **kwargs: Any) -> tf.Tensor:
    if getattr(solver, "maps_rows", False):
      return tf.cast(solver(x, *args, **kwargs), dtype)

    def one(xi: tf.Tensor) -> tf.Tensor:
      return tf.cast(solver(xi, *args, **kwargs), dtype)

    try:
      return tf.vectorized_map(one, x)
    except Exception:
      try:  # Only a function that works on one example may be mapped.
        one(x[0])
      except Exception as error:
        raise ValueError(
          f"The one-example solver {solver_name(solver)!r} failed on one "
          f"example of shape {x.shape[1:]}: {error}. With batched=False the "
          "solver takes a single example (google-research `perturbations` "
          "instead passes it the perturbed copies stacked along a leading "
          "axis). Write it for one example, or pass batched=True and let "
          "it take a [N, ...] batch."
        ) from error
      return tf.map_fn(one, x, fn_output_signature=dtype)

  batched.maps_rows = True  # type: ignore[attr-defined]
  return batched


def call_solver(
  solver: Callable,
  x: tf.Tensor,
  owner: str,
  *,
  dtype: tf.DType | None = None,
  same_shape: bool = False,
  args: tuple = (),
  kwargs: dict | None = None,
) -> tf.Tensor:
  """`solver(x)` for a batch `x` `[N, ...]`, checked and cast.

  Args:
    solver: a batched solver.
    x: its input, `[N, ...]`.
    owner: who calls, for messages (e.g. "FenchelYoungLoss").
    dtype: the dtype to cast the solutions to (default: theirs).
    same_shape: whether each solution must have the shape of its input row
      (a structure `y` paired with `<y, θ>`).
    args, kwargs: extra arguments for the solver.

  Returns:
    The solutions, `[N, ...]`.

  Raises:
    ValueError: if the solver does not return one solution per row (of the
      input row's shape when `same_shape`), naming the shapes.
  """
  y = tf.convert_to_tensor(solver(x, *args, **(kwargs or {})))
  rows = x.shape[:1]
  expected = (
    x.shape
    if same_shape
    else rows.concatenate(y.shape[1:] if y.shape.rank else [])
  )
  wrong_rank = y.shape.rank is not None and (
    y.shape.rank < 1 or (same_shape and y.shape.rank != x.shape.rank)
  )
  if wrong_rank or not y.shape.is_compatible_with(expected):
    raise ValueError(
      f"{owner}: the solver {solver_name(solver)!r} returned shape "
      f"{y.shape} for inputs of shape {x.shape}; it must return one "
      "solution per input row"
      + (f", of the row's shape {x.shape[1:]}" if same_shape else "")
      + ". A solver of a batch maps [N, ...] to [N, ...] (batched=True); "
      "a solver of one example needs batched=False."
    )
  if y.shape[:1].is_fully_defined() and rows.is_fully_defined():
    checked = y
  else:
    with tf.control_dependencies(
      [
        tf.debugging.assert_equal(
          tf.shape(y)[0],
          tf.shape(x)[0],
          message=(
            f"{owner}: the solver {solver_name(solver)!r} must return one "
            "solution per input row (batched=True), or take one example "
            "(batched=False)"
          ),
        )
      ]
    ):
      checked = tf.identity(y)
  return checked if dtype is None else tf.cast(checked, dtype)
