r"""Learning to rank from rankings (Berthet et al. 2020, §5.2), absl binary.

Each instance is n = 100 vectors in dimension d = 9; its label is the ranking
of their projections on an unknown unit vector w0, plus Gaussian noise of
level σ (`--noise_levels`). A linear model scores the items `<w, x_i>` and
learns from the rankings only, so the question is how well each loss
recovers w0: the binary reports `1 − cos(w, w0)` and `‖w‖` beside the test
accuracies. The labels follow the perturbation model of perturbed ranks
with normal noise, so the Fenchel–Young loss of scale ε is well specified:
its population minimiser is `w0·ε/σ` (σ > 0), the norm reported beside the
learned one. The soft-rank losses (`soft_rank_l2`, `soft_rank_kl`) are the
Fenchel–Young losses of Blondel et al.'s closed-form `SoftRank`, of strength
`--regularization_strength`: deterministic, no samples.

One command trains every (loss, noise level, ε, M, seed) of the sweep, each
in a sub-folder `<loss>/noise_<σ>[/sigma_<ε>][/M_<M>][/seed_<s>]` (a rerun
skips the finished runs); results.json holds every run and, per setting, the
mean ± std over seeds. `--select_learning_rates` first picks each loss's
initial learning rate on validation data (lowest validation loss of that
loss), and every run reports the full-batch gradient norm of its training
loss at the end (relative to the start): the check that it converged.

  python -m experiments.ranking --flagfile=configs/ranking.cfg
  python -m experiments.plot --ranking_results=runs/ranking/results.json
"""

from __future__ import annotations

import dataclasses
import functools
import time

import keras
import numpy as np
import tensorflow as tf

from experiments import common
from experiments import losses
from experiments import models
import perturbations_tf as ptf
from perturbations_tf import solvers

# The soft-rank losses: the Fenchel–Young losses of Blondel et al.'s closed
# form `SoftRank` (Euclidean or entropic projection), deterministic.
SOFT_RANK_LOSSES = ("soft_rank_l2", "soft_rank_kl")
LOSSES = (
  "fenchel_young",
  "perturbed_squared",
  "squared",
  "centred_squared",
  *SOFT_RANK_LOSSES,
)
PERTURBED_LOSSES = ("fenchel_young", "perturbed_squared")
SCHEDULES = ("constant", "cosine")
# ε of `--sweep_sigma_ratios` is a ratio of max(σ, this): a scale at σ = 0.
MIN_NOISE_SCALE = 0.25


@dataclasses.dataclass(frozen=True)
class RunSpec:
  """One training of the sweep."""

  loss: str
  noise_level: float
  sigma: float  # ε: the noise scale, or the soft-rank losses' strength.
  num_samples: int  # M (perturbed losses).
  seed: int


