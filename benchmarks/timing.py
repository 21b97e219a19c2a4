"""Timing helpers: medians of repeated calls, in one process."""

from __future__ import annotations

from collections.abc import Callable
import time

import numpy as np
import tensorflow as tf

MODES = ("eager", "function", "xla")


def compile_mode(fn: Callable, mode: str) -> Callable:
  """`fn` as run in eager mode, in a tf.function, or XLA-compiled."""
  if mode == "eager":
    return fn
  return tf.function(fn, jit_compile=mode == "xla")


def median_seconds(
  fn: Callable, *args, repeats: int = 10, warmup: int = 2
) -> float:
  """Median wall time of `fn(*args)`, its outputs materialised."""
  for _ in range(warmup):
    tf.nest.map_structure(np.asarray, fn(*args))
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    tf.nest.map_structure(np.asarray, fn(*args))
    times.append(time.perf_counter() - start)
  return float(np.median(times))


def alternating_rounds(
  fns: dict[str, Callable], *args, rounds: int = 10, warmup: int = 2
) -> dict[str, np.ndarray]:
  """The wall times of several functions of the same arguments, one call of
  each per round, in turn: `{name: [rounds] seconds}`. A ratio is then read
  round by round (its median and spread), each from calls a few moments
  apart."""
  for fn in fns.values():
    for _ in range(warmup):
      tf.nest.map_structure(np.asarray, fn(*args))
  times: dict[str, list[float]] = {name: [] for name in fns}
  for _ in range(rounds):
    for name, fn in fns.items():
      start = time.perf_counter()
      tf.nest.map_structure(np.asarray, fn(*args))
      times[name].append(time.perf_counter() - start)
  return {name: np.array(t) for name, t in times.items()}


def ratio_spread(numerator: np.ndarray, denominator: np.ndarray) -> str:
  """A per-round ratio as `median (quartiles q1–q3)`."""
  q1, median, q3 = np.percentile(numerator / denominator, [25, 50, 75])
  return f"{median:.3g} ({q1:.3g}–{q3:.3g})"


def interleaved_medians(
  fns: dict[str, Callable], *args, repeats: int = 10, warmup: int = 2
) -> dict[str, float]:
  """Median wall times of several functions of the same arguments, timed in
  turn within each round, so that a slow spell of a shared machine falls on
  all of them alike: the ratios of the medians are what to read."""
  for fn in fns.values():
    for _ in range(warmup):
      tf.nest.map_structure(np.asarray, fn(*args))
  times = {name: [] for name in fns}
  for _ in range(repeats):
    for name, fn in fns.items():
      start = time.perf_counter()
      tf.nest.map_structure(np.asarray, fn(*args))
      times[name].append(time.perf_counter() - start)
  return {name: float(np.median(t)) for name, t in times.items()}
