"""TF-native shortest paths against a Python Dijkstra; numpy_solver threads."""

from __future__ import annotations

import time

import numpy as np
import tensorflow as tf

import perturbations_tf as ptf
from perturbations_tf import solvers
from benchmarks import timing
from experiments import dijkstra


def _python_rate(costs) -> float:
  start = time.perf_counter()
  for c in costs:
    dijkstra.shortest_path(c)
  return len(costs) / (time.perf_counter() - start)


def _numpy_heavy(x):
  """A per-example solver that spends its time in numpy (GIL released)."""
  big = np.tile(x.ravel(), 2000)
  return np.argsort(np.argsort(big))[:x.size].reshape(x.shape).astype(x.dtype)


def run(quick: bool = False) -> dict:
  rng = np.random.default_rng(0)
  repeats = 3 if quick else 10
  grids = (12, 30) if quick else (12, 18, 24, 30)
  batch = 640
  rows = []
  for k in grids:
    costs = rng.uniform(0.1, 10.0, size=(batch, k, k)).astype(np.float32)
    python = _python_rate(costs[:64 if quick else 256].astype(np.float64))
    row = {"grid": f"{k}x{k}", "instances": batch,
           "python Dijkstra (inst/s)": python}
    for mode in ("function", "xla"):
      seconds = timing.median_seconds(
          timing.compile_mode(solvers.shortest_path, mode), costs,
          repeats=repeats)
      row[f"TF {mode} (inst/s)"] = batch / seconds
      row[f"speed-up {mode}"] = batch / seconds / python
    rows.append(row)

  threads = []
  costs = rng.uniform(0.1, 10.0, size=(64, 12, 12))
  for name, fn in (("python Dijkstra (GIL-bound)",
                    lambda c: dijkstra.shortest_path(c)[0]),
                   ("numpy-heavy solver", _numpy_heavy)):
    base = None
    for workers in (1, 2, 4):
      solver = ptf.numpy_solver(fn, num_workers=workers)
      seconds = timing.median_seconds(tf.function(solver),
                                      tf.constant(costs), repeats=repeats)
      base = base or seconds
      threads.append({"solver": name, "workers": workers,
                      "inst/s": len(costs) / seconds,
                      "speed-up vs 1 worker": base / seconds})
  return {"Shortest paths: TF-native vs pure-Python Dijkstra (B = 640)": rows,
          "numpy_solver: scaling with worker threads (64 instances)": threads}
