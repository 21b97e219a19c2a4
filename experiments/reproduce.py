r"""Runs every experiment the documentation reports, then redraws its
figures and tables: one command for the whole reproduction.

  python -m experiments.reproduce --quick  # the CPU versions (hours, 2 cores)
  python -m experiments.reproduce \
      --warcraft_data_dir=/data/warcraft_shortest_path/12x12 \
      --cifar_data_dir=/data/tensorflow_datasets   # the paper's settings (GPU)

Each run trains in its own folder under `--output_root`; a finished run
(its results.json, with the same settings) is skipped and an interrupted one
resumes at its last epoch, so rerunning the command after a stop goes on
where it stopped. A run that fails (e.g. CIFAR-10 neither present nor
downloadable) is reported and the others go on; the command then exits 1.
Figures go to `--docs_dir`, tables to `<docs_dir>/results.md` and into the
results page (`--page`, `docs/experiments.md`) between
`<!-- reproduce:NAME -->` and `<!-- /reproduce:NAME -->`.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence
import dataclasses
import functools
import importlib
import json
import os
import re
import traceback

from absl import app
from absl import flags
from absl import logging
import keras
import numpy as np

from experiments import cli
from experiments import common
from experiments import plot
from experiments import scale_study
from experiments import shortest_path

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
# The ranking studies: label noise (every loss), then the Fenchel–Young
# loss's ε and M (the flagfiles after configs/ranking.cfg).
RANKING_STUDIES = {
  "ranking/noise": (),
  "ranking/epsilon": ("configs/ranking_epsilon.cfg",),
  "ranking/samples": ("configs/ranking_samples.cfg",),
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
# The defaults of PG and CaVE against the alternatives one flag away: per
# flagfile, each run's folder and extra flags (the defaults first).
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
}


def make_config(run: Run, output_root: str, extra: Sequence[str] = ()):
  """The run's binary module and its config, parsed as on its command line
  (`extra` flags last, then the output folder)."""
  module = importlib.import_module(f"experiments.{run.binary}")
  flag_values = flags.FlagValues()
  common.define_flags(module.Config, flag_values)
  flag_values(
    [
      "reproduce",
      *run.flags,
      *extra,
      f"--output_dir={os.path.join(output_root, run.name)}",
    ]
  )
  config = common.config_from_flags(module.Config, flag_values)
  config.validate()
  return module, config


def finished(config) -> bool:
  """Whether `config.output_dir` holds a finished run of these settings.

  Raises:
    ValueError: it holds a run of other settings (never overwritten).
  """
  path = os.path.join(config.output_dir, "results.json")
  if not os.path.exists(path):
    return False
  with open(path, encoding="utf-8") as f:
    stored = json.load(f)["config"]
  # Settings added after a run was made keep their defaults' behaviour.
  defaults = {
    f.name: f.default
    for f in dataclasses.fields(config)
    if f.default is not dataclasses.MISSING
  }
  differ = sorted(
    name
    for name, value in dataclasses.asdict(config).items()
    if name not in ("output_dir", "verbose")
    and stored.get(name, defaults.get(name)) != value
  )
  if differ:
    raise ValueError(
      f"{config.output_dir} holds a run with other settings "
      f"({', '.join(differ)}); move it away or delete it."
    )
  return True


def train_all(
  runs: Sequence[Run],
  output_root: str,
  extra: Callable[[str], Sequence[str]] = lambda binary: (),
) -> dict[str, str]:
  """Trains every unfinished run in turn; returns the failed ones' errors."""
  failures = {}
  for run in runs:
    try:
      module, config = make_config(run, output_root, extra(run.binary))
      if finished(config):
        logging.info("%s: finished, skipped.", run.name)
        continue
      logging.info("%s: training.", run.name)
      keras.backend.clear_session()
      module.run(config)
    except common.MissingDataError as error:  # Says all: no traceback.
      logging.error("%s not run: %s", run.name, error)
      failures[run.name] = f"not run: {error}"
    except Exception as error:
      # One failing run should not stop the other experiments.
      logging.error("%s failed:\n%s", run.name, traceback.format_exc())
      failures[run.name] = f"{type(error).__name__}: {error}"
  return failures


