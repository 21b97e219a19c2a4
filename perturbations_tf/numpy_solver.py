"""Wrap a numpy / Python black-box solver as a batched TensorFlow op.

The op runs inside `tf.function` (through `tf.numpy_function`), inside
`perturbed`, the Fenchel–Young loss and `model.fit`, and declares its output
shape and dtype so graphs keep static shapes. The M·B perturbed problems of a
step are cut into chunks and solved on an executor: threads (for solvers that
release the GIL), worker processes (for pure-Python solvers), or any
`concurrent.futures.Executor`, such as a Dask cluster's. It is a host call:
it cannot be XLA-compiled, and says so.
"""

from __future__ import annotations

import atexit
import concurrent.futures
import multiprocessing
import os
import pickle
import threading
import time
import weakref
from concurrent.futures.process import BrokenProcessPool
from typing import Callable, List, Optional, Sequence, Union

import keras
import numpy as np
import tensorflow as tf
from tensorflow.python.ops import control_flow_util  # XLA-context check.

from perturbations_tf import registry

EXECUTORS = ("threads", "processes")
# Chunks per worker: enough to balance uneven solve times, few enough to
# amortise the transfer of each chunk to a process or a cluster.
CHUNKS_PER_WORKER = 4

_OWNED_POOLS: "weakref.WeakSet[concurrent.futures.Executor]" = weakref.WeakSet()


@atexit.register
def _shut_down_pools():
  for pool in list(_OWNED_POOLS):
    pool.shutdown(wait=True, cancel_futures=True)


def _in_xla_context() -> bool:
  graph = tf.compat.v1.get_default_graph()
  return control_flow_util.GraphOrParentsInXlaContext(graph)


def _exit_with_parent(parent: int):
  """Runs in each worker process: ends it once its parent is gone (killed,
  crashed), instead of leaving an orphan that solves on."""
  def watch():
    while os.getppid() == parent:
      time.sleep(1.0)
    os._exit(1)  # pylint: disable=protected-access
  threading.Thread(target=watch, daemon=True).start()


def _process_pool(workers: int) -> concurrent.futures.ProcessPoolExecutor:
  """Spawned, not forked (forking a process that runs TF can hang), and
  tied to this process's life."""
  return concurrent.futures.ProcessPoolExecutor(
      workers, mp_context=multiprocessing.get_context("spawn"),
      initializer=_exit_with_parent, initargs=(os.getpid(),))


def _solve_rows(fn: Callable, start: int, rows: np.ndarray) -> List:
  """Solves consecutive examples `start, start + 1, ...` (on a worker).

  The solver's own exception is re-raised with a note naming the example.
  """
  results = []
  for offset, row in enumerate(rows):
    try:
      results.append(np.asarray(fn(row)))
    except Exception as error:
      error.add_note(f"(raised by the numpy solver on example {start + offset}"
                     " of the batch)")
      raise
  return results


def _solve_whole(fn: Callable, start: int, rows: np.ndarray) -> List:
  """Solves a chunk with a batched `fn`, annotating its exception likewise."""
  try:
    return list(np.asarray(fn(rows)))
  except Exception as error:
    error.add_note(f"(raised by the numpy solver on examples {start} to "
                   f"{start + len(rows) - 1} of the batch)")
    raise


class WorkerCrashError(RuntimeError):
  """A worker process died (killed, out of memory, a crash in native code)."""


