"""Solving the rows of a batch on an executor: threads, worker processes or a
cluster, and saying why when a worker process dies.

`solve_rows` cuts the rows into chunks, solves them on a
`concurrent.futures.Executor` and returns the solutions in order. Pools made
here are spawned (forking a process that runs TensorFlow can hang), tied to
the life of this process and shut down at exit.
"""

from __future__ import annotations

import atexit
from collections.abc import Callable
import concurrent.futures
from concurrent.futures.process import BrokenProcessPool
import multiprocessing
import os
import sys
import threading
import time
import weakref

import numpy as np

# Chunks per worker: enough to balance uneven solve times, few enough to
# amortise the transfer of each chunk to a process or a cluster.
CHUNKS_PER_WORKER = 4

_OWNED_POOLS: weakref.WeakSet[concurrent.futures.Executor] = weakref.WeakSet()


class WorkerCrashError(RuntimeError):
  """A worker process died (killed, out of memory, a crash in native code,
  or at start-up: a script without an `if __name__ == '__main__':` guard)."""


@atexit.register
def _shut_down_pools() -> None:
  for pool in list(_OWNED_POOLS):
    pool.shutdown(wait=True, cancel_futures=True)


def _exit_with_parent(parent: int) -> None:
  """Runs in each worker process: ends it once its parent is gone (killed,
  crashed), instead of leaving an orphan that solves on."""

  def watch() -> None:
    while os.getppid() == parent:
      time.sleep(1.0)
    os._exit(1)

  threading.Thread(target=watch, daemon=True).start()


def process_pool(workers: int) -> concurrent.futures.ProcessPoolExecutor:
  """A pool of spawned worker processes, ended with this process."""
  return concurrent.futures.ProcessPoolExecutor(
    workers,
    mp_context=multiprocessing.get_context("spawn"),
    initializer=_exit_with_parent,
    initargs=(os.getpid(),),
  )


def thread_pool(workers: int) -> concurrent.futures.ThreadPoolExecutor:
  return concurrent.futures.ThreadPoolExecutor(workers)


def own(pool: concurrent.futures.Executor) -> concurrent.futures.Executor:
  """Registers a pool made here, to be shut down at exit."""
  _OWNED_POOLS.add(pool)
  return pool


def release(pool: concurrent.futures.Executor) -> None:
  """Shuts down a pool made here."""
  pool.shutdown(wait=True, cancel_futures=True)
  _OWNED_POOLS.discard(pool)


def solve_each(solver: Callable, start: int, rows: np.ndarray) -> list:
  """Solves consecutive examples `start, start + 1, ...` (on a worker).

  The solver's own exception is re-raised with a note naming the example.
  """
  results = []
  for offset, row in enumerate(rows):
    try:
      results.append(np.asarray(solver(row)))
    except Exception as error:
      error.add_note(
        f"(raised by the numpy solver on example {start + offset} of the batch)"
      )
      raise
  return results


def solve_whole(solver: Callable, start: int, rows: np.ndarray) -> list:
  """Solves a chunk with a batched solver, annotating its exception likewise."""
  try:
    return list(np.asarray(solver(rows)))
  except Exception as error:
    error.add_note(
      f"(raised by the numpy solver on examples {start} to "
      f"{start + len(rows) - 1} of the batch)"
    )
    raise


def solve_rows(
  task: Callable,
  solver: Callable,
  x: np.ndarray,
  pool: concurrent.futures.Executor,
  workers: int,
  name: str,
) -> list:
  """Solves the rows of `x` in chunks on `pool`; the solutions in order.

  Args:
    task: `solve_each` or `solve_whole`.
    solver: the numpy solver (picklable for processes).
    x: the rows.
    pool: the executor.
    workers: its number of workers (the rows are cut into
      `CHUNKS_PER_WORKER · workers` chunks).
    name: the solver's name, for messages.

  Raises:
    WorkerCrashError: when a worker process dies, naming the example that
      killed it, or saying that workers die at start-up.
    The solver's own exception, with a note naming the examples.
  """
  bounds = np.linspace(
    0, len(x), min(len(x), CHUNKS_PER_WORKER * workers) + 1
  ).astype(int)
  chunks = list(zip(bounds[:-1], bounds[1:]))
  futures = [pool.submit(task, solver, int(a), x[a:b]) for a, b in chunks]
  results = []
  try:
    for (a, b), future in zip(chunks, futures):
      try:
        results.extend(future.result())
      except BrokenProcessPool:
        raise
      except Exception as error:
        if not getattr(error, "__notes__", None):  # E.g. a lost worker.
          error.add_note(
            f"(raised while the numpy solver solved examples "
            f"{a} to {b - 1} of the batch)"
          )
        raise
  except BrokenProcessPool as error:
    raise WorkerCrashError(
      crash_message(task, solver, x, len(results), name)
    ) from error
  finally:
    for future in futures:
      future.cancel()
  return results


def _alive() -> bool:
  """A task that only needs a worker to start."""
  return True


def crash_message(
  task: Callable, solver: Callable, x: np.ndarray, start: int, name: str
) -> str:
  """Says why a worker died: at start-up, or on which example (found by
  solving the unfinished rows one at a time in a fresh one-worker pool)."""
  with process_pool(1) as probe:
    try:
      probe.submit(_alive).result()
    except BrokenProcessPool:
      return _start_up_message(name)
    culprit = None
    for index in range(start, len(x)):
      try:
        probe.submit(task, solver, index, x[index : index + 1]).result()
      except BrokenProcessPool:
        culprit = index
        break
      except Exception:
        continue  # An ordinary exception is not the crash we look for.
  where = (
    f"example {culprit} of the batch"
    if culprit is not None
    else f"one of examples {start} to {len(x) - 1} of the batch (solved "
    "again one at a time, none crashed)"
  )
  return (
    f"A worker process of the numpy solver {name} died while solving "
    f"{where}: the solver crashed in native code, was killed or ran "
    "out of memory. The pool was restarted for the next call."
  )


def _start_up_message(name: str) -> str:
  main = getattr(sys.modules.get("__main__"), "__file__", None)
  script = f" ({main})" if main else ""
  return (
    f"The worker processes of the numpy solver {name} die at start-up, "
    "before solving anything. A spawned worker first imports the script "
    f"that started it{script}; a script whose top-level code creates the "
    'pool again (no `if __name__ == "__main__":` guard around it) makes '
    "every worker fail there. Put the script's work under that guard, and "
    "the solver in a module-level function."
  )
