r"""Warcraft shortest paths (Berthet et al. 2020, §5.3), as an absl binary.

A CNN reads a k×k terrain map and outputs positive vertex costs; the
perturbed shortest-path solver turns them into a path, trained end to end
with the Fenchel–Young loss (or a baseline). Without `--data_dir` it trains
on synthetic Warcraft-like maps, generated once and cached.

  python -m experiments.shortest_path                  # synthetic 12×12, CPU
  python -m experiments.shortest_path --flagfile=configs/shortest_path.cfg \
      --data_dir=/data/warcraft_shortest_path/12x12    # the paper's setting
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os

from absl import logging
import keras
import numpy as np
import tensorflow as tf

from experiments import common
from experiments import dijkstra
from experiments import losses
from experiments import models
from experiments import warcraft_data
import perturbations_tf as ptf
from perturbations_tf import solvers

LOSSES = ("fenchel_young", "perturbed_squared", "blackbox", "cost_mse")
SOLVERS = ("tf", "python")
# Registered, so that a loss over the black-box solver serialises with the
# model's checkpoint.
keras.saving.register_keras_serializable("experiments", "dijkstra_path_mask")(
  dijkstra.path_mask
)
NUMPY_EXECUTORS = ("threads", "processes")


@dataclasses.dataclass
class Config(common.TrainConfig):
  """Settings of the shortest-path experiment (defaults: the CPU main job)."""

  data_dir: str = common.field(
    "", "Folder of the Warcraft .npy files; empty for synthetic maps."
  )
  synthetic_dir: str = common.field(
    "data/warcraft", "Cache of the synthetic maps."
  )
  num_train: int = common.field(4000, "Synthetic training maps.")
  num_val: int = common.field(200, "Synthetic validation maps.")
  num_test: int = common.field(1000, "Synthetic test maps.")
  grid_size: int = common.field(12, "k: maps have k×k cells.")
  model: str = common.field(
    "small_cnn", "Network.", choices=tuple(models.WARCRAFT_MODELS)
  )
  loss: str = common.field("fenchel_young", "Training loss.", choices=LOSSES)
  cost_activation: str = common.field(
    "auto",
    "Output activation of the costs: part of each baseline's "
    "recipe. 'auto': linear for blackbox (Vlastelica et al.: raw outputs, "
    "floored at --min_cost by the solver), softplus otherwise.",
    choices=("auto",) + models.COST_ACTIVATIONS,
  )
  num_samples: int = common.field(3, "M, perturbed samples per example.")
  sigma: float = common.field(0.1, "ε, the noise scale.")
  perturbation: str = common.field(
    "additive",
    "How perturbed_squared perturbs the costs: θ + εZ, or "
    "θ ⊙ exp(εZ - ε²/2), which is scale-free like the solver (the "
    "Fenchel–Young loss needs additive noise: with this one it is "
    "positively homogeneous and drives the costs to 0).",
    choices=("additive", "multiplicative"),
  )
  min_cost: float = common.field(
    0.0,
    "Floor of perturbed costs for the solver (additive noise can go negative).",
  )
  blackbox_lambda: float = common.field(20.0, "λ of the blackbox baseline.")
  solver: str = common.field(
    "tf",
    "The training solver: 'tf' (TF-native, batched) or 'python' (a "
    "pure-Python Dijkstra through ptf.solvers.numpy_solver: a black box).",
    choices=SOLVERS,
  )
  executor: str = common.field(
    "threads", "Where --solver=python solves its rows.", choices=NUMPY_EXECUTORS
  )
  num_workers: int = common.field(
    0, "Workers of --solver=python (0: one per CPU core)."
  )
  solve_fraction: float = common.field(
    1.0,
    "Fraction of the training solver's rows solved exactly; below 1 "
    "a ptf.solvers.SolutionCache, seeded with the training paths, answers the "
    "others.",
  )
  cache_capacity: int = common.field(20000, "Solutions the cache holds.")
  lr_decay_epochs: list[float] = common.field(
    [8, 11], "Epochs after which the learning rate is divided by 10."
  )
  path_tolerance: float = common.field(
    1e-4, "Relative tolerance on the path cost for a perfect path."
  )
  epochs: int = common.field(12, "Training epochs.")
  batch_size: int = common.field(70, "Global mini-batch size.")
  learning_rate: float = common.field(2e-3, "Adam learning rate.")
  jit_compile: bool = common.field(False, common.CNN_JIT_COMPILE_HELP)

  def validate(self):
    super().validate()
    self.require(
      at_least_one=(
        "num_samples",
        "grid_size",
        "num_train",
        "num_val",
        "num_test",
      ),
      positive=("sigma", "blackbox_lambda", "solve_fraction", "cache_capacity"),
    )
    if self.num_workers < 0:
      raise ValueError(f"--num_workers must be >= 0, got {self.num_workers}.")
    if self.solve_fraction > 1:
      raise ValueError(
        f"--solve_fraction must be in (0, 1], got {self.solve_fraction}."
      )
    if self.perturbation == "multiplicative" and self.loss != (
      "perturbed_squared"
    ):
      raise ValueError(
        "--perturbation=multiplicative is for "
        "--loss=perturbed_squared; the Fenchel–Young loss "
        "with it is positively homogeneous and drives the "
        "costs to 0, and the other losses draw no noise."
      )
    if self.solver == "python" and self.jit_compile:
      raise ValueError(
        "--solver=python runs on the host and cannot be "
        "XLA-compiled: drop --jit_compile."
      )


def cost_activation(config: Config) -> str:
  """The output activation of `--cost_activation`, resolving 'auto'."""
  if config.cost_activation != "auto":
    return config.cost_activation
  return "linear" if config.loss == "blackbox" else "softplus"


def solver(config: Config):
  """The exact solver on (floored) costs."""
  return functools.partial(solvers.shortest_path, min_cost=config.min_cost)


def training_solver(config: Config, train_paths=None):
  """The solver the loss calls: TF-native or the Python black box, behind a
  solution cache (seeded with the training paths) when solve_fraction < 1."""
  if config.solver == "python":
    base = ptf.solvers.numpy_solver(
      functools.partial(dijkstra.path_mask, min_cost=config.min_cost),
      executor=config.executor,
      num_workers=config.num_workers or None,
    )
  else:
    base = solver(config)
  if config.solve_fraction == 1:
    return base
  return ptf.solvers.SolutionCache(
    base,
    (config.grid_size, config.grid_size),
    config.solve_fraction,
    config.cache_capacity,
    initial_solutions=train_paths,
    seed=config.seed,
  )


def make_loss(config: Config, train_paths=None) -> keras.losses.Loss:
  """The training loss of `--loss`, over `training_solver`."""
  if config.loss == "cost_mse":
    return keras.losses.MeanSquaredError()
  solver = training_solver(config, train_paths)
  if config.loss == "fenchel_young":
    # Additive noise: FY with the multiplicative one is degenerate (it is
    # positively homogeneous: training drives the costs to 0).
    return ptf.losses.FenchelYoungLoss(solver, config.num_samples, config.sigma)
  if config.loss == "perturbed_squared":
    return losses.PerturbedSquaredLoss(
      solver, config.num_samples, config.sigma, perturbation=config.perturbation
    )
  return losses.BlackboxLoss(solver, config.blackbox_lambda)


def solver_calls(loss: keras.losses.Loss) -> dict[str, float]:
  """How many rows the training solver saw and solved exactly (a cache)."""
  cache = getattr(loss, "solver", None)
  if not isinstance(cache, ptf.solvers.SolutionCache):
    return {}
  return {
    "exact_rows": float(cache.exact_rows.numpy()),
    "total_rows": float(cache.total_rows.numpy()),
    "exact_fraction": cache.exact_fraction,
  }


def path_metrics(
  costs: np.ndarray,
  paths: np.ndarray,
  weights: np.ndarray,
  tolerance: float = 1e-4,
  min_cost: float = 0.0,
) -> dict[str, float]:
  """Perfect-path accuracy, cost ratio and Hamming accuracy of predictions.

  Args:
    costs: predicted costs `(N, k, k)`.
    paths: true shortest paths.
    weights: true vertex weights.
    tolerance: relative tolerance on the path cost.
    min_cost: the solver's floor for predicted costs (raw, linear outputs
      can be negative; softplus ones are not changed by a floor at 0).

  Returns:
    A perfect path costs (under the true weights) what the optimal one does.
    `mean_cost` and `floored_fraction` (predicted costs at or below the
    floor) diagnose the cost scale: a perturbation of size ε only matters
    relative to it, and costs under the floor get no gradient. Maps whose
    costs are not finite (a diverged model; `nonfinite_fraction`) count as
    wrong; the cost ratio and scale are over the others.
  """
  # A diverged model's NaN costs predict no path: wrong, never a guess.
  finite = np.all(np.isfinite(costs), axis=(1, 2))
  predicted = np.zeros_like(paths, dtype=np.float32)
  for i in range(0, len(costs), 1000):
    rows = np.flatnonzero(finite[i : i + 1000]) + i
    if len(rows):
      predicted[rows] = solvers.shortest_path(
        tf.constant(costs[rows]), min_cost=min_cost
      ).numpy()
  cost = np.sum(predicted * weights, axis=(1, 2))
  optimal = np.sum(paths * weights, axis=(1, 2))
  return {
    "perfect_path_accuracy": float(
      np.mean(np.abs(cost - optimal) <= tolerance * optimal)
    ),
    "cost_ratio": float(
      np.mean(cost[finite] / optimal[finite]) if finite.any() else np.nan
    ),
    "hamming_accuracy": float(np.mean(predicted == paths)),
    "mean_cost": float(np.mean(costs[finite]) if finite.any() else np.nan),
    "floored_fraction": float(
      np.mean(costs[finite] <= min_cost) if finite.any() else np.nan
    ),
    "nonfinite_fraction": float(1 - np.mean(finite)),
  }


class PathEvaluation(keras.callbacks.Callback):
  """Adds the validation path metrics to each epoch's logs, and stops
  training once the network's costs are not finite: its weights diverged,
  which the loss may not show (under XLA the solver's checks are compiled
  out and it returns some path for NaN costs). `divergence` then says
  where (`Trainer.fit` records it)."""

  def __init__(
    self, data: dict[str, np.ndarray], tolerance: float, min_cost: float
  ):
    super().__init__()
    self.data = data
    self.tolerance = tolerance
    self.min_cost = min_cost
    self.divergence: dict | None = None

  def on_epoch_end(self, epoch, logs=None):
    costs = self.model.predict(self.data["maps"], verbose=0, batch_size=256)
    metrics = path_metrics(
      costs,
      self.data["shortest_paths"],
      self.data["vertex_weights"],
      self.tolerance,
      self.min_cost,
    )
    if logs is not None:
      logs.update({f"val_{k}": v for k, v in metrics.items()})
    if metrics["nonfinite_fraction"] > 0:
      reason = (
        f"{100 * metrics['nonfinite_fraction']:.0f}% of the validation maps "
        "get NaN or infinite costs"
      )
      logging.warning(
        "Epoch %d: %s: training diverged, stopping.", epoch + 1, reason
      )
      self.divergence = {"epoch": epoch + 1, "reason": reason}
      self.model.stop_training = True


def load_data(config: Config) -> dict[str, dict[str, np.ndarray]]:
  folder = config.data_dir or warcraft_data.synthetic_dir(
    config.synthetic_dir,
    config.grid_size,
    (config.num_train, config.num_val, config.num_test),
    config.seed,
  )
  return {
    split: warcraft_data.load_split(folder, split, config.grid_size)
    for split in warcraft_data.SPLITS
  }


def load_run(run_dir: str) -> tuple[Config, keras.Model]:
  """The settings and final checkpoint of a finished run folder."""
  with open(os.path.join(run_dir, "results.json"), encoding="utf-8") as f:
    config = Config(**json.load(f)["config"])
  return config, keras.models.load_model(
    os.path.join(run_dir, "checkpoint.keras")
  )


def evaluate_run(run_dir: str, split: str) -> dict[str, float]:
  """`path_metrics` of a finished run's checkpoint on one of its splits
  (e.g. 'train', for the generalisation gap)."""
  config, model = load_run(run_dir)
  data = load_data(config)[split]
  costs = model.predict(data["maps"], verbose=0, batch_size=256)
  return path_metrics(
    costs,
    data["shortest_paths"],
    data["vertex_weights"],
    config.path_tolerance,
    config.min_cost,
  )


def run(config: Config, callbacks=()) -> dict:
  """Trains and evaluates; returns the results written to results.json."""
  trainer = common.Trainer(config, "shortest_path")
  data = load_data(config)
  target = "vertex_weights" if config.loss == "cost_mse" else "shortest_paths"
  train = trainer.training_dataset(
    data["train"]["maps"],
    data["train"][target],
    config.batch_size,
    seed=config.seed,
  )
  with trainer.strategy.scope():
    model = models.WARCRAFT_MODELS[config.model](
      config.grid_size, cost_activation(config)
    )
    loss = make_loss(config, data["train"]["shortest_paths"])
    model.compile(
      keras.optimizers.Adam(config.learning_rate),
      loss=loss,
      jit_compile=config.jit_compile,
    )
  decay = sorted(int(e) for e in config.lr_decay_epochs)
  schedule = keras.callbacks.LearningRateScheduler(
    lambda epoch, _: (
      config.learning_rate * 0.1 ** sum(epoch >= e for e in decay)
    )
  )
  trainer.fit(
    model,
    train,
    callbacks=[
      schedule,
      PathEvaluation(data["val"], config.path_tolerance, config.min_cost),
      *callbacks,
    ],
  )
  metrics = {}
  for split in ("val", "test"):
    costs = model.predict(data[split]["maps"], verbose=0, batch_size=256)
    metrics[split] = path_metrics(
      costs,
      data[split]["shortest_paths"],
      data[split]["vertex_weights"],
      config.path_tolerance,
      config.min_cost,
    )
  calls = solver_calls(loss)
  if calls:
    metrics["train_solver"] = calls
  common.print_metrics(metrics)
  return trainer.write_results(metrics)


if __name__ == "__main__":
  common.run_app(Config, run)
