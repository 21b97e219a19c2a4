"""The predict-then-optimize binary on tiny settings, and its checks of flags
and data files."""

import os

import numpy as np
import pytest

from experiments import predict_then_optimize as pto
from tests import command_lines

# The repository's binaries, benchmarks or documentation, beside the library.
pytestmark = pytest.mark.integration


def regrets(runs):
  """The runs' metrics without their wall times."""
  return {
    name: {k: v for k, v in metrics.items() if k != "seconds_per_epoch"}
    for name, metrics in runs.items()
  }


def tiny(tmp_path, **overrides):
  settings = dict(
    output_dir=str(tmp_path / "run"),
    num_train=[60],
    num_test=40,
    degrees=[4],
    num_seeds=1,
    epochs=2,
    batch_size=20,
    verbose=0,
    num_samples=3,
  )
  settings.update(overrides)
  return pto.Config(**settings)


def test_every_method_trains_and_beats_nothing_on_both_problems(tmp_path):
  results = pto.run(tiny(tmp_path))
  runs = results["metrics"]["runs"]
  assert set(results["metrics"]["summary"]) == set(pto.METHODS)
  for method in pto.METHODS:
    metrics = runs[f"{method}/n60_deg4_noise0.5_seed0"]
    assert 0 <= metrics["test_normalized_regret"] < 1, method
    assert metrics["seconds_per_epoch"] > 0
  # The knapsack: every method through the enumerated packings; least
  # squares and SPO+ again through HiGHS, to the same decisions.
  knapsack = {
    solver: pto.run(
      tiny(
        tmp_path / solver,
        problem="knapsack",
        knapsack_solver=solver,
        methods=list(pto.METHODS)
        if solver == "packings"
        else ["two_stage", "spo_plus"],
        num_items=8,
        knapsack_dim=2,
        capacity=8.0,
        num_workers=1,
      )
    )["metrics"]
    for solver in ("packings", "highs")
  }
  for cell in knapsack["packings"]["summary"].values():
    assert 0 <= cell["n60_deg4_noise0.5"]["mean"] < 1
  for method in ("two_stage", "spo_plus"):
    run = f"{method}/n60_deg4_noise0.5_seed0"
    assert knapsack["highs"]["runs"][run]["test_normalized_regret"] == (
      pytest.approx(
        knapsack["packings"]["runs"][run]["test_normalized_regret"], abs=1e-4
      )
    )


@pytest.mark.parametrize(
  "problem, size",
  [("tsp", dict(num_nodes=6)), ("portfolio", dict(num_assets=8))],
)
def test_tsp_and_portfolio_train_every_method_that_applies(
  problem, size, tmp_path
):
  """Every method that applies (not CaVE: no polyhedron; not the margin
  losses on the portfolio: no 0/1 decisions) trains through the host solver;
  RFY with few Frank–Wolfe steps (each a host call)."""
  methods = pto.applicable_methods(problem)
  config = tiny(
    tmp_path,
    problem=problem,
    methods=methods,
    lp_executor="threads",
    num_workers=1,
    rfy_max_iterations=5,
    noise_widths=[0.5],
    **size,
  )
  runs = pto.run(config)["metrics"]["runs"]
  for method in methods:
    regret = runs[f"{method}/n60_deg4_noise0.5_seed0"]["test_normalized_regret"]
    assert 0 <= regret < 5, (method, regret)


def test_the_shortest_path_as_a_flow_lp_trains_as_the_grid_solver(tmp_path):
  """SPO+ through the flow LP (PDLP in the graph, cold or warm-started,
  HiGHS on the host) meets the grid solver's decisions, so it ends at the
  grid's regret."""
  regret = {}
  for name, solver, warm in (
    ("grid", "grid", 0),
    ("pdlp", "pdlp", 0),
    ("pdlp_warm", "pdlp", 60),
    ("highs", "highs", 0),
  ):
    config = tiny(
      tmp_path / name,
      methods=["spo_plus"],
      shortest_path_solver=solver,
      lp_warm_starts=warm,
      lp_executor="threads",
      num_workers=1,
    )
    runs = pto.run(config)["metrics"]["runs"]
    regret[name] = runs["spo_plus/n60_deg4_noise0.5_seed0"][
      "test_normalized_regret"
    ]
  assert 0 < regret["grid"] < 1
  for name in ("pdlp", "pdlp_warm", "highs"):
    assert regret[name] == pytest.approx(regret["grid"], abs=1e-3), name
  with pytest.raises(ValueError, match="--lp_warm_starts"):
    tiny(tmp_path / "bad", lp_warm_starts=60).validate()


def test_rerun_skips_finished_runs_and_seeds_repeat(tmp_path):
  config = tiny(tmp_path, methods=["spo_plus", "two_stage"], num_seeds=2)
  first = pto.run(config)
  again = pto.run(config)  # Every run finished: read back, none trained.
  assert again["metrics"]["runs"] == first["metrics"]["runs"]
  fresh = pto.run(
    tiny(tmp_path / "fresh", methods=["spo_plus", "two_stage"], num_seeds=2)
  )
  assert regrets(fresh["metrics"]["runs"]) == regrets(first["metrics"]["runs"])
  summary = first["metrics"]["summary"]["spo_plus"]["n60_deg4_noise0.5"]
  assert len(summary["values"]) == 2
  assert np.isclose(summary["mean"], np.mean(summary["values"]))


