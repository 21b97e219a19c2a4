r"""Figures of experiment runs: learning curves, and Warcraft paths.

  python -m experiments.plot --runs=runs/a,runs/b --output=curves.png
  python -m experiments.plot --sweep_dir=runs/classification_sweep \
      --metrics=val_categorical_accuracy --output=sweep.png
  python -m experiments.plot --paths_from=runs/shortest_path --output=paths.png
  python -m experiments.plot --ranking_results=runs/ranking/results.json \
      --output=ranking.png
  python -m experiments.plot \
      --pto_results=runs/predict_then_optimize/shortest_path/results.json \
      --output=pto.png

Needs matplotlib (`pip install -e ".[plot]"`).
"""

from __future__ import annotations

from collections.abc import Sequence
import csv
import json
import os
import textwrap

from absl import app
from absl import flags
import numpy as np

from experiments import cli


def _pyplot():
  try:
    import matplotlib
  except ImportError as error:
    raise ImportError(
      "Plotting needs matplotlib: pip install -e '.[plot]'."
    ) from error
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  return plt


def read_history(run_dir: str) -> dict[str, list[float]]:
  """The per-epoch metrics of a run, from its history.csv."""
  path = os.path.join(run_dir, "history.csv")
  if not os.path.exists(path):
    raise FileNotFoundError(
      f"No history.csv in {run_dir}: is it a run "
      "folder (--output_dir of an experiment)?"
    )
  columns: dict[str, list[float]] = {}
  with open(path, newline="", encoding="utf-8") as f:
    for row in csv.DictReader(f):
      for key, value in row.items():
        columns.setdefault(key, []).append(float(value))
  return columns


