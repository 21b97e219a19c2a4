r"""Predict-then-optimize on PyEPO's benchmark, as an absl binary.

A linear model maps features `x` to the costs `ĉ` of one of PyEPO's four
problems — the shortest path on a 5×5 grid (TF-native solver), the
multi-dimensional 0/1 knapsack (`ptf.solvers.Knapsack`, exact over the
enumerated maximal packings, or HiGHS through `ptf.solvers.LinearProgram`), the
travelling salesperson (`ptf.solvers.TSP`, exact tours through HiGHS) or the
Markowitz portfolio (`ptf.solvers.Portfolio`, a cone program through Clarabel) —
and is trained end to end by one of the methods PyEPO and InferOpt compare, each
with its published recipe; the score is the normalised regret of the decisions
taken on the predicted costs, `Σ (cᵀw*(ĉ) − z*(c)) / Σ |z*(c)|` (mirrored for
the knapsack and the portfolio, maximisations), on held-out instances.

Methods (`--methods`): `two_stage` (least squares on the costs), `spo_plus`
(SPO+), `dbb` (blackbox interpolation, λ, regret loss), `nid` (negative
identity, regret loss), `dpo` (perturbed optimizer, squared error to w*),
`pfyl` (perturbed Fenchel–Young), `imle` (I-MLE, Sum-of-Gamma noise, L1 to
w*), `aimle` (adaptive I-MLE, its λ from the data), `nce` and `cmap`
(contrastive, over a solution pool seeded with the training solutions, a
fraction `--solve_ratio` of the rows solved), `pointwise_ltr`,
`pairwise_ltr` and `listwise_ltr` (learning to rank over the same pool),
`pg` (perturbation gradient, width `--pg_h`), `rfy` (the Fenchel–Young loss
of the quadratic regulariser, solved by Frank–Wolfe), `cave` (CaVE: the
cone of the binding constraints at w*, no solve in training; the shortest
path and the knapsack only, whose feasible sets are given as polyhedra —
the TSP's subtour constraints are exponentially many, the portfolio's set
is not a polyhedron), `ssvm` (the structured SVM, Hamming margin) and
`imitation` (the imitation loss: that margin and the perturbation's
regulariser); these two need 0/1 decisions, so not the portfolio.

Data: PyEPO's generators (`ptf.data`) over the grid
`--num_train × --degrees × --noise_widths`, `--num_seeds` seeds each (data
and initialisation), or a user's `--data_file`. Each run trains in its own
sub-folder (resumable; a rerun skips finished runs); `results.json` holds
every run's metrics and, per method and cell, the mean ± std over seeds.

  python -m experiments.predict_then_optimize          # quick CPU form
  python -m experiments.predict_then_optimize \
      --flagfile=configs/predict_then_optimize.cfg
  python -m experiments.predict_then_optimize --data_file=mine.npz \
      --methods=two_stage,spo_plus,pfyl
  python -m experiments.plot \
      --pto_results=runs/predict_then_optimize/results.json
"""

from __future__ import annotations

from collections.abc import Callable
import dataclasses
import math
import os
import time
from typing import Any
from typing import NamedTuple

import keras
import numpy as np

from experiments import common
import perturbations_tf as ptf
from perturbations_tf import solvers

# The losses over a SolutionCache's pool (seeded with the training
# solutions), by method; the ranking losses take the costs as targets.
POOL_LOSSES = {
  "nce": ptf.losses.NCELoss,
  "cmap": ptf.losses.CMAPLoss,
  "pointwise_ltr": ptf.losses.PointwiseLTRLoss,
  "pairwise_ltr": ptf.losses.PairwiseLTRLoss,
  "listwise_ltr": ptf.losses.ListwiseLTRLoss,
}


# Each method's loss and the targets it trains on ('costs', 'solutions' or
# 'both': `ptf.data.stack_targets(c, w*)`), built from the run's settings,
# the problem's solver, the training solutions and the seed.
Builder = Callable[..., tuple[Any, str]]  # (config, solver, w*, seed)


