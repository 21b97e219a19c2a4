"""Training throughput of the shortest-path experiment's step, per loss."""

from __future__ import annotations

import time

import keras

from experiments import models
from experiments import shortest_path
from experiments import warcraft_data


def run(quick: bool = False) -> dict:
  data = warcraft_data.synthesize(70 * 4, 12, seed=0)
  steps = 3 if quick else 20
  rows = []
  base = None
  for loss in ("cost_mse", "fenchel_young", "blackbox", "perturbed_squared"):
    config = shortest_path.Config(loss=loss)
    keras.utils.set_random_seed(0)
    model = models.warcraft_small_cnn(12)
    model.compile(
      keras.optimizers.Adam(1e-3),
      loss=shortest_path.make_loss(config),
      jit_compile=True,
    )
    target = data["vertex_weights" if loss == "cost_mse" else "shortest_paths"]
    batches = [
      (data["maps"][i : i + 70], target[i : i + 70])
      for i in range(0, len(target), 70)
    ]
    model.train_on_batch(*batches[0])  # Compile.
    start = time.perf_counter()
    for step in range(steps):
      model.train_on_batch(*batches[step % len(batches)])
    rate = 70 * steps / (time.perf_counter() - start)
    base = base or rate
    rows.append(
      {
        "loss": loss,
        "M": config.num_samples,
        "examples/s": rate,
        "relative to cost_mse": rate / base,
      }
    )
  return {"Training throughput, Warcraft 12x12, small CNN, batch 70, XLA": rows}