def _results(*run_dir: str) -> dict | None:
  """A run's results.json (the path's parts joined), None if unfinished."""
  path = os.path.join(*run_dir, "results.json")
  if not os.path.exists(path):
    return None
  with open(path, encoding="utf-8") as f:
    return json.load(f)


def _best(output_root: str, family: str) -> str | None:
  """The run of a family (a folder of runs) with the best validation
  perfect-path accuracy: the setting is chosen on validation, not test."""
  scores = {}
  for name in sorted(
    os.listdir(os.path.join(output_root, family))
    if os.path.isdir(os.path.join(output_root, family))
    else []
  ):
    results = _results(output_root, os.path.join(family, name))
    if results:
      scores[name] = results["metrics"]["val"]["perfect_path_accuracy"]
  if not scores:
    return None
  return os.path.join(family, max(scores, key=scores.get))


def _percent(value: float) -> str:
  return f"{100 * value:.1f}%"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
  lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
  return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows]) + "\n"


def train_metrics(run_dir: str) -> dict[str, float]:
  """The final checkpoint's path metrics on its training maps, cached in
  the run folder (train_metrics.json): with the test ones, the gap."""
  path = os.path.join(run_dir, "train_metrics.json")
  if not os.path.exists(path):
    common.write_json_atomically(
      path, shortest_path.evaluate_run(run_dir, "train")
    )
  with open(path, encoding="utf-8") as f:
    return json.load(f)


def _warcraft_row(label: str, run_dir: str, results: dict) -> list[str]:
  test, val = results["metrics"]["test"], results["metrics"]["val"]
  train = train_metrics(run_dir)
  minutes, seconds = divmod(round(results["wall_time_s"]), 60)
  return [
    label,
    _percent(test["perfect_path_accuracy"]),
    _percent(val["perfect_path_accuracy"]),
    _percent(train["perfect_path_accuracy"]),
    f"{test['cost_ratio']:.4f}",
    _percent(test["hamming_accuracy"]),
    f"{train['mean_cost']:.3g}",
    f"{minutes} min {seconds:02d} s",
  ]


WARCRAFT_HEADER = (
  "run",
  "test perfect paths",
  "val perfect paths",
  "train perfect paths",
  "test cost ratio",
  "test Hamming accuracy",
  "mean cost (train)",
  "wall time",
)


def _setting(results: dict) -> str:
  c = results["config"]
  if c["loss"] == "perturbed_squared":
    return (
      f"perturbed_squared ({c.get('perturbation', 'additive')}, "
      f"M = {c['num_samples']}, ε = {c['sigma']:g}, Adam "
      f"{c['learning_rate']:.0e}".replace("e-0", "e-")
      + ")"
    )
  if c["loss"] == "blackbox":
    return f"blackbox (λ = {c['blackbox_lambda']:g})"
  return c["loss"]


def _order(results: dict) -> tuple:
  """Runs of a study in the order of their settings."""
  c = results["config"]
  return (
    -c["learning_rate"],
    c.get("perturbation", "additive"),
    c["num_samples"],
    c["sigma"],
    c["blackbox_lambda"],
  )


