"""A solution cache for solvers of linear objectives: fewer exact solves.

A solver of a linear objective, `y*(θ) = argmax_{y ∈ C} <y, θ>` (or argmin),
is often the slow part of a training step: `perturbed` and the Fenchel–Young
loss call it on M·B perturbed inputs. Most of those inputs are close to ones
already solved, so a pool of the solutions seen so far answers them well: the
pooled solution of best objective is one matrix product away. This is the
"solution caching" of Mulamba et al. (2021), which PyEPO calls a solution pool.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence
import math
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from perturbations_tf._src import random
from perturbations_tf._src import sense
from perturbations_tf._src import solver_layer
from perturbations_tf._src import solving
from perturbations_tf._src import validation
from perturbations_tf._src.types import SolverLike
from perturbations_tf._src.types import TensorLike

# Slots: scoring fewer costs next to nothing.
_SHORTEST_PREFIX = 64


@keras.saving.register_keras_serializable(package="perturbations_tf")
class SolutionCache(solver_layer.SolverLayer):
  """A batched solver that solves a random fraction of its rows exactly.

  Each call solves `ceil(solve_fraction · N)` rows of its `[N, ...]` input,
  chosen at random, with `solver`, adds the solutions it has not seen to a
  pool (a Keras variable: it works in graphs and is saved with a model that
  holds the cache), and answers every other row with the pooled solution of
  best objective `<y, θ>`, computed for all of them as one matrix product. The
  pool is a ring buffer: once full, the oldest solutions make room. An empty
  pool means every row is solved.

  The answers from the pool are feasible but not always optimal, so
  gradients through a cached solver are approximate; `solve_fraction=1`
  solves every row (and still fills the pool). `exact_rows` and `total_rows`
  count the rows solved exactly and all rows seen.

  Args:
    solver: a batched solver of a linear objective, `[N, *shape]` →
      `[N, *shape]` (wrap a one-example numpy function in `numpy_solver`
      first); a callable or a solver name, as for `Perturbed`.
    shape: the shape of one input and of one solution (without batch axis).
    solve_fraction: the fraction of rows solved exactly, in `(0, 1]`.
    capacity: the most solutions the pool holds.
    initial_solutions: solutions to start the pool with, `[K, *shape]` (for
      example the training labels); not part of the config, saved with the
      weights.
    seed: the seed of the row selection's `keras.random.SeedGenerator`.
    maximize: None (as the solver declares), True or False. The cache
      declares the same sense, so a loss given the cache as its solver
      follows it.
    **kwargs: `keras.layers.Layer` arguments.

  Raises:
    ValueError: on a bad fraction, capacity, shape or initial solutions.

  Example:
    >>> cache = SolutionCache('shortest_path', shape=(2, 2),
    ...                       solve_fraction=0.5, seed=0)
    >>> cache.maximize  # As shortest_path declares.
    False
    >>> costs = tf.constant([[[1., 9.], [1., 1.]], [[1., 1.], [9., 1.]]])
    >>> paths = cache(costs)  # Solves every row: the pool starts empty.
    >>> int(cache.pool_size.numpy()), cache.exact_fraction
    (1, 1.0)
  """

  # It maps over the rows of its input itself (and updates its pool once per
  # call): `perturbed(..., batched=False)` must not vectorise it again.
  maps_rows = True

  def __init__(
    self,
    solver: SolverLike,
    shape: Sequence[int],
    solve_fraction: float = 0.1,
    capacity: int = 10_000,
    initial_solutions: TensorLike = None,
    seed: int | None = None,
    *,
    maximize: bool | None = None,
    **kwargs: Any,
  ):
    super().__init__(solver, maximize=maximize, **kwargs)
    self.solve_fraction = validation.fraction(solve_fraction, "solve_fraction")
    self.capacity = validation.positive_int(capacity, "capacity")
    self.shape = tuple(int(d) for d in shape)
    if not self.shape or min(self.shape) < 1:
      raise ValueError(
        f"shape must be the non-empty shape of one solution, got {shape!r}."
      )
    self.seed = seed
    self.seed_generator = keras.random.SeedGenerator(seed)
    self.build((None,) + self.shape)
    if initial_solutions is not None:
      self._add_to_pool(self._check_solutions(initial_solutions))

  def build(self, input_shape: Sequence[int | None]) -> None:
    size = math.prod(self.shape)
    self.pool = self.add_weight(
      shape=(self.capacity, size),
      name="pool",
      initializer="zeros",
      trainable=False,
    )
    counters = dict(initializer="zeros", trainable=False, dtype="int64")
    self.pool_size = self.add_weight(shape=(), name="pool_size", **counters)
    self.next_slot = self.add_weight(shape=(), name="next_slot", **counters)
    self.exact_rows = self.add_weight(shape=(), name="exact_rows", **counters)
    self.total_rows = self.add_weight(shape=(), name="total_rows", **counters)
    super().build(input_shape)

  def call(self, inputs: TensorLike) -> tf.Tensor:
    x = self._check_inputs(inputs)
    n = tf.shape(x)[0]
    flat = self.flatten(x)
    order, by_rank, pooled, k = self._solve_some(x)
    solved = tf.range(n) < tf.where(pooled, k, n)  # By rank.
    rank = tf.argsort(order)  # The inverse permutation: row → rank.
    solutions = tf.where(
      tf.gather(solved, rank)[:, tf.newaxis],
      tf.gather(by_rank, rank),
      self.best_in_pool(flat),
    )
    self._add_solved(by_rank, pooled, k)
    return tf.cast(tf.reshape(solutions, tf.shape(x)), x.dtype)

  def update(self, inputs: TensorLike) -> None:
    """Solves the fraction of the rows of `inputs` that `call` would and
    adds the new solutions to the pool, without answering the other rows:
    what a loss over the pool needs (`NCELoss`, `CMAPLoss`).

    Args:
      inputs: `[N, *shape]`.
    """
    _, by_rank, pooled, k = self._solve_some(self._check_inputs(inputs))
    self._add_solved(by_rank, pooled, k)

  def _check_inputs(self, inputs: TensorLike) -> tf.Tensor:
    x = tf.convert_to_tensor(inputs)
    if x.shape[1:] != self.shape:
      raise ValueError(
        f"SolutionCache was built for inputs of shape "
        f"[N, {', '.join(map(str, self.shape))}], got "
        f"{x.shape}."
      )
    return x

  def _solve_some(self, x: tf.Tensor):
    """Solves `k = ceil(solve_fraction · N)` random rows (all N while the
    pool is empty) and counts them.

    Shapes stay static (XLA): the rows are taken in a random order, and the
    first `k` of that order are solved, `k` fixed by `N` alone (a Python
    int when N is static).

    Returns:
      `(order, by_rank, pooled, k)`: the random order of the rows `[N]`,
      the solutions in that order, flattened in the pool's dtype
      `[N, size]` (zeros past the solved ones), whether the pool held
      solutions (else all N rows were solved), and k.
    """
    n = tf.shape(x)[0]
    if x.shape[0] is None:
      k = tf.minimum(
        tf.cast(
          tf.math.ceil(self.solve_fraction * tf.cast(n, tf.float32)), tf.int32
        ),
        n,
      )
    else:
      k = min(math.ceil(self.solve_fraction * x.shape[0]), x.shape[0])
    order = random.permutation(n, self.seed_generator.next())

    def solve(rows: tf.Tensor) -> tf.Tensor:
      solutions = solving.call_solver(
        self.solver,
        tf.gather(x, rows),
        "SolutionCache",
        dtype=self.pool.dtype,
        same_shape=True,
      )
      return tf.reshape(solutions, [-1, math.prod(self.shape)])

    def some() -> tf.Tensor:
      return tf.pad(solve(order[:k]), [[0, n - k], [0, 0]])

    pooled = self.pool_size > 0
    by_rank = tf.cond(pooled, some, lambda: solve(order))
    self.exact_rows.assign_add(tf.cast(tf.where(pooled, k, n), tf.int64))
    self.total_rows.assign_add(tf.cast(n, tf.int64))
    return order, by_rank, pooled, k

  def _add_solved(
    self, by_rank: tf.Tensor, pooled: tf.Tensor, k: int | tf.Tensor
  ) -> None:
    """Adds the solved rows to the pool: the first `k` ranks, or all of
    them if the pool was empty (only those are compared with the pool)."""

    def add(rows: tf.Tensor) -> tf.Tensor:
      self._add_to_pool(rows)
      return tf.constant(True)

    tf.cond(pooled, lambda: add(by_rank[:k]), lambda: add(by_rank))

  def best_in_pool(self, theta: TensorLike) -> tf.Tensor:
    """The pooled solution of best `<y, θ>` for each row of θ, flattened
    `[N, prod(shape)]` (the pool must hold a solution).

    Args:
      theta: `[N, *shape]` (or already flattened).
    """
    flat = self.flatten(theta)
    s = sense.sign(self.maximize)

    def best(pool: tf.Tensor, filled: tf.Tensor) -> tf.Tensor:
      objective = tf.matmul(flat, pool, transpose_b=True)
      objective = tf.where(filled, s * objective, -np.inf)
      return tf.gather(pool, tf.argmax(objective, axis=1))

    return self.over_pool(best)

  def flatten(self, theta: TensorLike) -> tf.Tensor:
    """θ `[N, *shape]` as `[N, prod(shape)]` in the pool's dtype: ready for
    a product with the pool."""
    return tf.reshape(tf.cast(theta, self.pool.dtype), [tf.shape(theta)[0], -1])

  def over_pool(self, fn: Callable[[tf.Tensor, tf.Tensor], Any]) -> Any:
    """`fn(pool, filled)` on the part of the pool that holds solutions.

    The pool fills from its first slot, so its solutions are a prefix of
    it. `fn` gets the shortest of a few prefixes that holds them all
    (`prefix_lengths`): a loss over 64 solutions in a pool of 10,000
    slots scores 157 slots. Shapes stay static (one graph branch per
    prefix, XLA compiles each), so `fn`'s results must have shapes that
    do not depend on the prefix's length.

    Args:
      fn: maps the prefix `[K, prod(shape)]` and its mask of the slots
        that hold a solution `[K]` to tensors.

    Returns:
      `fn`'s results on the shortest prefix holding the pool's solutions.

    Example:
      >>> cache = SolutionCache('shortest_path', shape=(2, 2), capacity=1000,
      ...                       initial_solutions=[[[1., 0.], [1., 1.]]])
      >>> cache.prefix_lengths()
      (250, 1000)
      >>> int(cache.over_pool(lambda pool, filled: tf.shape(pool)[0]))
      250
    """
    pool, filled = tf.convert_to_tensor(self.pool), self._filled()
    lengths = self.prefix_lengths()
    if len(lengths) == 1:
      return fn(pool, filled)
    # The first prefix that is long enough.
    index = tf.reduce_sum(
      tf.cast(self.pool_size > tf.constant(lengths[:-1], tf.int64), tf.int32)
    )
    return tf.switch_case(
      index,
      [lambda k=k: fn(pool[:k], filled[:k]) for k in lengths],
    )

  def prefix_lengths(self) -> tuple[int, ...]:
    """The lengths of the pool's prefixes `over_pool` chooses from,
    shortest first: the capacity, divided by 4 (rounded up) again and again
    while more than 64 slots remain."""
    lengths = [self.capacity]
    while lengths[-1] > 4 * _SHORTEST_PREFIX:
      lengths.append(math.ceil(lengths[-1] / 4))
    return tuple(reversed(lengths))

  def _filled(self) -> tf.Tensor:
    """The `[capacity]` mask of the slots that hold a solution."""
    return tf.range(self.capacity, dtype=tf.int64) < self.pool_size

  def pool_mean(self) -> tf.Tensor:
    """The mean of the pooled solutions, flattened `[prod(shape)]` (zeros
    while the pool is empty)."""
    total = self.over_pool(
      lambda pool, filled: tf.reduce_sum(
        tf.where(filled[:, tf.newaxis], pool, 0.0), 0
      )
    )
    return total / tf.maximum(tf.cast(self.pool_size, self.pool.dtype), 1.0)

  def _add_to_pool(self, solutions: tf.Tensor) -> None:
    """Adds the rows of `solutions` not yet in the pool (nor repeated among
    them), with static shapes (XLA)."""

    def squared_distances(a: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
      # Exact for 0/1 and integer structures.
      return (
        tf.reduce_sum(a * a, 1)[:, tf.newaxis]
        - 2 * tf.matmul(a, b, transpose_b=True)
        + tf.reduce_sum(b * b, 1)[tf.newaxis]
      )

    k = tf.shape(solutions)[0]
    tolerance = 1e-6 * (
      1.0 + tf.reduce_max(tf.reduce_sum(solutions * solutions, 1))
    )
    in_pool = tf.reduce_any(
      (squared_distances(solutions, self.pool) <= tolerance) & self._filled(), 1
    )
    earlier = tf.range(k)[:, tf.newaxis] > tf.range(k)[tf.newaxis]
    repeated = tf.reduce_any(
      (squared_distances(solutions, solutions) <= tolerance) & earlier, 1
    )
    new = ~in_pool & ~repeated
    # The i-th new solution goes to slot next_slot + i of the ring; past
    # `capacity` new ones, only the last `capacity` are kept.
    index = tf.cumsum(tf.cast(new, tf.int64)) - 1
    count = tf.reduce_sum(tf.cast(new, tf.int64))
    dropped = tf.maximum(count - self.capacity, 0)
    write = new & (index >= dropped)
    slot = (self.next_slot + index - dropped) % self.capacity
    target = tf.where(write, slot, self.capacity)  # `capacity`: not written.
    source = tf.math.unsorted_segment_max(
      tf.range(k), target, self.capacity + 1
    )[: self.capacity]
    written = source >= 0  # Empty segments hold the dtype's lowest value.
    self.pool.assign(
      tf.where(
        written[:, tf.newaxis],
        tf.gather(solutions, tf.maximum(source, 0)),
        self.pool,
      )
    )
    stored = count - dropped
    self.next_slot.assign((self.next_slot + stored) % self.capacity)
    self.pool_size.assign(tf.minimum(self.pool_size + stored, self.capacity))

  def _check_solutions(self, solutions: TensorLike) -> tf.Tensor:
    solutions = tf.convert_to_tensor(solutions, self.pool.dtype)
    if solutions.shape[1:] != self.shape:
      raise ValueError(
        f"initial_solutions must have shape [K, "
        f"{', '.join(map(str, self.shape))}], got "
        f"{solutions.shape}."
      )
    return tf.reshape(solutions, [len(solutions), -1])

  @property
  def exact_fraction(self) -> float:
    """The fraction of all rows seen so far that were solved exactly."""
    total = int(self.total_rows.numpy())
    return int(self.exact_rows.numpy()) / total if total else 1.0

  def get_config(self) -> dict:
    return {
      **super().get_config(),
      "shape": self.shape,
      "solve_fraction": self.solve_fraction,
      "capacity": self.capacity,
      "seed": self.seed,
    }
