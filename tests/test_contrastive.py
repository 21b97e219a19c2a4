"""NCE and CMAP against their definitions over the SolutionCache's pool."""

import functools

import keras
import numpy as np
import pytest
import tensorflow as tf

import perturbations_tf as ptf
from perturbations_tf import solvers
from tests import grid_paths
from tests import serialization

GRID = (3, 3)
SHORTEST = functools.partial(solvers.grid_arc_shortest_path, grid=GRID)


def pool_of(cache):
  return cache.pool.numpy()[: int(cache.pool_size.numpy())]


@pytest.mark.parametrize("maximize", [False, True])
def test_values_and_gradients_are_the_definitions(maximize, rng):
  solver = (lambda x: SHORTEST(-x)) if maximize else SHORTEST
  paths = grid_paths.all_paths(GRID)
  c = rng.uniform(0.1, 2.0, (32, 12))
  c_hat = tf.constant(rng.uniform(0.1, 2.0, (32, 12)), tf.float32)
  w = solver(c).numpy()
  s = -1.0 if maximize else 1.0
  for loss_class, reduce in (
    (ptf.losses.NCELoss, np.mean),
    (ptf.losses.CMAPLoss, np.max),
  ):
    cache = ptf.solvers.SolutionCache(
      solver,
      shape=(12,),
      solve_fraction=0.25,
      maximize=maximize,
      initial_solutions=paths[:2],
    )
    loss = loss_class(cache)
    with tf.GradientTape() as tape:
      tape.watch(c_hat)
      value = loss.call(w, c_hat)
    grad = tape.gradient(value, c_hat).numpy()
    pool = pool_of(cache)  # Grown by the call: 8 of the 32 rows solved.
    assert 2 < len(pool) <= 2 + 8 and cache.exact_rows.numpy() == 8
    own = np.sum(c_hat * w, 1, keepdims=True)
    margins = s * (own - c_hat.numpy() @ pool.T)
    np.testing.assert_allclose(
      value, reduce(margins, axis=1), rtol=1e-5, atol=1e-5
    )
    if loss_class is ptf.losses.NCELoss:
      np.testing.assert_allclose(grad, s * (w - pool.mean(0)), atol=1e-6)
    else:  # The most violating pooled solution.
      worst = pool[margins.argmax(1)]
      np.testing.assert_allclose(grad, s * (w - worst), atol=1e-6)


def test_cmap_is_zero_when_the_true_solution_is_best_in_the_pool(rng):
  c = rng.uniform(0.1, 2.0, (16, 12)).astype(np.float32)
  w = SHORTEST(c).numpy()
  cache = ptf.solvers.SolutionCache(
    SHORTEST,
    shape=(12,),
    maximize=False,
    initial_solutions=grid_paths.all_paths(GRID),
  )
  np.testing.assert_allclose(ptf.losses.cmap_loss(w, c, cache), 0.0, atol=1e-6)
  assert (ptf.losses.nce_loss(w, c, cache).numpy() < 0).all()


@pytest.mark.parametrize("jit", [False, True])
def test_training_lowers_the_regret_and_errors(jit, rng):
  keras.utils.set_random_seed(0)
  x = rng.normal(size=(256, 5)).astype(np.float32)
  c = (0.3 * x @ rng.normal(size=(5, 12)) + 1.0).astype(np.float32)
  w = SHORTEST(c).numpy()
  for loss_class in (ptf.losses.NCELoss, ptf.losses.CMAPLoss):
    cache = ptf.solvers.SolutionCache(
      SHORTEST,
      shape=(12,),
      solve_fraction=0.1,
      maximize=False,
      initial_solutions=w,
      seed=0,
    )
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(12)])
    model.compile(
      keras.optimizers.Adam(0.05), loss=loss_class(cache), jit_compile=jit
    )
    regret = ptf.metrics.NormalizedRegret(SHORTEST)
    regret.update_state(c, model.predict(x, verbose=0))
    before = float(regret.result())
    model.fit(x, w, epochs=10, batch_size=32, verbose=0)
    regret.reset_state()
    regret.update_state(c, model.predict(x, verbose=0))
    assert float(regret.result()) < 0.3 * before, loss_class
  copy = serialization.round_trip(ptf.losses.NCELoss(cache))
  assert copy.solver.get_config() == cache.get_config()
  assert copy.maximize is False  # As the cache, as its shortest path.
  with pytest.raises(ValueError, match="needs a SolutionCache"):
    ptf.losses.CMAPLoss(SHORTEST)
  # The stacked targets of every loss: the solutions are read from them.
  for loss_fn in (ptf.losses.nce_loss, ptf.losses.cmap_loss):
    np.testing.assert_allclose(
      loss_fn(ptf.data.stack_targets(c, w), c, cache), loss_fn(w, c, cache)
    )
  with pytest.raises(tf.errors.InvalidArgumentError, match="0/1 arc vectors"):
    ptf.losses.nce_loss(w + 0.5, c, cache)