@dataclasses.dataclass
class Config(common.TrainConfig):
  """Settings of the ranking experiment."""

  num_instances: int = common.field(4000, "Instances (train + test).")
  test_fraction: float = common.field(0.2, "Held-out fraction.")
  num_items: int = common.field(100, "n, items to rank per instance.")
  dim: int = common.field(9, "d, the feature dimension.")
  noise_levels: list[float] = common.field(
    [0.0], "Label noise levels σ; one training per level."
  )
  loss: str = common.field("fenchel_young", "Training loss.", choices=LOSSES)
  sweep_losses: list[str] = common.field(
    [],
    "Train every noise level with each of these losses (default: --loss only).",
    choices=LOSSES,
    item_type=str,
  )
  num_samples: int = common.field(100, "M, perturbed samples per example.")
  sigma: float = common.field(1.0, "ε, the noise scale.")
  regularization_strength: float = common.field(
    1.0, "ε of the soft-rank losses (SoftRank's regularization_strength)."
  )
  sweep_sigma_ratios: list[float] = common.field(
    [],
    "Perturbed losses: one run per ratio r, with ε = r·max(σ, "
    f"{MIN_NOISE_SCALE:g}) (default: ε = --sigma).",
  )
  sweep_num_samples: list[int] = common.field(
    [],
    "Perturbed losses: one run per M (default: --num_samples).",
    item_type=int,
  )
  num_seeds: int = common.field(
    1, "Seeds per setting: --seed, --seed + 1, … (data and initialisation)."
  )
  epochs: int = common.field(10, "Training epochs.")
  batch_size: int = common.field(32, "Global mini-batch size.")
  learning_rate: float = common.field(
    1e-2, "Adam's initial learning rate (unless selected)."
  )
  lr_schedule: str = common.field(
    "cosine",
    "constant, or cosine: decayed to 0 over the epochs.",
    choices=SCHEDULES,
  )
  select_learning_rates: list[float] = common.field(
    [],
    "Candidate initial learning rates: for each loss, the one with the "
    "lowest validation loss (at --selection_noise_level, --seed, the "
    "training split less --validation_fraction) trains every run.",
  )
  validation_fraction: float = common.field(
    0.2, "Fraction of the training split held out to select rates."
  )
  selection_noise_level: float = common.field(
    1.0, "Label noise level at which learning rates are selected."
  )
  jit_compile: bool = common.field(
    False, "XLA-compile the training step (XLA's CPU sort is slow)."
  )

  def validate(self):
    super().validate()
    for name in ("test_fraction", "validation_fraction"):
      if not 0 < getattr(self, name) < 1:
        raise ValueError(
          f"--{name} must be in (0, 1), got {getattr(self, name)}."
        )
    if not self.noise_levels or any(
      not level >= 0 for level in self.noise_levels
    ):
      raise ValueError(
        f"--noise_levels must be non-negative numbers, got {self.noise_levels}."
      )
    for name in ("sweep_sigma_ratios", "select_learning_rates"):
      if any(not value > 0 for value in getattr(self, name)):
        raise ValueError(
          f"--{name} must be positive numbers, got {getattr(self, name)}."
        )
    if any(m < 1 for m in self.sweep_num_samples):
      raise ValueError(
        f"--sweep_num_samples must be >= 1, got {self.sweep_num_samples}."
      )
    if self.selection_noise_level < 0:
      raise ValueError(
        "--selection_noise_level must be >= 0, got "
        f"{self.selection_noise_level}."
      )
    self.require(
      at_least_one=(
        "num_instances",
        "num_items",
        "dim",
        "num_samples",
        "num_seeds",
      ),
      positive=("sigma", "regularization_strength"),
    )

  @property
  def losses(self) -> list[str]:
    return self.sweep_losses or [self.loss]

  def scale(self, loss: str) -> float:
    """A loss's ε: the noise scale, or the soft-rank losses' strength."""
    if loss in SOFT_RANK_LOSSES:
      return self.regularization_strength
    return self.sigma

  def runs(self) -> dict[str, RunSpec]:
    """Every run of the sweep, by sub-folder name."""
    runs = {}
    for loss in self.losses:
      perturbed = loss in PERTURBED_LOSSES
      for level in self.noise_levels:
        sigmas = [(None, self.scale(loss))]
        if perturbed and self.sweep_sigma_ratios:
          sigmas = [
            (
              f"sigma_{r * max(level, MIN_NOISE_SCALE):g}",
              r * max(level, MIN_NOISE_SCALE),
            )
            for r in self.sweep_sigma_ratios
          ]
        samples = [(None, self.num_samples)]
        if perturbed and self.sweep_num_samples:
          samples = [(f"M_{m}", m) for m in self.sweep_num_samples]
        for sigma_part, sigma in sigmas:
          for samples_part, m in samples:
            for k in range(self.num_seeds):
              seed = self.seed + k
              parts = [
                loss,
                f"noise_{level:g}",
                sigma_part,
                samples_part,
                f"seed_{seed}" if self.num_seeds > 1 else None,
              ]
              runs["/".join(p for p in parts if p)] = RunSpec(
                loss, level, sigma, m, seed
              )
    return runs


def setting(run_name: str) -> str:
  """A run's setting: its name without the seed (what seeds average over)."""
  return run_name.split("/seed_")[0]


def num_test(num_instances: int, test_fraction: float) -> int:
  """The held-out instances, the first of the data: `test_fraction` of
  them, rounded; the rest train."""
  return int(round(test_fraction * num_instances))


def make_data(config: Config, noise_level: float, seed: int):
  """Features `(N, n, d)`, the ranks `(N, n)` of their noisy projections on
  w0 (the labels), the noise-free ranks they came from, and w0."""
  rng = np.random.default_rng(seed)
  w0 = rng.normal(size=config.dim)
  w0 /= np.linalg.norm(w0)
  x = rng.normal(size=(config.num_instances, config.num_items, config.dim))
  clean = x @ w0
  noisy = clean + noise_level * rng.normal(size=x.shape[:2])
  labels, clean_labels = (
    solvers.ranks(tf.constant(s)).numpy().astype(np.float32)
    for s in (noisy, clean)
  )
  return x.astype(np.float32), labels, clean_labels, w0


