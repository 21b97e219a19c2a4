r"""Ours against PyEPO itself: the same data, initial weights, optimiser,
epochs and batches, on PyEPO's shortest path, travelling salesperson or
portfolio (run by hand, not in CI).

  python -m venv /tmp/pyepo
  /tmp/pyepo/bin/pip install torch pyepo==2.2.7 ortools clarabel scipy
  python -m benchmarks.pyepo_side_by_side --pyepo_python=/tmp/pyepo/bin/python
  python -m benchmarks.pyepo_side_by_side --pyepo_python=/tmp/pyepo/bin/python \
      --problem=tsp --methods=two_stage,spo_plus,pfyl --num_samples=1

The data are PyEPO's (its generator's numbers: `ptf.data`),
degree 6, noise half-width 0.5, 1,000 training and 1,000 test instances;
the model a linear map 5 → 40 whose initial weights, per seed, both sides
load; Adam (ε = 1e-8 on both) at 1e-2; 20 epochs of the same batches in
the same order. PyEPO trains through its documented loops with its OR-Tools
GLOP shortest-path model in one process on one thread
(`benchmarks/pyepo_reference.py`, run by `--pyepo_python`); ours through
the TF-native grid solver in a `tf.function` (XLA where the method
allows), on one thread too (`--threads`). Methods with noise (DPO, PFYL,
I-MLE, AIMLE) or a pool (NCE, CMAP, the learning-to-rank losses) draw
their own random numbers on each side; `--draws=3` runs each of them
three times per seed with other draws (PyEPO seeds its noise, 135 + the
draw, but not its pool refreshes, which differ at every run). CaVE's
binding constraints, which PyEPO extracts through Gurobi only, are
computed here and given to PyEPO's loss;
PyEPO's CaVE+ (Clarabel stopped after 3 iterations) faces ours with
`interior=0.003`; `--cave=exact` compares the plain CaVE instead (Clarabel
run to convergence against ours with `interior=0`). PyEPO's regularised
Frank–Wolfe calls its solver per example and iteration (minutes per
epoch): compare it with `--epochs=1`.
Both sides' test predictions are scored by the same `NormalizedRegret`.
Writes `pyepo_side_by_side[_PROBLEM].{json,md}` (or `--output_name`) to
--output_dir.

`--problem=tsp`: PyEPO's 20-node TSP (degree 6, noise 0.5); PyEPO 2.2.7
has no OR-Tools TSP and its Pyomo models take 0.6–1 s a tour through
HiGHS, so its side solves through an `optOrtCpModel` of ours: OR-Tools
CP-SAT's circuit constraint, exact, costs scaled to integers as PyEPO's
CP-SAT models do. Ours: `ptf.solvers.TSP` on two threads. `--problem=portfolio`:
PyEPO's 50 assets (degree 6, noise level 1, γ = 2.25); its Pyomo model
needs a solver of quadratic constraints (Ipopt, Gurobi) that pip does not
provide, so its side solves the same cone program through Clarabel in an
`optModel` of ours, ours through `ptf.solvers.Portfolio`. Least squares
(`two_stage`) is the same MSE loop on both sides.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time

from absl import app
from absl import flags
import keras
import numpy as np
import tensorflow as tf

from benchmarks import run as run_lib
from experiments import predict_then_optimize as pto
from experiments import provenance
from experiments.predict_then_optimize import NOT_JIT
from experiments.predict_then_optimize import POOL_LOSSES
from experiments.predict_then_optimize import pool_capacity
import perturbations_tf as ptf
from perturbations_tf._src import cave

GRID = (5, 5)
SOLVER = {"name": "grid_arc_shortest_path", "kwargs": {"grid": list(GRID)}}
# Shortest path: every method of the binary that PyEPO has, but least
# squares.
METHODS = tuple(
  m for m in pto.METHODS if m not in ("two_stage", "ssvm", "imitation")
)
PROBLEMS = ("shortest_path", "tsp", "portfolio")
NUM_NODES, NUM_ASSETS = 20, 50  # PyEPO's TSP and portfolio sizes.
A_EQ, B_EQ = ptf.solvers.grid_flow_constraints(GRID)
# CaVE's cone comes from the path's flow LP (the grid solver has none).
FLOW_LP = ptf.solvers.LinearProgram(A_eq=A_EQ, b_eq=B_EQ, bounds=(0, 1))
PG_H = 0.1  # PyEPO's default width.
# The methods that draw random numbers (noise, or the pool's refreshes):
# `--draws` repeats each of their runs with other draws.
RANDOM_METHODS = (
  "dpo",
  "pfyl",
  "imle",
  "aimle",
  *POOL_LOSSES,
)
# `--cave`: PyEPO's Clarabel iterations and our `interior` for its CaVE+
# (ours: the central path's point closest to it) and the exact projection.
CAVE = {"plus": (3, 0.003), "exact": (100, 0.0)}
CAVE_TITLES = {
  "plus": "CaVE+ (PyEPO's Clarabel stopped after 3 iterations, ours "
  "interior=0.003)",
  "exact": "CaVE's exact projection (PyEPO's Clarabel run to convergence, "
  "ours interior=0)",
}


def tight_constraints(w: np.ndarray) -> np.ndarray:
  """The normals of the flow LP's constraints binding at each w, `[N, R,
  n]` with zero rows where a constraint does not bind: CaVE's input as
  PyEPO takes it (from Gurobi there)."""
  p = FLOW_LP.constraints()
  mask = cave.binding_mask(p, w).numpy()
  return (mask[..., None] * cave.normals(p)[None]).astype(np.float32)


_SOLVERS: dict[str, object] = {}  # One problem per process: built once.


def solver_of(data: dict):
  """Our solver of the data's problem."""
  problem = str(data["problem"])
  if problem not in _SOLVERS:
    if problem == "tsp":
      _SOLVERS[problem] = ptf.solvers.TSP(
        int(data["num_nodes"]), executor="threads"
      )
    elif problem == "portfolio":
      _SOLVERS[problem] = ptf.solvers.Portfolio(
        data["covariance"], float(data["gamma"])
      )
    else:
      _SOLVERS[problem] = SOLVER
  return _SOLVERS[problem]


def make_data(
  seeds,
  epochs: int,
  batch_size: int,
  num_train: int = 1000,
  num_test: int = 1000,
  problem: str = "shortest_path",
) -> dict:
  """PyEPO's data (seed 135), and per seed the initial weights and the
  batch order of every epoch."""
  total = num_train + num_test
  data = {"problem": np.array(problem)}
  if problem == "tsp":
    x, c = ptf.data.tsp_data(
      total, 5, NUM_NODES, deg=6, noise_width=0.5, seed=135
    )
    data["num_nodes"] = np.array(NUM_NODES)
  elif problem == "portfolio":
    cov, x, c = ptf.data.portfolio_data(
      total, 5, NUM_ASSETS, deg=6, noise_level=1.0, seed=135
    )
    data.update(covariance=cov, gamma=np.array(2.25))
  else:
    x, c = ptf.data.shortest_path_data(
      total, 5, GRID, deg=6, noise_width=0.5, seed=135
    )
    data["grid"] = np.array(GRID)
  x = x.astype(np.float32)
  w = np.asarray(ptf.data.optimal_solutions(c, solver_of(data)))
  data.update(
    x_train=x[:num_train],
    c_train=c[:num_train],
    w_train=w[:num_train],
    x_test=x[num_train:],
    c_test=c[num_train:],
    w_test=w[num_train:],
    batches_per_epoch=np.array(-(-num_train // batch_size)),
  )
  if problem == "shortest_path":
    data["tight_train"] = tight_constraints(w[:num_train])
  for seed in seeds:
    keras.utils.set_random_seed(seed)
    dense = keras.layers.Dense(c.shape[1])
    dense.build((None, x.shape[1]))
    data[f"kernel_{seed}"] = dense.kernel.numpy()
    data[f"bias_{seed}"] = dense.bias.numpy()
    rng = np.random.default_rng(seed)
    data[f"order_{seed}"] = np.stack(
      [rng.permutation(num_train) for _ in range(epochs)]
    )
  return data


def make_loss(
  method: str,
  data: dict,
  num_samples: int,
  sigma: float,
  lam: float,
  seed: int,
  solve_ratio: float = 0.05,
  draw: int = 0,
  cave: str = "plus",
):
  """Our version of PyEPO's documented loss of the method: a function of
  (costs, solutions, predicted costs) averaged over the batch (λ serves DBB
  and I-MLE, as the flags of `experiments.predict_then_optimize`; the pool
  losses solve `solve_ratio` of each batch's rows; `cave` is CaVE's
  projection, a key of `CAVE`). Its noise and pool refreshes are seeded by
  the seed and the draw."""
  epochs = len(data[f"order_{seed}"])
  seed += 1000 * draw

  solver = solver_of(data)

  def regret(decide):
    return lambda c, w, c_hat: tf.reduce_mean(
      tf.abs(tf.reduce_sum(c * decide(c_hat), 1) - tf.reduce_sum(c * w, 1))
    )

  if method == "two_stage":
    return lambda c, w, c_hat: tf.reduce_mean(tf.square(c_hat - c))
  if method == "spo_plus":
    loss = ptf.losses.SPOPlusLoss(solver)
    return lambda c, w, c_hat: loss(ptf.data.stack_targets(c, w), c_hat)
  if method == "dbb":
    return regret(ptf.ops.blackbox(solver, lam))
  if method == "nid":
    return regret(ptf.ops.negative_identity(solver))
  if method == "dpo":
    layer = ptf.layers.Perturbed(solver, num_samples, sigma, seed=seed)
    return lambda c, w, c_hat: tf.reduce_mean(
      tf.square(layer(c_hat, training=True) - w)
    )
  if method in ("imle", "aimle"):
    layer = (
      ptf.layers.IMLE(solver, num_samples, sigma, lam, seed=seed)
      if method == "imle"
      else ptf.layers.AIMLE(solver, num_samples, sigma, seed=seed)
    )
    return lambda c, w, c_hat: tf.reduce_mean(
      tf.abs(layer(c_hat, training=True) - w)
    )
  if method == "pg":
    loss = ptf.losses.PGLoss(solver, h=PG_H, central=False)  # PyEPO's PGB.
    return lambda c, w, c_hat: loss(c, c_hat)
  if method == "rfy":
    loss = ptf.losses.RegularizedFenchelYoungLoss(solver)
    return lambda c, w, c_hat: loss(w, c_hat)
  if method == "cave":
    loss = ptf.losses.CaVELoss(FLOW_LP, interior=CAVE[cave][1])
    return lambda c, w, c_hat: loss(w, c_hat)
  if method in POOL_LOSSES:
    num_train = len(data["w_train"])
    largest_batch = -(-num_train // int(data["batches_per_epoch"]))
    capacity = pool_capacity(num_train, largest_batch, epochs, solve_ratio)
    cache = ptf.solvers.SolutionCache(
      solver,
      shape=(data["c_train"].shape[1],),
      solve_fraction=solve_ratio,
      capacity=capacity,
      initial_solutions=data["w_train"],
      seed=seed,
    )
    loss = POOL_LOSSES[method](cache)
    if method.endswith("ltr"):  # Their natural targets: the costs.
      return lambda c, w, c_hat: loss(c, c_hat)
    return lambda c, w, c_hat: loss(w, c_hat)
  loss = ptf.losses.FenchelYoungLoss(solver, num_samples, sigma, seed=seed)
  return lambda c, w, c_hat: loss(w, c_hat)


def train_ours(
  method: str,
  data: dict,
  seed: int,
  num_samples: int = 10,
  sigma: float = 1.0,
  lam: float = 10.0,
  learning_rate: float = 1e-2,
  solve_ratio: float = 0.05,
  draw: int = 0,
  cave: str = "plus",
) -> dict:
  """Trains ours through the given batches (the seed's initial weights and
  batch order, the draw's noise); test predictions, s/epoch."""
  model = keras.Sequential(
    [
      keras.Input((data["x_train"].shape[1],)),
      keras.layers.Dense(data["c_train"].shape[1]),
    ]
  )
  model.layers[-1].kernel.assign(data[f"kernel_{seed}"])
  model.layers[-1].bias.assign(data[f"bias_{seed}"])
  optimizer = keras.optimizers.Adam(learning_rate, epsilon=1e-8)
  loss_fn = make_loss(
    method, data, num_samples, sigma, lam, seed, solve_ratio, draw, cave
  )

  x, c, w = (tf.constant(data[k]) for k in ("x_train", "c_train", "w_train"))

  jit = method not in NOT_JIT and getattr(solver_of(data), "supports_jit", 1)

  @tf.function(jit_compile=bool(jit))
  def step(index):  # The batch is gathered in the step: no eager ops.
    with tf.GradientTape() as tape:
      loss = loss_fn(
        tf.gather(c, index), tf.gather(w, index), model(tf.gather(x, index))
      )
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(grads, model.trainable_variables))
    return loss

  epochs = []
  for order in data[f"order_{seed}"]:
    start = time.perf_counter()
    for batch in np.array_split(order, int(data["batches_per_epoch"])):
      step(tf.constant(batch))
    epochs.append(time.perf_counter() - start)
  return {
    "predicted": model(data["x_test"]).numpy(),
    "seconds_per_epoch": float(np.median(epochs[1:] or epochs)),
  }


def test_regret(data: dict, predicted) -> float:
  metric = ptf.metrics.NormalizedRegret(solver_of(data))
  metric.update_state(
    ptf.data.stack_targets(data["c_test"], data["w_test"]),
    tf.constant(predicted, tf.float32),
  )
  return float(metric.result())


def seeds_and_draws(method: str, seeds, draws: int):
  """The (seed, draw) pairs a method runs: `draws` per seed for a method
  that draws random numbers, one otherwise."""
  count = draws if method in RANDOM_METHODS else 1
  return [(seed, draw) for seed in seeds for draw in range(count)]


def run_name(method: str, seed: int, draw: int) -> str:
  return f"{method}/seed{seed}" + (f"/draw{draw}" if draw else "")


def mean_std(values) -> str:
  """`mean ± std` over runs (the mean alone for one run)."""
  if len(values) == 1:
    return f"{values[0]:.4f}"
  return f"{np.mean(values):.4f} ± {np.std(values, ddof=1):.4f}"


def run_pyepo(python: str, data: dict, settings: dict) -> dict:
  """PyEPO's side, in its own interpreter (torch, no TensorFlow)."""
  with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "data.npz")
    np.savez(path, settings=json.dumps(settings), **data)
    out = os.path.join(tmp, "pyepo.json")
    script = os.path.join(os.path.dirname(__file__), "pyepo_reference.py")
    subprocess.run([python, script, path, out], check=True)
    with open(out, encoding="utf-8") as f:
      return json.load(f)


def main(argv):
  del argv
  f = flags.FLAGS
  # One thread a side: PyEPO's runs torch on one. (On 2 cores TensorFlow's
  # default pools also cost more than they give for steps this small: the
  # time goes to futex waits.)
  tf.config.threading.set_inter_op_parallelism_threads(f.threads)
  tf.config.threading.set_intra_op_parallelism_threads(f.threads)
  seeds = list(range(f.num_seeds))
  settings = dict(
    methods=list(f.methods),
    seeds=seeds,
    num_samples=f.num_samples,
    sigma=f.sigma,
    lam=f.lam,
    learning_rate=f.learning_rate,
    solve_ratio=f.solve_ratio,
    pg_h=PG_H,
    cave=f.cave,
    cave_max_iter=CAVE[f.cave][0],
    cave_interior=CAVE[f.cave][1],
    problem=f.problem,
    draws=f.draws,
    random_methods=list(RANDOM_METHODS),
  )
  data = make_data(
    seeds, f.epochs, f.batch_size, f.num_train, problem=f.problem
  )
  theirs = run_pyepo(f.pyepo_python, data, settings)
  rows, runs = [], {}
  for method in f.methods:
    regrets = {"ours": [], "PyEPO": []}
    seconds = {"ours": [], "PyEPO": []}
    for seed, draw in seeds_and_draws(method, seeds, f.draws):
      ours = train_ours(
        method,
        data,
        seed,
        f.num_samples,
        f.sigma,
        f.lam,
        f.learning_rate,
        f.solve_ratio,
        draw,
        f.cave,
      )
      pyepo = theirs[run_name(method, seed, draw)]
      for side, result in (("ours", ours), ("PyEPO", pyepo)):
        regrets[side].append(test_regret(data, result["predicted"]))
        seconds[side].append(result["seconds_per_epoch"])
      runs[run_name(method, seed, draw)] = {
        side: {
          "test_normalized_regret": regrets[side][-1],
          "seconds_per_epoch": seconds[side][-1],
        }
        for side in regrets
      }
    rows.append(
      {
        "method": method,
        "PyEPO regret": mean_std(regrets["PyEPO"]),
        "ours regret": mean_std(regrets["ours"]),
        "PyEPO s/epoch": float(np.median(seconds["PyEPO"])),
        "ours s/epoch": float(np.median(seconds["ours"])),
        "PyEPO time / ours": float(
          np.median(seconds["PyEPO"]) / np.median(seconds["ours"])
        ),
      }
    )
  setting = {
    "shortest_path": ("OR-Tools GLOP", "XLA", "shortest path 5x5, noise 0.5"),
    "tsp": (
      "OR-Tools CP-SAT circuit",
      "ptf.solvers.TSP, HiGHS on 2 threads",
      f"TSP {NUM_NODES} nodes, noise 0.5",
    ),
    "portfolio": (
      "Clarabel",
      "ptf.solvers.Portfolio, Clarabel on 2 threads",
      f"portfolio {NUM_ASSETS} assets, noise level 1",
    ),
  }[f.problem]
  title = (
    f"PyEPO {theirs['versions']['pyepo']} (torch "
    f"{theirs['versions']['torch']}, {setting[0]}, 1 process, 1 thread) "
    f"against ours (TensorFlow {tf.__version__} on {f.threads} "
    f"thread{'s' if f.threads > 1 else ''}, {setting[1]}): "
    f"{setting[2]}, degree 6, {len(data['x_train']):,}/"
    f"{len(data['x_test']):,} instances, "
    f"{f.epochs} epochs, {f.num_seeds} seeds"
    + (f", {CAVE_TITLES[f.cave]}" if "cave" in f.methods else "")
    + (
      f" ({f.draws} draws of the noise or pool refreshes each for "
      "the methods that draw them)"
      if f.draws > 1
      else ""
    )
    + " (mean ± std)"
  )
  name = f.output_name or "pyepo_side_by_side" + (
    "" if f.problem == "shortest_path" else f"_{f.problem}"
  )
  os.makedirs(f.output_dir, exist_ok=True)
  record = provenance.record()
  with open(
    os.path.join(f.output_dir, f"{name}.json"), "w", encoding="utf-8"
  ) as out:
    json.dump(
      {
        "settings": settings,
        "provenance": record,
        "runs": runs,
        "table": rows,
      },
      out,
      indent=2,
    )
  markdown = run_lib.to_markdown(title, rows)
  with open(
    os.path.join(f.output_dir, f"{name}.md"), "w", encoding="utf-8"
  ) as out:
    out.write(f"{provenance.header(record)}\n\n{markdown}")
  print(markdown)


if __name__ == "__main__":
  flags.DEFINE_string(
    "pyepo_python",
    None,
    "The python of an environment with torch, pyepo and ortools.",
  )
  flags.DEFINE_enum("problem", "shortest_path", PROBLEMS, "PyEPO's problem.")
  flags.DEFINE_list(
    "methods",
    list(METHODS),
    "Methods to compare (tsp and portfolio: two_stage, spo_plus, pfyl).",
  )
  flags.DEFINE_integer(
    "threads",
    1,
    "TensorFlow's inter- and intra-op threads on our side (PyEPO's side "
    "runs torch on 1).",
  )
  flags.DEFINE_integer("num_train", 1000, "Training instances.")
  flags.DEFINE_integer("num_seeds", 3, "Seeds (initial weights, batches).")
  flags.DEFINE_integer(
    "draws",
    1,
    "Runs per seed of the methods that draw random numbers (noise, pool "
    "refreshes), each with other draws: their spread includes the draws'.",
  )
  flags.DEFINE_integer("epochs", 20, "Training epochs.")
  flags.DEFINE_integer("batch_size", 32, "Mini-batch size.")
  flags.DEFINE_integer("num_samples", 10, "M of DPO, PFYL and I-MLE.")
  flags.DEFINE_float("sigma", 1.0, "σ of DPO, PFYL and I-MLE.")
  flags.DEFINE_float("lam", 10.0, "λ of DBB and I-MLE.")
  flags.DEFINE_float("learning_rate", 1e-2, "Adam's learning rate.")
  flags.DEFINE_float(
    "solve_ratio",
    0.05,
    "The pool losses' refreshes: PyEPO solves a whole batch with this "
    "probability, ours this fraction of every batch's rows.",
  )
  flags.DEFINE_enum(
    "cave",
    "plus",
    list(CAVE),
    "CaVE's projection on both sides: 'plus', PyEPO's default CaVE+ "
    "(Clarabel stopped after 3 iterations) against ours with "
    "interior=0.003; 'exact', Clarabel run to convergence against ours "
    "with interior=0.",
  )
  flags.DEFINE_string(
    "output_dir", "benchmarks/results", "Where the table goes."
  )
  flags.DEFINE_string(
    "output_name",
    None,
    "The results files' name (default: pyepo_side_by_side[_PROBLEM]).",
  )
  flags.mark_flag_as_required("pyepo_python")
  app.run(main)
