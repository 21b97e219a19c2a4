r"""CIFAR-10 classification with a perturbed argmax (Berthet et al. 2020, §5.1).

A vanilla CNN (4 convolutional, 2 fully connected layers) trained with the
Fenchel–Young loss of the perturbed one-hot argmax, against cross-entropy.
Data come from tensorflow-datasets (`cifar10`), augmented on train only.

  python -m experiments.classification --flagfile=configs/classification.cfg
"""

from __future__ import annotations

import dataclasses
import functools
import socket

import keras
import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from experiments import common
from experiments import models
import perturbations_tf as ptf

LOSSES = ("fenchel_young", "cross_entropy")
NUM_CLASSES = 10


@dataclasses.dataclass
class Config(common.TrainConfig):
  """Settings of the classification experiment."""

  loss: str = common.field("fenchel_young", "Training loss.", choices=LOSSES)
  num_samples: int = common.field(1000, "M, perturbed samples per example.")
  sigma: float = common.field(1.0, "ε, the noise scale.")
  noise: str = common.field(
    "normal", "Noise distribution.", choices=("normal", "gumbel")
  )
  data_dir: str = common.field(
    "",
    "tensorflow-datasets data folder holding "
    "(or to receive) cifar10 (empty: its "
    "default, ~/tensorflow_datasets).",
  )
  max_train_examples: int = common.field(
    0, "Use only this many training images (0: all)."
  )
  max_test_examples: int = common.field(
    0, "Use only this many test images (0: all)."
  )
  epochs: int = common.field(600, "Training epochs.")
  batch_size: int = common.field(32, "Global mini-batch size.")
  learning_rate: float = common.field(1e-3, "Adam learning rate.")
  jit_compile: bool = common.field(False, common.CNN_JIT_COMPILE_HELP)
  sweep_num_samples: list[float] = common.field(
    [],
    "The study of M and ε: values of M; with --sweep_sigmas, every "
    "(M, ε) pair trains with the Fenchel–Young loss, and a cross-entropy "
    "baseline beside them, each in a sub-folder of --output_dir.",
  )
  sweep_sigmas: list[float] = common.field([], "Values of ε for the sweep.")

  def validate(self):
    super().validate()
    self.require(at_least_one=("num_samples",), positive=("sigma",))
    if bool(self.sweep_num_samples) != bool(self.sweep_sigmas):
      raise ValueError(
        "--sweep_num_samples and --sweep_sigmas go together: "
        "give both or neither."
      )
    for m in self.sweep_num_samples:
      if m < 1 or m != int(m):
        raise ValueError(
          f"--sweep_num_samples must hold integers >= 1, got {m}."
        )
    for sigma in self.sweep_sigmas:
      if not sigma > 0:
        raise ValueError(f"--sweep_sigmas must be > 0, got {sigma}.")

  def sweep(self) -> dict[str, Config]:
    """The runs of the study by sub-folder name (empty without a sweep)."""
    if not self.sweep_num_samples:
      return {}
    runs = {
      f"M{int(m)}_sigma{sigma:g}": dataclasses.replace(
        self, loss="fenchel_young", num_samples=int(m), sigma=sigma
      )
      for m in self.sweep_num_samples
      for sigma in self.sweep_sigmas
    }
    runs["cross_entropy"] = dataclasses.replace(self, loss="cross_entropy")
    return runs


def augment(image, label, seed):
  """Random horizontal flip and 4-pixel random crop (train only), drawn from
  a stateless `[2]` seed (one per example and epoch)."""
  flip_seed, crop_seed = tf.unstack(
    tf.random.experimental.stateless_split(seed, 2)
  )
  image = tf.image.stateless_random_flip_left_right(image, flip_seed)
  image = tf.image.resize_with_crop_or_pad(image, 40, 40)
  return tf.image.stateless_random_crop(image, (32, 32, 3), crop_seed), label


# Where tensorflow-datasets downloads CIFAR-10 from.
CIFAR10_HOST = ("www.cs.toronto.edu", 443)


def reachable(address, timeout: float = 3.0) -> bool:
  """Whether a TCP connection to `(host, port)` opens within `timeout` s."""
  try:
    with socket.create_connection(address, timeout=timeout):
      return True
  except OSError:
    return False


