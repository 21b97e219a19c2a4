"""The reproduction's tables, as markdown: each built from the results it
reads (`run_results.py`), and each followed by the line saying what those
runs were measured with (`provenance.describe`)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from experiments import catalogue
from experiments import provenance
from experiments import run_results


def _markdown(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
  lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
  return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows]) + "\n"


def table(
  header: Sequence[str],
  rows: Sequence[Sequence[str]],
  sources: Sequence[dict | None],
) -> str:
  """A markdown table, then the provenance of the results it shows."""
  return f"{_markdown(header, rows)}\n{provenance.describe(sources)}\n"


def percent(value: float) -> str:
  return f"{100 * value:.1f}%"


def pm(stats: dict, spec: str = ".3f") -> str:
  """A metric's mean ± std over seeds."""
  return f"{stats['mean']:{spec}} ± {stats['std']:{spec}}"


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


def warcraft_row(label: str, run_dir: str, results: dict) -> list[str]:
  """A Warcraft run's accuracies (test, validation, its training maps),
  test cost ratio and Hamming accuracy, mean cost and wall time."""
  test, val = results["metrics"]["test"], results["metrics"]["val"]
  train = run_results.train_metrics(run_dir)
  minutes, seconds = divmod(round(results["wall_time_s"]), 60)
  return [
    label,
    percent(test["perfect_path_accuracy"]),
    percent(val["perfect_path_accuracy"]),
    percent(train["perfect_path_accuracy"]),
    f"{test['cost_ratio']:.4f}",
    percent(test["hamming_accuracy"]),
    f"{train['mean_cost']:.3g}",
    f"{minutes} min {seconds:02d} s",
  ]


def warcraft_setting(results: dict) -> str:
  """A Warcraft run's loss and, for the baselines, their settings; and
  where training diverged, the epoch it stopped at."""
  c = results["config"]
  if c["loss"] == "perturbed_squared":
    label = (
      f"perturbed_squared ({c.get('perturbation', 'additive')}, "
      f"M = {c['num_samples']}, ε = {c['sigma']:g}, Adam "
      f"{c['learning_rate']:.0e}".replace("e-0", "e-")
      + ")"
    )
  elif c["loss"] == "blackbox":
    label = f"blackbox (λ = {c['blackbox_lambda']:g})"
  else:
    label = c["loss"]
  diverged = results.get("divergences", {}).get("")
  if diverged:
    label += f", diverged at epoch {diverged['epoch']}"
  return label


def warcraft_order(results: dict) -> tuple:
  """Runs of a study in the order of their settings."""
  c = results["config"]
  return (
    -c["learning_rate"],
    c.get("perturbation", "additive"),
    c["num_samples"],
    c["sigma"],
    c["blackbox_lambda"],
  )


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


def validation_cost_table(
  histories: dict[str, dict], sources: Sequence[dict]
) -> str:
  """Each run's validation mean cost after every epoch (two significant
  digits), from its history by name: the scale its costs take."""
  costs = {name: h["val_mean_cost"] for name, h in histories.items()}
  epochs = max(len(c) for c in costs.values())
  return table(
    ["run"] + [f"epoch {e}" for e in range(1, epochs + 1)],
    [
      [name] + [f"{v:.2g}" for v in c] + ["–"] * (epochs - len(c))
      for name, c in costs.items()
    ],
    sources,
  )


def ranking_table(results: dict, keys: Sequence[str]) -> str:
  """One row per setting: its name's parts `keys`, then RANKING_COLUMNS."""
  rows = []
  for name, splits in run_results.ranking_settings(results):
    setting = run_results.ranking_setting(name)
    rows.append(
      [f"{setting[k]:g}" if k != "loss" else setting[k] for k in keys]
      + [
        "–"
        if metric not in splits[split]
        else pm(splits[split][metric], spec)
        if with_std
        else f"{splits[split][metric]['mean']:{spec}}"
        for split, metric, _, spec, with_std in RANKING_COLUMNS
      ]
    )
  return table(
    [RANKING_KEYS[k] for k in keys] + [column[2] for column in RANKING_COLUMNS],
    rows,
    [results],
  )


