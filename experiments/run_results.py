"""Reading the reproduction's runs: a run's results.json and per-epoch
history, the runs of a sweep, the best of a family on validation, a
Warcraft checkpoint's training-set metrics and test paths, and the settings
and cells that ranking and predict-then-optimize results are keyed by.
Drawing (`plot.py`) and tables (`tables.py`) take what these return."""

from __future__ import annotations

import csv
import json
import os

import numpy as np

from experiments import common
from experiments import ranking


def read(*run_dir: str) -> dict | None:
  """A run's results.json (the path's parts joined), None if unfinished."""
  path = os.path.join(*run_dir, "results.json")
  if not os.path.exists(path):
    return None
  with open(path, encoding="utf-8") as f:
    return json.load(f)


def best(output_root: str, family: str) -> str | None:
  """The run of a family (a folder of runs) with the best validation
  perfect-path accuracy: the setting is chosen on validation, not test."""
  scores = {}
  for name in sorted(
    os.listdir(os.path.join(output_root, family))
    if os.path.isdir(os.path.join(output_root, family))
    else []
  ):
    results = read(output_root, os.path.join(family, name))
    if results:
      scores[name] = results["metrics"]["val"]["perfect_path_accuracy"]
  if not scores:
    return None
  return os.path.join(family, max(scores, key=scores.get))


def train_metrics(run_dir: str) -> dict[str, float]:
  """The final checkpoint's path metrics on its training maps, cached in
  the run folder (train_metrics.json): with the test ones, the gap."""
  from experiments import shortest_path  # A TensorFlow binary: on demand.

  path = os.path.join(run_dir, "train_metrics.json")
  if not os.path.exists(path):
    common.write_json_atomically(
      path, shortest_path.evaluate_run(run_dir, "train")
    )
  with open(path, encoding="utf-8") as f:
    return json.load(f)


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


def least_squares_one_minus_cosine(
  mse: float, norm: float, num_train: int, num_items: int, dim: int
) -> float:
  """Brillinger's prediction of `1 − cos(w, w0)` for least squares without
  bias on standard Gaussian features, whatever the link from `<w0, x>` to
  the target: x's component orthogonal to w0 is independent of the target,
  so the fitted w's orthogonal part has covariance `mse / (N·n)` per
  coordinate, and `1 − cos ≈ (d − 1)·mse / (2·N·n·‖w‖²)`.

  Args:
    mse: the training mean squared error per item.
    norm: the fitted weights' norm ‖w‖.
    num_train: training instances N.
    num_items: items per instance n.
    dim: the features' dimension d.

  Returns:
    The predicted `1 − cos(w, w0)` (its expectation, to first order).

  Example:
    >>> round(least_squares_one_minus_cosine(2450.0, 28.0, 3200, 100, 9), 7)
    3.91e-05
  """
  return (dim - 1) * mse / (2 * num_train * num_items * norm**2)


def ranking_least_squares(results: dict) -> dict[str, dict[str, dict]]:
  """Per squared-loss setting of a ranking sweep (`squared`,
  `centred_squared`): its training MSE and ‖w‖, Brillinger's predicted
  `1 − cos(w, w0)` from them (`least_squares_one_minus_cosine`, per seed),
  the measured one and `1 − cos` to the exact least-squares minimiser (how
  far training stopped from it), each as mean ± std over seeds."""
  c = results["config"]
  num_train = c["num_instances"] - ranking.num_test(
    c["num_instances"], c["test_fraction"]
  )
  settings = {}
  for name, splits in ranking_settings(results):
    if "least_squares_gap" not in splits["model"]:
      continue
    mse = splits["train"]["loss"]["values"]
    norm = splits["model"]["norm"]["values"]
    settings[name] = {
      "mse": splits["train"]["loss"],
      "norm": splits["model"]["norm"],
      "predicted": common.mean_std(
        [
          least_squares_one_minus_cosine(
            m, w, num_train, c["num_items"], c["dim"]
          )
          for m, w in zip(mse, norm, strict=True)
        ]
      ),
      "measured": splits["model"]["one_minus_cosine"],
      "gap": splits["model"]["least_squares_gap"],
    }
  return settings


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


def predicted_paths(
  run_dir: str, num_maps: int = 4
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """A shortest-path run's test maps, their true paths and the paths its
  checkpoint predicts: `(maps, true, predicted)`."""
  # Importing the binary also registers the losses the checkpoint needs.
  from experiments import shortest_path
  from perturbations_tf import solvers

  config, model = shortest_path.load_run(run_dir)
  test = shortest_path.load_data(config)["test"]
  costs = model.predict(test["maps"][:num_maps], verbose=0)
  predicted = solvers.shortest_path(costs, min_cost=config.min_cost).numpy()
  return (
    test["maps"][:num_maps],
    test["shortest_paths"][:num_maps],
    predicted,
  )
