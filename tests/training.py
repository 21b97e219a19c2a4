"""A short predict-then-optimize fit on PyEPO's shortest path: the test that
a loss trains a linear model to lower regret."""

import keras
import numpy as np

import perturbations_tf as ptf

GRID = (5, 5)
SOLVER = {"name": "grid_arc_shortest_path", "kwargs": {"grid": list(GRID)}}


def data(num_train: int = 200, num_test: int = 200, seed: int = 0):
  """`(x_train, c_train, w_train, x_test, c_test, w_test)`, degree 4."""
  x, c = ptf.data.shortest_path_data(
    num_train + num_test, 5, GRID, deg=4, noise_width=0.5, seed=seed
  )
  x = x.astype(np.float32)
  w = ptf.data.optimal_solutions(c, SOLVER)
  n = num_train
  return x[:n], c[:n], w[:n], x[n:], c[n:], w[n:]


def regret_before_and_after(
  make_loss, target: str, epochs: int = 5, learning_rate: float = 0.05
):
  """The test set's normalised regret of a seeded linear model before and
  after `epochs` of Adam on `make_loss(w_train)`; `target` is 'costs',
  'solutions' or 'both' (`stack_targets`)."""
  x, c, w, x_test, c_test, w_test = data()
  keras.utils.set_random_seed(0)
  model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(40)])

  def regret():
    metric = ptf.metrics.NormalizedRegret(SOLVER)
    metric.update_state(ptf.data.stack_targets(c_test, w_test), model(x_test))
    return float(metric.result())

  before = regret()
  y = {"costs": c, "solutions": w, "both": np.stack([c, w], 1)}[target]
  model.compile(keras.optimizers.Adam(learning_rate), loss=make_loss(w))
  model.fit(x, y, batch_size=32, epochs=epochs, verbose=0, shuffle=True)
  return before, regret()


def spo_plus_regret_before_and_after(
  solver, x, c, num_train: int, epochs: int, learning_rate: float
):
  """The test normalised regret of a seeded linear model before and after
  `epochs` of SPO+ through `solver` on the first `num_train` rows; the
  rest test it."""
  x = np.asarray(x, np.float32)
  w = solver.solve(c)
  keras.utils.set_random_seed(0)
  model = keras.Sequential(
    [keras.Input(x.shape[1:]), keras.layers.Dense(c.shape[1])]
  )
  n = num_train

  def regret():
    metric = ptf.metrics.NormalizedRegret(solver)
    metric.update_state(ptf.data.stack_targets(c[n:], w[n:]), model(x[n:]))
    return float(metric.result())

  before = regret()
  model.compile(
    keras.optimizers.Adam(learning_rate), loss=ptf.losses.SPOPlusLoss(solver)
  )
  model.fit(x[:n], c[:n], batch_size=32, epochs=epochs, verbose=0)
  return before, regret()