@keras.saving.register_keras_serializable(package="perturbations_tf")
class NumpySolver:
  """A numpy solver as a batched TensorFlow op; build it with `numpy_solver`.

  It serialises (in the config of a layer or loss that holds it) when `fn` is
  a registered callable or a `functools.partial` of one. A given executor is
  a resource of the running process, not of the model: the config records
  `'threads'` in its place, so pass it again after loading.

  Attributes:
    supports_jit: False: a host call cannot be XLA-compiled (Keras then leaves
      `jit_compile='auto'` off for layers that use it).
    maps_rows: True: it already maps a one-example solver over the rows of its
      input, so `perturbed(..., batched=False)` calls it on the stacked
      perturbed examples instead of vectorising it again.
  """

  supports_jit = False
  maps_rows = True

  def __init__(self, fn, output_shape, output_dtype, batched, num_workers,
               executor):
    self.fn = fn
    self.output_shape = (None if output_shape is None else
                         tuple(int(d) for d in output_shape))
    self.output_dtype = output_dtype
    self.batched = batched
    self.num_workers = num_workers  # None: one per CPU core, where it runs.
    self._workers = num_workers or os.cpu_count() or 1
    self.executor = executor
    self._pool: Optional[concurrent.futures.Executor] = (
        None if isinstance(executor, str) else executor)
    self.__name__ = getattr(fn, "__name__", "numpy_solver")

  def __call__(self, x):
    if _in_xla_context():
      raise ValueError(
          "numpy_solver runs on the host through tf.numpy_function and "
          "cannot be XLA-compiled: use jit_compile=False (in "
          "model.compile(...) or tf.function), or a TF-native solver.")
    x = tf.convert_to_tensor(x)
    dtype = (tf.as_dtype(self.output_dtype) if self.output_dtype is not None
             else x.dtype)
    y = tf.numpy_function(self.solve, [x], dtype, stateful=False)
    shape = (x.shape[1:] if self.output_shape is None else
             tf.TensorShape(self.output_shape))
    y.set_shape(x.shape[:1].concatenate(shape))
    return y

  def get_config(self) -> dict:
    return {"fn": registry.solver_name(self.fn),
            "output_shape": self.output_shape,
            "output_dtype": (None if self.output_dtype is None else
                             np.dtype(self.output_dtype).name),
            "batched": self.batched, "num_workers": self.num_workers,
            "executor": (self.executor if isinstance(self.executor, str)
                         else "threads")}

  @classmethod
  def from_config(cls, config: dict) -> "NumpySolver":
    config = dict(config)
    return numpy_solver(registry.get_solver(config.pop("fn")), **config)

  def solve(self, x: np.ndarray) -> np.ndarray:
    """Solves every row of `x` with numpy, on the executor; `[N, ...]`."""
    dtype = np.dtype(self.output_dtype or x.dtype)
    out_shape = (len(x),) + (x.shape[1:] if self.output_shape is None
                             else self.output_shape)
    if not len(x):
      return np.zeros(out_shape, dtype)
    task = _solve_whole if self.batched else _solve_rows
    if self.executor == "threads" and (self._workers == 1 or len(x) < 2):
      results = task(self.fn, 0, x)
    else:
      results = self._solve_chunks(task, x)
    try:
      solutions = np.asarray(results, dtype)
    except ValueError:  # Solutions of different shapes.
      solutions = None
    if solutions is None or solutions.shape != out_shape:
      raise ValueError(
          f"The numpy solver {self.__name__} must return one solution of "
          f"shape {out_shape[1:]} per example of shape {x.shape[1:]}, got "
          f"{[np.shape(r) for r in results[:3]]}...; pass output_shape=... "
          "(the shape of one solution) to numpy_solver.")
    return solutions

  def close(self):
    """Shuts down the pool this solver owns (a given executor is left open).

    Pools are also shut down at interpreter exit; a closed solver starts a
    new pool on its next call.
    """
    if isinstance(self.executor, str) and self._pool is not None:
      self._pool.shutdown(wait=True, cancel_futures=True)
      _OWNED_POOLS.discard(self._pool)
      self._pool = None

  def _get_pool(self) -> concurrent.futures.Executor:
    if self._pool is None:
      if self.executor == "threads":
        self._pool = concurrent.futures.ThreadPoolExecutor(self._workers)
      else:
        self._pool = _process_pool(self._workers)
      _OWNED_POOLS.add(self._pool)
    return self._pool

  def _solve_chunks(self, task, x: np.ndarray) -> List:
    bounds = np.linspace(0, len(x), min(len(x), CHUNKS_PER_WORKER *
                                        self._workers) + 1).astype(int)
    chunks = list(zip(bounds[:-1], bounds[1:]))
    pool = self._get_pool()
    futures = [pool.submit(task, self.fn, int(a), x[a:b]) for a, b in chunks]
    results = []
    try:
      for (a, b), future in zip(chunks, futures):
        try:
          results.extend(future.result())
        except BrokenProcessPool:
          raise
        except Exception as error:  # pylint: disable=broad-except
          if not getattr(error, "__notes__", None):  # E.g. a lost worker.
            error.add_note(f"(raised while the numpy solver solved examples "
                           f"{a} to {b - 1} of the batch)")
          raise
    except BrokenProcessPool as error:
      self.close()  # The next call starts a fresh pool.
      raise WorkerCrashError(
          self._crash_message(task, x, len(results))) from error
    finally:
      for future in futures:
        future.cancel()
    return results

  def _crash_message(self, task, x: np.ndarray, start: int) -> str:
    """Finds the example that kills a worker by solving the unfinished rows
    one at a time in a fresh single-worker pool, and says which it is."""
    culprit = None
    with _process_pool(1) as probe:
      for index in range(start, len(x)):
        try:
          probe.submit(task, self.fn, index, x[index:index + 1]).result()
        except BrokenProcessPool:
          culprit = index
          break
        except Exception:  # pylint: disable=broad-except
          continue  # An ordinary exception is not the crash we look for.
    where = (f"example {culprit} of the batch" if culprit is not None else
             f"one of examples {start} to {len(x) - 1} of the batch (solved "
             "again one at a time, none crashed)")
    return (f"A worker process of the numpy solver {self.__name__} died while "
            f"solving {where}: the solver crashed in native code, was killed "
            "or ran out of memory. The pool was restarted for the next call.")