def warcraft_docs(output_root: str, docs_dir: str) -> dict[str, str]:
  """Figures of the four losses and of the studies; their tables."""
  four = [
    "shortest_path/fenchel_young",
    "shortest_path/cost_mse",
    _best(output_root, "shortest_path/perturbed_squared_study"),
    _best(output_root, "shortest_path/blackbox_lambda"),
  ]
  results = {name: _results(output_root, name) for name in four if name}
  if None in four or None in results.values():
    return {}
  config = results[four[0]]["config"]
  setting = (
    f"{config['model']}, {config['grid_size']}×{config['grid_size']}"
    f" maps, {config['num_train']:,} train, {config['epochs']} "
    "epochs"
  )
  labels = [_setting(r) for r in results.values()]
  plot.plot_learning_curves(
    [os.path.join(output_root, n) for n in four],
    os.path.join(docs_dir, "shortest_path_curves.png"),
    f"Warcraft shortest paths, the four losses ({setting}); each "
    "baseline's best setting on validation",
    ["val_perfect_path_accuracy", "val_hamming_accuracy", "val_cost_ratio"],
    labels,
  )
  plot.plot_run_paths(
    os.path.join(output_root, four[0]),
    os.path.join(docs_dir, "shortest_path_maps.png"),
    title="Fenchel–Young loss: true (green) and predicted "
    "(red) paths on test maps",
  )
  tables = {
    "warcraft": _table(
      WARCRAFT_HEADER,
      [
        _warcraft_row(label, os.path.join(output_root, name), results[name])
        for label, name in zip(labels, four)
      ],
    )
  }
  for family, title, figure in (
    (
      "perturbed_squared_study",
      "perturbed_squared: M, ε and the "
      "perturbation (dashed: Adam 2e-3, solid: 5e-4)",
      "perturbed_squared_study.png",
    ),
    ("blackbox_lambda", "blackbox: the interpolation strength λ", ""),
  ):
    folder = os.path.join(output_root, "shortest_path", family)
    found = {d: _results(d) for d in plot.sweep_runs(folder)}
    runs = sorted(
      (d for d, r in found.items() if r), key=lambda d: _order(found[d])
    )
    rows = [_warcraft_row(_setting(found[d]), d, found[d]) for d in runs]
    tables[family] = _table(WARCRAFT_HEADER, rows)
    if figure:
      plot.plot_learning_curves(
        runs,
        os.path.join(docs_dir, figure),
        f"Warcraft shortest paths, {title} ({setting})",
        ["val_perfect_path_accuracy", "val_mean_cost", "loss"],
        [_setting(found[d]) for d in runs],
        # Dashed: the main job's learning rate; solid: the paper's.
        [
          "--"
          if found[d]["config"]["learning_rate"] > PAPER_LEARNING_RATE
          else "-"
          for d in runs
        ],
      )
  scale = scale_study.loss_against_scale(os.path.join(output_root, four[0]))
  tables["perturbed_squared_scale"] = _table(
    ["network (mean cost)"]
    + [f"costs × {k}" for k in scale["trained"] if k != "mean_cost"],
    [
      [f"{name} ({values.pop('mean_cost'):.2f})"]
      + [f"{v:.4f}" for v in values.values()]
      for name, values in scale.items()
    ],
  )
  resnet = _results(output_root, "shortest_path/resnet18")
  if resnet:
    tables["resnet18"] = _table(
      WARCRAFT_HEADER,
      [
        _warcraft_row(
          f"resnet18, fenchel_young, {resnet['config']['epochs']} epochs",
          os.path.join(output_root, "shortest_path/resnet18"),
          resnet,
        )
      ],
    )
  return tables


def _pm(stats: dict, spec: str = ".3f") -> str:
  """A metric's mean ± std over seeds."""
  return f"{stats['mean']:{spec}} ± {stats['std']:{spec}}"


# (split, metric, header, format, with its std) of the ranking tables.
RANKING_COLUMNS = (
  ("model", "learning_rate", "learning rate", "g", False),
  ("model", "one_minus_cosine", "1 − cos(w, w0)", ".1e", True),
  ("model", "norm", "‖w‖", ".3f", True),
  ("model", "norm_theory", "FY theory ε/σ", ".3f", False),
  (
    "model",
    "relative_gradient_norm",
    "gradient norm, end / start",
    ".1e",
    True,
  ),
  (
    "test_clean",
    "partial_ranking_accuracy",
    "partial (noise-free)",
    ".3f",
    True,
  ),
  (
    "test_clean",
    "perfect_ranking_accuracy",
    "perfect (noise-free)",
    ".3f",
    True,
  ),
  ("test_clean", "projection_accuracy", "projection (noise-free)", ".4f", True),
  ("test_clean", "spearman", "Spearman (noise-free)", ".4f", True),
  ("test", "partial_ranking_accuracy", "partial (noisy labels)", ".3f", True),
  ("model", "seconds_per_epoch", "seconds per epoch", ".1f", False),
)
RANKING_KEYS = {"loss": "loss", "noise": "noise σ", "sigma": "ε", "M": "M"}


def _ranking_table(results: dict, keys: Sequence[str]) -> str:
  """One row per setting: its name's parts `keys`, then RANKING_COLUMNS."""
  rows = []
  for name, splits in plot.ranking_settings(results):
    setting = plot.ranking_setting(name)
    rows.append(
      [f"{setting[k]:g}" if k != "loss" else setting[k] for k in keys]
      + [
        "–"
        if metric not in splits[split]
        else _pm(splits[split][metric], spec)
        if with_std
        else f"{splits[split][metric]['mean']:{spec}}"
        for split, metric, _, spec, with_std in RANKING_COLUMNS
      ]
    )
  return _table(
    [RANKING_KEYS[k] for k in keys] + [column[2] for column in RANKING_COLUMNS],
    rows,
  )


