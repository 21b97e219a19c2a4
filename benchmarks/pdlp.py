"""`LinearProgram(method='pdlp')` against HiGHS, and what each of its
ingredients brings.

1. Speed and accuracy: 1,024 random feasible bounded LPs (n = 40, 20
   inequalities, 10 equalities, boxes; costs vary per row) solved by PDLP
   under XLA in one batch, against HiGHS through `LinearProgram`'s host
   path (threads, one per core), timed in the same run: seconds per batch,
   the ratio, PDLP's iterations, its largest relative objective error and
   constraint violation against HiGHS's optimum.
2. Tolerance: the same for tolerances 1e-4, 1e-6, 1e-8.
3. Ingredients: PDLP's median and largest iterations to a 1e-6 tolerance on
   256 of the programs with each ingredient removed in turn
   (preconditioning, Halpern iterations, restarts, primal-weight updates, a
   step of 0.5/‖K̃‖ instead of 0.998/‖K̃‖).
4. PyEPO's 5×5 shortest path as a flow LP: PDLP against the exact grid
   solver, per instance, and the fraction of rounded solutions that are
   optimal.
5. Warm starts on that flow LP: iterations from each instance's solution
   for nearby costs against a cold start.
6. Warm starts from memory in training (its own section,
   `pdlp_warm_starts`): the costs SPO+ and the perturbed Fenchel–Young
   loss solve at each epoch of a training run (a linear model trained on
   the exact grid solver, its predictions kept per epoch) solved again in
   shuffled mini-batches through the flow LP, with and without
   `warm_starts`: iterations per solve and seconds per epoch.
"""

from __future__ import annotations

from collections.abc import Callable
import time

import keras
import numpy as np
import tensorflow as tf

import perturbations_tf as ptf
from perturbations_tf._src import pdlp
from perturbations_tf._src import pdlp_solver
from perturbations_tf._src.program import Program


def random_program(
  rng: np.random.Generator, n: int = 40, m_ub: int = 20, m_eq: int = 10
) -> dict:
  """Constraints feasible around an interior point of the unit box."""
  x0 = rng.uniform(0.2, 0.8, n)
  a_ub = rng.normal(size=(m_ub, n))
  b_ub = a_ub @ x0 + rng.uniform(0.1, 1.0, m_ub)
  a_eq = rng.normal(size=(m_eq, n))
  return dict(A_ub=a_ub, b_ub=b_ub, A_eq=a_eq, b_eq=a_eq @ x0, bounds=(0, 1))


def _solver(
  program: dict,
  tolerance: float,
  max_iterations: int,
  options: pdlp.Options | None = None,
  precondition: bool = True,
) -> Callable:
  """PDLP over the random program, a function of float64 costs to its
  `Solution`: the backend of `LinearProgram(method='pdlp')` (its compiled
  solver), with the method's ingredients exposed."""
  backend = pdlp_solver.Pdlp(
    Program.of(**program),
    tolerance=tolerance,
    max_iterations=max_iterations,
    options=options,
    precondition=precondition,
  )
  return backend.solve_with_info


def _median_seconds(fn, repeats: int = 3) -> float:
  fn()  # Compiles, starts workers.
  seconds = []
  for _ in range(repeats):
    start = time.perf_counter()
    fn()
    seconds.append(time.perf_counter() - start)
  return float(np.median(seconds))


def _errors(
  program: dict, costs: np.ndarray, x: np.ndarray, reference: np.ndarray
) -> tuple[float, float]:
  objective = np.sum(costs * x, 1)
  reference_objective = np.sum(costs * reference, 1)
  relative = np.abs(objective - reference_objective) / np.maximum(
    np.abs(reference_objective), 1.0
  )
  scale = np.abs(np.concatenate([program["b_ub"], program["b_eq"]])).max()
  violation = max(
    np.maximum(x @ program["A_ub"].T - program["b_ub"], 0).max(),
    np.abs(x @ program["A_eq"].T - program["b_eq"]).max(),
  )
  return float(relative.max()), float(violation / scale)


