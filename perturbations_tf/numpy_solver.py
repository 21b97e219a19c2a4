"""Wrap a numpy / Python black-box solver as a batched TensorFlow op.

The op runs inside `tf.function` (through `tf.numpy_function`), inside
`perturbed` and the Fenchel–Young loss, solves the M·B perturbed problems on
a thread pool, and declares its output shape and dtype so graphs keep static
shapes. It is a host call: it cannot be XLA-compiled, and says so.
"""

from __future__ import annotations

import concurrent.futures
import os
from typing import Callable, Optional, Sequence

import numpy as np
import tensorflow as tf
from tensorflow.python.ops import control_flow_util  # XLA-context check.


def _in_xla_context() -> bool:
  graph = tf.compat.v1.get_default_graph()
  return control_flow_util.GraphOrParentsInXlaContext(graph)


def numpy_solver(fn: Callable[[np.ndarray], np.ndarray],
                 output_shape: Optional[Sequence[int]] = None,
                 output_dtype=None,
                 *,
                 batched: bool = False,
                 num_workers: Optional[int] = None) -> Callable:
  """Turns a numpy solver into a batched TensorFlow solver.

  Args:
    fn: the solver. With `batched=False` (default) it maps one example
      (`np.ndarray` of shape `x.shape[1:]`) to its solution; the rows of a
      batch are solved on a thread pool. With `batched=True` it maps a whole
      `[N, ...]` array at once.
    output_shape: the shape of one solution; None means the input example's
      shape, `()` one scalar per example.
    output_dtype: the output dtype; None means the input's.
    batched: whether `fn` takes a whole batch.
    num_workers: threads for per-example solves (default: the CPU count).
      Threads pay off when `fn` releases the GIL (numpy, scipy, C solvers).

  Returns:
    `solver(x)`: a TensorFlow function of a `[N, ...]` tensor, usable in eager
    mode, in `tf.function`, in `perturbed` and `FenchelYoungLoss`. Its
    attribute `supports_jit` is False.

  Raises:
    ValueError: if `num_workers < 1`, or when called under XLA.
    The solver's own exception, annotated with the failing example's index
    (in eager mode as is; in graphs TensorFlow re-raises it as a
    `tf.errors.OpError` carrying the same message and traceback).

  Example:
    >>> def assignment(cost):  # One example: a square cost matrix.
    ...   rows, cols = scipy.optimize.linear_sum_assignment(-cost)
    ...   return np.eye(len(cost))[cols]
    >>> solver = numpy_solver(assignment)
    >>> soft = perturbed(solver, num_samples=100, sigma=0.1)
  """
  if num_workers is not None and num_workers < 1:
    raise ValueError(f"num_workers must be >= 1, got {num_workers!r}.")
  workers = num_workers or os.cpu_count() or 1
  pool = None

  def solve_one(args):
    index, example = args
    try:
      return np.asarray(fn(example))
    except Exception as error:  # Re-raised with the example's index.
      error.add_note(f"(raised by the numpy solver on example {index} of "
                     "the batch)")
      raise

  def solve_all(x: np.ndarray) -> np.ndarray:
    nonlocal pool
    dtype = np.dtype(output_dtype) if output_dtype is not None else x.dtype
    if batched:
      return np.asarray(fn(x)).astype(dtype, copy=False)
    if workers == 1 or len(x) < 2:
      results = [solve_one(item) for item in enumerate(x)]
    else:
      if pool is None:
        pool = concurrent.futures.ThreadPoolExecutor(workers)
      results = list(pool.map(solve_one, enumerate(x)))
    out_shape = (len(x),) + tuple(x.shape[1:] if output_shape is None
                                  else output_shape)
    return np.asarray(results, dtype).reshape(out_shape)

  @tf.autograph.experimental.do_not_convert  # A host call: nothing to convert.
  def solver(x):
    if _in_xla_context():
      raise ValueError(
          "numpy_solver runs on the host through tf.numpy_function and "
          "cannot be XLA-compiled: use jit_compile=False (in "
          "model.compile(...) or tf.function), or a TF-native solver.")
    x = tf.convert_to_tensor(x)
    dtype = tf.as_dtype(output_dtype) if output_dtype is not None else x.dtype
    y = tf.numpy_function(solve_all, [x], dtype, stateful=False)
    shape = x.shape[1:] if output_shape is None else tf.TensorShape(
        output_shape)
    y.set_shape(x.shape[:1].concatenate(shape))
    return y

  solver.supports_jit = False
  solver.__name__ = getattr(fn, "__name__", "numpy_solver")
  return solver
