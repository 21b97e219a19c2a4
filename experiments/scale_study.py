r"""Why `perturbed_squared` collapses on Warcraft: its value against the scale
of the costs, for an untrained network and a trained one.

Shortest paths ignore a map's cost scale, but a perturbation of fixed size ε
does not: scaled down, the costs drown in the noise and `y_ε` becomes the
same diffuse average path for every map. For an untrained network that
hedge scores better under the squared loss than its confident wrong paths,
so training first shrinks the costs, into a plateau where the loss no
longer depends on the map (no signal) and softplus has no gradient.

  python -m experiments.scale_study \
      --trained_run=runs/reproduce/shortest_path/fenchel_young
"""

from __future__ import annotations

from collections.abc import Sequence
import json

from absl import flags
import keras
import numpy as np
import tensorflow as tf

from experiments import cli
from experiments import losses
from experiments import models
from experiments import shortest_path

SCALES = (1e-3, 1e-2, 0.1, 0.3, 1.0, 3.0, 10.0, 100.0)


def loss_against_scale(
  trained_run: str,
  num_samples: int = 30,
  sigma: float = 0.1,
  scales: Sequence[float] = SCALES,
) -> dict[str, dict[str, float]]:
  """The mean perturbed squared loss on the validation maps of
  `trained_run`, at each multiple of the costs, for that run's network and
  for an untrained one (the run's seed and model).

  Returns:
    `{'untrained' | 'trained': {scale: loss, 'mean_cost': ...}}`.
  """
  config, trained = shortest_path.load_run(trained_run)
  val = shortest_path.load_data(config)["val"]
  keras.utils.set_random_seed(config.seed)
  networks = {
    "untrained": models.WARCRAFT_MODELS[config.model](
      config.grid_size, shortest_path.cost_activation(config)
    ),
    "trained": trained,
  }
  paths = tf.constant(val["shortest_paths"])
  results = {}
  for name, network in networks.items():
    costs = network.predict(val["maps"], verbose=0, batch_size=256)
    results[name] = {"mean_cost": float(np.mean(costs))}
    for scale in scales:
      loss = losses.PerturbedSquaredLoss(
        shortest_path.solver(config), num_samples, sigma, seed=config.seed
      )
      results[name][f"{scale:g}"] = float(
        tf.reduce_mean(loss.call(paths, tf.constant(scale * costs)))
      )
  return results


def main(argv):
  del argv
  f = flags.FLAGS
  results = loss_against_scale(f.trained_run, f.num_samples, f.sigma)
  for name, values in results.items():
    print(name, "  ".join(f"{k}: {v:.4f}" for k, v in values.items()))
  if f.output:
    with open(f.output, "w", encoding="utf-8") as out:
      json.dump(results, out, indent=2)


if __name__ == "__main__":
  flags.DEFINE_string(
    "trained_run",
    "runs/reproduce/shortest_path/fenchel_young",
    "A trained shortest-path run folder.",
  )
  flags.DEFINE_integer("num_samples", 30, "M of the perturbed squared loss.")
  flags.DEFINE_float("sigma", 0.1, "ε of the perturbed squared loss.")
  flags.DEFINE_string("output", "", "Also write the values as JSON here.")
  cli.run_main(main)