@pytest.mark.parametrize(
  "problem", [dict(), dict(problem="portfolio", num_assets=6)]
)
def test_a_data_file_gives_the_numbers_of_the_same_generated_data(
  problem, tmp_path
):
  config = tiny(tmp_path, methods=["two_stage", "pfyl"], **problem)
  generated = pto.run(config)["metrics"]["runs"]
  data = pto.generate(config, 60, 4, 0.5, 0)
  path = tmp_path / "mine.npz"
  extra = {"covariance": data.covariance} if problem else {}
  np.savez(path, **{k: getattr(data, k) for k in pto.DATA_ARRAYS}, **extra)
  from_file = pto.run(
    tiny(
      tmp_path / "file",
      methods=["two_stage", "pfyl"],
      data_file=str(path),
      **problem,
    )
  )["metrics"]["runs"]
  generated, from_file = regrets(generated), regrets(from_file)
  for method in ("two_stage", "pfyl"):
    assert (
      from_file[f"{method}/data_file_seed0"]
      == generated[f"{method}/n60_deg4_noise0.5_seed0"]
    )


def write(path, **arrays):
  rng = np.random.default_rng(0)
  base = dict(
    x_train=rng.normal(size=(20, 5)),
    c_train=rng.random((20, 40)),
    x_test=rng.normal(size=(10, 5)),
    c_test=rng.random((10, 40)),
  )
  base.update(arrays)
  np.savez(path, **{k: v for k, v in base.items() if v is not None})
  return f"--data_file={path}"


BAD_INPUTS = [  # (flags, or a broken data file; what the error says)
  (["--methods=spo_plus,ridge"], "--methods='ridge' is not one of"),
  (["--degrees=0"], "--degrees must be positive"),
  (["--noise_widths=1.5"], "--noise_widths must be in [0, 1)"),
  (["--problem=tsp", "--methods=cave"], "cave needs the feasible set as a"),
  (["--problem=tsp", "--num_nodes=2"], "--num_nodes must be >= 3"),
  (["--problem=portfolio", "--noise_widths=-1"], "must be in [0, inf)"),
  (["--solve_ratio=0"], "--solve_ratio must be in (0, 1]"),
  (["--data_file=/nonexistent.npz"], "does not exist"),
  ("missing", "lacks the arrays ['c_test']"),
  ("nan", "c_train must be a finite 2-D array"),
  ("width", "a 5×5 grid has 40 arcs: set --grid_size"),
  ("rows", "x_train and c_train have 20 and 19 rows"),
  ("tsp", "a tour of 20 nodes has 190 edges: set --num_nodes"),
  ("portfolio", "lacks the arrays ['covariance']"),
  ("covariance", "covariance (3, 3) must be [40, 40] for 40 assets"),
]
# Flags that go with a data file.
FILE_FLAGS = {
  "tsp": ["--problem=tsp"],
  "portfolio": ["--problem=portfolio"],
  "covariance": ["--problem=portfolio"],
}


def test_bad_flags_and_data_files_fail_before_training(tmp_path):
  """Each bad flag or data file stops the binary before it trains, saying
  what is wrong (one process for all: `tests.command_lines`)."""
  files = {
    "missing": dict(c_test=None),
    "nan": dict(c_train=np.full((20, 40), np.nan)),
    "width": dict(c_train=np.ones((20, 39)), c_test=np.ones((10, 39))),
    "rows": dict(c_train=np.ones((19, 40))),
    "tsp": dict(),
    "portfolio": dict(),
    "covariance": dict(covariance=np.eye(3)),
  }
  argvs = []
  for i, (args, _) in enumerate(BAD_INPUTS):
    if isinstance(args, str):
      args = [write(tmp_path / f"{args}.npz", **files[args])] + FILE_FLAGS.get(
        args, []
      )
    argvs.append([f"--output_dir={tmp_path / str(i)}", *args])
  results = command_lines.run("experiments.predict_then_optimize", argvs)
  for i, ((args, message), result) in enumerate(zip(BAD_INPUTS, results)):
    printed = result.stderr + result.stdout
    assert result.returncode != 0, (args, printed[-2000:])
    assert message in printed, (args, printed[-2000:])
    assert not os.path.exists(tmp_path / str(i) / "two_stage"), args


def test_knn_targets_train_and_reduce_to_the_data_at_weight_one(tmp_path):
  methods = ["two_stage", "spo_plus", "pfyl", "cmap"]
  plain = pto.run(tiny(tmp_path / "plain", methods=methods))["metrics"]
  # One neighbour at weight 1: each instance's one row is itself.
  itself = pto.run(
    tiny(tmp_path / "itself", methods=methods, knn_k=1, knn_weight=1.0)
  )["metrics"]
  assert regrets(itself["runs"]) == regrets(plain["runs"])
  smoothed = pto.run(tiny(tmp_path / "knn", methods=methods, knn_k=3))
  for method in methods:
    run = smoothed["metrics"]["runs"][f"{method}/n60_deg4_noise0.5_seed0"]
    assert 0 <= run["test_normalized_regret"] < 1, method
    assert (
      run["test_normalized_regret"]
      != (
        plain["runs"][f"{method}/n60_deg4_noise0.5_seed0"][
          "test_normalized_regret"
        ]
      )
    )
  with pytest.raises(ValueError, match="--knn_k must be >= 0"):
    tiny(tmp_path, knn_k=-1).validate()
