"""Knapsack equals HiGHS's MILP optimum on PyEPO's knapsack (values of any
sign), enumerates exactly the maximal packings, compiles under XLA,
serialises, trains with the losses, and names bad input."""

import itertools

import keras
import numpy as np
import pytest
from scipy import optimize
import tensorflow as tf

import perturbations_tf as ptf
from perturbations_tf.solvers import maximal_packings
from tests import serialization

MODES = {
  "eager": lambda f: f,
  "function": tf.function,
  "xla": lambda f: tf.function(f, jit_compile=True),
}


@pytest.mark.parametrize("mode", MODES)
def test_equals_the_milp_optimum_on_pyepos_knapsack(mode, rng):
  # PyEPO's weights (two dimensions, 32 items, decimals), capacity 20;
  # values as a model, SPO+ (2ĉ − c), the blackbox and noise make them:
  # positive, mixed in sign, with ties (integers).
  weights, _, c = ptf.data.knapsack_data(
    40, 5, 32, 2, deg=4, noise_width=0.5, seed=3
  )
  capacity = np.full(2, 20.0)
  values = np.concatenate(
    [c, rng.normal(size=(40, 32)), np.round(rng.normal(2.0, 2.0, (40, 32)))]
  )
  knapsack = ptf.solvers.Knapsack(weights, capacity)
  packed = MODES[mode](knapsack)(tf.constant(values, tf.float32)).numpy()
  assert set(np.unique(packed)) <= {0.0, 1.0}
  for v, x in zip(values, packed):
    assert np.all(weights @ x <= capacity + 1e-9)
    best = optimize.milp(
      -v,
      integrality=np.ones(32),
      bounds=optimize.Bounds(0, 1),
      constraints=optimize.LinearConstraint(weights, -np.inf, capacity),
    )
    assert v @ x == pytest.approx(-best.fun, rel=1e-6, abs=1e-6)


def test_enumerates_exactly_the_maximal_packings(rng):
  # Against all 2^12 subsets, over three dimensions with a free item and
  # one that fits nowhere.
  weights = np.round(rng.uniform(0.5, 3.0, (3, 12)), 2)
  weights[:, 0] = 0.0
  weights[1, 5] = 99.0
  capacity = np.array([5.0, 6.0, 4.5])
  subsets = np.array(list(itertools.product([False, True], repeat=12)))
  feasible = np.all(subsets.astype(float) @ weights.T <= capacity + 1e-9, 1)
  maximal = [
    s
    for s in subsets[feasible]
    if not any(
      np.all(
        (s | np.eye(12, dtype=bool)[j]).astype(float) @ weights.T
        <= capacity + 1e-9
      )
      for j in range(12)
      if not s[j]
    )
  ]
  got = maximal_packings(weights, capacity)
  assert {tuple(s) for s in got} == {tuple(s) for s in maximal}
  assert len(got) == len(maximal) > 1
  assert got[:, 0].all() and not got[:, 5].any()  # Free, and too heavy.


def test_one_dimension_scalar_capacity_and_the_docstring():
  np.testing.assert_array_equal(
    maximal_packings([3.0, 4.0, 5.0], 8.0), [[1, 1, 0], [1, 0, 1]]
  )
  # Decimals that fill the capacity exactly (0.1 + 0.2 > 0.3 in floats).
  np.testing.assert_array_equal(
    maximal_packings([[0.1, 0.2, 0.25]], [0.3]), [[1, 1, 0], [0, 0, 1]]
  )
  knapsack = ptf.solvers.Knapsack(weights=[[3.0, 4.0, 5.0]], capacity=[8.0])
  np.testing.assert_array_equal(
    knapsack(tf.constant([[1.0, 1.0, 3.0], [2.0, -1.0, 0.5]])),
    [[1, 0, 1], [1, 0, 1]],
  )
  # Nothing of positive value: the empty packing.
  np.testing.assert_array_equal(
    knapsack(-tf.ones([1, 3], tf.float64)), [[0, 0, 0]]
  )


def test_serialises_and_trains_with_the_losses_under_xla(rng):
  weights, x, c = ptf.data.knapsack_data(256, 5, 10, 2, deg=2, seed=0)
  knapsack = ptf.solvers.Knapsack(weights, 8.0)
  copy = serialization.round_trip(knapsack)
  np.testing.assert_array_equal(copy.packings, knapsack.packings)
  x = x.astype(np.float32)
  w = knapsack(c).numpy()
  # No sense given anywhere: the knapsack declares that it maximises, and
  # every loss and metric follows it.
  regret = ptf.metrics.NormalizedRegret(knapsack)
  for loss, y in (
    (ptf.losses.SPOPlusLoss(knapsack), ptf.data.stack_targets(c, w)),
    (
      ptf.losses.FenchelYoungLoss(knapsack, num_samples=4, sigma=1.0, seed=0),
      ptf.data.stack_targets(c, w),
    ),
  ):
    assert loss.maximize
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(10)])
    model.compile(keras.optimizers.Adam(0.05), loss=loss, jit_compile=True)
    regret.reset_state()
    regret.update_state(ptf.data.stack_targets(c, w), model(x))
    before = float(regret.result())
    model.fit(x, y, epochs=8, batch_size=32, verbose=0)
    regret.reset_state()
    regret.update_state(ptf.data.stack_targets(c, w), model(x))
    assert float(regret.result()) < 0.5 * before, loss.name
  restored = serialization.round_trip(ptf.losses.SPOPlusLoss(knapsack))
  np.testing.assert_allclose(
    restored.call(ptf.data.stack_targets(c[:4], w[:4]), c[:4] + 0.3),
    ptf.losses.spo_plus_loss(
      ptf.data.stack_targets(c[:4], w[:4]), c[:4] + 0.3, knapsack, maximize=True
    ),
  )


def test_errors_name_the_problem():
  with pytest.raises(ValueError, match="non-negative"):
    ptf.solvers.Knapsack([[1.0, -1.0]], [2.0])
  with pytest.raises(ValueError, match=r"capacity \[dim\]"):
    ptf.solvers.Knapsack([[1.0, 1.0]], [2.0, 2.0])
  with pytest.raises(ValueError, match="finite"):
    ptf.solvers.Knapsack([[1.0, np.nan]], [2.0])
  with pytest.raises(ValueError, match="max_packings=10 .*LinearProgram"):
    ptf.solvers.Knapsack(np.ones((1, 8)), [4.0], max_packings=10)
  knapsack = ptf.solvers.Knapsack([[1.0, 2.0, 3.0]], [3.0])
  with pytest.raises(ValueError, match=r"shape \[batch, 3\]"):
    knapsack(tf.ones([2, 4]))
  with pytest.raises(tf.errors.InvalidArgumentError, match="finite inputs"):
    knapsack(tf.constant([[1.0, np.nan, 0.0]]))
  with pytest.raises(ValueError, match="Knapsack declares maximize=True"):
    ptf.losses.SPOPlusLoss(knapsack, maximize=False)
  # Integer values give floating packings; labels it cannot produce raise.
  assert knapsack(tf.constant([[1, 2, 3]])).dtype == tf.float32
  loss = ptf.losses.FenchelYoungLoss(knapsack, 4, 0.5, seed=0)
  with pytest.raises(
    tf.errors.InvalidArgumentError, match="feasible 0/1 packings"
  ):
    loss([[1.0, 1.0, 1.0]], [[1.0, 2.0, 3.0]])
