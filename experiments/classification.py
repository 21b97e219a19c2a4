r"""CIFAR-10 classification with a perturbed argmax (Berthet et al. 2020, §5.1).

A vanilla CNN (4 convolutional, 2 fully connected layers) trained with the
Fenchel–Young loss of the perturbed one-hot argmax, against cross-entropy.
Data come from tensorflow-datasets (`cifar10`), augmented on train only.

  python -m experiments.classification --flagfile=configs/classification.cfg
"""

from __future__ import annotations

import dataclasses

import keras
import tensorflow as tf
import tensorflow_datasets as tfds

import perturbations_tf as ptf
from experiments import common
from experiments import models

LOSSES = ("fenchel_young", "cross_entropy")
NUM_CLASSES = 10


@dataclasses.dataclass
class Config(common.TrainConfig):
  """Settings of the classification experiment."""
  loss: str = common.field("fenchel_young", "Training loss.", choices=LOSSES)
  num_samples: int = common.field(1000, "M, perturbed samples per example.")
  sigma: float = common.field(1.0, "ε, the noise scale.")
  noise: str = common.field("normal", "Noise distribution.",
                            choices=("normal", "gumbel"))
  tfds_data_dir: str = common.field("", "tensorflow-datasets data folder "
                                    "(empty: its default).")
  max_train_examples: int = common.field(0, "Use only this many training "
                                         "images (0: all).")
  max_test_examples: int = common.field(0, "Use only this many test images "
                                        "(0: all).")
  epochs: int = common.field(600, "Training epochs.")
  batch_size: int = common.field(32, "Global mini-batch size.")
  learning_rate: float = common.field(1e-3, "Adam learning rate.")

  def validate(self):
    super().validate()
    self.require(at_least_one=("num_samples",), positive=("sigma",))


def augment(image, label):
  """Random horizontal flip and 4-pixel random crop (train only)."""
  image = tf.image.random_flip_left_right(image)
  image = tf.image.resize_with_crop_or_pad(image, 40, 40)
  return tf.image.random_crop(image, (32, 32, 3)), label


def load(config: Config, split: str, limit: int, training: bool):
  ds = tfds.load("cifar10", split=split, as_supervised=True,
                 data_dir=config.tfds_data_dir or None)
  if limit:
    ds = ds.take(limit)
  ds = ds.map(lambda x, y: (tf.cast(x, tf.float32),
                            tf.one_hot(y, NUM_CLASSES)))
  if training:
    ds = ds.shuffle(10_000, seed=config.seed).map(
        augment, num_parallel_calls=tf.data.AUTOTUNE)
  return ds.batch(config.batch_size).prefetch(tf.data.AUTOTUNE)


def make_loss(config: Config) -> keras.losses.Loss:
  if config.loss == "fenchel_young":
    return ptf.FenchelYoungLoss("argmax", config.num_samples, config.sigma,
                                config.noise)
  return keras.losses.CategoricalCrossentropy(from_logits=True)


def run(config: Config, callbacks=()) -> dict:
  """Trains and evaluates; returns the results written to results.json."""
  trainer = common.Trainer(config, "classification")
  train = load(config, "train", config.max_train_examples, training=True)
  test = load(config, "test", config.max_test_examples, training=False)
  with trainer.strategy.scope():
    model = models.cifar_cnn(NUM_CLASSES)
    model.compile(keras.optimizers.Adam(config.learning_rate),
                  loss=make_loss(config), metrics=["categorical_accuracy"],
                  jit_compile=config.jit_compile)
  trainer.fit(model, train, validation=test, callbacks=callbacks)
  metrics = {name: common.as_float_dict(model.evaluate(
                 ds, verbose=0, return_dict=True))
             for name, ds in (("train", load(config, "train",
                                             config.max_train_examples,
                                             training=False)),
                              ("test", test))}
  common.print_metrics(metrics)
  return trainer.write_results(metrics)


if __name__ == "__main__":
  common.run_app(Config, run)