def _two_stage(config: Config, solver, w_train, seed):
  return ptf.losses.LeastSquaresLoss(), "costs"


def _spo_plus(config: Config, solver, w_train, seed):
  return ptf.losses.SPOPlusLoss(solver), "both"


def _pfyl(config: Config, solver, w_train, seed):
  loss = ptf.losses.FenchelYoungLoss(
    solver, config.num_samples, config.sigma, seed=seed
  )
  return loss, "solutions"


def _ssvm(config: Config, solver, w_train, seed):
  return ptf.losses.StructuredSVMLoss(solver), "solutions"


def _imitation(config: Config, solver, w_train, seed):
  loss = ptf.losses.ImitationLoss(
    solver, config.num_samples, config.sigma, seed=seed
  )
  return loss, "solutions"


def _pg(config: Config, solver, w_train, seed):
  return ptf.losses.PGLoss(
    solver, h=config.pg_h, central=config.pg_central
  ), "costs"


def _rfy(config: Config, solver, w_train, seed):
  return ptf.losses.RegularizedFenchelYoungLoss(
    solver, lam=config.rfy_lambda, max_iterations=config.rfy_max_iterations
  ), "solutions"


def _cave(config: Config, solver, w_train, seed):
  return ptf.losses.CaVELoss(
    constraints_solver(config, solver), interior=config.cave_interior
  ), "solutions"


def _decision(layer: Callable, target: str = "objective", norm: str = "l1"):
  """A decision layer's method (PyEPO's pattern B): `ptf.losses.DecisionLoss`
  over `layer(config, solver, seed)`."""

  def build(config: Config, solver, w_train, seed):
    loss = ptf.losses.DecisionLoss(layer(config, solver, seed), target, norm)
    return loss, "both"

  return build


def _pool(method: str):
  """A loss over a `SolutionCache` seeded with the training solutions; the
  ranking losses take the costs as targets."""

  def build(config: Config, solver, w_train, seed):
    cache = ptf.solvers.SolutionCache(
      solver,
      shape=w_train.shape[1:],
      solve_fraction=config.solve_ratio,
      capacity=pool_capacity(
        len(w_train), rows_per_step(config), config.epochs, config.solve_ratio
      ),
      initial_solutions=w_train,
      seed=seed,
    )
    target = "costs" if method.endswith("ltr") else "solutions"
    return POOL_LOSSES[method](cache), target

  return build


BUILDERS: dict[str, Builder] = {
  "two_stage": _two_stage,
  "spo_plus": _spo_plus,
  "dbb": _decision(
    lambda config, solver, seed: ptf.layers.Blackbox(solver, config.dbb_lambda)
  ),
  "nid": _decision(
    lambda config, solver, seed: ptf.layers.NegativeIdentity(solver)
  ),
  # Normal noise is symmetric: θ ± σZ alike.
  "dpo": _decision(
    lambda config, solver, seed: ptf.layers.Perturbed(
      solver, config.num_samples, config.sigma, seed=seed
    ),
    "solution",
    "l2",
  ),
  "pfyl": _pfyl,
  "imle": _decision(
    lambda config, solver, seed: ptf.layers.IMLE(
      solver, config.num_samples, config.sigma, config.imle_lambda, seed=seed
    ),
    "solution",
  ),
  "aimle": _decision(
    lambda config, solver, seed: ptf.layers.AIMLE(
      solver, config.num_samples, config.sigma, seed=seed
    ),
    "solution",
  ),
  **{method: _pool(method) for method in POOL_LOSSES},
  "pg": _pg,
  "rfy": _rfy,
  "cave": _cave,
  "ssvm": _ssvm,
  "imitation": _imitation,
}
METHODS = tuple(BUILDERS)
POLYHEDRAL = ("shortest_path", "knapsack")
BINARY = ("shortest_path", "knapsack", "tsp")  # 0/1 decisions.
_NEEDS = {"cave": POLYHEDRAL, "ssvm": BINARY, "imitation": BINARY}