def ranking_least_squares_table(results: dict) -> str:
  """The squared losses of a ranking sweep against Brillinger's prediction
  (`run_results.ranking_least_squares`): one row per (loss, σ)."""
  rows = [
    [
      name.split("/")[0],
      f"{run_results.ranking_setting(name)['noise']:g}",
      pm(stats["mse"], ".1f"),
      pm(stats["norm"], ".3f"),
      pm(stats["predicted"], ".1e"),
      pm(stats["measured"], ".1e"),
      pm(stats["gap"], ".1e"),
    ]
    for name, stats in run_results.ranking_least_squares(results).items()
  ]
  return table(
    (
      "loss",
      "noise σ",
      "training MSE",
      "‖w‖",
      "1 − cos(w, w0), predicted",
      "1 − cos(w, w0), measured",
      "1 − cos(w, least-squares minimiser)",
    ),
    rows,
    [results],
  )


def pto_study_table(results: dict) -> str:
  """A predict-then-optimize study: per training size and noise, a table of
  its methods against the degrees (mean ± std over seeds)."""
  c = results["config"]
  blocks = []
  for (size, noise), methods in run_results.pto_cells(
    results["metrics"]["summary"]
  ).items():
    degrees = sorted({d for runs in methods.values() for d in runs})
    rows = [
      [method] + [pm(methods[method][d], ".4f") for d in degrees]
      for method in c["methods"]
    ]
    blocks.append(
      f"*{size:,} training instances, {run_results.pto_noise(c['problem'])} "
      f"{noise:g}*\n\n"
      + _markdown(["method"] + [f"deg {d}" for d in degrees], rows)
    )
  return "\n".join(blocks) + f"\n{provenance.describe([results])}\n"


REGRET_AND_TIME = ("data", "test normalised regret", "s / epoch (median)")


def regret_and_time_rows(results: dict, label: Sequence[str] = ()) -> list:
  """Per method and data cell of a predict-then-optimize run's results:
  `[method, *label, cell, regret mean ± std, median s / epoch]`."""
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
          pm(summary, ".4f"),
          f"{np.median(seconds):.3f}",
        ]
      )
  return rows


def _pto(output_root: str, name: str) -> dict | None:
  return run_results.read(output_root, "predict_then_optimize", name)


def _labelled_table(
  header: Sequence[str], found: Sequence[tuple[str, dict | None]]
) -> str:
  """The rows of each `(label, results)` found, labelled; "" if none ran."""
  rows = [
    row
    for label, results in found
    if results
    for row in regret_and_time_rows(results, [label])
  ]
  sources = [results for _, results in found]
  return table(header, rows, sources) if rows else ""


def flow_lp_table(output_root: str) -> str:
  """The shortest path as a flow LP: each method's test regret (mean ± std
  over seeds) and seconds per epoch through each solver."""
  return _labelled_table(
    ["method", "solver", *REGRET_AND_TIME],
    [
      (solver, _pto(output_root, f"flow_lp_{solver}"))
      for solver in catalogue.FLOW_LP_SOLVERS
    ],
  )


def catalogue_table(output_root: str) -> str:
  """The rest of the catalogue at PyEPO's default setting: each method's
  test regret (mean ± std over seeds) and seconds per epoch."""
  results = _pto(output_root, "catalogue")
  if not results:
    return ""
  return table(
    ["method", *REGRET_AND_TIME], regret_and_time_rows(results), [results]
  )


def defaults_table(output_root: str, variants: Sequence[tuple]) -> str:
  """Each method's test regret (mean ± std over seeds) and seconds per epoch
  with the library's defaults and with the alternative flags."""
  return _labelled_table(
    ["method", "flags", *REGRET_AND_TIME],
    [
      (
        " ".join(f for f in extra if not f.startswith("--methods")) or "—",
        _pto(output_root, name),
      )
      for name, extra in variants
    ],
  )
