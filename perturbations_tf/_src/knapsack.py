"""An exact, batched, XLA-compilable multi-dimensional 0/1 knapsack solver.

The knapsack `max vᵀx s.t. W x ≤ b, x ∈ {0, 1}ⁿ` with non-negative weights
has a downward-closed feasible family: dropping items from a packing keeps
it feasible. So for any values `v` (negative ones included, as SPO+, the
blackbox's shifted values and perturbations produce) an optimal packing is
`{i ∈ S : vᵢ > 0}` for the maximal packing S that maximises `Σ_{i∈S}
max(vᵢ, 0)`: the optimum T lies in some maximal S, and
`Σ_T v ≤ Σ_S max(v, 0)`, which S's positive items attain. When the weights
and capacities are fixed across instances (PyEPO's knapsack), the maximal
packings are enumerated once, and solving a batch is one matrix product and
an argmax: no solver call, no host round trip.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf

from perturbations_tf._src import invariants
from perturbations_tf._src import polyhedron
from perturbations_tf._src import validation
from perturbations_tf._src.types import TensorLike

ArrayLike = np.ndarray | Sequence


def maximal_packings(
  weights: ArrayLike, capacity: ArrayLike, max_packings: int = 1_000_000
) -> np.ndarray:
  """Every maximal feasible packing of a multi-dimensional 0/1 knapsack.

  Enumerates the feasible packings item by item (vectorised over the
  packings found so far), then keeps those to which no further item fits.

  Args:
    weights: `[dim, n]` non-negative weights (or `[n]` for one dimension).
    capacity: `[dim]` non-negative capacities (or a scalar for all).
    max_packings: the most feasible packings to enumerate before giving up.

  Returns:
    A `[K, n]` boolean array, one maximal packing per row.

  Raises:
    ValueError: on negative, non-finite or mis-shaped weights or
      capacities, or when there are more than `max_packings` feasible
      packings (solve with `LinearProgram` instead).

  Example:
    >>> maximal_packings([[3., 4., 5.]], [8.]).astype(int)
    array([[1, 1, 0],
           [1, 0, 1]])
  """
  weights = np.atleast_2d(np.asarray(weights, np.float64))
  capacity = np.asarray(capacity, np.float64)
  if capacity.ndim == 0:
    capacity = np.full(weights.shape[:1], float(capacity))
  if (
    weights.ndim != 2
    or weights.shape[1] < 1
    or capacity.shape != weights.shape[:1]
  ):
    raise ValueError(
      f"weights must be [dim, n] and capacity [dim], got "
      f"{weights.shape} and {capacity.shape}."
    )
  if not (np.all(np.isfinite(weights)) and np.all(np.isfinite(capacity))):
    raise ValueError("weights and capacity must be finite.")
  if np.any(weights < 0) or np.any(capacity < 0):
    raise ValueError(
      "weights and capacity must be non-negative (the "
      "enumeration relies on dropping items keeping a "
      "packing feasible)."
    )
  # Decimal weights (PyEPO's 3.01, ...) sum with rounding errors: a packing
  # that fills a capacity exactly must stay feasible.
  limit = capacity + 1e-9 * max(1.0, float(np.max(capacity, initial=0.0)))
  n = weights.shape[1]
  packed = np.zeros((1, n), bool)
  used = np.zeros((1, len(capacity)))
  for item in range(n):
    fits = np.all(used + weights[:, item] <= limit, axis=1)
    grown = packed[fits]
    grown[:, item] = True
    packed = np.concatenate([packed, grown])
    used = np.concatenate([used, used[fits] + weights[:, item]])
    if len(packed) > max_packings:
      raise ValueError(
        f"The knapsack has more than max_packings={max_packings} "
        "feasible packings: raise max_packings, or solve it with "
        "LinearProgram(..., integrality=1, maximize=True)."
      )
  room = limit - used  # [F, dim]
  addable = np.all(weights[np.newaxis] <= room[:, :, np.newaxis], axis=1)
  return packed[~np.any(addable & ~packed, axis=1)]


@keras.saving.register_keras_serializable(package="perturbations_tf")
class Knapsack:
  """The multi-dimensional 0/1 knapsack over fixed weights, as a batched,
  XLA-compilable solver: `max vᵀx s.t. W x ≤ b, x ∈ {0, 1}ⁿ`.

  Calling it on values `[B, n]` (any sign) returns the optimal packings,
  `[B, n]` 0/1 in the values' floating dtype (float32 for integers): the
  maximal packing S of largest `Σ_{i∈S} max(vᵢ, 0)`, without its
  non-positive items (exact; see the module docstring). The maximal packings
  are enumerated once, at construction (`maximal_packings`); a call is one
  `[B, n] × [n, K]` product. It declares that it maximises
  (`maximize = True`): losses and metrics follow. Its settings serialise
  (`get_config`).

  Args:
    weights: `[dim, n]` non-negative item weights (`[n]`: one dimension).
    capacity: `[dim]` non-negative capacities, or one for all.
    max_packings: as `maximal_packings`.

  Raises:
    ValueError: as `maximal_packings`.

  Example:
    >>> knapsack = Knapsack(weights=[[3., 4., 5.]], capacity=[8.])
    >>> knapsack(tf.constant([[1., 1., 3.], [2., -1., 0.5]])).numpy()
    array([[1., 0., 1.],
           [1., 0., 1.]], dtype=float32)
  """

  supports_jit = True
  maximize = True

  def __init__(
    self, weights: ArrayLike, capacity: ArrayLike, max_packings: int = 1_000_000
  ):
    self.packings = maximal_packings(weights, capacity, max_packings)
    self.num_items = self.packings.shape[1]
    self._weights = np.atleast_2d(np.asarray(weights, np.float64))
    self._capacity = np.broadcast_to(
      np.asarray(capacity, np.float64), self._weights.shape[:1]
    )
    self._config = dict(
      weights=np.atleast_2d(np.asarray(weights, np.float64)).tolist(),
      capacity=np.asarray(capacity, np.float64).tolist(),
      max_packings=max_packings,
    )
    self.__name__ = "Knapsack"

  def __call__(self, values: TensorLike) -> tf.Tensor:
    values = validation.check_rows(values, self.num_items, "Knapsack", "values")
    dtype = validation.compute_dtype(values.dtype)
    v = tf.cast(validation.check_finite(values, "Knapsack"), dtype)
    packings = tf.constant(self.packings, dtype)
    gain = tf.matmul(tf.nn.relu(v), packings, transpose_b=True)  # [B, K]
    best = tf.gather(packings, tf.argmax(gain, axis=1, output_type=tf.int32))
    return tf.cast(
      best * tf.cast(v > 0, dtype), validation.solution_dtype(values.dtype)
    )

  def check_solutions(self, y: tf.Tensor, owner: str) -> tf.Tensor:
    """`y` after a check that its rows are feasible 0/1 packings."""
    y = tf.convert_to_tensor(y)
    used = tf.matmul(tf.cast(y, tf.float64), self._weights, transpose_b=True)
    limit = self._capacity + 1e-9 * max(1.0, float(np.max(self._capacity)))
    ok = tf.reduce_all(invariants.is_binary(y)) & tf.reduce_all(used <= limit)
    return invariants.checked(
      y,
      ok,
      f"{owner}: the labels of a Knapsack must be feasible 0/1 packings "
      "(weights · y ≤ capacity); are y_true's costs and solutions swapped?",
    )

  def constraints(self) -> polyhedron.Polyhedron:
    """The feasible set of the LP relaxation, `{Wx ≤ capacity, 0 ≤ x ≤ 1}`.

    Example:
      >>> Knapsack([[1.0, 2.0]], [2.0]).constraints().b_ub
      array([2.])
    """
    return polyhedron.Polyhedron.of(
      self.num_items,
      self._weights,
      self._capacity,
      lower=0.0,
      upper=1.0,
      relaxed=True,
    )

  def get_config(self) -> dict:
    return dict(self._config)

  @classmethod
  def from_config(cls, config: dict) -> Knapsack:
    return cls(**config)
