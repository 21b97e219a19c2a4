"""What the three experiment binaries share: configs as flags, distribution
strategies, and a resumable, logged Keras training loop.

Each binary declares its settings as a dataclass (subclassing `TrainConfig`);
`define_flags` turns its fields into absl flags, so the flags, their help and
their validation live in one place, and tests build configs directly.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence
import dataclasses
import json
import os
import sys
import tempfile
import time
from typing import Any

from absl import app
from absl import flags
from absl import logging
import keras
import numpy as np
import tensorflow as tf

from experiments import cli
from experiments import provenance

STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")
# The library's input checks that a diverged network trips: its outputs are
# NaN or Inf, or have left the solver's domain (e.g. a multiplicative
# perturbation's θ > 0, when softplus costs underflow to 0).
DIVERGENCE_MESSAGES = (
  "needs finite inputs",
  "perturbation='multiplicative' needs",
)


# The convolutional binaries' --jit_compile: off by default, as Keras's own
# jit_compile="auto" is on a CPU (measured on the main job's network).
CNN_JIT_COMPILE_HELP = (
  "XLA-compile the training step: add it on a GPU. Off by default: on a CPU "
  "XLA's convolutions are slower than TensorFlow's own kernels (the main "
  "job's epoch takes about twice as long)."
)


def field(default, help: str, **metadata):
  """A config field with its flag help (and optional `choices`; a list
  field parses its items with `item_type`, float by default)."""
  if isinstance(default, (list, tuple)):
    return dataclasses.field(
      default_factory=lambda: list(default), metadata={"help": help, **metadata}
    )
  return dataclasses.field(default=default, metadata={"help": help, **metadata})


@dataclasses.dataclass
class TrainConfig:
  """Settings every experiment has."""

  output_dir: str = field(
    "", "Where logs, checkpoints and results.json go (default: runs/<task>)."
  )
  seed: int = field(0, "Seed of data generation, initialisation and noise.")
  epochs: int = field(10, "Training epochs.")
  batch_size: int = field(32, "Global mini-batch size.")
  learning_rate: float = field(1e-3, "Adam learning rate.")
  strategy: str = field(
    "default", "tf.distribute strategy.", choices=STRATEGIES
  )
  jit_compile: bool = field(True, "XLA-compile the training step.")
  verbose: int = field(1, "Keras progress output: 0 silent, 1 bar, 2 lines.")

  def validate(self):
    """Raises ValueError on a bad setting, naming the flag."""
    for f in dataclasses.fields(self):
      choices = f.metadata.get("choices")
      value = getattr(self, f.name)
      for item in value if isinstance(value, list) else [value]:
        if choices and item not in choices:
          raise ValueError(
            f"--{f.name}={item!r} is not one of {list(choices)}."
          )
    self.require(
      at_least_one=("epochs", "batch_size"), positive=("learning_rate",)
    )

  def require(self, at_least_one=(), positive=()):
    """Raises ValueError naming the first flag below 1 or not positive."""
    for name in at_least_one:
      if getattr(self, name) < 1:
        raise ValueError(f"--{name} must be >= 1, got {getattr(self, name)}.")
    for name in positive:
      if not getattr(self, name) > 0:
        raise ValueError(f"--{name} must be > 0, got {getattr(self, name)}.")


def define_flags(config_cls, flag_values=flags.FLAGS) -> None:
  """Defines one absl flag per field of `config_cls`, with its default."""
  for f in dataclasses.fields(config_cls):
    default = (
      f.default_factory()
      if f.default_factory is not dataclasses.MISSING
      else f.default
    )
    help_text = f.metadata.get("help", f.name)
    if f.metadata.get("choices") and not isinstance(default, list):
      flags.DEFINE_enum(
        f.name,
        default,
        list(f.metadata["choices"]),
        help_text,
        flag_values=flag_values,
      )
    elif isinstance(default, bool):
      flags.DEFINE_bool(f.name, default, help_text, flag_values=flag_values)
    elif isinstance(default, int):
      flags.DEFINE_integer(f.name, default, help_text, flag_values=flag_values)
    elif isinstance(default, float):
      flags.DEFINE_float(f.name, default, help_text, flag_values=flag_values)
    elif isinstance(default, list):
      flags.DEFINE_list(
        f.name, [str(v) for v in default], help_text, flag_values=flag_values
      )
    else:
      flags.DEFINE_string(f.name, default, help_text, flag_values=flag_values)


def config_from_flags(config_cls, flag_values=flags.FLAGS):
  """Builds the config from parsed flags (list items by their `item_type`)."""
  values = {}
  for f in dataclasses.fields(config_cls):
    value = flag_values[f.name].value
    if isinstance(value, list):
      item_type = f.metadata.get("item_type", float)
      try:
        value = [item_type(v) for v in value]
      except ValueError as error:
        raise ValueError(f"--{f.name}: {error}") from error
    values[f.name] = value
  return config_cls(**values)


class MissingDataError(FileNotFoundError):
  """A data set is neither on disk nor downloadable: the message says how
  to bring it. Binaries end on it with the message alone, no traceback."""


def run_app(config_cls, run: Callable) -> None:
  """The absl entry point of a binary: flags from `config_cls`, then `run`.

  `--help` prints the binary's description and its own flags and exits 0
  (`--helpfull` adds absl's and TensorFlow's). Bad flags end the program
  with a usage error naming them, before any data is read or training
  starts; missing data (`MissingDataError`) with its message alone and exit
  status 1.
  """
  define_flags(config_cls)
  for f in dataclasses.fields(config_cls):  # The binary's own flags.
    flags.FLAGS.register_key_flag_for_module(sys.argv[0], flags.FLAGS[f.name])

  def main(argv):
    del argv
    try:
      config = config_from_flags(config_cls)
      config.validate()
    except ValueError as error:
      raise app.UsageError(str(error)) from error
    try:
      run(config)
    except MissingDataError as error:
      raise SystemExit(f"Error: {error}") from None

  cli.run_main(main)


def make_strategy(name: str) -> tf.distribute.Strategy:
  """The tf.distribute strategy of `--strategy` (multi_worker: TF_CONFIG)."""
  if name == "mirrored":
    return tf.distribute.MirroredStrategy()
  if name == "multi_worker":
    if not os.environ.get("TF_CONFIG"):
      raise ValueError(
        "--strategy=multi_worker reads the cluster from the "
        "TF_CONFIG environment variable, which is not set."
      )
    return tf.distribute.MultiWorkerMirroredStrategy()
  if name == "tpu":
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)
  return tf.distribute.get_strategy()


def worker_id(strategy: tf.distribute.Strategy) -> str | None:
  """None on the chief (or a single machine), else 'worker_<i>'."""
  resolver = getattr(strategy, "cluster_resolver", None)
  if resolver is None or not resolver.task_type:
    return None
  if resolver.task_type == "chief" or (
    resolver.task_type == "worker"
    and resolver.task_id == 0
    and "chief" not in resolver.cluster_spec().as_dict()
  ):
    return None
  return f"{resolver.task_type}_{resolver.task_id}"


def write_json_atomically(path: str, payload: dict[str, Any]) -> None:
  """Writes JSON to a temporary file, then renames it over `path`."""
  directory = os.path.dirname(path) or "."
  os.makedirs(directory, exist_ok=True)
  with tempfile.NamedTemporaryFile(
    "w", dir=directory, delete=False, suffix=".tmp"
  ) as f:
    json.dump(payload, f, indent=2, sort_keys=True, default=float)
    tmp = f.name
  os.replace(tmp, path)


def seed_generators(*roots) -> list:
  """Every `keras.random.SeedGenerator` held by the given layers, losses
  and metrics, or by what they hold (a loss's solver layer, a cache), in a
  fixed order."""
  found, seen = [], set()

  def visit(obj):
    if id(obj) in seen:
      return
    seen.add(id(obj))
    if isinstance(obj, keras.random.SeedGenerator):
      found.append(obj)
    elif isinstance(obj, (list, tuple)):
      for item in obj:
        visit(item)
    elif isinstance(obj, dict):
      for item in obj.values():
        visit(item)
    elif isinstance(
      obj, (keras.layers.Layer, keras.losses.Loss, keras.metrics.Metric)
    ):
      for item in vars(obj).values():
        visit(item)

  for root in roots:
    visit(root)
  return found


class EpochSeeds(keras.callbacks.Callback):
  """Makes each epoch's randomness a function of (seed, epoch) alone.

  When an epoch starts it sets the epoch variable that keys the training
  data's order (`Trainer.training_dataset`), and restarts the counter of
  every seed generator at `epoch · 2^32` (keeping its seed), so the noise
  seeds of a step are a function of (seed, epoch, step). A run resumed at
  an epoch (`BackupAndRestore`) then trains as the uninterrupted run did,
  though losses and their seed generators are not in the checkpoint.
  """

  def __init__(self, epoch: tf.Variable, generators: Sequence):
    super().__init__()
    self.epoch = epoch
    self.generators = [(g, g.state.numpy()[0]) for g in generators]

  def on_epoch_begin(self, epoch, logs=None):
    self.epoch.assign(epoch)
    for generator, seed in self.generators:
      dtype = generator.state.dtype
      counter = epoch << 32 if np.dtype(dtype).itemsize >= 8 else epoch << 20
      generator.state.assign(np.array([seed, counter], dtype))


class StopOnNonFiniteLoss(keras.callbacks.Callback):
  """Ends training at the first batch whose loss is NaN or infinite, as
  `keras.callbacks.TerminateOnNaN` does, and says where: `divergence`
  (`{"epoch": ..., "reason": ...}`, None while the loss is finite).

  Any callback that stops a diverged training sets a `divergence` so;
  `Trainer.fit` records it in `Trainer.divergences`.
  """

  def __init__(self):
    super().__init__()
    self.divergence: dict[str, Any] | None = None
    self._epoch = 0

  def on_epoch_begin(self, epoch, logs=None):
    self._epoch = epoch

  def on_train_batch_end(self, batch, logs=None):
    loss = (logs or {}).get("loss")
    if loss is not None and not np.isfinite(float(loss)):
      self.divergence = {
        "epoch": self._epoch + 1,
        "reason": f"the training loss is {float(loss)} at batch {batch + 1}",
      }
      self.model.stop_training = True


class Trainer:
  """Fits a compiled model with checkpoints, resumption and TensorBoard.

  Rerunning the same command after an interruption resumes at the next epoch
  with the optimizer's state (`keras.callbacks.BackupAndRestore`). Only the
  chief writes the shared outputs; other workers write to their own folders.

  Args:
    config: the experiment's settings.
    task: the task name, for the default output folder.
  """

  def __init__(self, config: TrainConfig, task: str):
    config.validate()
    self.config = config
    self.output_dir = config.output_dir or os.path.join("runs", task)
    keras.utils.set_random_seed(config.seed)
    self.strategy = make_strategy(config.strategy)
    self.worker = worker_id(self.strategy)
    self.start = time.time()
    # Each sweep run's provenance, by name (None: not recorded).
    self.run_provenance: dict[str, dict | None] = {}
    # The fits stopped by a diverged network, by run: epoch and reason.
    self.divergences: dict[str, dict[str, Any]] = {}
    # The epoch being trained: with the seed, it keys the data order and
    # every noise seed, so a resumed run repeats the uninterrupted one.
    self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False)

  @property
  def is_chief(self) -> bool:
    return self.worker is None

  def _path(self, *parts: str) -> str:
    """A path under the output folder, or the worker's own sub-folder."""
    root = (
      self.output_dir
      if self.is_chief
      else os.path.join(self.output_dir, "workers", self.worker)
    )
    return os.path.join(root, *parts)

  def callbacks(self, run: str = "") -> list:
    """Backup (resumption), checkpoint, CSV history and TensorBoard; a NaN
    loss ends training (`StopOnNonFiniteLoss`)."""
    return [
      StopOnNonFiniteLoss(),
      keras.callbacks.BackupAndRestore(self._path(run, "backup")),
      keras.callbacks.ModelCheckpoint(self._path(run, "checkpoint.keras")),
      keras.callbacks.CSVLogger(self._path(run, "history.csv"), append=True),
      keras.callbacks.TensorBoard(self._path(run, "logs")),
    ]

  def fit(
    self,
    model: keras.Model,
    train: tf.data.Dataset,
    validation: tf.data.Dataset | None = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    run: str = "",
  ) -> dict:
    """Runs `model.fit` with the standard callbacks after `callbacks`.

    A diverged network ends training, and `divergences[run]` (written to
    results.json) records the epoch and why, whichever way it shows:
    - a NaN or infinite loss (`StopOnNonFiniteLoss`), or any callback of
      `callbacks` that stops training with a `divergence` of its own (the
      earliest is recorded; at one epoch, the loss's);
    - the library's input checks raising mid-epoch (the network's outputs
      NaN or outside the solver's domain: `DIVERGENCE_MESSAGES`): the model
      keeps its last weights, to be scored, and saves them as the
      checkpoint (what the run ended with, as after any run). Any other
      error propagates.

    Args:
      run: a sub-folder for this fit's outputs, when a binary fits several
        models (e.g. one per noise level).

    Returns:
      The history of the finished epochs.
    """
    os.makedirs(self._path(run), exist_ok=True)
    if isinstance(self.strategy, tf.distribute.MultiWorkerMirroredStrategy):
      _work_around_keras_multi_worker(model)
    epoch_seeds = EpochSeeds(
      self.epoch, seed_generators(model, getattr(model, "loss", None))
    )
    history = keras.callbacks.History()
    standard = self.callbacks(run)
    try:
      with self.strategy.scope():
        model.fit(
          train,
          epochs=self.config.epochs,
          validation_data=validation,
          shuffle=False,
          callbacks=[epoch_seeds, *callbacks, *standard, history],
          verbose=self.config.verbose,
        )
      stops = [
        c.divergence
        for c in (*standard, *callbacks)
        if getattr(c, "divergence", None)
      ]
      if stops:
        self.divergences[run] = min(stops, key=lambda d: d["epoch"])
    except tf.errors.InvalidArgumentError as error:
      # The failed check's line (graph mode escapes its quotes).
      lines = [
        line.strip().replace("\\'", "'") for line in error.message.splitlines()
      ]
      reasons = [
        line for line in lines if any(m in line for m in DIVERGENCE_MESSAGES)
      ]
      if not reasons:
        raise
      reason = reasons[0]
      epoch = int(self.epoch.numpy()) + 1
      logging.warning(
        "Epoch %d: training diverged, stopping: %s", epoch, reason
      )
      self.divergences[run] = {"epoch": epoch, "reason": reason}
      if self.is_chief:
        model.save(self._path(run, "checkpoint.keras"))
    return history.history

  def training_dataset(
    self,
    features,
    targets,
    batch_size: int,
    seed: int,
    augment: Callable | None = None,
  ) -> tf.data.Dataset:
    """In-memory training data in an order that is a function of (seed,
    epoch) alone: each epoch's permutation is drawn from a stateless seed
    when the epoch starts (`fit` sets `self.epoch`), so a run resumed at an
    epoch sees the batches the uninterrupted run saw.

    Args:
      augment: `augment(x, y, seed)` with a stateless `[2]` seed, a
        function of (seed, epoch, position in the epoch).
    """
    features = tf.convert_to_tensor(features)
    targets = tf.convert_to_tensor(targets)
    n = int(features.shape[0])
    epoch = self.epoch

    def permutation(_):
      keys = tf.random.stateless_uniform(
        [n],
        tf.stack([tf.constant(seed, tf.int64), epoch.read_value()]),
        alg="philox",
      )
      return tf.data.Dataset.from_tensor_slices(
        tf.stack([tf.argsort(keys), tf.range(n)], 1)
      )

    ds = (
      tf.data.Dataset.from_tensors(0)
      .flat_map(permutation)
      .apply(tf.data.experimental.assert_cardinality(n))
    )  # Keras counts steps.

    def take(pair):
      x, y = tf.gather(features, pair[0]), tf.gather(targets, pair[0])
      if augment is None:
        return x, y
      item = tf.cast(epoch, tf.int32) * n + pair[1]
      return augment(x, y, tf.stack([tf.constant(seed, tf.int32), item]))

    return (
      ds.map(take, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
      .batch(batch_size)
      .prefetch(tf.data.AUTOTUNE)
    )

  def write_results(self, metrics: dict[str, dict[str, float]]) -> dict:
    """Writes results.json (flags, metrics per split, wall time, and what
    it was measured with: `provenance.record()`) on the chief."""
    results = {
      "config": dataclasses.asdict(self.config),
      "metrics": metrics,
      "wall_time_s": time.time() - self.start,
      "provenance": provenance.record(),
    }
    if self.run_provenance:  # A sweep: each run's own, kept from its day.
      results["run_provenance"] = dict(self.run_provenance)
    if self.divergences:
      results["divergences"] = dict(self.divergences)
    if self.is_chief:
      write_json_atomically(
        os.path.join(self.output_dir, "results.json"), results
      )
      logging.info(
        "Results written to %s", os.path.join(self.output_dir, "results.json")
      )
    return results


def run_sweep(
  trainer: Trainer, runs: dict[str, Callable[[str], dict]]
) -> dict[str, dict]:
  """Runs each named run in its sub-folder; returns their metrics by name.

  A run writes `<name>/metrics.json` when it finishes, and what it was
  measured with, `<name>/provenance.json`; a rerun of the sweep reads
  those instead of training again (results.json then states each run's
  provenance), and resumes an interrupted run at
  its last epoch (`Trainer.fit`'s backup). Every run starts from the
  config's seed, so a run's numbers do not depend on which ran before it.

  Args:
    trainer: the sweep's trainer (its output folder holds the runs).
    runs: by sub-folder name, a function training one run in that
      sub-folder and returning its metrics per split.
  """
  metrics = {}
  for name, train in runs.items():
    done = os.path.join(trainer.output_dir, name, "metrics.json")
    measured = os.path.join(trainer.output_dir, name, "provenance.json")
    if os.path.exists(done):
      with open(done, encoding="utf-8") as f:
        metrics[name] = json.load(f)
      trainer.run_provenance[name] = None
      if os.path.exists(measured):
        with open(measured, encoding="utf-8") as f:
          trainer.run_provenance[name] = json.load(f)
      continue
    keras.utils.set_random_seed(trainer.config.seed)
    metrics[name] = train(name)
    trainer.run_provenance[name] = provenance.record()
    if trainer.is_chief:
      write_json_atomically(measured, trainer.run_provenance[name])
      write_json_atomically(done, metrics[name])
  return metrics


def _work_around_keras_multi_worker(model: keras.Model) -> None:
  """Lets Keras 3's `fit` run under MultiWorkerMirroredStrategy.

  Keras 3 does not support this strategy (keras-team/keras#20585): its eager
  symbolic build reduces per-replica batches eagerly, and its step reduction
  averages scalar logs "along axis 0". We skip the former (the model is
  built; the strategy in scope distributes the steps) and reduce scalars
  over replicas instead. Remove once Keras supports the strategy.
  """
  from keras.src.backend.tensorflow import trainer

  model._distribute_strategy = None
  original = getattr(
    trainer.reduce_per_replica, "original", trainer.reduce_per_replica
  )

  def reduce_per_replica(values, strategy, reduction):
    if reduction not in ("auto", "mean") or not isinstance(
      strategy, tf.distribute.MultiWorkerMirroredStrategy
    ):
      return original(values, strategy, reduction)

    def mean(v):
      rank = strategy.experimental_local_results(v)[0].shape.rank
      return strategy.reduce("MEAN", v, axis=0 if rank else None)

    return tf.nest.map_structure(mean, values)

  reduce_per_replica.original = original
  trainer.reduce_per_replica = reduce_per_replica


def dataset(features, targets, batch_size: int) -> tf.data.Dataset:
  """A batched tf.data pipeline over in-memory arrays, in their order (for
  evaluation; training data: `Trainer.training_dataset`)."""
  ds = tf.data.Dataset.from_tensor_slices((features, targets))
  return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def print_metrics(metrics: dict[str, dict[str, float]]) -> None:
  """Prints the final metrics per split, one line each."""
  for split, values in metrics.items():
    line = "  ".join(f"{k}={v:.4f}" for k, v in sorted(values.items()))
    print(f"[{split}] {line}", flush=True)


def as_float_dict(values: dict[str, Any]) -> dict[str, float]:
  return {k: float(np.asarray(v)) for k, v in values.items()}


def mean_std(values: Sequence[float]) -> dict[str, Any]:
  """The mean, sample standard deviation (0 for one value) and the values
  of a metric over seeds."""
  values = [float(v) for v in values]
  return {
    "mean": float(np.mean(values)),
    "std": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0,
    "values": values,
  }
