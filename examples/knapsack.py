r"""Learning item values through a 0/1 knapsack solved by scipy's MILP solver.

Every example is a knapsack with the same item weights and capacity; the
items' values are unknown but follow from their features. The label is the
optimal selection, solved as an integer program by `scipy.optimize.milp`
(HiGHS). A linear model learns to predict values whose optimal selection is
as valuable as the true one, with the Fenchel–Young loss over the perturbed
MILP (a black box to TensorFlow, wrapped by `ptf.solvers.numpy_solver`).

  python -m examples.knapsack       # about 30 s on 2 CPU cores
"""

from __future__ import annotations

import functools

import keras
import numpy as np
from scipy import optimize

import perturbations_tf as ptf


def knapsack(
  values: np.ndarray, weights: np.ndarray, capacity: float
) -> np.ndarray:
  """The 0/1 selection of maximal value within the capacity (one example)."""
  result = optimize.milp(
    -values,
    integrality=np.ones_like(values),
    bounds=optimize.Bounds(0, 1),
    constraints=optimize.LinearConstraint(
      weights[np.newaxis], -np.inf, capacity
    ),
  )
  if not result.success:
    raise RuntimeError(f"milp failed: {result.message}")
  return np.round(result.x).astype(values.dtype)


def make_data(num_examples: int, num_items: int, dim: int, seed: int):
  """Item features `[N, items, dim]`, true values, the weights, capacity."""
  rng = np.random.default_rng(seed)
  weights = rng.uniform(1.0, 5.0, num_items)
  capacity = weights.sum() / 3
  features = rng.normal(size=(num_examples, num_items, dim))
  values = features @ rng.normal(size=dim) + 2.0  # Mostly positive.
  return (
    features.astype(np.float32),
    values.astype(np.float32),
    weights,
    capacity,
  )


def relative_value(selections, values, optimal) -> float:
  """Mean true value of the selections over the optimal value."""
  return float(
    np.mean(np.sum(selections * values, 1) / np.sum(optimal * values, 1))
  )


def main(
  num_train: int = 300,
  num_test: int = 100,
  num_items: int = 10,
  dim: int = 5,
  epochs: int = 5,
  num_samples: int = 5,
  sigma: float = 0.5,
  seed: int = 0,
) -> dict:
  """Trains the value model; returns its losses and the test value ratio."""
  keras.utils.set_random_seed(seed)
  x, values, weights, capacity = make_data(
    num_train + num_test, num_items, dim, seed
  )
  solve = functools.partial(knapsack, weights=weights, capacity=capacity)
  optimal = np.stack([solve(v) for v in values])
  model = keras.Sequential(
    [
      keras.Input((num_items, dim)),
      keras.layers.Dense(1),
      keras.layers.Reshape((num_items,)),
    ]
  )
  model.compile(
    keras.optimizers.Adam(0.05),
    jit_compile=False,
    loss=ptf.losses.FenchelYoungLoss(
      ptf.solvers.numpy_solver(solve), num_samples, sigma
    ),
  )
  history = model.fit(
    x[:num_train], optimal[:num_train], epochs=epochs, batch_size=30, verbose=0
  )
  test = slice(num_train, None)
  predicted = np.stack([solve(v) for v in model.predict(x[test], verbose=0)])
  # The trivial baseline ignores the features: all values equal, so it packs
  # as many items as fit.
  trivial = solve(np.ones(num_items, np.float32))
  return {
    "loss": history.history["loss"],
    "test_relative_value": relative_value(
      predicted, values[test], optimal[test]
    ),
    "trivial_relative_value": relative_value(
      trivial[np.newaxis], values[test], optimal[test]
    ),
  }


if __name__ == "__main__":
  print(main())