def applicable_methods(problem: str) -> list[str]:
  """The methods that apply to `problem`: CaVE needs its feasible set as a
  polyhedron, the margin losses 0/1 decisions."""
  return [m for m in METHODS if problem in _NEEDS.get(m, (problem,))]


PROBLEMS = ("shortest_path", "knapsack", "tsp", "portfolio")
# CaVE reads the binding constraints of a polyhedron (module docstring).
DATA_ARRAYS = ("x_train", "c_train", "x_test", "c_test")
# Methods whose training step is not XLA-compiled: TensorFlow's Gamma
# sampler (I-MLE's Sum-of-Gamma noise) has no XLA kernel, and CaVE+'s
# Newton systems are factored by XLA's CPU Cholesky ~100× slower than by
# TensorFlow's own kernel.
NOT_JIT = ("imle", "aimle", "cave")


@dataclasses.dataclass
class DataSettings:
  """The data: generated (PyEPO's generators) or read from a file."""

  data_file: str = common.field(
    "",
    "A .npz with x_train, c_train, x_test, c_test (shortest path: "
    "costs in PyEPO's arc order; knapsack: also weights [dim, items] and "
    "capacity; tsp: edge costs in PyEPO's order; portfolio: also "
    "covariance [assets, assets]); replaces the generated data (and "
    "--num_train, --degrees, --noise_widths).",
  )
  num_train: list[int] = common.field([1000], "Training sizes.", item_type=int)
  num_test: int = common.field(1000, "Test instances.")
  degrees: list[int] = common.field(
    [1, 2, 4, 6],
    "Polynomial degrees of the feature-to-cost map.",
    item_type=int,
  )
  noise_widths: list[float] = common.field(
    [0.5],
    "Half-widths of the multiplicative cost noise (portfolio: the noise "
    "level τ of the returns, PyEPO's noise_level, any τ ≥ 0).",
  )
  num_seeds: int = common.field(
    3, "Seeds per cell: --seed, --seed + 1, ... (data and initialisation)."
  )
  num_features: int = common.field(5, "p, the feature dimension.")
  knn_k: int = common.field(
    0,
    "kNN-robust targets (ptf.data.knn_targets, Schutte et al. 2024): each "
    "training instance becomes k rows, its costs interpolated with those "
    "of its k nearest neighbours in feature space (0: off). A step then "
    "takes --batch_size instances, k rows each.",
  )
  knn_weight: float = common.field(
    0.5, "kNN-robust targets: the instance's own weight, in [0, 1]."
  )


@dataclasses.dataclass
class ProblemSettings:
  """The problem's sizes and the solvers that solve it."""

  grid_size: int = common.field(5, "Shortest path: k×k grid of nodes.")
  num_items: int = common.field(32, "Knapsack: items.")
  knapsack_dim: int = common.field(2, "Knapsack: resources (dimensions).")
  capacity: float = common.field(20.0, "Knapsack: capacity per resource.")
  num_nodes: int = common.field(20, "TSP: nodes (PyEPO's 20).")
  num_assets: int = common.field(50, "Portfolio: assets (PyEPO's 50).")
  risk_gamma: float = common.field(
    2.25, "Portfolio: the risk budget γ·mean(Σ)'s γ (PyEPO's 2.25)."
  )
  knapsack_solver: str = common.field(
    "packings",
    "Knapsack: 'packings' (ptf.solvers.Knapsack: the maximal packings "
    "enumerated once, a batch solved by one matrix product, XLA) or "
    "'highs' (a MILP per instance through ptf.solvers.LinearProgram, for "
    "knapsacks with too many packings).",
    choices=("packings", "highs"),
  )
  shortest_path_solver: str = common.field(
    "grid",
    "Shortest path: 'grid' (ptf.solvers.grid_arc_shortest_path, exact "
    "dynamic programming, XLA), or the path as a flow linear program "
    "through ptf.solvers.LinearProgram: 'pdlp' (in the graph, XLA) or "
    "'highs' (HiGHS on the host).",
    choices=("grid", "pdlp", "highs"),
  )
  lp_warm_starts: int = common.field(
    0,
    "Flow LP through PDLP: solved rows each method's solver remembers to "
    "warm-start new rows from (LinearProgram's warm_starts; 0: cold).",
  )
  lp_executor: str = common.field(
    "processes",
    "Host solvers (HiGHS for the knapsack, flow LP and TSP; Clarabel for "
    "the portfolio): where they solve ('processes': spawned workers, "
    "faster for many small programs).",
    choices=("threads", "processes"),
  )
  num_workers: int = common.field(
    0, "Host solvers: workers (0: one per CPU core)."
  )


