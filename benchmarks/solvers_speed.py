"""TF-native shortest paths against a Python Dijkstra, the enumerated knapsack
against HiGHS; numpy_solver executors."""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import time

import numpy as np

from benchmarks import previous_shortest_path
from benchmarks import references
from benchmarks import timing
from experiments import dijkstra
import perturbations_tf as ptf
from perturbations_tf import solvers
from perturbations_tf._src import grid_paths


def _python_rate(costs) -> float:
  start = time.perf_counter()
  for c in costs:
    dijkstra.shortest_path(c)
  return len(costs) / (time.perf_counter() - start)


def _timed_solves(rows) -> float:
  """Solves every row with the Python Dijkstra (on a worker); the seconds
  it took there, transfers excluded."""
  start = time.perf_counter()
  for row in rows:
    dijkstra.path_mask(row)
  return time.perf_counter() - start


def process_ceiling(costs, rounds: int) -> tuple[str, float]:
  """The most two worker processes can gain on this machine: per round, one
  worker solves every row alone, then two solve them at once, each timed
  inside the worker (no executor, no transfer in the time); the speed-up
  is twice the time alone over the slower of the two together. Returns
  that speed-up's median and quartiles over the rounds, and one worker's
  rows per second alone."""
  spawn = multiprocessing.get_context("spawn")  # As the library's pools.
  with concurrent.futures.ProcessPoolExecutor(2, mp_context=spawn) as pool:
    for _ in range(2):  # Start both workers and warm them up.
      list(pool.map(_timed_solves, [costs[:8]] * 2))
    alone, together = [], []
    for _ in range(rounds):
      alone.append(pool.submit(_timed_solves, costs).result())
      together.append(max(pool.map(_timed_solves, [costs, costs])))
  speed_up = timing.ratio_spread(2 * np.array(alone), np.array(together))
  return speed_up, len(costs) / float(np.median(alone))


def _numpy_heavy(x):
  """A per-example solver that spends its time in numpy (GIL released)."""
  big = np.tile(x.ravel(), 2000)
  return np.argsort(np.argsort(big))[: x.size].reshape(x.shape).astype(x.dtype)


def run(quick: bool = False) -> dict:
  rng = np.random.default_rng(0)
  repeats = 3 if quick else 10
  grids = (12, 30) if quick else (12, 18, 24, 30)
  batch = 640
  rows = []
  for k in grids:
    costs = rng.uniform(0.1, 10.0, size=(batch, k, k)).astype(np.float32)
    python = _python_rate(costs[: 64 if quick else 256].astype(np.float64))
    row = {
      "grid": f"{k}x{k}",
      "instances": batch,
      "python Dijkstra (inst/s)": python,
    }
    for mode in ("function", "xla"):
      seconds = timing.median_seconds(
        timing.compile_mode(solvers.shortest_path, mode), costs, repeats=repeats
      )
      row[f"TF {mode} (inst/s)"] = batch / seconds
      row[f"speed-up {mode}"] = batch / seconds / python
    rows.append(row)

  return {
    "Shortest paths: TF-native vs pure-Python Dijkstra (B = 640)": rows,
    **loop_trips(quick),
    **grid_arcs(quick),
    **executors(quick),
  }


def loop_trips(quick: bool = False) -> dict:
  """`solvers.shortest_path`'s two loop schedules against its previous
  implementation: the sequential loop trips of a solve (each a kernel
  launch and a host check on a GPU) and the CPU time, interleaved in one
  run. 'throughput' is the CPU default, 'latency' the GPU one."""
  rng = np.random.default_rng(0)
  rows = []
  for k in (12, 30):
    costs = rng.uniform(0.1, 10.0, size=(640, k, k)).astype(np.float32)
    for mode in ("function", "xla"):
      runs = {
        "previous": timing.compile_mode(
          previous_shortest_path.shortest_path_and_trips, mode
        )
      }
      for schedule in grid_paths.SCHEDULES:
        runs[schedule] = timing.compile_mode(
          lambda c, s=schedule: grid_paths._shortest_path_and_trips(c, 8, s),
          mode,
        )
      outputs = {name: run(costs) for name, run in runs.items()}
      for name, (mask, _) in outputs.items():
        if not np.array_equal(mask, outputs["previous"][0]):
          raise AssertionError(f"{name} paths differ ({k}x{k}, {mode}).")
      seconds = timing.interleaved_medians(
        runs, costs, repeats=3 if quick else 15
      )
      row = {"grid": f"{k}x{k}", "mode": mode}
      for name in runs:
        row[f"trips {name}"] = int(outputs[name][1])
      row["previous (ms)"] = 1e3 * seconds["previous"]
      for name in grid_paths.SCHEDULES:
        row[f"{name} / previous"] = seconds[name] / seconds["previous"]
      rows.append(row)
  return {
    "shortest_path: sequential loop trips per solve and CPU time of "
    "its schedules, against the previous implementation (B = 640, "
    "8-connected)": rows
  }


