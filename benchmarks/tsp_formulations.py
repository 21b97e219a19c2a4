"""Exact TSP formulations through the same HiGHS (scipy's `milp`): the
Dantzig–Fulkerson–Johnson one with subtour constraints added as violated
(`ptf.solvers.TSP`'s), against Miller–Tucker–Zemlin's orders and Gavish–Graves'
flows (PyEPO's two open models), on PyEPO's instances; and
`ptf.solvers.TSP` on its thread pool."""

from __future__ import annotations

import time

import numpy as np

import perturbations_tf as ptf
from perturbations_tf._src import highs
from perturbations_tf._src import tsp


def _directed(n: int):
  """Both arcs of every edge, edges first: `[2E, 2]`, and the incidences
  `[n, 2E]` of the arcs leaving and entering each node."""
  ends = np.array(tsp.tsp_edges(n))
  arcs = np.concatenate([ends, ends[:, ::-1]])
  leaving = np.zeros((n, len(arcs)))
  entering = np.zeros((n, len(arcs)))
  leaving[arcs[:, 0], np.arange(len(arcs))] = 1
  entering[arcs[:, 1], np.arange(len(arcs))] = 1
  return arcs, leaving, entering


def _solve(costs, extra_columns, rows, lower, upper, integral, bounds):
  """HiGHS on `costs` of both arcs of each edge plus `extra_columns` free
  ones; the edges' 0/1 vector."""
  from scipy import optimize

  e = len(costs)
  c = np.concatenate([costs, costs, np.zeros(extra_columns)])
  result = optimize.milp(
    c,
    integrality=integral,
    bounds=optimize.Bounds(*bounds),
    constraints=highs.sparse_constraint(rows, lower, upper),
  )
  return np.round(result.x[:e] + result.x[e : 2 * e])


def mtz(costs: np.ndarray, n: int) -> np.ndarray:
  """Miller–Tucker–Zemlin: an order `u` with `u_j ≥ u_i + 1 − n(1 − x_ij)`
  for the arcs between nodes other than 0."""
  arcs, leaving, entering = _directed(n)
  a = len(arcs)
  order = []
  for k, (i, j) in enumerate(arcs):
    if i and j:
      row = np.zeros(a + n)
      row[a + j], row[a + i], row[k] = 1, -1, -n
      order.append(row)
  pad = np.zeros((n, n))
  rows = np.concatenate(
    [np.hstack([leaving, pad]), np.hstack([entering, pad]), order]
  )
  ones = np.ones(2 * n)
  return _solve(
    costs,
    n,
    rows,
    np.concatenate([ones, np.full(len(order), 1.0 - n)]),
    np.concatenate([ones, np.full(len(order), np.inf)]),
    np.concatenate([np.ones(a), np.zeros(n)]),
    (0, np.concatenate([np.ones(a), np.full(n, n)])),
  )


def gavish_graves(costs: np.ndarray, n: int) -> np.ndarray:
  """Gavish–Graves: a flow `y` from node 0 that every other node consumes
  one unit of, carried only on chosen arcs (`y_ij ≤ (n − 1) x_ij`)."""
  arcs, leaving, entering = _directed(n)
  a = len(arcs)
  flow = (leaving - entering)[1:]  # Out minus in: 1 at every node but 0.
  capacity = np.hstack([-(n - 1.0) * np.eye(a), np.eye(a)])
  capacity[arcs[:, 0] == 0, :a] = 0  # Arcs out of 0 carry any flow.
  zeros = np.zeros((n, a))
  rows = np.concatenate(
    [
      np.hstack([leaving, zeros]),
      np.hstack([entering, zeros]),
      np.hstack([np.zeros((n - 1, a)), flow]),
      capacity,
    ]
  )
  ones = np.ones(2 * n + n - 1)
  return _solve(
    costs,
    a,
    rows,
    np.concatenate([ones, np.full(a, -np.inf)]),
    np.concatenate([ones, np.zeros(a)]),
    np.concatenate([np.ones(a), np.zeros(a)]),
    (0, np.concatenate([np.ones(a), np.full(a, n - 1.0)])),
  )


def _dfj(n: int):
  graph = tsp._Graph(n, None)
  return lambda costs, n: tsp.solve_tour(costs, graph)


def run(quick: bool = False) -> dict:
  n, count = (10, 4) if quick else (20, 20)
  _, c = ptf.data.tsp_data(count, 5, n, deg=6, noise_width=0.5, seed=135)
  c = c.astype(np.float64)
  rows, optimum = [], None
  for name, solve in (
    ("DFJ, subtour constraints as violated (ptf.solvers.TSP)", _dfj(n)),
    ("Miller-Tucker-Zemlin", mtz),
    ("Gavish-Graves", gavish_graves),
  ):
    solve(c[0], n)  # Warm: imports, first calls.
    start = time.perf_counter()
    tours = np.stack([solve(costs, n) for costs in c])
    seconds = (time.perf_counter() - start) / count
    objective = np.sum(c * tours, axis=1)
    optimum = objective if optimum is None else optimum
    rows.append(
      {
        "formulation": name,
        "ms per tour (1 thread)": 1e3 * seconds,
        "time / DFJ's": 1e3 * seconds / rows[0]["ms per tour (1 thread)"]
        if rows
        else 1.0,
        "largest objective gap to DFJ": float(
          np.max(np.abs(objective - optimum))
        ),
      }
    )
  solver = ptf.solvers.TSP(n)
  solver.solve(c[:2])  # Starts the pool.
  start = time.perf_counter()
  solver.solve(c)
  threads = (time.perf_counter() - start) / count
  solver.close()
  return {
    f"Exact TSP through HiGHS, PyEPO's {n}-node instances (degree 6, noise "
    f"0.5), {count} tours": rows,
    f"ptf.solvers.TSP on its thread pool ({n} nodes)": [
      {
        "ms per tour (threads)": 1e3 * threads,
        "speed-up over 1 thread": rows[0]["ms per tour (1 thread)"]
        / (1e3 * threads),
      }
    ],
  }