def ranking_docs(output_root: str, docs_dir: str) -> dict[str, str]:
  """The ranking studies' figures and tables: every loss against the label
  noise level; the Fenchel–Young loss's ε and M."""
  tables = {}
  noise = _results(output_root, "ranking/noise")
  if noise:
    c = noise["config"]
    plot.plot_ranking_sweep(
      os.path.join(output_root, "ranking/noise", "results.json"),
      os.path.join(docs_dir, "ranking_sweep.png"),
      f"Learning to rank {c['num_items']} items (d = {c['dim']}, "
      f"{c['num_instances']:,} instances, {c['test_fraction']:.0%} held "
      f"out), linear model, M = {c['num_samples']}, ε = {c['sigma']:g}; "
      f"Adam ({c['lr_schedule']} schedule, {c['epochs']} epochs, initial "
      f"rate selected per loss on validation); mean ± std over "
      f"{c['num_seeds']} seeds",
    )
    tables["ranking"] = _ranking_table(noise, ("loss", "noise"))
  epsilon = _results(output_root, "ranking/epsilon")
  samples = _results(output_root, "ranking/samples")
  if epsilon and samples:
    c = epsilon["config"]
    plot.plot_ranking_scale(
      os.path.join(output_root, "ranking/epsilon", "results.json"),
      os.path.join(output_root, "ranking/samples", "results.json"),
      os.path.join(docs_dir, "ranking_epsilon.png"),
      f"Learning to rank, Fenchel–Young loss: ε against the label noise σ "
      f"(top, M = {c['num_samples']}) and the number of samples M (bottom, "
      f"ε = {samples['config']['sigma']:g}); {c['num_instances']:,} "
      f"instances, linear model, Adam {c['learning_rate']:g} "
      f"({c['lr_schedule']}, {c['epochs']} epochs); mean ± std over "
      f"{c['num_seeds']} seeds",
    )
    tables["ranking_epsilon"] = _ranking_table(epsilon, ("noise", "sigma"))
    tables["ranking_samples"] = _ranking_table(samples, ("noise", "M"))
  return tables


def warcraft_10k_docs(output_root: str) -> dict[str, str]:
  """The Fenchel–Young and blackbox runs on 10,000 maps, if present."""
  rows = []
  for loss in ("fenchel_young", "blackbox"):
    name = f"shortest_path/maps10k/{loss}"
    results = _results(output_root, name)
    if results:
      c = results["config"]
      rows.append(
        _warcraft_row(
          f"{_setting(results)}, {c['num_train']:,} maps, {c['epochs']} epochs",
          os.path.join(output_root, name),
          results,
        )
      )
  return {"warcraft_10k": _table(WARCRAFT_HEADER, rows)} if rows else {}


def classification_docs(output_root: str, docs_dir: str) -> dict[str, str]:
  """The M/ε study's curves and final test accuracies, if it ran."""
  folder = os.path.join(output_root, "classification_sweep")
  results = _results(folder)
  if not results:
    return {}
  plot.plot_learning_curves(
    plot.sweep_runs(folder),
    os.path.join(docs_dir, "classification_sweep.png"),
    "CIFAR-10, vanilla CNN: perturbed argmax (M, ε) against cross-entropy",
    ["val_categorical_accuracy", "categorical_accuracy"],
  )
  rows = [
    [
      name,
      f"{m['test']['categorical_accuracy']:.3f}",
      f"{m['train']['categorical_accuracy']:.3f}",
    ]
    for name, m in sorted(results["metrics"].items())
  ]
  return {
    "classification": _table(("run", "test accuracy", "train accuracy"), rows)
  }


PTO_STUDIES = (
  "shortest_path",
  "shortest_path_grid",
  "knapsack",
  "tsp",
  "tsp_grid",
  "portfolio",
  "portfolio_grid",
)


