r"""Learning to match through scipy's assignment solver.

Each example is a bipartite matching problem: n workers, n tasks, and for
every (worker, task) pair a feature vector. The score of a pair is an unknown
linear function of its features, and the label is the assignment of maximal
total score, solved by `scipy.optimize.linear_sum_assignment` (the Hungarian
algorithm). A linear model learns the pair scores from the labels alone,
through the black-box solver: `ptf.solvers.numpy_solver` makes it a batched
graph op, and the Fenchel–Young loss needs nothing but its solutions.

  python -m examples.assignment     # about 6 s on 2 CPU cores
"""

from __future__ import annotations

import keras
import numpy as np
from scipy import optimize

import perturbations_tf as ptf


def assignment(scores: np.ndarray) -> np.ndarray:
  """The permutation matrix of maximal total score (one `[n, n]` example)."""
  rows, cols = optimize.linear_sum_assignment(scores, maximize=True)
  matching = np.zeros_like(scores)
  matching[rows, cols] = 1.0
  return matching


def make_data(num_examples: int, size: int, dim: int, seed: int):
  """Pair features `[N, n, n, dim]` and their optimal matchings `[N, n, n]`."""
  rng = np.random.default_rng(seed)
  weights = rng.normal(size=dim)
  features = rng.normal(size=(num_examples, size, size, dim))
  matchings = np.stack([assignment(s) for s in features @ weights])
  return features.astype(np.float32), matchings.astype(np.float32)


def matched_fraction(model, features, matchings) -> float:
  """The fraction of workers given their optimal task."""
  predicted = np.stack(
    [assignment(s) for s in model.predict(features, verbose=0)]
  )
  return float(
    np.mean(np.sum(predicted * matchings, (1, 2))) / matchings.shape[1]
  )


def main(
  num_train: int = 400,
  num_test: int = 200,
  size: int = 6,
  dim: int = 5,
  epochs: int = 10,
  num_samples: int = 20,
  sigma: float = 0.5,
  seed: int = 0,
) -> dict:
  """Trains the pair-scoring model; returns its losses and test accuracy."""
  keras.utils.set_random_seed(seed)
  x, y = make_data(num_train + num_test, size, dim, seed)
  model = keras.Sequential(
    [
      keras.Input((size, size, dim)),
      keras.layers.Dense(1),
      keras.layers.Reshape((size, size)),
    ]
  )
  solver = ptf.solvers.numpy_solver(assignment)
  model.compile(
    keras.optimizers.Adam(0.05),
    jit_compile=False,
    loss=ptf.losses.FenchelYoungLoss(solver, num_samples, sigma),
  )
  history = model.fit(
    x[:num_train], y[:num_train], epochs=epochs, batch_size=32, verbose=0
  )
  return {
    "loss": history.history["loss"],
    "test_matched_fraction": matched_fraction(
      model, x[num_train:], y[num_train:]
    ),
    "random_matching_fraction": 1.0 / size,
  }


if __name__ == "__main__":
  print(main())
