r"""Learning profits for a production plan: a linear program, SPO+ and regret.

A factory makes `n` products from `r` resources: it chooses quantities
`0 ≤ x ≤ 1` (fractions of each product's market) with `A x ≤ b`, and
maximises the profit `cᵀx`. The profits `c` are unknown when the plan is
made; they follow from features (prices, demand signals) through a
non-linear map. A linear model predicts them, and the plan is the linear
program's optimum on the prediction, solved by HiGHS through
`ptf.solvers.LinearProgram`. Trained with the SPO+ loss it makes better plans —
a lower normalised regret, the profit lost against the plan made on the true
profits — than the same model fit by least squares (two-stage), which spends its
capacity on profits that never change the plan.

  python -m examples.production_planning      # about 20 s on 2 CPU cores
"""

from __future__ import annotations

import keras
import numpy as np

import perturbations_tf as ptf


def make_data(num_examples: int, num_products: int, dim: int, seed: int):
  """Features `[N, dim]` and profits `[N, products]` (a cubic of a linear
  map: misspecified for a linear model), and the constraints."""
  rng = np.random.default_rng(seed)
  resources = rng.uniform(0.5, 2.0, (3, num_products))
  capacity = resources.sum(1) / 3
  features = rng.normal(size=(num_examples, dim))
  profits = (
    (features @ rng.normal(size=(dim, num_products)) / np.sqrt(dim) + 2.0) ** 3
    / 8.0
    * rng.uniform(0.8, 1.2, (num_examples, num_products))
  )
  return (
    features.astype(np.float32),
    profits.astype(np.float32),
    resources,
    capacity,
  )


def main(
  num_train: int = 400,
  num_test: int = 200,
  num_products: int = 8,
  dim: int = 4,
  epochs: int = 20,
  seed: int = 0,
) -> dict:
  """Trains the profit model with SPO+ and with least squares; returns the
  test normalised regret of each and the SPO+ losses per epoch."""
  x, profits, resources, capacity = make_data(
    num_train + num_test, num_products, dim, seed
  )
  plan = ptf.solvers.LinearProgram(
    A_ub=resources, b_ub=capacity, bounds=(0, 1), maximize=True
  )
  train, test = slice(0, num_train), slice(num_train, None)
  # The targets: true profits with their optimal plans, solved once.
  targets = np.stack([profits, plan.solve(profits)], 1)
  results = {}
  for name, loss in (
    ("spo_plus", ptf.losses.SPOPlusLoss(plan)),
    ("two_stage", keras.losses.MeanSquaredError()),
  ):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
      [keras.Input((dim,)), keras.layers.Dense(num_products)]
    )
    model.compile(keras.optimizers.Adam(0.02), loss=loss, jit_compile=False)
    y = targets[train] if name == "spo_plus" else profits[train]
    history = model.fit(x[train], y, epochs=epochs, batch_size=32, verbose=0)
    regret = ptf.metrics.NormalizedRegret(plan)
    regret.update_state(targets[test], model.predict(x[test], verbose=0))
    results[f"{name}_test_normalized_regret"] = float(regret.result())
    results[f"{name}_loss"] = history.history["loss"]
  plan.close()
  return results


if __name__ == "__main__":
  outcome = main()
  print({k: v for k, v in outcome.items() if "regret" in k})