def numpy_solver(fn: Callable[[np.ndarray], np.ndarray],
                 output_shape: Optional[Sequence[int]] = None,
                 output_dtype=None,
                 *,
                 batched: bool = False,
                 num_workers: Optional[int] = None,
                 executor: Union[str, concurrent.futures.Executor] = "threads",
                 ) -> NumpySolver:
  """Turns a numpy solver into a batched TensorFlow solver.

  Args:
    fn: the solver. With `batched=False` (default) it maps one example
      (`np.ndarray` of shape `x.shape[1:]`) to its solution. With
      `batched=True` it maps a whole `[N, ...]` array at once (and is given
      chunks of rows on the executor).
    output_shape: the shape of one solution; None means the input example's
      shape, `()` one scalar per example.
    output_dtype: the output dtype; None means the input's.
    batched: whether `fn` takes a whole batch.
    num_workers: the number of workers (default: the CPU count). For a given
      executor, its number of workers: the rows are cut into
      `4 · num_workers` chunks.
    executor: where the rows are solved.
      - `'threads'` (default): a thread pool; pays off when `fn` releases the
        GIL (numpy, scipy, C solvers).
      - `'processes'`: a pool of spawned worker processes, created on the
        first call and reused; pays off for pure-Python solvers. `fn` must be
        picklable: a module-level function, not a lambda or a closure (and
        a script that uses it needs an `if __name__ == '__main__':` guard).
      - any `concurrent.futures.Executor`, for example a Dask cluster's
        `dask.distributed.Client(...).get_executor()`: the solves of a step
        then run on the cluster. It is used as given, never shut down here.

  Returns:
    A `NumpySolver`, `solver(x)`: a TensorFlow function of a `[N, ...]`
    tensor, usable in eager mode, in `tf.function`, in `perturbed`,
    `FenchelYoungLoss` and `model.fit` (with `jit_compile=False`).
    `solver.close()` shuts its own pool down (also done at exit).

  Raises:
    ValueError: if `num_workers < 1`, an unknown executor, an `fn` that
      cannot be sent to worker processes, or when called under XLA.
    The solver's own exception, annotated with the failing example's index
    (in eager mode as is; in graphs TensorFlow re-raises it as a
    `tf.errors.OpError` carrying the same message and traceback).
    `WorkerCrashError` when a worker process dies, naming the example that
    killed it; the pool is restarted for the next call.

  Example:
    >>> def assignment(cost):  # One example: a square cost matrix.
    ...   rows, cols = scipy.optimize.linear_sum_assignment(-cost)
    ...   return np.eye(len(cost))[cols]
    >>> solver = numpy_solver(assignment)
    >>> soft = perturbed(solver, num_samples=100, sigma=0.1)
  """
  if num_workers is not None and (isinstance(num_workers, bool) or
                                  not isinstance(num_workers, int) or
                                  num_workers < 1):
    raise ValueError(f"num_workers must be an integer >= 1, got "
                     f"{num_workers!r}.")
  if isinstance(executor, str):
    if executor not in EXECUTORS:
      raise ValueError(f"Unknown executor={executor!r}: use one of "
                       f"{EXECUTORS} or a concurrent.futures.Executor.")
  elif not isinstance(executor, concurrent.futures.Executor):
    raise ValueError(
        "executor must be 'threads', 'processes' or a "
        f"concurrent.futures.Executor (e.g. a Dask client's "
        f".get_executor()), got {executor!r}.")
  if executor == "processes":
    try:
      pickle.dumps(fn)
    except (pickle.PicklingError, AttributeError, TypeError) as error:
      raise ValueError(
          f"executor='processes' sends the solver {fn!r} to worker processes, "
          f"but it cannot be pickled ({error}). Define it as a module-level "
          "function (not a lambda, a closure or a local function), or use "
          "executor='threads'.") from error
  return NumpySolver(fn, output_shape, output_dtype, batched, num_workers,
                     executor)