@dataclasses.dataclass
class MethodSettings:
  """The methods and their hyper-parameters."""

  methods: list[str] = common.field(
    list(METHODS),
    "Methods to train (default: every method that applies to --problem).",
    choices=METHODS,
    item_type=str,
  )
  num_samples: int = common.field(10, "M of dpo, pfyl and imle.")
  sigma: float = common.field(1.0, "σ of dpo, pfyl and imle.")
  dbb_lambda: float = common.field(10.0, "λ of dbb.")
  imle_lambda: float = common.field(10.0, "λ of imle.")
  pg_h: float = common.field(0.1, "pg: the finite-difference width h.")
  pg_central: bool = common.field(
    True,
    "pg: central differences (PGC, the library's default) or, with "
    "--nopg_central, backward ones (PGB, PyEPO's default).",
  )
  rfy_lambda: float = common.field(1.0, "rfy: the regulariser's weight λ.")
  rfy_max_iterations: int = common.field(
    1000,
    "rfy: the most Frank–Wolfe iterations (solver calls) per step: with a "
    "host solver (tsp, portfolio, HiGHS) each is a host round trip.",
  )
  cave_interior: float = common.field(
    0.003,
    "cave: the weight η of the projection's central path (0: the exact "
    "projection, CaVE; 0.003: as PyEPO's default CaVE+).",
  )
  solve_ratio: float = common.field(
    0.05,
    "Fraction of rows the pool methods (nce, cmap, *_ltr) solve exactly "
    "(the rest: the pool).",
  )


