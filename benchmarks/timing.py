"""Timing helpers: medians of repeated calls, in one process."""

from __future__ import annotations

import time
from typing import Callable

import numpy as np
import tensorflow as tf

MODES = ("eager", "function", "xla")


def compile_mode(fn: Callable, mode: str) -> Callable:
  """`fn` as run in eager mode, in a tf.function, or XLA-compiled."""
  if mode == "eager":
    return fn
  return tf.function(fn, jit_compile=mode == "xla")


def median_seconds(fn: Callable, *args, repeats: int = 10,
                   warmup: int = 2) -> float:
  """Median wall time of `fn(*args)`, its outputs materialised."""
  for _ in range(warmup):
    tf.nest.map_structure(np.asarray, fn(*args))
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    tf.nest.map_structure(np.asarray, fn(*args))
    times.append(time.perf_counter() - start)
  return float(np.median(times))
