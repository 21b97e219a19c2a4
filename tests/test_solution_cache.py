"""Tests of the solution cache: exact where the optimum is pooled, counts,
the ring buffer, graphs, training and saving."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

import perturbations_tf as ptf
from perturbations_tf import solvers


def pool_of(cache):
  size = int(cache.pool_size.numpy())
  return cache.pool.numpy()[:size]


def test_answers_are_exact_when_every_optimum_is_pooled(rng):
  # Argmax over 5 entries: the pool of all 5 one-hot vectors holds every
  # optimum, so the cached answers equal the solver's on every row.
  cache = ptf.solvers.SolutionCache(
    solvers.argmax,
    (5,),
    solve_fraction=0.1,
    initial_solutions=np.eye(5),
    seed=0,
  )
  theta = rng.normal(size=(200, 5)).astype(np.float32)
  np.testing.assert_array_equal(cache(theta), solvers.argmax(theta))
  assert int(cache.exact_rows.numpy()) == 20  # ceil(0.1 · 200) solved.
  assert int(cache.total_rows.numpy()) == 200
  assert int(cache.pool_size.numpy()) == 5  # Nothing new to add.


def test_minimisation_and_seeding_with_labels(rng):
  costs = rng.uniform(0.5, 3.0, size=(50, 5, 5)).astype(np.float32)
  paths = solvers.shortest_path(costs).numpy()
  cache = ptf.solvers.SolutionCache(
    solvers.shortest_path,
    (5, 5),
    0.2,
    maximize=False,
    initial_solutions=paths,
    seed=1,
  )
  assert len(pool_of(cache)) == len(np.unique(paths.reshape(50, -1), axis=0))
  # The labels' own costs: each optimum is pooled, so every row is exact.
  np.testing.assert_array_equal(cache(costs), paths)


def test_cached_rows_get_the_pooled_solution_of_best_objective(rng):
  cache = ptf.solvers.SolutionCache(
    solvers.shortest_path, (4, 4), 0.25, maximize=False, seed=2
  )
  costs = rng.uniform(0.5, 3.0, size=(40, 4, 4)).astype(np.float32)
  first = cache(costs).numpy()  # Empty pool: every row is solved.
  np.testing.assert_array_equal(first, solvers.shortest_path(costs))
  assert int(cache.exact_rows.numpy()) == 40
  pool = pool_of(cache)
  fresh = rng.uniform(0.5, 3.0, size=(40, 4, 4)).astype(np.float32)
  answers = cache(fresh).numpy().reshape(40, -1)
  exact = solvers.shortest_path(fresh).numpy().reshape(40, -1)
  flat = fresh.reshape(40, -1)
  best = pool[np.argmin(flat @ pool.T, axis=1)]
  from_pool = np.all(answers == best, axis=1)
  solved = np.all(answers == exact, axis=1)
  assert np.all(from_pool | solved)
  assert np.sum(~from_pool) <= 10  # At most the ceil(0.25 · 40) solved rows.
  # A cached answer is never better than the optimum, and is feasible.
  objective = np.sum(answers * flat, 1)
  assert np.all(objective >= np.sum(exact * flat, 1) - 1e-5)


def test_pool_is_a_ring_buffer_without_duplicates():
  cache = ptf.solvers.SolutionCache(
    solvers.argmax, (4,), 1.0, capacity=3, seed=0
  )
  cache(tf.constant([[1.0, 0, 0, 0], [2.0, 0, 0, 0], [0, 1.0, 0, 0]]))
  np.testing.assert_array_equal(pool_of(cache), np.eye(4)[:2])
  cache(tf.constant([[0, 0, 1.0, 0], [0, 0, 0, 1.0]]))
  # Full: the oldest solution (e_0) made room for e_3.
  np.testing.assert_array_equal(
    sorted(map(tuple, pool_of(cache))), sorted(map(tuple, np.eye(4)[1:]))
  )
  assert int(cache.pool_size.numpy()) == 3


def test_one_call_with_more_new_solutions_than_room_keeps_the_last():
  cache = ptf.solvers.SolutionCache(
    solvers.argmax, (5,), 1.0, capacity=2, seed=0
  )
  cache(tf.constant(np.eye(5, dtype=np.float32)))
  assert int(cache.pool_size.numpy()) == 2
  assert int(cache.next_slot.numpy()) == 0  # Filled the ring exactly.
  pool = pool_of(cache)
  assert np.all(pool.sum(1) == 1) and len(np.unique(pool, axis=0)) == 2


def test_compiles_under_xla_with_the_same_behaviour(rng):
  # XLA draws other random rows than the CPU kernels (TensorFlow's
  # stateless streams differ), so the compiled cache is checked against the
  # definition: each answer is the exact optimum or the best pooled
  # solution, at most ceil(0.25 · 24) = 6 rows of a call are solved, and
  # the ring (capacity 4, fewer than the distinct optima of one call)
  # holds distinct optima.
  cache = ptf.solvers.SolutionCache(
    solvers.shortest_path, (4, 4), 0.25, capacity=4, maximize=False, seed=3
  )
  assert cache.supports_jit
  step = tf.function(cache, jit_compile=True)
  costs = rng.uniform(0.5, 3.0, size=(4, 24, 4, 4)).astype(np.float32)
  exact = solvers.shortest_path(costs.reshape(-1, 4, 4)).numpy()
  exact = exact.reshape(4, 24, 16)
  first = step(tf.constant(costs[0])).numpy().reshape(24, 16)
  np.testing.assert_array_equal(first, exact[0])  # Empty pool: all solved.
  distinct = {tuple(p) for p in exact[0]}
  assert len(distinct) > 4  # So the ring wrapped within the first call.
  assert {tuple(p) for p in pool_of(cache)} <= distinct
  assert int(cache.pool_size.numpy()) == 4
  assert int(cache.next_slot.numpy()) == 0  # The last 4 new: one lap.
  for c, optimum in zip(costs[1:], exact[1:]):
    pool = pool_of(cache)
    best = pool[np.argmin(c.reshape(24, 16) @ pool.T, axis=1)]
    answers = step(tf.constant(c)).numpy().reshape(24, 16)
    from_pool = np.all(answers == best, 1)
    assert np.all(from_pool | np.all(answers == optimum, 1))
    assert np.sum(~from_pool) <= 6
  assert int(cache.exact_rows.numpy()) == 24 + 3 * 6
  pool = pool_of(cache)
  assert len(np.unique(pool, axis=0)) == len(pool) == 4
  seen = {tuple(p) for p in exact.reshape(-1, 16)}
  assert all(tuple(p) in seen for p in pool)


def test_fraction_of_exact_rows_in_perturbed_and_fenchel_young(rng):
  theta = rng.normal(size=(8, 6)).astype(np.float32)
  labels = solvers.argmax(theta)
  cache = ptf.solvers.SolutionCache(
    solvers.argmax, (6,), 0.3, seed=0, initial_solutions=np.eye(6)
  )
  m = 10
  loss = ptf.losses.FenchelYoungLoss(cache, m, 0.5, seed=0)
  value = tf.function(loss)(labels, theta)
  reference = ptf.losses.FenchelYoungLoss(solvers.argmax, m, 0.5, seed=0)(
    labels, theta
  )
  # Every one-hot is pooled: the cached loss is the exact one.
  np.testing.assert_allclose(value, reference, rtol=1e-6)
  assert int(cache.exact_rows.numpy()) == math.ceil(0.3 * m * 8)
  with tf.GradientTape(persistent=True) as tape:
    t = tf.constant(theta)
    tape.watch(t)
    cached = tf.reduce_sum(ptf.ops.perturbed(cache, m, 0.5, seed=3)(t) * labels)
    exact = tf.reduce_sum(
      ptf.ops.perturbed(solvers.argmax, m, 0.5, seed=3)(t) * labels
    )
  np.testing.assert_allclose(
    tape.gradient(cached, t), tape.gradient(exact, t), rtol=1e-5, atol=1e-6
  )
  assert cache.exact_fraction == pytest.approx(
    2 * math.ceil(0.3 * m * 8) / (2 * m * 8)
  )


def test_trains_and_saves_its_pool_with_the_model(rng, tmp_path):
  # Seeded: some initial weights give logits too large for σ = 0.5 to flip
  # any argmax, so no gradient (a loss flat at 0.2 was seen unseeded).
  keras.utils.set_random_seed(0)
  cache = ptf.solvers.SolutionCache(
    solvers.argmax, (3,), 0.25, seed=0, initial_solutions=np.eye(3)
  )
  model = keras.Sequential(
    [
      keras.Input((5,)),
      keras.layers.Dense(3),
      ptf.layers.Perturbed(cache, num_samples=8, sigma=0.5, seed=0),
    ]
  )
  labels = rng.integers(0, 3, 120)
  x = rng.normal(size=(3, 5))[labels] * 3 + rng.normal(size=(120, 5))
  model.compile(keras.optimizers.Adam(0.05), loss="mse", jit_compile=False)
  history = model.fit(
    x.astype(np.float32), np.eye(3)[labels], epochs=5, batch_size=30, verbose=0
  )
  assert history.history["loss"][-1] < history.history["loss"][0]
  assert cache.exact_fraction == 0.25  # 60 of each step's 8 · 30 rows.
  path = str(tmp_path / "model.keras")
  model.save(path)
  restored = keras.models.load_model(path).layers[-1].solver
  assert isinstance(restored, ptf.solvers.SolutionCache)
  np.testing.assert_array_equal(restored.pool.numpy(), cache.pool.numpy())
  assert int(restored.pool_size.numpy()) == int(cache.pool_size.numpy()) == 3


def test_bad_arguments_name_themselves():
  with pytest.raises(ValueError, match="solve_fraction"):
    ptf.solvers.SolutionCache(solvers.argmax, (3,), solve_fraction=0.0)
  with pytest.raises(ValueError, match="capacity"):
    ptf.solvers.SolutionCache(solvers.argmax, (3,), capacity=0)
  with pytest.raises(ValueError, match="shape"):
    ptf.solvers.SolutionCache(solvers.argmax, ())
  with pytest.raises(ValueError, match="initial_solutions"):
    ptf.solvers.SolutionCache(solvers.argmax, (3,), initial_solutions=np.eye(4))
  with pytest.raises(ValueError, match="built for inputs"):
    ptf.solvers.SolutionCache(solvers.argmax, (3,))(tf.ones([2, 4]))


def distinct_binary_rows(count, size, rng):
  codes = rng.choice(2**size, count, replace=False)
  return ((codes[:, None] >> np.arange(size)) & 1).astype(np.float32)


# Pools that end in each prefix `over_pool` chooses from: (capacity, size).
PREFIX_CASES = [(1000, 100), (1000, 300), (10_000, 700), (200, 150)]


def test_prefix_lengths_divide_the_capacity_by_four():
  def lengths(capacity):
    return ptf.solvers.SolutionCache(
      solvers.argmax, (3,), capacity=capacity
    ).prefix_lengths()

  assert lengths(10_000) == (157, 625, 2500, 10_000)
  assert lengths(1000) == (250, 1000)
  assert lengths(257) == (65, 257)
  assert lengths(256) == (256,)


@pytest.mark.parametrize("jit", [False, True])
@pytest.mark.parametrize("capacity, size", PREFIX_CASES)
def test_the_pool_is_searched_whole_whatever_its_prefix(
  capacity, size, jit, rng
):
  """The best pooled solution and the pool's mean over every filled slot,
  and only those, in each of `over_pool`'s branches."""
  pool = distinct_binary_rows(size, 12, rng)
  cache = ptf.solvers.SolutionCache(
    solvers.argmax, (12,), capacity=capacity, initial_solutions=pool
  )
  assert int(cache.pool_size.numpy()) == size
  theta = rng.normal(size=(64, 12)).astype(np.float32)

  @tf.function(jit_compile=jit)
  def search(theta):
    return cache.best_in_pool(theta), cache.pool_mean()

  best, mean = search(theta)
  np.testing.assert_array_equal(best, pool[np.argmax(theta @ pool.T, 1)])
  np.testing.assert_allclose(mean, pool.mean(0), rtol=1e-6)