@dataclasses.dataclass
class Config(DataSettings, ProblemSettings, MethodSettings, common.TrainConfig):
  """Settings of the benchmark (defaults: the quick CPU study): the data,
  the problem, the methods and the training."""

  problem: str = common.field(
    "shortest_path", "The linear program.", choices=PROBLEMS
  )
  epochs: int = common.field(20, "Training epochs.")
  batch_size: int = common.field(32, "Mini-batch size.")
  learning_rate: float = common.field(1e-2, "Adam learning rate.")

  def validate(self):
    super().validate()
    self.require(
      at_least_one=(
        "num_test",
        "num_seeds",
        "num_features",
        "grid_size",
        "num_items",
        "num_assets",
        "knapsack_dim",
        "num_samples",
        "rfy_max_iterations",
      ),
      positive=(
        "sigma",
        "dbb_lambda",
        "imle_lambda",
        "pg_h",
        "rfy_lambda",
        "capacity",
        "risk_gamma",
      ),
    )
    if not self.methods:
      raise ValueError("--methods must name at least one method.")
    if self.num_nodes < 3:
      raise ValueError(f"--num_nodes must be >= 3, got {self.num_nodes}.")
    if self.methods == list(METHODS):
      self.methods = applicable_methods(self.problem)
    for method in self.methods:
      if method not in applicable_methods(self.problem):
        raise ValueError(
          f"--methods={method} needs "
          + (
            "the feasible set as a polyhedron"
            if method == "cave"
            else "0/1 decisions"
          )
          + f", which --problem={self.problem} does not give (see the "
          f"binary's help): drop {method}."
        )
    if self.lp_warm_starts < 0 or (
      self.lp_warm_starts and self.shortest_path_solver != "pdlp"
    ):
      raise ValueError(
        "--lp_warm_starts must be >= 0, and applies to "
        f"--shortest_path_solver=pdlp only, got {self.lp_warm_starts}."
      )
    if not self.cave_interior >= 0:
      raise ValueError(
        f"--cave_interior must be >= 0, got {self.cave_interior}."
      )
    if not 0 < self.solve_ratio <= 1:
      raise ValueError(
        f"--solve_ratio must be in (0, 1], got {self.solve_ratio}."
      )
    if self.data_file:
      load_data_file(self)  # Fails here, before any training.
      return
    if not self.num_train or min(self.num_train) < 1:
      raise ValueError(
        f"--num_train must be positive sizes, got {self.num_train}."
      )
    if not self.degrees or min(self.degrees) < 1:
      raise ValueError(
        f"--degrees must be positive integers, got {self.degrees}."
      )
    limit = math.inf if self.problem == "portfolio" else 1
    if self.knn_k < 0 or not 0 <= self.knn_weight <= 1:
      raise ValueError(
        f"--knn_k must be >= 0 and --knn_weight in [0, 1], got "
        f"{self.knn_k} and {self.knn_weight}."
      )
    if not self.noise_widths or not all(
      0 <= e < limit for e in self.noise_widths
    ):
      raise ValueError(
        f"--noise_widths must be in [0, {limit}) for --problem="
        f"{self.problem}, got {self.noise_widths}."
      )

  def cells(self) -> list[tuple[int | None, int | None, float | None, int]]:
    """(training size, degree, noise width, seed) of every data set."""
    seeds = range(self.seed, self.seed + self.num_seeds)
    if self.data_file:
      return [(None, None, None, s) for s in seeds]
    return [
      (n, d, e, s)
      for n in self.num_train
      for d in self.degrees
      for e in self.noise_widths
      for s in seeds
    ]


def cell_name(n, deg, noise) -> str:
  """The name of a data cell (without its seed), e.g. `n1000_deg6_noise0.5`."""
  return "data_file" if n is None else f"n{n}_deg{deg}_noise{noise:g}"


class Problem(NamedTuple):
  """One data set and its solver."""

  x_train: np.ndarray
  c_train: np.ndarray
  x_test: np.ndarray
  c_test: np.ndarray
  weights: np.ndarray | None  # Knapsack only.
  capacity: np.ndarray | None
  covariance: np.ndarray | None = None  # Portfolio only.