def make_loss(spec: RunSpec) -> keras.losses.Loss:
  if spec.loss == "fenchel_young":
    return ptf.losses.FenchelYoungLoss("ranks", spec.num_samples, spec.sigma)
  if spec.loss == "perturbed_squared":
    return losses.PerturbedSquaredLoss("ranks", spec.num_samples, spec.sigma)
  if spec.loss in SOFT_RANK_LOSSES:
    regularization = spec.loss.removeprefix("soft_rank_")
    return ptf.losses.ClosedFormFenchelYoungLoss(
      ptf.layers.SoftRank(regularization, spec.sigma)
    )
  if spec.loss == "centred_squared":
    return losses.CentredSquaredLoss()
  return keras.losses.MeanSquaredError()


def ranking_metrics() -> list:
  return [
    ptf.metrics.ExactMatchAccuracy(
      solver="ranks", name="perfect_ranking_accuracy"
    ),
    ptf.metrics.HammingAccuracy(
      solver="ranks", name="partial_ranking_accuracy"
    ),
    ptf.metrics.ProjectionAccuracy(solver="ranks", name="projection_accuracy"),
    ptf.metrics.SpearmanCorrelation(name="spearman"),
  ]


def full_batch_gradient(
  model: keras.Model,
  loss: keras.losses.Loss,
  x: np.ndarray,
  y: np.ndarray,
  batch_size: int = 256,
) -> np.ndarray:
  """The gradient of the mean training loss over all of `(x, y)` with
  respect to the model's weights, flattened (accumulated by batches)."""
  total = [tf.zeros_like(w) for w in model.trainable_weights]
  for start in range(0, len(x), batch_size):
    xb, yb = x[start : start + batch_size], y[start : start + batch_size]
    with tf.GradientTape() as tape:
      value = loss(yb, model(xb, training=False)) * len(xb)
    total = [
      t + g
      for t, g in zip(total, tape.gradient(value, model.trainable_weights))
    ]
  return np.concatenate([np.ravel(t.numpy()) for t in total]) / len(x)


def learning_rate_schedule(
  config: Config, learning_rate: float, steps_per_epoch: int
):
  if config.lr_schedule == "constant":
    return learning_rate
  return keras.optimizers.schedules.CosineDecay(
    learning_rate, decay_steps=config.epochs * steps_per_epoch
  )


def cosine(a: np.ndarray, b: np.ndarray) -> float:
  """The cosine of the angle between two vectors (0 if one is 0)."""
  norms = np.linalg.norm(a) * np.linalg.norm(b)
  return float(a @ b / norms) if norms > 0 else 0.0


def weight_metrics(
  w: np.ndarray, w0: np.ndarray, spec: RunSpec
) -> dict[str, float]:
  """How well w recovers w0: its cosine with w0 and its norm (for the
  Fenchel–Young loss, beside the theory's ε/σ)."""
  cos = cosine(w, w0)
  metrics = {
    "cosine": cos,
    "one_minus_cosine": 1.0 - cos,
    "norm": float(np.linalg.norm(w)),
  }
  if spec.loss == "fenchel_young" and spec.noise_level > 0:
    metrics["norm_theory"] = spec.sigma / spec.noise_level
  return metrics


def least_squares_gap(w: np.ndarray, x: np.ndarray, y: np.ndarray) -> float:
  """`1 − cos(w, w_ls)` with w_ls the squared loss's exact minimiser on
  `(x, y)` (no bias, as the model): how far training is from it."""
  w_ls = np.linalg.lstsq(
    x.reshape(-1, x.shape[-1]).astype(np.float64),
    y.reshape(-1).astype(np.float64),
    rcond=None,
  )[0]
  return 1.0 - cosine(w, w_ls)