def speed_and_accuracy(quick: bool = False) -> dict:
  rng = np.random.default_rng(0)
  program = random_program(rng)
  count = 128 if quick else 1024
  costs = rng.normal(size=(count, 40))
  highs = ptf.solvers.LinearProgram(**program)
  reference = highs.solve(costs)
  highs_seconds = _median_seconds(lambda: highs.solve(costs))
  highs.close()
  rows, tolerance_rows = [], []
  for tolerance in (1e-4, 1e-6, 1e-8):
    solve = _solver(program, tolerance, 50_000)
    x, _, status, iterations, *_ = solve(tf.constant(costs))
    seconds = _median_seconds(lambda s=solve: s(tf.constant(costs))[0].numpy())
    objective_error, violation = _errors(program, costs, x.numpy(), reference)
    row = {
      "tolerance": f"{tolerance:g}",
      "instances": count,
      "HiGHS, threads (s)": highs_seconds,
      "PDLP, XLA (s)": seconds,
      "HiGHS / PDLP": highs_seconds / seconds,
      "converged": float(np.mean(status.numpy() == pdlp.CONVERGED)),
      "iterations (median)": float(np.median(iterations.numpy())),
      "iterations (max)": float(iterations.numpy().max()),
      "max rel. objective error": objective_error,
      "max rel. violation": violation,
    }
    tolerance_rows.append(row)
    if tolerance == 1e-6:
      rows.append(row)
  # The cost of one iteration (tolerance 0: none converges), for the whole
  # batch and for the small batch the slowest rows finish in.
  iteration_rows = []
  for size in (count, -(-count // pdlp._TAIL_FRACTION)):
    solve = _solver(program, 0.0, 1024)
    batch = tf.constant(costs[:size])
    solve(batch)
    seconds = _median_seconds(lambda s=solve, b=batch: s(b)[0].numpy())
    iteration_rows.append(
      {"batch": size, "ms per iteration (1,024 timed)": 1e3 * seconds / 1024}
    )
  return {
    f"PDLP under XLA vs HiGHS ({count} LPs, n = 40, 20 ≤ + 10 = rows, "
    "boxes)": rows,
    "PDLP: tolerance against accuracy and time": tolerance_rows,
    "PDLP: time of one iteration (the batch's rows at once)": iteration_rows,
  }


def ingredients(quick: bool = False) -> dict:
  rng = np.random.default_rng(1)
  program = random_program(rng)
  costs = tf.constant(rng.normal(size=(64 if quick else 256, 40)))
  variants = {
    "all (PDLP)": (True, pdlp.Options()),
    "no preconditioning": (False, pdlp.Options()),
    "no Halpern (plain PDHG)": (True, pdlp.Options(halpern=False)),
    "no restarts": (True, pdlp.Options(restarts=False)),
    "no primal-weight updates": (
      True,
      pdlp.Options(adaptive_primal_weight=False),
    ),
    "step 0.5/‖K‖": (True, pdlp.Options(step_fraction=0.5)),
  }
  rows = []
  for name, (precondition, options) in variants.items():
    solve = _solver(program, 1e-6, 20_000, options, precondition)
    _, _, status, iterations, *_ = solve(costs)
    rows.append(
      {
        "variant": name,
        "converged": float(np.mean(status.numpy() == pdlp.CONVERGED)),
        "iterations (median)": float(np.median(iterations.numpy())),
        "iterations (max)": float(iterations.numpy().max()),
      }
    )
  return {
    "PDLP's ingredients: iterations to a 1e-6 tolerance (at most 20,000)": rows
  }


def _flow_instances(count: int) -> tuple[np.ndarray, ptf.solvers.LinearProgram]:
  """PyEPO's 5×5 shortest-path costs (degree 6, noise 0.5) and the flow LP
  over that grid, through PDLP."""
  _, c = ptf.data.shortest_path_data(
    count, 5, (5, 5), deg=6, noise_width=0.5, seed=0
  )
  a_eq, b_eq = ptf.solvers.grid_flow_constraints((5, 5))
  flow = ptf.solvers.LinearProgram(
    A_eq=a_eq, b_eq=b_eq, bounds=(0, 1), method="pdlp"
  )
  return c, flow


def flow_shortest_path(quick: bool = False) -> dict:
  count = 200 if quick else 1000
  c, flow = _flow_instances(count)
  solve = tf.function(flow, jit_compile=True)
  exact = tf.function(
    lambda t: ptf.solvers.grid_arc_shortest_path(t, grid=(5, 5)),
    jit_compile=True,
  )
  costs = tf.constant(c)
  x = solve(costs).numpy()
  paths = exact(costs).numpy()
  optimal = np.isclose(
    np.sum(c * np.round(x), 1), np.sum(c * paths, 1), rtol=1e-5
  )
  flow_seconds = _median_seconds(lambda: solve(costs).numpy())
  exact_seconds = _median_seconds(lambda: exact(costs).numpy())
  return {
    f"PyEPO's 5×5 shortest path as a flow LP ({count} instances)": [
      {
        "solver": "PDLP (flow LP), XLA",
        "per instance (ms)": 1e3 * flow_seconds / count,
        "exact grid DP, XLA, per instance (ms)": 1e3 * exact_seconds / count,
        "PDLP / DP time": flow_seconds / exact_seconds,
        "rounded solutions optimal": float(optimal.mean()),
      }
    ]
  }


def warm_starts(quick: bool = False) -> dict:
  """Iterations from a warm start against a cold one, on the 5×5 flow LP:
  perturbed copies started from their unperturbed instance's solution (the
  M·B solves of a Fenchel–Young loss), and instances started from their
  solution for slightly different costs (the previous epoch's)."""
  count = 64 if quick else 256
  c, flow = _flow_instances(count)
  rng = np.random.default_rng(0)
  start = flow.solve_with_info(c)
  cases = {
    f"perturbed copies, σ = {sigma:g}": c + sigma * rng.normal(size=c.shape)
    for sigma in (0.1, 1.0)
  } | {
    f"costs × (1 + {drift:g}·Z)": c * (1 + drift * rng.normal(size=c.shape))
    for drift in (0.01, 0.05)
  }
  rows = []
  for name, costs in cases.items():
    cold = flow.solve_with_info(costs)
    warm = flow.solve_with_info(costs, initial=start)
    rows.append(
      {
        "costs solved": name,
        "cold: mean iterations": float(np.mean(cold.iterations)),
        "warm: mean iterations": float(np.mean(warm.iterations)),
        "cold: most": int(np.max(cold.iterations)),
        "warm: most": int(np.max(warm.iterations)),
        "warm converged": float(np.mean(warm.status == pdlp.CONVERGED)),
      }
    )
  return {
    f"PDLP warm starts on the 5×5 flow LP ({count} instances, started "
    "from each instance's solution for its unperturbed costs)": rows
  }


def _predictions_per_epoch(
  x: np.ndarray, c: np.ndarray, loss: keras.losses.Loss, epochs: int
) -> list[np.ndarray]:
  """The training set's predicted costs after each epoch of a linear
  model trained with `loss` (batches of 32, Adam 0.01)."""
  keras.utils.set_random_seed(0)
  model = keras.Sequential([keras.Input(x.shape[1:]), keras.layers.Dense(40)])
  model.compile(keras.optimizers.Adam(0.01), loss=loss, jit_compile=True)
  predictions = []
  for _ in range(epochs):
    model.fit(x, c, batch_size=32, epochs=1, verbose=0)
    predictions.append(model.predict(x, batch_size=1000, verbose=0))
  return predictions


def _replay(flow, costs_per_epoch, rng) -> tuple[float, float, float]:
  """Solves each epoch's costs in shuffled mini-batches: mean iterations
  per solve, median seconds per epoch, fraction converged."""
  solve = tf.function(flow.solve_with_info, jit_compile=True)
  iterations, seconds, converged = [], [], []
  for costs in costs_per_epoch:
    order = rng.permutation(len(costs))
    batches = np.array_split(costs[order], len(costs) // 32)
    start = time.perf_counter()
    for batch in batches:
      batch = batch.reshape(-1, costs.shape[-1])
      info = solve(tf.constant(batch))
      iterations.append(info.iterations.numpy())
      converged.append(info.status.numpy() == pdlp.CONVERGED)
    seconds.append(time.perf_counter() - start)
  return (
    float(np.mean(np.concatenate(iterations))),
    float(np.median(seconds[1:])),  # The first epoch compiles.
    float(np.mean(np.concatenate(converged))),
  )


def warm_starts_in_training(quick: bool = False) -> dict:
  count, epochs, m = (96, 3, 2) if quick else (1000, 20, 10)
  features, c = ptf.data.shortest_path_data(
    count, 5, (5, 5), deg=6, noise_width=0.5, seed=0
  )
  grid = {"name": "grid_arc_shortest_path", "kwargs": {"grid": (5, 5)}}
  z = np.random.default_rng(1).normal(size=(epochs, count, m, c.shape[1]))
  solved = {
    # SPO+ solves 2ĉ − c per instance; PFYL ĉ + Z for M draws of Z.
    "SPO+": [
      2.0 * p - c
      for p in _predictions_per_epoch(
        features, c, ptf.losses.SPOPlusLoss(grid), epochs
      )
    ],
    f"PFYL (M = {m})": [
      p[:, None, :] + z[e]
      for e, p in enumerate(
        _predictions_per_epoch(
          features,
          ptf.data.optimal_solutions(c, grid),
          ptf.losses.FenchelYoungLoss(grid, m, 1.0, seed=0),
          epochs,
        )
      )
    ],
  }
  a_eq, b_eq = ptf.solvers.grid_flow_constraints((5, 5))
  rows = []
  for loss, costs in solved.items():
    cold = None
    for memory in (0, count, count * m):
      if loss == "SPO+" and memory == count * m:
        continue
      flow = ptf.solvers.LinearProgram(
        A_eq=a_eq,
        b_eq=b_eq,
        bounds=(0, 1),
        method="pdlp",
        warm_starts=memory,
      )
      its, sec, conv = _replay(flow, costs, np.random.default_rng(2))
      cold = cold or (its, sec)
      rows.append(
        {
          "loss": loss,
          "warm_starts": memory,
          "iterations per solve": its,
          "s / epoch (median)": sec,
          "time / cold": sec / cold[1],
          "converged": conv,
        }
      )
  return {
    f"PDLP warm starts from memory, replaying {epochs} epochs of training "
    f"on the 5×5 flow LP ({count} instances, batches of 32)": rows
  }


def run(quick: bool = False) -> dict:
  return {
    **speed_and_accuracy(quick),
    **ingredients(quick),
    **flow_shortest_path(quick),
    **warm_starts(quick),
  }
