r"""Figures of experiment runs: learning curves, Warcraft paths, the ranking
and predict-then-optimize studies. Each function draws what it is given
(`run_results.py` reads the runs); the command line reads, then draws.

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

from collections.abc import Mapping
from collections.abc import Sequence
import json
import os
import textwrap

from absl import app
from absl import flags
import numpy as np

from experiments import cli
from experiments import run_results


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


def plot_learning_curves(
  histories: Mapping[str, dict[str, list[float]]],
  output: str,
  title: str = "",
  metrics: Sequence[str] = (),
  styles: Sequence[str] = (),
) -> str:
  """One panel per metric (all, or those in `metrics`), one line per run's
  history (`run_results.read_history`) named by its key (matplotlib line
  `styles`, default solid), the setting in `title`; returns the PNG path.
  Mean costs are drawn on a log scale."""
  plt = _pyplot()
  labels = list(histories)
  styles = list(styles) or ["-"] * len(histories)
  colours = plt.get_cmap("tab10" if len(histories) <= 10 else "tab20").colors
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


def _errorbar(ax, x, stats: list[dict], **kwargs):
  ax.errorbar(
    x,
    [s["mean"] for s in stats],
    yerr=[s["std"] for s in stats],
    capsize=3,
    markersize=4,
    **kwargs,
  )


def plot_ranking_sweep(results: dict, output: str, title: str = "") -> str:
  """The robustness figure of a ranking sweep's results: against the label
  noise level, per loss (mean over seeds, error bars ± one standard
  deviation), how well w recovers w0 (1 − cos, the norm beside the
  Fenchel–Young theory ε/σ) and the test accuracies against the noise-free
  ranking."""
  plt = _pyplot()
  sweep = run_results.ranking_sweep(results)
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
  epsilon_results: dict, samples_results: dict, output: str, title: str = ""
) -> str:
  """The Fenchel–Young loss's ε and M, from the two studies' results:
  1 − cos(w, w0), the learned norm over the theory's ε/σ, and the test
  partial accuracy (noise-free) against ε/σ (one line per noise level σ;
  top) and against M (bottom)."""
  plt = _pyplot()
  summaries = [
    results["metrics"]["summary"]
    for results in (epsilon_results, samples_results)
  ]
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
      setting = run_results.ranking_setting(name)
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


def plot_pto(results: dict, output: str, title: str = "") -> str:
  """PyEPO's figure of a predict-then-optimize run's results: test
  normalised regret against the polynomial degree, one panel per training
  size (columns) and noise width (rows), one colour per method (in the
  run's order; mean over seeds, error bars ± one standard deviation)."""
  plt = _pyplot()
  panels = run_results.pto_cells(results["metrics"]["summary"])
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
      f"{run_results.pto_noise(results['config']['problem'])} {noise:g}",
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
    print(plot_pto(_read_json(f.pto_results), f.output, f.title))
  elif f.ranking_results:
    print(plot_ranking_sweep(_read_json(f.ranking_results), f.output, f.title))
  elif f.runs or f.sweep_dir:
    runs = f.runs or run_results.sweep_runs(f.sweep_dir)
    histories = {
      os.path.basename(os.path.normpath(d)): run_results.read_history(d)
      for d in runs
    }
    print(plot_learning_curves(histories, f.output, f.title, f.metrics))
  else:
    maps, true, predicted = run_results.predicted_paths(
      f.paths_from, f.num_maps
    )
    print(plot_paths(maps, true, predicted, f.output, f.title))


def _read_json(path: str) -> dict:
  with open(path, encoding="utf-8") as f:
    return json.load(f)


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