def grid_arcs(quick: bool = False) -> dict:
  """`solvers.grid_arc_shortest_path` on PyEPO's shortest-path data against
  what a user would otherwise call: `scipy.sparse.csgraph.dijkstra` once
  per instance. Every path is checked equal to scipy's."""
  rows = []
  for k in (5,) if quick else (5, 10, 20):
    grid = (k, k)
    _, costs = ptf.data.shortest_path_data(
      1000, 5, grid, deg=6, noise_width=0.5, seed=0
    )
    start = time.perf_counter()
    reference = np.stack(
      [references.scipy_shortest_path(c, grid) for c in costs]
    )
    scipy_seconds = time.perf_counter() - start
    row = {
      "grid": f"{k}x{k} nodes",
      "instances": len(costs),
      "scipy dijkstra, per instance (ms)": 1e3 * scipy_seconds / len(costs),
    }
    for mode in ("function", "xla"):
      solve = timing.compile_mode(
        lambda c, grid=grid: solvers.grid_arc_shortest_path(c, grid), mode
      )
      if not np.array_equal(solve(costs).numpy(), reference):
        raise AssertionError(
          f"grid_arc_shortest_path differs from scipy on "
          f"the {k}x{k} grid ({mode})."
        )
      seconds = timing.median_seconds(solve, costs, repeats=3 if quick else 10)
      row[f"TF {mode}, per instance (ms)"] = 1e3 * seconds / len(costs)
      row[f"speed-up {mode}"] = scipy_seconds / seconds
    rows.append(row)
  return {
    "PyEPO's grid shortest path: TF-native batched vs scipy per "
    "instance (1,000 instances)": rows
  }


def knapsacks(quick: bool = False) -> dict:
  """`ptf.solvers.Knapsack` (the maximal packings enumerated once, a batch
  solved by one matrix product) on PyEPO's knapsack against HiGHS, one MILP per
  instance through `LinearProgram` in 2 worker processes. Values: PyEPO's
  (degree 6, noise 0.5), and SPO+'s mixed-sign `2ĉ − c`; every objective
  is checked equal to HiGHS's."""
  rows = []
  count = 200 if quick else 1000
  weights, _, c = ptf.data.knapsack_data(
    count, 5, 32, 2, deg=6, noise_width=0.5, seed=0
  )
  capacity = np.full(len(weights), 20.0)
  rng = np.random.default_rng(0)
  start = time.perf_counter()
  knapsack = ptf.solvers.Knapsack(weights, capacity)
  enumeration = time.perf_counter() - start
  highs = ptf.solvers.LinearProgram(
    A_ub=weights,
    b_ub=capacity,
    bounds=(0, 1),
    integrality=np.ones(weights.shape[1]),
    maximize=True,
    executor="processes",
    num_workers=2,
  )
  for name, values in (
    ("PyEPO's values", c),
    ("2ĉ − c (SPO+)", 2 * (c + rng.normal(0, 2, c.shape)) - c),
  ):
    values = values.astype(np.float32)
    highs.solve(values[:8])  # Starts the workers.
    start = time.perf_counter()
    reference = highs.solve(values)
    highs_seconds = time.perf_counter() - start
    row = {
      "values": name,
      "instances": count,
      "maximal packings": len(knapsack.packings),
      "enumeration (s, once)": enumeration,
      "HiGHS, per instance (ms)": 1e3 * highs_seconds / count,
    }
    for mode in ("function", "xla"):
      solve = timing.compile_mode(knapsack, mode)
      gap = np.abs(np.sum(values * (solve(values).numpy() - reference), 1))
      if np.any(gap > 1e-4 * (1 + np.abs(np.sum(values * reference, 1)))):
        raise AssertionError(
          f"Knapsack's objective differs from HiGHS's ({name}, {mode})."
        )
      seconds = timing.median_seconds(solve, values, repeats=3 if quick else 10)
      row[f"TF {mode}, per instance (ms)"] = 1e3 * seconds / count
      row[f"speed-up {mode}"] = highs_seconds / seconds
    rows.append(row)
  highs.close()
  return {
    "PyEPO's knapsack (2 × 32 items, capacity 20): enumerated "
    f"packings vs HiGHS per instance ({count:,} instances)": rows
  }