def load_data_file(config: Config) -> Problem:
  """Reads and checks `--data_file`, naming what is wrong."""
  path = config.data_file
  if not os.path.exists(path):
    raise ValueError(f"--data_file={path} does not exist.")
  with np.load(path) as data:
    arrays = dict(data)
  extra = {"knapsack": ("weights", "capacity"), "portfolio": ("covariance",)}
  extra = extra.get(config.problem, ())
  missing = [k for k in DATA_ARRAYS + extra if k not in arrays]
  if missing:
    raise ValueError(
      f"--data_file={path} lacks the arrays {missing} (it "
      f"has {sorted(arrays)})."
    )
  for name in DATA_ARRAYS:
    if arrays[name].ndim != 2 or not np.all(np.isfinite(arrays[name])):
      raise ValueError(
        f"--data_file: {name} must be a finite 2-D array, got "
        f"shape {arrays[name].shape}"
        f"{'' if np.all(np.isfinite(arrays[name])) else ' with NaN or Inf'}."
      )
  for split in ("train", "test"):
    if len(arrays[f"x_{split}"]) != len(arrays[f"c_{split}"]):
      raise ValueError(
        f"--data_file: x_{split} and c_{split} have "
        f"{len(arrays[f'x_{split}'])} and "
        f"{len(arrays[f'c_{split}'])} rows."
      )
  p, d = arrays["x_train"].shape[1], arrays["c_train"].shape[1]
  if arrays["x_test"].shape[1] != p or arrays["c_test"].shape[1] != d:
    raise ValueError(
      "--data_file: train and test arrays have different widths."
    )
  weights = capacity = covariance = None
  if config.problem == "shortest_path":
    arcs = len(solvers.grid_arcs((config.grid_size, config.grid_size)))
    if d != arcs:
      raise ValueError(
        f"--data_file has {d} costs per instance, but a "
        f"{config.grid_size}×{config.grid_size} grid has "
        f"{arcs} arcs: set --grid_size."
      )
  elif config.problem == "tsp":
    edges = config.num_nodes * (config.num_nodes - 1) // 2
    if d != edges:
      raise ValueError(
        f"--data_file has {d} costs per instance, but a tour of "
        f"{config.num_nodes} nodes has {edges} edges: set --num_nodes."
      )
  elif config.problem == "portfolio":
    covariance = np.asarray(arrays["covariance"], np.float64)
    if covariance.shape != (d, d):
      raise ValueError(
        f"--data_file: covariance {covariance.shape} must be [{d}, {d}] "
        f"for {d} assets."
      )
  else:
    weights = np.atleast_2d(arrays["weights"]).astype(np.float64)
    capacity = np.broadcast_to(arrays["capacity"], weights.shape[:1])
    if weights.shape[1] != d:
      raise ValueError(
        f"--data_file: weights {weights.shape} must be "
        f"[dim, {d}] for {d} items."
      )
  return Problem(
    *(arrays[k].astype(np.float32) for k in DATA_ARRAYS),
    weights,
    capacity,
    covariance,
  )


def generate(
  config: Config, n: int, deg: int, noise: float, seed: int
) -> Problem:
  """PyEPO's data: the first `--num_test` instances test, the rest train."""
  total = n + config.num_test
  weights = capacity = covariance = None
  if config.problem == "shortest_path":
    x, c = ptf.data.shortest_path_data(
      total,
      config.num_features,
      (config.grid_size, config.grid_size),
      deg,
      noise,
      seed,
    )
  elif config.problem == "tsp":
    x, c = ptf.data.tsp_data(
      total, config.num_features, config.num_nodes, deg, noise, seed
    )
  elif config.problem == "portfolio":
    covariance, x, c = ptf.data.portfolio_data(
      total, config.num_features, config.num_assets, deg, noise, seed
    )
  else:
    weights, x, c = ptf.data.knapsack_data(
      total,
      config.num_features,
      config.num_items,
      config.knapsack_dim,
      deg,
      noise,
      seed,
    )
    capacity = np.full(config.knapsack_dim, config.capacity)
  x = x.astype(np.float32)
  t = config.num_test
  return Problem(x[t:], c[t:], x[:t], c[:t], weights, capacity, covariance)


def problem_solver(config: Config, problem: Problem):
  """The batched solver of the problem (it declares its sense)."""
  host = dict(
    executor=config.lp_executor, num_workers=config.num_workers or None
  )
  if config.problem == "tsp":
    return ptf.solvers.TSP(config.num_nodes, **host)
  if config.problem == "portfolio":
    return ptf.solvers.Portfolio(problem.covariance, config.risk_gamma, **host)
  if config.problem == "shortest_path":
    grid = [config.grid_size, config.grid_size]
    if config.shortest_path_solver == "grid":
      return {"name": "grid_arc_shortest_path", "kwargs": {"grid": grid}}
    a_eq, b_eq = ptf.solvers.grid_flow_constraints(grid)
    return ptf.solvers.LinearProgram(
      A_eq=a_eq,
      b_eq=b_eq,
      bounds=(0, 1),
      method=config.shortest_path_solver,
      **host,
      **(
        {"warm_starts": config.lp_warm_starts} if config.lp_warm_starts else {}
      ),
    )
  if config.knapsack_solver == "packings":
    return ptf.solvers.Knapsack(problem.weights, problem.capacity)
  return ptf.solvers.LinearProgram(
    A_ub=problem.weights,
    b_ub=problem.capacity,
    bounds=(0, 1),
    integrality=np.ones(problem.weights.shape[1]),
    maximize=True,
    **host,
  )


