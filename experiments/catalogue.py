"""The reproduction's catalogue: every run the documentation reports, as a
binary, its flags and its folder (the CPU forms with `quick`, the papers'
settings without); the tiny sizes of the smoke test; and which runs an
`--only` entry names."""

from __future__ import annotations

import dataclasses
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WARCRAFT_QUICK = ("configs/shortest_path_quick.cfg",)
# The perturbed_squared study: M, ε and the perturbation at the main job's
# learning rate (where it collapses), and at the paper's 5e-4.
PAPER_LEARNING_RATE = 5e-4
PERTURBED_SQUARED = tuple(
  (
    f"{kind}_M{m}_sigma{sigma:g}" + (f"_lr{lr:g}" if lr else ""),
    kind,
    m,
    sigma,
    lr,
  )
  for kind, m, sigma, lr in (
    ("additive", 3, 0.1, None),
    ("additive", 10, 0.1, None),
    ("additive", 30, 0.1, None),
    ("multiplicative", 10, 0.3, None),
    ("additive", 3, 0.1, PAPER_LEARNING_RATE),
    ("additive", 10, 0.1, PAPER_LEARNING_RATE),
    ("additive", 30, 0.1, PAPER_LEARNING_RATE),
    ("additive", 10, 0.03, PAPER_LEARNING_RATE),
    ("additive", 10, 0.3, PAPER_LEARNING_RATE),
    ("multiplicative", 10, 0.3, PAPER_LEARNING_RATE),
    ("multiplicative", 30, 0.3, PAPER_LEARNING_RATE),
  )
)
BLACKBOX_LAMBDAS = (5, 10, 20, 40)
BLACKBOX_10K_LAMBDA = 5  # The λ study's choice on validation.
# The ranking studies: label noise (every loss), the Fenchel–Young loss's ε
# and M, and the closed-form soft-rank losses beside it (the flagfiles after
# configs/ranking.cfg).
RANKING_STUDIES = {
  "ranking/noise": (),
  "ranking/epsilon": ("configs/ranking_epsilon.cfg",),
  "ranking/samples": ("configs/ranking_samples.cfg",),
  "ranking/soft": ("configs/ranking_soft.cfg",),
}
# Tiny sizes for `--smoke` (the tests): every run's code path, in seconds.
SMOKE_FLAGS = {
  "shortest_path": (
    "--num_train=14",
    "--num_val=7",
    "--num_test=7",
    "--grid_size=4",
    "--epochs=1",
    "--batch_size=7",
    "--nojit_compile",
  ),
  "ranking": (
    "--num_instances=30",
    "--num_items=6",
    "--dim=3",
    "--epochs=1",
    "--num_samples=4",
    "--noise_levels=1",
    "--num_seeds=2",
    "--select_learning_rates=0.01,0.1",
  ),
  "classification": (
    "--epochs=1",
    "--batch_size=8",
    "--num_samples=4",
    "--max_train_examples=16",
    "--max_test_examples=8",
    "--sweep_num_samples=1,2",
    "--sweep_sigmas=1",
  ),
  "predict_then_optimize": (
    "--num_train=30",
    "--num_test=20",
    "--degrees=1,6",
    "--num_seeds=1",
    "--epochs=1",
    "--batch_size=10",
    "--num_samples=2",
    "--num_items=6",
    "--capacity=8",
    "--num_nodes=6",
    "--num_assets=8",
  ),
}


def smoke_flags(output_root: str, binary: str) -> tuple[str, ...]:
  """The tiny sizes of `binary`; synthetic maps kept under `output_root`."""
  if binary == "shortest_path":
    return (
      *SMOKE_FLAGS[binary],
      f"--synthetic_dir={os.path.join(output_root, 'data')}",
    )
  return SMOKE_FLAGS[binary]


@dataclasses.dataclass(frozen=True)
class Run:
  """One command of the reproduction: a binary, its flags, its folder."""

  name: str  # The folder under --output_root.
  binary: str  # A module of experiments/.
  flags: tuple[str, ...]


def _flagfiles(*paths: str) -> tuple[str, ...]:
  return tuple(f"--flagfile={os.path.join(ROOT, p)}" for p in paths)