def _perturbed_maps(rng, count: int, perturbations: int, k: int = 12):
  """`count` maps of positive costs, each perturbed `perturbations` times
  multiplicatively: the M·B inputs a training step hands the solver."""
  base = rng.uniform(0.1, 10.0, size=(count, 1, k, k))
  noise = rng.normal(size=(count, perturbations, k, k))
  return (
    (base * np.exp(0.3 * noise - 0.045)).reshape(-1, k, k).astype(np.float32)
  )


def executors(quick: bool = False) -> dict:
  """`numpy_solver` on threads, processes and a 2-worker Dask cluster, in
  alternating rounds: each speed-up is the median of its per-round ratios,
  with their quartiles."""
  rng = np.random.default_rng(0)
  rounds = 5 if quick else 30
  costs = _perturbed_maps(rng, 16 if quick else 64, 10)
  settings = {  # name: (executor, workers)
    "threads, 1": ("threads", 1),
    "threads, 2": ("threads", 2),
    "processes, 1": ("processes", 1),
    "processes, 2": ("processes", 2),
  }
  from dask import distributed

  with (
    distributed.LocalCluster(
      n_workers=2,
      threads_per_worker=1,
      host="127.0.0.1",
      dashboard_address=None,
      processes=True,
    ) as cluster,
    distributed.Client(cluster) as client,
  ):
    settings["Dask LocalCluster (2 processes), 2"] = (client.get_executor(), 2)
    made = {
      name: (
        ptf.solvers.numpy_solver(
          dijkstra.path_mask, num_workers=workers, executor=executor
        ),
        ptf.solvers.numpy_solver(
          np.negative, num_workers=workers, executor=executor
        ),
      )
      for name, (executor, workers) in settings.items()
    }
    times = timing.alternating_rounds(
      {name: pair[0] for name, pair in made.items()}, costs, rounds=rounds
    )
    trivial = timing.alternating_rounds(
      {name: pair[1] for name, pair in made.items()},
      costs[:8],
      rounds=3 * rounds,
    )
    for pair in made.values():
      for solver in pair:
        solver.close()
  ceiling, rate_alone = process_ceiling(costs, rounds)
  rows = []
  for name in settings:
    executor, workers = name.rsplit(", ", 1)
    rows.append(
      {
        "solver": "python Dijkstra",
        "executor": executor,
        "workers": int(workers),
        "inst/s": len(costs) / float(np.median(times[name])),
        "speed-up vs 1 thread": timing.ratio_spread(
          times["threads, 1"], times[name]
        ),
        "speed-up vs 1 process": timing.ratio_spread(
          times["processes, 1"], times[name]
        ),
        "trivial solver, ms per call (8 rows)": 1e3
        * float(np.median(trivial[name])),
      }
    )

  threads = []
  repeats = 3 if quick else 10
  heavy = rng.uniform(0.1, 10.0, size=(64, 12, 12))
  base = None
  for workers in (1, 2, 4):
    seconds = timing.median_seconds(
      ptf.solvers.numpy_solver(_numpy_heavy, num_workers=workers),
      heavy,
      repeats=repeats,
    )
    base = base or seconds
    threads.append(
      {
        "solver": "numpy-heavy (releases the GIL)",
        "executor": "threads",
        "workers": workers,
        "inst/s": len(heavy) / seconds,
        "speed-up vs 1 thread": base / seconds,
      }
    )
  machine = [
    {
      "solver": "python Dijkstra",
      "processes": 2,
      "inst/s, one alone": rate_alone,
      "speed-up vs 1 process": ceiling,
    }
  ]
  return {
    f"numpy_solver executors: {len(costs)} perturbed 12x12 maps": rows,
    "The machine's ceiling for two Python processes: each solves the "
    f"{len(costs)} maps alone, then both at once (timed inside the "
    "workers: no executor, no transfer)": machine,
    "numpy_solver threads: a solver that releases the GIL (64 "
    "instances)": threads,
  }