def train_one(
  config: Config,
  trainer: common.Trainer,
  spec: RunSpec,
  learning_rate: float,
  run: str = "",
  callbacks=(),
  select: bool = False,
) -> dict[str, dict[str, float]]:
  """Trains one model (in sub-folder `run`); its metrics per split.

  With `select`, it trains on the training split less its last
  `--validation_fraction` and is scored on that part (`val`) only.
  """
  keras.utils.set_random_seed(spec.seed)
  x, y, clean, w0 = make_data(config, spec.noise_level, spec.seed)
  n_test = num_test(len(x), config.test_fraction)
  x_train, y_train = x[n_test:], y[n_test:]
  if select:
    n_val = int(round(config.validation_fraction * len(x_train)))
    splits = {"val": (x_train[-n_val:], y_train[-n_val:])}
    x_train, y_train = x_train[:-n_val], y_train[:-n_val]
  else:
    # The noisy test labels bound what any model can score; the noise-free
    # ranking is what it should recover.
    splits = {
      "train": (x_train, y_train),
      "test": (x[:n_test], y[:n_test]),
      "test_clean": (x[:n_test], clean[:n_test]),
    }
  steps = -(-len(x_train) // config.batch_size)
  with trainer.strategy.scope():
    model = models.ranking_linear(config.num_items, config.dim)
    loss = make_loss(spec)
    model.compile(
      keras.optimizers.Adam(
        learning_rate_schedule(config, learning_rate, steps)
      ),
      loss=loss,
      metrics=ranking_metrics(),
      jit_compile=config.jit_compile,
    )
  # Selection runs are scored on validation only: no convergence check.
  initial = (
    None if select else full_batch_gradient(model, loss, x_train, y_train)
  )
  train = trainer.training_dataset(
    x_train, y_train, config.batch_size, seed=spec.seed
  )
  start = time.time()
  trainer.fit(model, train, callbacks=callbacks, run=run)
  seconds = time.time() - start
  metrics = {
    split: common.as_float_dict(
      model.evaluate(common.dataset(*data, 256), verbose=0, return_dict=True)
    )
    for split, data in splits.items()
  }
  if select:
    return metrics
  w = model.get_layer("w").kernel.numpy()[:, 0].astype(np.float64)
  final = full_batch_gradient(model, loss, x_train, y_train)
  metrics["model"] = {
    **weight_metrics(w, w0, spec),
    "learning_rate": learning_rate,
    "gradient_norm": float(np.linalg.norm(final)),
    "relative_gradient_norm": float(
      np.linalg.norm(final) / np.linalg.norm(initial)
    ),
    "seconds_per_epoch": seconds / config.epochs,
  }
  if spec.loss in ("squared", "centred_squared"):
    targets = y_train - (
      y_train.mean(-1, keepdims=True) if spec.loss == "centred_squared" else 0.0
    )
    metrics["model"]["least_squares_gap"] = least_squares_gap(
      w, x_train, targets
    )
  return metrics


def select_learning_rates(
  config: Config, trainer: common.Trainer
) -> tuple[dict[str, float], dict]:
  """Each loss's initial learning rate, and the validation losses of the
  candidates it was selected from (empty without candidates)."""
  if not config.select_learning_rates:
    return {loss: config.learning_rate for loss in config.losses}, {}
  candidates = {
    (loss, lr): f"selection/{loss}/lr_{lr:g}"
    for loss in config.losses
    for lr in config.select_learning_rates
  }
  metrics = common.run_sweep(
    trainer,
    {
      name: functools.partial(
        train_one,
        config,
        trainer,
        RunSpec(
          loss,
          config.selection_noise_level,
          config.scale(loss),
          config.num_samples,
          config.seed,
        ),
        lr,
        select=True,
      )
      for (loss, lr), name in candidates.items()
    },
  )
  validation = {
    loss: {
      f"{lr:g}": metrics[name]["val"]["loss"]
      for (of, lr), name in candidates.items()
      if of == loss
    }
    for loss in config.losses
  }
  chosen = {
    loss: float(min(values, key=values.get))
    for loss, values in validation.items()
  }
  return chosen, validation


def summarise(metrics: dict[str, dict[str, dict[str, float]]]) -> dict:
  """Per setting (run name less its seed): every metric's mean ± std and
  values over seeds."""
  groups: dict[str, list[dict]] = {}
  for name, splits in metrics.items():
    groups.setdefault(setting(name), []).append(splits)
  return {
    name: {
      split: {
        metric: common.mean_std([run[split][metric] for run in runs])
        for metric in runs[0][split]
      }
      for split in runs[0]
    }
    for name, runs in groups.items()
  }


def run(config: Config, callbacks=()) -> dict:
  """Selects the learning rates, trains every run of the sweep; writes
  results.json: `runs` (metrics per split, by run name), `summary` (per
  setting, over seeds) and the learning rates and their selection."""
  trainer = common.Trainer(config, "ranking")
  rates, validation = select_learning_rates(config, trainer)
  metrics = common.run_sweep(
    trainer,
    {
      name: functools.partial(
        train_one, config, trainer, spec, rates[spec.loss], callbacks=callbacks
      )
      for name, spec in config.runs().items()
    },
  )
  summary = summarise(metrics)
  for name, splits in summary.items():
    model, clean = splits["model"], splits["test_clean"]
    print(
      f"{name:40s} 1-cos {model['one_minus_cosine']['mean']:.2e}  "
      f"|w| {model['norm']['mean']:.3f}  partial (noise-free) "
      f"{clean['partial_ranking_accuracy']['mean']:.3f}",
      flush=True,
    )
  return trainer.write_results(
    {
      "runs": metrics,
      "summary": summary,
      "learning_rates": rates,
      "selection": validation,
    }
  )


if __name__ == "__main__":
  common.run_app(Config, run)