class Cell(NamedTuple):
  """A data set with its solver and the optimal decisions, shared by the
  methods trained on it. The decisions and the regret come from an exact
  solver (for the shortest path the grid's dynamic programming, whatever
  solver trains)."""

  problem: Problem
  solver: object
  w_train: np.ndarray
  w_test: np.ndarray
  exact: object
  # (x, c, w): the rows training sees, the data's or --knn_k's.
  training: tuple


def make_cell(config: Config, n, deg, noise, seed) -> Cell:
  problem = (
    load_data_file(config)
    if config.data_file
    else generate(config, n, deg, noise, seed)
  )
  solver = problem_solver(config, problem)
  exact = solver
  if (
    config.problem == "shortest_path" and config.shortest_path_solver != "grid"
  ):
    exact = problem_solver(
      dataclasses.replace(config, shortest_path_solver="grid"), problem
    )
  w_train = ptf.data.optimal_solutions(problem.c_train, exact)
  training = (problem.x_train, problem.c_train, w_train)
  if config.knn_k:
    training = ptf.data.knn_targets(
      problem.x_train, problem.c_train, exact, config.knn_k, config.knn_weight
    )
  return Cell(
    problem,
    solver,
    w_train,
    ptf.data.optimal_solutions(problem.c_test, exact),
    exact,
    training,
  )


def close(cell: Cell | None):
  """Ends the worker pool of a host solver (HiGHS, Clarabel)."""
  if cell is not None and hasattr(cell.solver, "close"):
    cell.solver.close()


def rows_per_step(config: Config) -> int:
  """Training rows per step: `--batch_size` instances, `--knn_k` rows each
  with kNN-robust targets."""
  return config.batch_size * max(config.knn_k, 1)


def pool_capacity(
  num_train: int, batch_size: int, epochs: int, solve_ratio: float
) -> int:
  """Room for every solution a run can meet: the training solutions and
  every exact solve, so the pool never evicts (as PyEPO's, unbounded).

  Its cost per step grows with it (CMAP scores every slot), so it is no
  larger than that.
  """
  batches = math.ceil(num_train / batch_size)
  return num_train + epochs * batches * math.ceil(solve_ratio * batch_size)


def make_loss(
  config: Config, method: str, solver, w_train: np.ndarray, seed: int
):
  """The method's loss and the targets it takes (`BUILDERS`)."""
  return BUILDERS[method](config, solver, w_train, seed)


def constraints_solver(config: Config, solver):
  """A solver that holds the problem's constraints, for CaVE: the solver
  itself (a knapsack, a LinearProgram), or the grid's flow LP."""
  if hasattr(ptf.solvers.get(solver), "constraints"):
    return solver
  a_eq, b_eq = ptf.solvers.grid_flow_constraints(
    [config.grid_size, config.grid_size]
  )
  return ptf.solvers.LinearProgram(A_eq=a_eq, b_eq=b_eq, bounds=(0, 1))


class EpochTimer(keras.callbacks.Callback):
  """Wall time of each training epoch."""

  def __init__(self):
    super().__init__()
    self.seconds = []

  def on_epoch_begin(self, epoch, logs=None):
    self._start = time.perf_counter()

  def on_epoch_end(self, epoch, logs=None):
    self.seconds.append(time.perf_counter() - self._start)


