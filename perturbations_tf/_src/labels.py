"""Labels a solver cannot produce are errors, not silently wrong losses.

A solver that knows its outputs carries `check_solutions(y, owner,
**solver_kwargs)`, which returns `y` after checking (in eager mode and
graphs; XLA compiles assertions out) that every row is one of its
structures: one-hot rows for `argmax`, `k`-hot rows for `top_k` (with the
solver's `k`), permutations for `ranks`, 0/1 masks for paths and packings.
The losses whose labels are structures (Fenchel–Young, NCE, CMAP) check
them here.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any

import tensorflow as tf


def check_labels(solver: Any, y: tf.Tensor, owner: str) -> tf.Tensor:
  """`y`, checked to be structures `solver` can produce (when it says).

  Args:
    solver: the solver, possibly a `functools.partial` whose keywords (such
      as `top_k`'s `k`) the check uses.
    y: the labels, `[B, ...]`.
    owner: who asks, for the message.

  Returns:
    `y`, with the check attached.

  Example:
    >>> check_labels(ptf.solvers.top_k, tf.constant([[0., 1., 0.]]), "test")
    ... # doctest: +ELLIPSIS
    <tf.Tensor: shape=(1, 3), dtype=float32, numpy=array([[0., 1., 0.]]...)>
  """
  base: Any = solver
  args: list[Any] = []
  keywords: dict[str, Any] = {}
  while isinstance(base, functools.partial):
    args = list(base.args) + args
    keywords = {**base.keywords, **keywords}
    base = base.func
  check = getattr(base, "check_solutions", None)
  if check is None:
    return y
  if args or keywords:
    if inspect.ismethod(check):  # An object's check knows its settings.
      return check(y, owner)
    bound = inspect.signature(base).bind_partial(None, *args, **keywords)
    keywords = {
      k: v
      for k, v in bound.arguments.items()
      if k != next(iter(bound.arguments))
    }
  return check(y, owner, **keywords)