def pto_docs(output_root: str, docs_dir: str) -> dict[str, str]:
  """PyEPO's figure and tables (mean ± std over seeds) per study: a table
  of methods against degrees for each training size and noise width."""
  tables = {}
  for study in PTO_STUDIES:
    folder = os.path.join(output_root, "predict_then_optimize", study)
    results = _results(folder)
    if not results:
      continue
    c = results["config"]
    problem = {"tsp": "TSP"}.get(c["problem"], c["problem"].replace("_", " "))
    plot.plot_pto(
      os.path.join(folder, "results.json"),
      os.path.join(docs_dir, f"predict_then_optimize_{study}.png"),
      f"PyEPO's {problem}: test normalised regret of a linear model "
      f"trained {c['epochs']} epochs (Adam {c['learning_rate']:g}, batch "
      f"{c['batch_size']}) by each method; mean ± std over "
      f"{c['num_seeds']} seeds",
    )
    blocks = []
    for (size, noise), methods in plot.pto_cells(
      results["metrics"]["summary"]
    ).items():
      degrees = sorted({d for runs in methods.values() for d in runs})
      rows = [
        [method] + [_pm(methods[method][d], ".4f") for d in degrees]
        for method in c["methods"]
      ]
      blocks.append(
        f"*{size:,} training instances, {plot.pto_noise(c['problem'])} "
        f"{noise:g}*\n\n"
        + _table(["method"] + [f"deg {d}" for d in degrees], rows)
      )
    tables[f"pto_{study}"] = "\n".join(blocks)
  for name, table in (
    ("pto_flow_lp", flow_lp_table(output_root)),
    ("pto_catalogue", catalogue_table(output_root)),
    *(
      (f"pto_{study}", defaults_table(output_root, variants))
      for study, variants in DEFAULTS_STUDIES.items()
    ),
  ):
    if table:
      tables[name] = table
  return tables


def _regret_and_time_rows(folder: str, label: Sequence[str] = ()) -> list:
  """Per method and data cell of a results.json: `[method, *label, cell,
  regret mean ± std, median s / epoch]`."""
  results = _results(folder)
  if not results:
    return []
  runs = results["metrics"]["runs"]
  rows = []
  for method, cells in results["metrics"]["summary"].items():
    for cell, summary in cells.items():
      seconds = [
        m["seconds_per_epoch"]
        for name, m in runs.items()
        if name.startswith(f"{method}/{cell}_")
      ]
      rows.append(
        [
          method,
          *label,
          cell,
          _pm(summary, ".4f"),
          f"{np.median(seconds):.3f}",
        ]
      )
  return rows


REGRET_AND_TIME = ("data", "test normalised regret", "s / epoch (median)")


def flow_lp_table(output_root: str) -> str:
  """The shortest path as a flow LP: each method's test regret (mean ± std
  over seeds) and seconds per epoch through each solver."""
  rows = [
    row
    for solver in FLOW_LP_SOLVERS
    for row in _regret_and_time_rows(
      os.path.join(output_root, "predict_then_optimize", f"flow_lp_{solver}"),
      [solver],
    )
  ]
  return _table(["method", "solver", *REGRET_AND_TIME], rows) if rows else ""


def catalogue_table(output_root: str) -> str:
  """The rest of the catalogue at PyEPO's default setting: each method's
  test regret (mean ± std over seeds) and seconds per epoch."""
  rows = _regret_and_time_rows(
    os.path.join(output_root, "predict_then_optimize", "catalogue")
  )
  return _table(["method", *REGRET_AND_TIME], rows) if rows else ""


def defaults_table(output_root: str, variants: Sequence[tuple]) -> str:
  """Each method's test regret (mean ± std over seeds) and seconds per epoch
  with the library's defaults and with the alternative flags."""
  rows = [
    row
    for name, extra in variants
    for row in _regret_and_time_rows(
      os.path.join(output_root, "predict_then_optimize", name),
      [" ".join(f for f in extra if not f.startswith("--methods")) or "—"],
    )
  ]
  header = ["method", "flags", *REGRET_AND_TIME]
  return _table(header, rows) if rows else ""


def update_page(page: str, tables: dict[str, str]) -> None:
  """Replaces each `<!-- reproduce:NAME -->` section of a page."""
  with open(page, encoding="utf-8") as f:
    text = f.read()
  for name, table in tables.items():
    text = re.sub(
      rf"(<!-- reproduce:{name} -->\n).*?(<!-- /reproduce:{name} -->)",
      lambda m, table=table: m.group(1) + table + m.group(2),
      text,
      flags=re.S,
    )
  with open(page, "w", encoding="utf-8") as f:
    f.write(text)