def prepare_data(config: Config) -> None:
  """Makes sure CIFAR-10 is in `--data_dir`, downloading it if it is not.

  With the data present it never touches the network. Without them, it
  first checks in seconds that the download host answers, instead of
  letting tensorflow-datasets retry for minutes.

  Raises:
    common.MissingDataError: before any training, when the data are neither
      there nor downloadable (no network), saying how to bring a local copy.
  """
  builder = tfds.builder("cifar10", data_dir=config.data_dir or None)
  if builder.is_prepared():
    return

  def missing(why: str) -> common.MissingDataError:
    return common.MissingDataError(
      f"CIFAR-10 is not in {builder.data_dir} and could not be downloaded "
      f'({why}). On a machine with internet, run python -c "import '
      "tensorflow_datasets as tfds; tfds.builder('cifar10', "
      "data_dir='DIR').download_and_prepare()\", copy DIR here and pass "
      "--data_dir=DIR."
    )

  if not reachable(CIFAR10_HOST):
    raise missing(f"{CIFAR10_HOST[0]} cannot be reached")
  try:
    builder.download_and_prepare()
  except Exception as error:
    raise missing(f"{type(error).__name__}: {error}") from error


def load_arrays(config: Config, split: str, limit: int):
  """A split as in-memory arrays (at most `limit` examples, 0: all): float
  images, one-hot labels."""
  ds = tfds.load(
    "cifar10",
    split=split,
    as_supervised=True,
    data_dir=config.data_dir or None,
    download=False,
  )
  if limit:
    ds = ds.take(limit)
  batches = list(tfds.as_numpy(ds.batch(10_000)))
  images = np.concatenate([b[0] for b in batches]).astype("float32")
  labels = np.concatenate([b[1] for b in batches])
  return images, np.eye(NUM_CLASSES, dtype="float32")[labels]


def make_loss(config: Config) -> keras.losses.Loss:
  if config.loss == "fenchel_young":
    return ptf.losses.FenchelYoungLoss(
      "argmax", config.num_samples, config.sigma, config.noise
    )
  return keras.losses.CategoricalCrossentropy(from_logits=True)


def train_and_evaluate(
  config: Config, trainer: common.Trainer, run: str = "", callbacks=()
) -> dict[str, dict]:
  """Trains one model (in sub-folder `run`); its train and test metrics."""
  train_arrays = load_arrays(config, "train", config.max_train_examples)
  train = trainer.training_dataset(
    *train_arrays, config.batch_size, seed=config.seed, augment=augment
  )
  test = common.dataset(
    *load_arrays(config, "test", config.max_test_examples), config.batch_size
  )
  with trainer.strategy.scope():
    model = models.cifar_cnn(NUM_CLASSES)
    model.compile(
      keras.optimizers.Adam(config.learning_rate),
      loss=make_loss(config),
      metrics=["categorical_accuracy"],
      jit_compile=config.jit_compile,
    )
  trainer.fit(model, train, validation=test, callbacks=callbacks, run=run)
  return {
    name: common.as_float_dict(model.evaluate(ds, verbose=0, return_dict=True))
    for name, ds in (
      ("train", common.dataset(*train_arrays, config.batch_size)),
      ("test", test),
    )
  }


def run(config: Config, callbacks=()) -> dict:
  """Trains and evaluates (every run of a sweep); returns the results
  written to results.json. A sweep rerun skips the runs already done."""
  trainer = common.Trainer(config, "classification")
  prepare_data(config)
  sweep = config.sweep()
  if not sweep:
    metrics = train_and_evaluate(config, trainer, callbacks=callbacks)
  else:
    metrics = common.run_sweep(
      trainer,
      {
        name: functools.partial(
          train_and_evaluate, run_config, trainer, callbacks=callbacks
        )
        for name, run_config in sweep.items()
      },
    )
  for name, run_metrics in metrics.items() if sweep else [("", metrics)]:
    if name:
      print(f"== {name}")
    common.print_metrics(run_metrics)
  return trainer.write_results(metrics)


if __name__ == "__main__":
  common.run_app(Config, run)
