"""Wrap a numpy / Python black-box solver as a batched TensorFlow op.

The op runs inside `tf.function` (through `tf.numpy_function`), inside
`perturbed`, the Fenchel–Young loss and `model.fit`, and declares its output
shape and dtype so graphs keep static shapes. The M·B perturbed problems of a
step are cut into chunks and solved on an executor (`executors.py`): threads
(for solvers that release the GIL), worker processes (for pure-Python
solvers), or any `concurrent.futures.Executor`, such as a Dask cluster's. It
is a host call: it cannot be XLA-compiled, and says so.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence
import concurrent.futures
import os
import pickle

import keras
import numpy as np
import tensorflow as tf

# TensorFlow has no public way to ask whether a graph is being compiled by
# XLA; without it, a host call under XLA fails deep in the compiler.
from tensorflow.python.ops import control_flow_util

from perturbations_tf._src import executors
from perturbations_tf._src import registry
from perturbations_tf._src import sense
from perturbations_tf._src import validation
from perturbations_tf._src.executors import WorkerCrashError
from perturbations_tf._src.types import DTypeLike
from perturbations_tf._src.types import TensorLike

EXECUTORS = ("threads", "processes")

__all__ = ["EXECUTORS", "NumpySolver", "WorkerCrashError", "numpy_solver"]


def in_xla_context() -> bool:
  """Whether the graph being built is compiled by XLA (private TF API)."""
  graph = tf.compat.v1.get_default_graph()
  return control_flow_util.GraphOrParentsInXlaContext(graph)


@keras.saving.register_keras_serializable(package="perturbations_tf")
class NumpySolver:
  """A numpy solver as a batched TensorFlow op; build it with `numpy_solver`.

  It serialises (in the config of a layer or loss that holds it) when its
  numpy function is a registered callable or a `functools.partial` of one.
  A given executor is a resource of the running process, not of the model:
  the config records `'threads'` in its place, so pass it again after
  loading.

  Attributes:
    solver: the numpy function.
    maximize: the sense it declares (its own, or `numpy_solver`'s
      `maximize`), or None when undeclared.
    supports_jit: False: a host call cannot be XLA-compiled (Keras then leaves
      `jit_compile='auto'` off for layers, losses and metrics that use it).
    maps_rows: True: it already maps a one-example solver over the rows of its
      input, so `perturbed(..., batched=False)` calls it on the stacked
      perturbed examples instead of vectorising it again.
  """

  supports_jit = False
  maps_rows = True

  def __init__(
    self,
    solver: Callable[[np.ndarray], np.ndarray],
    output_shape: Sequence[int] | None,
    output_dtype: DTypeLike,
    batched: bool,
    num_workers: int | None,
    executor: str | concurrent.futures.Executor,
    *,
    maximize: bool | None,
  ):
    self.solver = solver
    self.output_shape = (
      None if output_shape is None else tuple(int(d) for d in output_shape)
    )
    self.output_dtype = output_dtype
    self.batched = batched
    self.num_workers = num_workers  # None: one per CPU core, where it runs.
    self._workers = num_workers or os.cpu_count() or 1
    self.executor = executor
    self.maximize = (
      sense.declared_sense(solver)
      if maximize is None
      else sense.resolve_sense(solver, maximize, "numpy_solver")
    )
    self._pool: concurrent.futures.Executor | None = (
      None if isinstance(executor, str) else executor
    )
    self.__name__ = getattr(solver, "__name__", "numpy_solver")

  def __call__(self, x: TensorLike) -> tf.Tensor:
    if in_xla_context():
      raise ValueError(
        "numpy_solver runs on the host through tf.numpy_function and "
        "cannot be XLA-compiled: use jit_compile=False (in "
        "model.compile(...) or tf.function), or a TF-native solver."
      )
    x = tf.convert_to_tensor(x)
    y = tf.numpy_function(self.solve, [x], self._dtype(x.dtype), stateful=False)
    shape = (
      x.shape[1:]
      if self.output_shape is None
      else tf.TensorShape(self.output_shape)
    )
    y.set_shape(x.shape[:1].concatenate(shape))
    return y

  def _dtype(self, input_dtype: tf.DType) -> tf.DType:
    if self.output_dtype is not None:
      return tf.as_dtype(self.output_dtype)
    return validation.solution_dtype(tf.as_dtype(input_dtype))

  def get_config(self) -> dict:
    return {
      "solver": registry.solver_config(self.solver),
      "output_shape": self.output_shape,
      "output_dtype": (
        None if self.output_dtype is None else np.dtype(self.output_dtype).name
      ),
      "batched": self.batched,
      "num_workers": self.num_workers,
      "executor": (
        self.executor if isinstance(self.executor, str) else "threads"
      ),
      "maximize": self.maximize,
    }

  @classmethod
  def from_config(cls, config: dict) -> NumpySolver:
    config = dict(config)
    return numpy_solver(registry.get_solver(config.pop("solver")), **config)

  def solve(self, x: np.ndarray) -> np.ndarray:
    """Solves every row of `x` with numpy, on the executor; `[N, ...]`."""
    dtype = np.dtype(self._dtype(x.dtype).as_numpy_dtype)
    out_shape = (len(x),) + (
      x.shape[1:] if self.output_shape is None else self.output_shape
    )
    if not len(x):
      return np.zeros(out_shape, dtype)
    task = executors.solve_whole if self.batched else executors.solve_each
    if self.executor == "threads" and (self._workers == 1 or len(x) < 2):
      results = task(self.solver, 0, x)
    else:
      try:
        results = executors.solve_rows(
          task, self.solver, x, self._get_pool(), self._workers, self.__name__
        )
      except WorkerCrashError:
        self.close()  # The next call starts a fresh pool.
        raise
    try:
      solutions = np.asarray(results, dtype)
    except ValueError:  # Solutions of different shapes.
      solutions = None
    if solutions is None or solutions.shape != out_shape:
      raise ValueError(
        f"The numpy solver {self.__name__} must return one solution of "
        f"shape {out_shape[1:]} per example of shape {x.shape[1:]}, got "
        f"{[np.shape(r) for r in results[:3]]}...; pass output_shape=... "
        "(the shape of one solution) to numpy_solver."
      )
    return solutions

  def close(self):
    """Shuts down the pool this solver owns (a given executor is left open).

    Pools are also shut down at interpreter exit; a closed solver starts a
    new pool on its next call.
    """
    if isinstance(self.executor, str) and self._pool is not None:
      executors.release(self._pool)
      self._pool = None

  def _get_pool(self) -> concurrent.futures.Executor:
    if self._pool is None:
      make = (
        executors.thread_pool
        if self.executor == "threads"
        else executors.process_pool
      )
      self._pool = executors.own(make(self._workers))
    return self._pool


def numpy_solver(
  solver: Callable[[np.ndarray], np.ndarray],
  output_shape: Sequence[int] | None = None,
  output_dtype: DTypeLike = None,
  *,
  batched: bool = False,
  num_workers: int | None = None,
  executor: str | concurrent.futures.Executor = "threads",
  maximize: bool | None = None,
) -> NumpySolver:
  """Turns a numpy solver into a batched TensorFlow solver.

  Args:
    solver: the numpy function. With `batched=False` (default) it maps one
      example (`np.ndarray` of shape `x.shape[1:]`) to its solution. With
      `batched=True` it maps a whole `[N, ...]` array at once (and is given
      chunks of rows on the executor).
    output_shape: the shape of one solution; None means the input example's
      shape, `()` one scalar per example.
    output_dtype: the output dtype; None means the input's when floating,
      float32 for integer inputs.
    batched: whether `solver` takes a whole batch.
    num_workers: the number of workers (default: the CPU count). For a given
      executor, its number of workers: the rows are cut into
      `4 · num_workers` chunks.
    executor: where the rows are solved.
      - `'threads'` (default): a thread pool; pays off when the solver
        releases the GIL (numpy, scipy, C solvers).
      - `'processes'`: a pool of spawned worker processes, created on the
        first call and reused; pays off for pure-Python solvers. The solver
        must be picklable: a module-level function, not a lambda or a
        closure; and a script that uses it needs an
        `if __name__ == '__main__':` guard (each worker imports the script).
      - any `concurrent.futures.Executor`, for example a Dask cluster's
        `dask.distributed.Client(...).get_executor()`: the solves of a step
        then run on the cluster. It is used as given, never shut down here.
    maximize: the sense the wrapped solver declares: None keeps the numpy
      function's own declaration (see `declare_sense`; none means a
      maximiser), True or False declares it here.

  Returns:
    A `NumpySolver`, `solver(x)`: a TensorFlow function of a `[N, ...]`
    tensor, usable in eager mode, in `tf.function`, in `perturbed`,
    `FenchelYoungLoss` and `model.fit` (without XLA: `compile()` leaves it
    off). `solver.close()` shuts its own pool down (also done at exit).

  Raises:
    ValueError: if `num_workers < 1`, an unknown executor, a solver that
      cannot be sent to worker processes, a `maximize` that contradicts the
      function's declaration, or when called under XLA.
    WorkerCrashError: when a worker process dies, naming the example that
      killed it, or the missing main guard when workers die at start-up;
      the pool is restarted for the next call.
    Exception: the solver's own, with a note naming the failing example
      (in eager mode as is; in graphs TensorFlow re-raises it as a
      `tf.errors.OpError` carrying the same message and traceback).

  Example:
    >>> def cheapest(costs):  # One example: the cheapest of n options.
    ...   return np.eye(len(costs), dtype=costs.dtype)[np.argmin(costs)]
    >>> solver = numpy_solver(cheapest, maximize=False)
    >>> solver(tf.constant([[3.0, 1.0, 2.0]])).numpy()
    array([[0., 1., 0.]], dtype=float32)
  """
  if num_workers is not None:
    validation.positive_int(num_workers, "num_workers")
  if isinstance(executor, str):
    if executor not in EXECUTORS:
      raise ValueError(
        f"Unknown executor={executor!r}: use one of "
        f"{EXECUTORS} or a concurrent.futures.Executor."
      )
  elif not isinstance(executor, concurrent.futures.Executor):
    raise ValueError(
      "executor must be 'threads', 'processes' or a "
      f"concurrent.futures.Executor (e.g. a Dask client's "
      f".get_executor()), got {executor!r}."
    )
  if executor == "processes":
    try:
      pickle.dumps(solver)
    except (pickle.PicklingError, AttributeError, TypeError) as error:
      raise ValueError(
        f"executor='processes' sends the solver {solver!r} to worker "
        f"processes, but it cannot be pickled ({error}). Define it as a "
        "module-level function (not a lambda, a closure or a local "
        "function), or use executor='threads'."
      ) from error
  return NumpySolver(
    solver,
    output_shape,
    output_dtype,
    batched,
    num_workers,
    executor,
    maximize=maximize,
  )