def normalized_regret(solver, costs, solutions, predicted) -> float:
  metric = ptf.metrics.NormalizedRegret(solver)
  metric.update_state(ptf.data.stack_targets(costs, solutions), predicted)
  return float(metric.result())


def train_one(
  config: Config,
  trainer: common.Trainer,
  method: str,
  cell: Cell,
  seed: int,
  run: str,
  callbacks=(),
) -> dict[str, float]:
  """Trains the linear model with one method; its regrets and times."""
  problem, solver, w_train, w_test, exact, (x_rows, c_rows, w_rows) = cell
  if config.lp_warm_starts:
    # Each method starts from its own solutions, not another method's.
    solver = problem_solver(config, problem)
  keras.utils.set_random_seed(seed)
  loss, target = make_loss(config, method, solver, w_rows, seed)
  y = {
    "costs": c_rows,
    "solutions": w_rows,
    "both": np.stack([c_rows, w_rows], 1),
  }[target]
  jit = (
    config.jit_compile
    and method not in NOT_JIT
    and getattr(ptf.solvers.get(solver), "supports_jit", True)
  )
  model = keras.Sequential(
    [
      keras.Input((problem.x_train.shape[1],)),
      keras.layers.Dense(problem.c_train.shape[1]),
    ]
  )
  model.compile(
    keras.optimizers.Adam(config.learning_rate), loss=loss, jit_compile=jit
  )
  timer = EpochTimer()
  trainer.fit(
    model,
    trainer.training_dataset(x_rows, y, rows_per_step(config), seed=seed),
    callbacks=[timer, *callbacks],
    run=run,
  )
  metrics = {"seconds_per_epoch": float(np.median(timer.seconds or [0.0]))}
  for split, x, c, w in (
    ("train", problem.x_train, problem.c_train, w_train),
    ("test", problem.x_test, problem.c_test, w_test),
  ):
    predicted = model(x, training=False)
    metrics[f"{split}_normalized_regret"] = normalized_regret(
      exact, c, w, predicted
    )
  return metrics


def summarise(config: Config, metrics: dict[str, dict[str, float]]) -> dict:
  """Per method and data cell: the mean, std and values over seeds."""
  summary = {}
  for method in config.methods:
    cells = {}
    for n, deg, noise, seed in config.cells():
      run = f"{method}/{cell_name(n, deg, noise)}_seed{seed}"
      cells.setdefault(cell_name(n, deg, noise), []).append(
        metrics[run]["test_normalized_regret"]
      )
    summary[method] = {name: common.mean_std(v) for name, v in cells.items()}
  return summary


def run(config: Config, callbacks=()) -> dict:
  """Trains every method on every data cell; writes results.json."""
  trainer = common.Trainer(config, "predict_then_optimize")

  current = {}

  def cell(n, deg, noise, seed) -> Cell:
    """The data cell's set-up, made once for all its methods."""
    if current.get("key") != (n, deg, noise, seed):
      close(current.get("cell"))
      current.update(
        key=(n, deg, noise, seed), cell=make_cell(config, n, deg, noise, seed)
      )
    return current["cell"]

  runs = {}
  for n, deg, noise, seed in config.cells():  # Data cell by data cell.
    for method in config.methods:
      runs[f"{method}/{cell_name(n, deg, noise)}_seed{seed}"] = (
        lambda run, m=method, key=(n, deg, noise, seed): train_one(
          config, trainer, m, cell(*key), key[3], run, callbacks
        )
      )
  try:
    metrics = common.run_sweep(trainer, runs)
  finally:
    close(current.get("cell"))
  summary = summarise(config, metrics)
  for method, cells in summary.items():
    print(
      f"{method:10s} "
      + "  ".join(
        f"{name}: {s['mean']:.4f} ± {s['std']:.4f}" for name, s in cells.items()
      ),
      flush=True,
    )
  return trainer.write_results({"runs": metrics, "summary": summary})


if __name__ == "__main__":
  common.run_app(Config, run)