def _sections(path: str) -> dict[str, str]:
  """The tables of an existing results.md, by section name."""
  if not os.path.exists(path):
    return {}
  with open(path, encoding="utf-8") as f:
    text = f.read()
  return {
    name: table.rstrip("\n") + "\n"
    for name, table in re.findall(
      r"^## (\S+)\n\n(.*?)(?=^## |\Z)", text, flags=re.S | re.M
    )
  }


def make_docs(output_root: str, docs_dir: str, page: str = "") -> dict:
  """Redraws every figure and table of the runs present; returns the
  tables by name."""
  os.makedirs(docs_dir, exist_ok=True)
  tables = {
    **warcraft_docs(output_root, docs_dir),
    **warcraft_10k_docs(output_root),
    **ranking_docs(output_root, docs_dir),
    **classification_docs(output_root, docs_dir),
    **pto_docs(output_root, docs_dir),
  }
  path = os.path.join(docs_dir, "results.md")
  # Sections of runs not present here (another machine's) are kept.
  sections = {**_sections(path), **tables}
  with open(path, "w", encoding="utf-8") as f:
    f.write(
      "# Results of `python -m experiments.reproduce`\n\n"
      + "\n".join(f"## {name}\n\n{table}" for name, table in sections.items())
    )
  if page:
    update_page(page, tables)
  return tables


def _selects(prefix: str, run: Run) -> bool:
  """Whether `--only`'s entry names the run: an experiment (its folder's
  first part), the run itself, or a folder of runs."""
  return run.name == prefix or run.name.startswith(prefix.rstrip("/") + "/")


def main(argv):
  del argv
  f = flags.FLAGS
  runs = all_runs(f.quick, f.warcraft_data_dir, f.cifar_data_dir)
  if f.only:
    unknown = [p for p in f.only if not any(_selects(p, r) for r in runs)]
    if unknown:
      raise app.UsageError(f"--only: no experiment or run {unknown}.")
    runs = [r for r in runs if any(_selects(p, r) for p in f.only)]
  if (
    not f.quick
    and not f.smoke
    and not f.warcraft_data_dir
    and any(r.binary == "shortest_path" for r in runs)
  ):
    raise app.UsageError(
      "The paper's Warcraft setting needs the real data: "
      "--warcraft_data_dir (or --quick for the CPU "
      "versions on synthetic maps)."
    )
  failures = train_all(
    runs,
    f.output_root,
    functools.partial(smoke_flags, f.output_root)
    if f.smoke
    else lambda binary: (),
  )
  make_docs(f.output_root, f.docs_dir, f.page)
  if failures:
    for name, error in failures.items():
      print(f"FAILED {name}: {error}")
    raise SystemExit(1)


if __name__ == "__main__":
  flags.DEFINE_bool(
    "quick",
    False,
    "The CPU versions (synthetic Warcraft "
    "maps, the small CNN, a short CIFAR-10 sweep) instead "
    "of the paper's settings.",
  )
  flags.DEFINE_bool(
    "smoke",
    False,
    "Tiny sizes, one epoch: checks the "
    "pipeline in minutes (numbers meaningless).",
  )
  flags.DEFINE_list(
    "only",
    [],
    "Only these experiments (shortest_path, ranking, classification_sweep, "
    "predict_then_optimize) or runs, by folder (e.g. "
    "predict_then_optimize/flow_lp_pdlp).",
  )
  flags.DEFINE_string("output_root", "runs/reproduce", "Where the runs go.")
  flags.DEFINE_string(
    "docs_dir", "docs", "Where the figures and results.md go."
  )
  flags.DEFINE_string(
    "page",
    "docs/experiments.md",
    "The results page whose reproduce sections to update (empty: none).",
  )
  flags.DEFINE_string(
    "warcraft_data_dir",
    "",
    "The Warcraft 12×12 .npy folder (the paper's setting).",
  )
  flags.DEFINE_string(
    "cifar_data_dir", "", "The tensorflow-datasets folder holding cifar10."
  )
  cli.run_main(main)