def warcraft_runs(quick: bool, data_dir: str) -> list[Run]:
  """The four Warcraft losses with their studies (quick: synthetic maps and
  the small CNN; else the paper's network on the real data), and the
  paper's network on the synthetic maps (quick only)."""
  base = (
    _flagfiles(*WARCRAFT_QUICK)
    if quick
    else (*_flagfiles("configs/shortest_path.cfg"), f"--data_dir={data_dir}")
  )
  runs = [
    Run("shortest_path/fenchel_young", "shortest_path", base),
    Run("shortest_path/cost_mse", "shortest_path", (*base, "--loss=cost_mse")),
  ]
  runs += [
    Run(
      f"shortest_path/perturbed_squared_study/{name}",
      "shortest_path",
      (
        *base,
        "--loss=perturbed_squared",
        f"--perturbation={kind}",
        f"--num_samples={m}",
        f"--sigma={sigma}",
        *([f"--learning_rate={lr}"] if lr else []),
      ),
    )
    for name, kind, m, sigma, lr in PERTURBED_SQUARED
  ]
  runs += [
    Run(
      f"shortest_path/blackbox_lambda/lambda{lam}",
      "shortest_path",
      (
        *base,
        *_flagfiles("configs/shortest_path_blackbox.cfg"),
        f"--blackbox_lambda={lam}",
      ),
    )
    for lam in BLACKBOX_LAMBDAS
  ]
  if quick:
    runs.append(
      Run(
        "shortest_path/resnet18",
        "shortest_path",
        _flagfiles("configs/shortest_path_resnet18_quick.cfg"),
      )
    )
    # Fenchel–Young and blackbox (its best λ on validation) on 10,000 maps.
    runs += [
      Run(
        f"shortest_path/maps10k/{loss}",
        "shortest_path",
        (
          *base,
          *_flagfiles(*flagfiles, "configs/shortest_path_10k.cfg"),
          *extra,
        ),
      )
      for loss, flagfiles, extra in (
        ("fenchel_young", (), ()),
        (
          "blackbox",
          ("configs/shortest_path_blackbox.cfg",),
          (f"--blackbox_lambda={BLACKBOX_10K_LAMBDA}",),
        ),
      )
    ]
  return runs


def all_runs(
  quick: bool, warcraft_data_dir: str = "", cifar_data_dir: str = ""
) -> list[Run]:
  """Every run of the reproduction, in the order they train."""
  cifar = (
    _flagfiles("configs/classification_quick.cfg")
    + ("--sweep_num_samples=1,10,100", "--sweep_sigmas=0.1,1")
    if quick
    else (_flagfiles("configs/classification_sweep.cfg"))
  )
  if cifar_data_dir:
    cifar += (f"--data_dir={cifar_data_dir}",)
  return [
    *warcraft_runs(quick, warcraft_data_dir),
    *(
      Run(name, "ranking", _flagfiles("configs/ranking.cfg", *extra))
      for name, extra in RANKING_STUDIES.items()
    ),
    Run("classification_sweep", "classification", cifar),
    *pto_runs(quick),
  ]


def pto_runs(quick: bool) -> list[Run]:
  """PyEPO's benchmark: the shortest path (quick: one training size and
  noise width; else PyEPO's grid of three sizes and two widths), the
  knapsack, the TSP and the portfolio (quick: one setting; else PyEPO's
  grid), the rest of the catalogue at PyEPO's default setting, and the
  shortest path as a flow LP through each solver."""
  shortest = (
    ("shortest_path", "configs/predict_then_optimize_quick.cfg")
    if quick
    else ("shortest_path_grid", "configs/predict_then_optimize.cfg")
  )
  grid = "" if quick else "_grid"
  return (
    [
      Run(
        f"predict_then_optimize/{problem}",
        "predict_then_optimize",
        _flagfiles(flagfile),
      )
      for problem, flagfile in (
        shortest,
        ("knapsack", "configs/predict_then_optimize_knapsack.cfg"),
        *(
          (f"{p}{grid}", f"configs/predict_then_optimize_{p}{grid}.cfg")
          for p in ("tsp", "portfolio")
        ),
      )
    ]
    + [
      Run(
        "predict_then_optimize/catalogue",
        "predict_then_optimize",
        _flagfiles("configs/predict_then_optimize_catalogue.cfg"),
      )
    ]
    + [
      Run(
        f"predict_then_optimize/{name}",
        "predict_then_optimize",
        _flagfiles(f"configs/predict_then_optimize_{study}.cfg") + extra,
      )
      for study, variants in DEFAULTS_STUDIES.items()
      for name, extra in variants
    ]
    + [
      Run(
        f"predict_then_optimize/flow_lp_{solver}",
        "predict_then_optimize",
        _flagfiles("configs/predict_then_optimize_flow_lp.cfg") + extra,
      )
      for solver, extra in FLOW_LP_SOLVERS.items()
    ]
  )


# The flow LP's solvers: each run's name and its extra flags.
FLOW_LP_SOLVERS = {
  "grid": ("--shortest_path_solver=grid",),
  "pdlp": ("--shortest_path_solver=pdlp",),
  "pdlp_warm": ("--shortest_path_solver=pdlp", "--lp_warm_starts=1000"),
  "highs": ("--shortest_path_solver=highs",),
}
# Studies of a flag: per flagfile, each run's folder and extra flags (the
# flagfile's setting first). The defaults of PG and CaVE against the
# alternatives one flag away; kNN-robust targets against the data as it is.
ALTERNATIVES = ("--nopg_central", "--cave_interior=0")
DEFAULTS_STUDIES = {
  "defaults": (
    ("defaults", ()),
    ("defaults_alternatives", ("--methods=pg,cave", *ALTERNATIVES)),
  ),
  "knapsack_cave": (
    ("knapsack_cave", ()),
    ("knapsack_cave_exact", ("--methods=cave", "--cave_interior=0")),
  ),
  "knn": (("knn_off", ()), ("knn", ("--knn_k=10",))),
}


def selects(prefix: str, run: Run) -> bool:
  """Whether `--only`'s entry names the run: an experiment (its folder's
  first part), the run itself, or a folder of runs."""
  return run.name == prefix or run.name.startswith(prefix.rstrip("/") + "/")
