"""The networks of the three experiments."""

from __future__ import annotations

import keras
from keras import layers


def cifar_cnn(num_classes: int = 10) -> keras.Model:
  """A vanilla CNN: 4 convolutional and 2 fully connected layers."""
  inputs = keras.Input((32, 32, 3))
  x = layers.Rescaling(1 / 127.5, offset=-1.0)(inputs)
  for filters in (32, 64):
    x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
    x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
    x = layers.MaxPooling2D()(x)
  x = layers.Flatten()(x)
  x = layers.Dense(256, activation="relu")(x)
  logits = layers.Dense(num_classes, name="logits")(x)
  return keras.Model(inputs, logits, name="cifar_cnn")


def ranking_linear(num_items: int, dim: int) -> keras.Model:
  """Scores `<w, x_i>` of each item: the FY loss is then convex in w."""
  inputs = keras.Input((num_items, dim))
  scores = layers.Dense(1, use_bias=False, name="w")(inputs)
  return keras.Model(
    inputs, layers.Reshape((num_items,))(scores), name="ranking_linear"
  )


COST_ACTIVATIONS = ("softplus", "linear")


def _costs(x, grid_size: int, activation: str):
  """1×1 convolution to one channel and the output activation: the costs
  [k, k], positive with softplus, raw with linear (the solver floors them)."""
  if activation not in COST_ACTIVATIONS:
    raise ValueError(
      f"Unknown cost activation {activation!r}; use one of {COST_ACTIVATIONS}."
    )
  x = layers.Conv2D(1, 1)(x)
  x = layers.Activation(activation)(x)
  return layers.Reshape((grid_size, grid_size), name="costs")(x)


def warcraft_small_cnn(
  grid_size: int, cost_activation: str = "softplus"
) -> keras.Model:
  """The small convolutional network: three conv/pool stages down to [k, k].

  Map pixels come in 8×8 tiles per cell, so three 2× poolings reach the grid.
  """
  inputs = keras.Input((8 * grid_size, 8 * grid_size, 3))
  x = layers.Rescaling(1 / 127.5, offset=-1.0)(inputs)
  for filters in (32, 64, 64):
    x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
    x = layers.MaxPooling2D()(x)
  return keras.Model(
    inputs, _costs(x, grid_size, cost_activation), name="warcraft_small_cnn"
  )


def _basic_block(x, filters):
  shortcut = x
  x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
  x = layers.BatchNormalization()(x)
  x = layers.ReLU()(x)
  x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
  x = layers.BatchNormalization()(x)
  return layers.ReLU()(layers.Add()([x, shortcut]))


def warcraft_resnet18(
  grid_size: int, cost_activation: str = "softplus"
) -> keras.Model:
  """ResNet18's stem and first block (Vlastelica et al., 2020), pooled to
  the [k, k] grid: conv7×7/2, BN, ReLU, max-pool/2, two basic blocks of 64."""
  inputs = keras.Input((8 * grid_size, 8 * grid_size, 3))
  x = layers.Rescaling(1 / 127.5, offset=-1.0)(inputs)
  x = layers.Conv2D(64, 7, strides=2, padding="same", use_bias=False)(x)
  x = layers.BatchNormalization()(x)
  x = layers.ReLU()(x)
  x = layers.MaxPooling2D(3, strides=2, padding="same")(x)
  x = _basic_block(_basic_block(x, 64), 64)
  x = layers.AveragePooling2D(2)(x)  # 2k×2k -> k×k.
  return keras.Model(
    inputs, _costs(x, grid_size, cost_activation), name="warcraft_resnet18"
  )


WARCRAFT_MODELS = {
  "small_cnn": warcraft_small_cnn,
  "resnet18": warcraft_resnet18,
}
