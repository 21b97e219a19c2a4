r"""Learning to rank from rankings (Berthet et al. 2020, §5.2), absl binary.

Each instance is n = 100 vectors in dimension d = 9; its label is the ranking
of their projections on an unknown w0, plus Gaussian noise of level
`--noise_level` (the user's uncertainty). A linear model scores the items
(so the Fenchel–Young loss is convex in w) and learns from the rankings only.
`--noise_levels` sweeps several levels and `--sweep_losses` several losses
in one command (the paper's study: robustness to label noise), each run in
a sub-folder `<loss>/noise_<level>`; a rerun skips the finished runs.

  python -m experiments.ranking --flagfile=configs/ranking.cfg
  python -m experiments.plot --ranking_results=runs/ranking/results.json
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Dict, List, Tuple

import keras
import numpy as np
import tensorflow as tf

import perturbations_tf as ptf
from perturbations_tf import solvers
from experiments import common
from experiments import losses
from experiments import models

LOSSES = ("fenchel_young", "perturbed_squared", "squared")


@dataclasses.dataclass
class Config(common.TrainConfig):
  """Settings of the ranking experiment."""
  num_instances: int = common.field(4000, "Instances (train + test).")
  test_fraction: float = common.field(0.2, "Held-out fraction.")
  num_items: int = common.field(100, "n, items to rank per instance.")
  dim: int = common.field(9, "d, the feature dimension.")
  noise_levels: List[float] = common.field(
      [0.0], "Label noise levels; one training per level.")
  loss: str = common.field("fenchel_young", "Training loss.", choices=LOSSES)
  sweep_losses: List[str] = common.field(
      [], "Train every noise level with each of these losses (default: "
      "--loss only).", choices=LOSSES, item_type=str)
  num_samples: int = common.field(100, "M, perturbed samples per example.")
  sigma: float = common.field(1.0, "ε, the noise scale.")
  epochs: int = common.field(20, "Training epochs.")
  batch_size: int = common.field(32, "Global mini-batch size.")
  learning_rate: float = common.field(1e-2, "Adam learning rate.")
  jit_compile: bool = common.field(False, "XLA-compile the training step "
                                   "(XLA's CPU sort is slow).")

  def validate(self):
    super().validate()
    if not 0 < self.test_fraction < 1:
      raise ValueError(
          f"--test_fraction must be in (0, 1), got {self.test_fraction}.")
    if any(level < 0 for level in self.noise_levels) or not self.noise_levels:
      raise ValueError("--noise_levels must be non-negative numbers, got "
                       f"{self.noise_levels}.")
    self.require(at_least_one=("num_instances", "num_items", "dim",
                               "num_samples"), positive=("sigma",))

  def runs(self) -> Dict[str, Tuple[str, float]]:
    """(loss, noise level) of every run, by sub-folder name."""
    return {f"{loss}/noise_{level:g}": (loss, level)
            for loss in self.sweep_losses or [self.loss]
            for level in self.noise_levels}


def make_data(config: Config, noise_level: float):
  """Features `(N, n, d)`, the ranks `(N, n)` of their noisy projections on
  w0 (the labels), and the noise-free ranks they came from."""
  rng = np.random.default_rng(config.seed)
  w0 = rng.normal(size=config.dim)
  w0 /= np.linalg.norm(w0)
  x = rng.normal(size=(config.num_instances, config.num_items, config.dim))
  clean = x @ w0
  noisy = clean + noise_level * rng.normal(size=x.shape[:2])
  labels, clean_labels = (solvers.ranks(tf.constant(s)).numpy().astype(
      np.float32) for s in (noisy, clean))
  return x.astype(np.float32), labels, clean_labels


def make_loss(config: Config) -> keras.losses.Loss:
  if config.loss == "fenchel_young":
    return ptf.FenchelYoungLoss("ranks", config.num_samples, config.sigma)
  if config.loss == "perturbed_squared":
    return losses.PerturbedSquaredLoss("ranks", config.num_samples,
                                       config.sigma)
  return keras.losses.MeanSquaredError()


def ranking_metrics() -> list:
  return [ptf.metrics.ExactMatchAccuracy(solver="ranks",
                                         name="perfect_ranking_accuracy"),
          ptf.metrics.HammingAccuracy(solver="ranks",
                                      name="partial_ranking_accuracy"),
          ptf.metrics.ProjectionAccuracy(solver="ranks",
                                         name="projection_accuracy"),
          ptf.metrics.SpearmanCorrelation(name="spearman")]


def train_one(config: Config, trainer: common.Trainer, loss: str,
              noise_level: float, run: str = "", callbacks=()
              ) -> Dict[str, Dict[str, float]]:
  """Trains one model (in sub-folder `run`); its metrics per split."""
  config = dataclasses.replace(config, loss=loss)
  x, y, clean = make_data(config, noise_level)
  n_test = int(round(config.test_fraction * len(x)))
  # The noisy test labels bound what any model can score; robustness is how
  # close the scores against the noise-free ranking stay to the noise-0 run.
  splits = {"train": (x[n_test:], y[n_test:]), "test": (x[:n_test], y[:n_test]),
            "test_clean": (x[:n_test], clean[:n_test])}
  with trainer.strategy.scope():
    model = models.ranking_linear(config.num_items, config.dim)
    model.compile(keras.optimizers.Adam(config.learning_rate),
                  loss=make_loss(config), metrics=ranking_metrics(),
                  jit_compile=config.jit_compile)
  train = trainer.training_dataset(*splits["train"], config.batch_size,
                                   seed=config.seed)
  trainer.fit(model, train, callbacks=callbacks, run=run)
  return {split: common.as_float_dict(model.evaluate(
              common.dataset(*data, 256), verbose=0, return_dict=True))
          for split, data in splits.items()}


def run(config: Config, callbacks=()) -> dict:
  """Trains one model per loss and noise level; returns the results written
  (metrics per split, by run name `<loss>/noise_<level>` when several)."""
  trainer = common.Trainer(config, "ranking")
  runs = config.runs()
  if len(runs) == 1:
    metrics = train_one(config, trainer, *next(iter(runs.values())),
                        callbacks=callbacks)
    common.print_metrics(metrics)
  else:
    metrics = common.run_sweep(trainer, {
        name: functools.partial(train_one, config, trainer, loss, level,
                                callbacks=callbacks)
        for name, (loss, level) in runs.items()})
    for name, run_metrics in metrics.items():
      print(f"== {name}")
      common.print_metrics(run_metrics)
  return trainer.write_results(metrics)


if __name__ == "__main__":
  common.run_app(Config, run)