def plot_learning_curves(
  run_dirs: Sequence[str],
  output: str,
  title: str = "",
  metrics: Sequence[str] = (),
  labels: Sequence[str] = (),
  styles: Sequence[str] = (),
) -> str:
  """One panel per metric (all, or those in `metrics`), one line per run
  (named by `labels`, default the folder names; matplotlib line `styles`,
  default solid), the setting in `title`; returns the PNG path. Mean costs
  are drawn on a log scale."""
  plt = _pyplot()
  labels = list(labels) or [
    os.path.basename(os.path.normpath(d)) for d in run_dirs
  ]
  styles = list(styles) or ["-"] * len(run_dirs)
  colours = plt.get_cmap("tab10" if len(run_dirs) <= 10 else "tab20").colors
  histories = {d: read_history(d) for d in run_dirs}
  names = sorted({k for h in histories.values() for k in h} - {"epoch"})
  if metrics:
    missing = set(metrics) - set(names)
    if missing:
      raise ValueError(
        f"No metric {sorted(missing)} in these runs; they have {names}."
      )
    names = list(metrics)
  cols = min(3, len(names))
  rows = -(-len(names) // cols)
  # The legend goes below the panels: inside, many runs would hide curves.
  columns = min(len(labels), 2 if len(labels) > 4 else 4)
  legend_height = 0.25 * -(-len(labels) // columns) + 0.2  # Inches.
  height = 3.2 * rows + legend_height
  fig, axes = plt.subplots(
    rows, cols, figsize=(4.5 * cols, height), squeeze=False
  )
  for ax, name in zip(axes.flat, names):
    for i, (label, history) in enumerate(zip(labels, histories.values())):
      if name in history:
        ax.plot(
          np.asarray(history["epoch"]) + 1,
          history[name],
          styles[i],
          color=colours[i % len(colours)],
          label=label,
        )
    ax.set_title(name.replace("val_", "validation ").replace("_", " "))
    ax.set_xlabel("epoch")
    ax.set_ylabel(name.removeprefix("val_").replace("_", " "))
    if name.endswith("mean_cost"):
      ax.set_yscale("log")
    ax.grid(alpha=0.3)
  for ax in axes.flat[len(names) :]:
    ax.axis("off")
  handles, names = axes.flat[0].get_legend_handles_labels()
  fig.legend(handles, names, loc="lower center", ncol=columns, fontsize=8)
  if title:
    fig.suptitle(title)
  fig.tight_layout(rect=(0, legend_height / height, 1, 1))
  fig.savefig(output, dpi=120)
  plt.close(fig)
  return output


def sweep_runs(sweep_dir: str) -> list[str]:
  """The run folders of a sweep: the sub-folders with a history.csv."""
  runs = sorted(
    os.path.join(sweep_dir, name)
    for name in os.listdir(sweep_dir)
    if os.path.exists(os.path.join(sweep_dir, name, "history.csv"))
  )
  if not runs:
    raise FileNotFoundError(
      f"No run folders with a history.csv in {sweep_dir}."
    )
  return runs


RANKING_METRICS = (
  "perfect_ranking_accuracy",
  "partial_ranking_accuracy",
  "projection_accuracy",
  "spearman",
)
# Panels of the ranking figures: (split, metric, axis label, log scale).
RANKING_PANELS = (
  ("model", "one_minus_cosine", "1 − cos(w, w0)", True),
  ("model", "norm", "‖w‖", True),
  *(
    ("test_clean", m, f"test {m.replace('_', ' ')} (noise-free)", False)
    for m in RANKING_METRICS
  ),
)


def ranking_setting(name: str) -> dict[str, float]:
  """The parts of a ranking setting's name `<loss>/noise_<σ>[/sigma_<ε>]
  [/M_<M>]`: `{'loss': ..., 'noise': σ, 'sigma': ε, 'M': M}` (those given)."""
  loss, *parts = name.split("/")
  setting: dict = {"loss": loss}
  for part in parts:
    key, _, value = part.partition("_")
    setting[key] = float(value)
  if "noise" not in setting:
    raise ValueError(f"{name!r} is not a ranking setting <loss>/noise_<σ>.")
  return setting


def ranking_settings(results: dict) -> list[tuple]:
  """`(setting name, summary per split)` of a ranking results.json's
  contents, in the run's order: its losses as given, then σ, ε and M."""
  losses = results["config"]["sweep_losses"] or [results["config"]["loss"]]

  def order(item):
    setting = ranking_setting(item[0])
    return (
      losses.index(setting["loss"]),
      setting["noise"],
      setting.get("sigma", 0.0),
      setting.get("M", 0.0),
    )

  return sorted(results["metrics"]["summary"].items(), key=order)


def ranking_sweep(results: dict) -> dict[str, dict[float, dict]]:
  """`{loss: {noise level: summary per split}}` from a ranking sweep's
  results.json contents (settings `<loss>/noise_<level>`, no ε or M sweep;
  each metric's mean, std and values over seeds)."""
  sweep: dict[str, dict[float, dict]] = {}
  for name, splits in ranking_settings(results):
    setting = ranking_setting(name)
    if set(setting) != {"loss", "noise"}:
      raise ValueError(
        f"{name!r} sweeps ε or M: draw it with plot_ranking_scale."
      )
    sweep.setdefault(setting["loss"], {})[setting["noise"]] = splits
  return sweep


def _errorbar(ax, x, stats: list[dict], **kwargs):
  ax.errorbar(
    x,
    [s["mean"] for s in stats],
    yerr=[s["std"] for s in stats],
    capsize=3,
    markersize=4,
    **kwargs,
  )


def plot_ranking_sweep(results_path: str, output: str, title: str = "") -> str:
  """The robustness figure: against the label noise level, per loss (mean
  over seeds, error bars ± one standard deviation), how well w recovers w0
  (1 − cos, the norm beside the Fenchel–Young theory ε/σ) and the test
  accuracies against the noise-free ranking."""
  plt = _pyplot()
  with open(results_path, encoding="utf-8") as f:
    results = json.load(f)
  sweep = ranking_sweep(results)
  fig, axes = plt.subplots(2, 3, figsize=(14, 8))
  colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
  for ax, (split, metric, label, log) in zip(axes.flat, RANKING_PANELS):
    for colour, (loss, runs) in zip(colours, sweep.items()):
      levels = sorted(runs)
      _errorbar(
        ax,
        levels,
        [runs[v][split][metric] for v in levels],
        fmt="-o",
        color=colour,
        label=loss,
      )
    if metric == "norm":
      sigma = results["config"]["sigma"]
      levels = [v for v in sorted(next(iter(sweep.values()))) if v > 0]
      (theory,) = ax.plot(
        levels,
        [sigma / v for v in levels],
        ":x",
        color="black",
        label="Fenchel–Young theory ε/σ",
      )
      ax.legend(handles=[theory], fontsize=8)
    ax.set_xlabel("label noise level σ")
    ax.set_ylabel(label)
    if log:
      ax.set_yscale("log")
    ax.grid(alpha=0.3)
  handles, names = axes.flat[0].get_legend_handles_labels()
  fig.legend(handles, names, loc="lower center", ncol=len(sweep), fontsize=9)
  if title:
    fig.suptitle(textwrap.fill(title, 110), fontsize=10)
  fig.tight_layout(rect=(0, 0.05, 1, 1))
  fig.savefig(output, dpi=120)
  plt.close(fig)
  return output


def plot_ranking_scale(
  epsilon_results: str, samples_results: str, output: str, title: str = ""
) -> str:
  """The Fenchel–Young loss's ε and M: 1 − cos(w, w0), the learned norm
  over the theory's ε/σ, and the test partial accuracy (noise-free) against
  ε/σ (one line per noise level σ; top) and against M (bottom)."""
  plt = _pyplot()
  summaries = []
  for path in (epsilon_results, samples_results):
    with open(path, encoding="utf-8") as f:
      summaries.append(json.load(f)["metrics"]["summary"])
  fig, axes = plt.subplots(2, 3, figsize=(14, 8))
  colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
  panels = (
    ("one_minus_cosine", "1 − cos(w, w0)", True),
    ("norm_ratio", "‖w‖ / (ε/σ)  (theory: 1)", False),
    (
      "partial_ranking_accuracy",
      "test partial ranking accuracy (noise-free)",
      False,
    ),
  )
  for row, (summary, key, xlabel) in enumerate(
    zip(summaries, ("sigma", "M"), ("ε / σ", "M, perturbed samples"))
  ):
    lines: dict[float, dict[float, dict]] = {}
    for name, splits in summary.items():
      setting = ranking_setting(name)
      x = setting[key] / (setting["noise"] if key == "sigma" else 1.0)
      lines.setdefault(setting["noise"], {})[x] = splits
    for ax, (metric, label, log) in zip(axes[row], panels):
      for colour, (noise, points) in zip(colours, sorted(lines.items())):
        xs = sorted(points)
        if metric == "norm_ratio":
          stats = [
            {
              "mean": points[x]["model"]["norm"]["mean"]
              / points[x]["model"]["norm_theory"]["mean"],
              "std": points[x]["model"]["norm"]["std"]
              / points[x]["model"]["norm_theory"]["mean"],
            }
            for x in xs
          ]
        else:
          split = "model" if metric == "one_minus_cosine" else "test_clean"
          stats = [points[x][split][metric] for x in xs]
        _errorbar(
          ax,
          xs,
          stats,
          fmt="-o",
          color=colour,
          label=f"label noise σ = {noise:g}",
        )
      if metric == "norm_ratio":
        ax.axhline(1.0, color="black", linestyle=":", label="theory")
      ax.set_xscale("log", base=2 if key == "sigma" else 10)
      ticks = sorted({x for points in lines.values() for x in points})
      ax.set_xticks(ticks, [f"{x:g}" for x in ticks])
      ax.set_xlabel(xlabel)
      ax.set_ylabel(label)
      if log:
        ax.set_yscale("log")
      ax.grid(alpha=0.3)
      ax.legend(fontsize=8)
  if title:
    fig.suptitle(textwrap.fill(title, 110), fontsize=10)
  fig.tight_layout()
  fig.savefig(output, dpi=120)
  plt.close(fig)
  return output


def plot_paths(
  maps: np.ndarray,
  true_paths: np.ndarray,
  predicted_paths: np.ndarray,
  output: str,
  title: str = "",
) -> str:
  """Maps with the true (green) and predicted (red) paths drawn over them."""
  plt = _pyplot()
  n = len(maps)
  fig, axes = plt.subplots(1, n, figsize=(3.2 * n, 3.4), squeeze=False)
  tile = maps.shape[1] // true_paths.shape[1]
  for ax, image, truth, pred in zip(axes[0], maps, true_paths, predicted_paths):
    ax.imshow(image)
    for mask, colour, size in ((truth, "lime", 60), (pred, "red", 18)):
      rows, cols = np.nonzero(mask > 0.5)
      ax.scatter(
        cols * tile + tile / 2,
        rows * tile + tile / 2,
        s=size,
        c=colour,
        edgecolors="black",
        linewidths=0.5,
      )
    ax.set_title("exact" if np.array_equal(truth, pred) else "differs")
    ax.axis("off")
  if title:
    fig.suptitle(title)
  fig.tight_layout()
  fig.savefig(output, dpi=120)
  plt.close(fig)
  return output


def plot_run_paths(
  run_dir: str, output: str, num_maps: int = 4, title: str = ""
) -> str:
  """Predicted paths of a shortest-path run's checkpoint on its test maps."""
  # Importing the binary also registers the losses the checkpoint needs.
  from experiments import shortest_path
  from perturbations_tf import solvers

  config, model = shortest_path.load_run(run_dir)
  test = shortest_path.load_data(config)["test"]
  costs = model.predict(test["maps"][:num_maps], verbose=0)
  predicted = solvers.shortest_path(costs, min_cost=config.min_cost).numpy()
  return plot_paths(
    test["maps"][:num_maps],
    test["shortest_paths"][:num_maps],
    predicted,
    output,
    title,
  )


def pto_cells(summary: dict) -> dict[tuple, dict[str, dict[int, dict]]]:
  """`{(size, noise): {method: {degree: stats}}}` from the summary of a
  predict-then-optimize results.json (cells named `n<size>_deg<d>_noise<e>`)."""
  panels: dict[tuple, dict[str, dict[int, dict]]] = {}
  for method, cells in summary.items():
    for name, stats in cells.items():
      size, deg, noise = (
        name[1:].replace("_deg", " ").replace("_noise", " ").split()
      )
      panels.setdefault((int(size), float(noise)), {}).setdefault(method, {})[
        int(deg)
      ] = stats
  return dict(sorted(panels.items()))


def pto_noise(problem: str) -> str:
  """What a cell's noise is: the portfolio's noise level τ, else the
  half-width of the costs' multiplicative noise."""
  return "noise level" if problem == "portfolio" else "noise half-width"


def plot_pto(results_path: str, output: str, title: str = "") -> str:
  """PyEPO's figure: test normalised regret against the polynomial degree,
  one panel per training size (columns) and noise width (rows), one colour
  per method (in the run's order; mean over seeds, error bars ± one
  standard deviation)."""
  plt = _pyplot()
  with open(results_path, encoding="utf-8") as f:
    results = json.load(f)
  panels = pto_cells(results["metrics"]["summary"])
  order = results["config"]["methods"]
  sizes = sorted({size for size, _ in panels})
  noises = sorted({noise for _, noise in panels})
  fig, axes = plt.subplots(
    len(noises),
    len(sizes),
    squeeze=False,
    sharey="row",
    figsize=(max(9.0, 5.0 * len(sizes)), 1.2 + 4.2 * len(noises)),
  )
  colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
  if len(order) > len(colours):  # One colour per method, none repeated.
    colours = [plt.get_cmap("tab20")(k % 20) for k in range(len(order))]
  for (size, noise), methods in panels.items():
    ax = axes[noises.index(noise), sizes.index(size)]
    degrees = sorted({d for runs in methods.values() for d in runs})
    width = 0.8 / len(methods)
    for k, method in enumerate(m for m in order if m in methods):
      runs = methods[method]
      x = np.arange(len(degrees)) - 0.4 + width * (k + 0.5)
      ax.errorbar(
        x,
        [runs[d]["mean"] for d in degrees],
        yerr=[runs[d]["std"] for d in degrees],
        fmt="o",
        color=colours[k % len(colours)],
        capsize=3,
        label=method,
        markersize=4,
      )
    ax.set_xticks(range(len(degrees)), [str(d) for d in degrees])
    ax.set_xlabel("polynomial degree of the feature-to-cost map")
    ax.set_ylabel("test normalised regret")
    ax.yaxis.set_tick_params(labelleft=True)
    ax.set_title(
      f"{size:,} training instances, "
      f"{pto_noise(results['config']['problem'])} {noise:g}",
      fontsize=10,
    )
    ax.grid(alpha=0.3, axis="y")
  handles, names = axes.flat[0].get_legend_handles_labels()
  columns = min(len(names), 8)
  rows = -(-len(names) // columns)
  legend_height = (0.25 + 0.3 * rows) / fig.get_figheight()
  fig.legend(handles, names, loc="lower center", ncol=columns, fontsize=9)
  if title:
    fig.suptitle(textwrap.fill(title, 110), fontsize=10)
  fig.tight_layout(rect=(0, legend_height, 1, 1))
  fig.savefig(output, dpi=110)
  plt.close(fig)
  return output


def main(argv):
  del argv
  f = flags.FLAGS
  if (
    sum(
      map(
        bool,
        (f.runs, f.sweep_dir, f.paths_from, f.ranking_results, f.pto_results),
      )
    )
    != 1
  ):
    raise app.UsageError(
      "Give one of --runs, --sweep_dir, --paths_from, "
      "--ranking_results or --pto_results."
    )
  if f.pto_results:
    print(plot_pto(f.pto_results, f.output, f.title))
  elif f.ranking_results:
    print(plot_ranking_sweep(f.ranking_results, f.output, f.title))
  elif f.runs or f.sweep_dir:
    print(
      plot_learning_curves(
        f.runs or sweep_runs(f.sweep_dir), f.output, f.title, f.metrics
      )
    )
  else:
    print(plot_run_paths(f.paths_from, f.output, f.num_maps, f.title))


if __name__ == "__main__":
  flags.DEFINE_list("runs", [], "Run folders whose learning curves to draw.")
  flags.DEFINE_string(
    "sweep_dir",
    "",
    "A sweep's output folder: draw the learning curves of all its runs.",
  )
  flags.DEFINE_list(
    "metrics",
    [],
    "Only these metrics (e.g. val_categorical_accuracy); default: all.",
  )
  flags.DEFINE_string(
    "paths_from",
    "",
    "A shortest-path run folder whose test predictions to draw.",
  )
  flags.DEFINE_string(
    "ranking_results",
    "",
    "A ranking sweep's results.json "
    "(several noise levels): draw 1 − cos(w, w0), ‖w‖ and "
    "the test metrics against the noise level, per loss.",
  )
  flags.DEFINE_string(
    "pto_results",
    "",
    "A predict-then-optimize "
    "results.json: normalised regret against the degree, "
    "per method, one panel per size and noise.",
  )
  flags.DEFINE_integer("num_maps", 4, "Maps to draw with --paths_from.")
  flags.DEFINE_string("output", "figure.png", "The PNG to write.")
  flags.DEFINE_string("title", "", "The figure's title: the setting.")
  cli.run_main(main)
