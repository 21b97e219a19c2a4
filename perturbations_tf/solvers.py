"""TF-native batched solvers: `y*(θ) = argmax_{y ∈ C} <y, θ>` for common C.

All solvers act on a leading batch axis with whole-batch tensor operations (no
Python loop over examples), and run in eager mode, in `tf.function` and under
XLA (`jit_compile=True`). They are registered with Keras serialisation, so
layers and losses built on them save and load by name.
"""

from __future__ import annotations

from typing import Optional

import keras
import tensorflow as tf

_register = keras.saving.register_keras_serializable(package="perturbations_tf")


@_register
def argmax(x: tf.Tensor, axis: int = -1) -> tf.Tensor:
  """One-hot argmax along `axis`; ties go to the first (lowest) index.

  Args:
    x: scores, `[..., n]`.
    axis: the axis to maximise over.

  Returns:
    A one-hot tensor of `x`'s shape and dtype.

  Example:
    >>> argmax(tf.constant([[1.0, 3.0, 3.0]]))  # [[0., 1., 0.]]
  """
  x = tf.convert_to_tensor(x)
  n = tf.shape(x)[axis]
  is_max = x == tf.reduce_max(x, axis=axis, keepdims=True)
  shape = [1] * x.shape.rank
  shape[axis] = -1
  positions = tf.reshape(tf.range(n), shape)
  first = tf.reduce_min(tf.where(is_max, positions, n), axis=axis)
  return tf.one_hot(first, n, axis=axis, dtype=x.dtype)


@_register
def top_k(x: tf.Tensor, k: int = 1) -> tf.Tensor:
  """k-hot mask of the `k` largest entries of the last axis (ties: lowest index).

  Args:
    x: scores, `[..., n]`.
    k: how many entries to select, `1 <= k <= n`.

  Returns:
    A 0/1 tensor of `x`'s shape and dtype with `k` ones per row.

  Raises:
    ValueError: if k is not in `[1, n]`.

  Example:
    >>> top_k(tf.constant([[1.0, 3.0, 2.0]]), k=2)  # [[0., 1., 1.]]
  """
  x = tf.convert_to_tensor(x)
  n = x.shape[-1]
  if isinstance(k, bool) or not isinstance(k, int) or k < 1 or (
      n is not None and k > n):
    raise ValueError(f"k must be an integer in [1, {n}], got {k!r}.")
  indices = tf.math.top_k(x, k=k, sorted=False).indices
  return tf.reduce_sum(tf.one_hot(indices, tf.shape(x)[-1], dtype=x.dtype),
                       axis=-2)


@_register
def ranks(x: tf.Tensor) -> tf.Tensor:
  """0-based ascending ranks along the last axis: the smallest entry gets 0.

  The ranks vector maximises `<y, θ>` over permutations of `0..n-1`. Ties go
  to the lower index (stable sort), so the result is deterministic.

  Example:
    >>> ranks(tf.constant([[0.3, -1.0, 2.0]]))  # [[1., 0., 2.]]
  """
  x = tf.convert_to_tensor(x)
  order = tf.argsort(x, axis=-1, stable=True)
  return tf.cast(tf.argsort(order, axis=-1, stable=True), x.dtype)


@_register
def sort(x: tf.Tensor, direction: str = "ASCENDING") -> tf.Tensor:
  """Sorts the last axis (`'ASCENDING'` or `'DESCENDING'`).

  Example:
    >>> sort(tf.constant([[0.3, -1.0, 2.0]]))  # [[-1., 0.3, 2.]]
  """
  return tf.sort(tf.convert_to_tensor(x), axis=-1, direction=direction)


# Neighbour offsets (row, column), in the fixed order that breaks ties.
_OFFSETS = {
    4: ((-1, 0), (0, -1), (0, 1), (1, 0)),
    8: ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)),
}


def _neighbours(x: tf.Tensor, offsets, fill) -> tf.Tensor:
  """`[K, B, H, W]`: entry k at (i, j) is x at (i + dr_k, j + dc_k), or fill."""
  h, w = tf.shape(x)[1], tf.shape(x)[2]
  padded = tf.pad(x, [[0, 0], [1, 1], [1, 1]], constant_values=fill)
  return tf.stack([padded[:, 1 + dr:1 + dr + h, 1 + dc:1 + dc + w]
                   for dr, dc in offsets])


def _max_neighbour(x: tf.Tensor, connectivity: int) -> tf.Tensor:
  """The largest value among each cell's neighbours and itself, `[B, H, W, 1]`.

  Distances are relaxed negated, so that the 8-neighbour minimum is one fused
  3×3 max-pool (padding never wins a max)."""
  if connectivity == 8:
    return tf.nn.max_pool2d(x, 3, 1, "SAME")
  neighbours = _neighbours(x[..., 0], _OFFSETS[4], -float("inf"))
  return tf.reduce_max(tf.concat([neighbours, x[tf.newaxis, ..., 0]], 0),
                       axis=0)[..., tf.newaxis]


def _hop_counts(candidate: tf.Tensor, source: tf.Tensor, offsets) -> tf.Tensor:
  """Fewest moves from the source along predecessor links (`candidate[k]`:
  neighbour k is a predecessor), used to break distance plateaus."""
  big = tf.int32.max

  def relax(hops, _):
    n_hops = tf.where(candidate, _neighbours(hops, offsets, big), big)
    best = tf.reduce_min(n_hops, axis=0)
    new = tf.where(source, 0, tf.where(best == big, big, best + 1))
    return new, tf.reduce_any(new != hops)

  hops = tf.where(source, 0, big)
  size = tf.size(source[0])
  hops, _ = tf.while_loop(lambda h, changed: changed, relax,
                          (hops, tf.constant(True)), maximum_iterations=size)
  return hops


@_register
def shortest_path(costs: tf.Tensor, connectivity: int = 8,
                  min_cost: Optional[float] = None) -> tf.Tensor:
  """Shortest top-left to bottom-right path on vertex-weighted grids.

  The path's cost is the sum of the costs of its cells, both ends included;
  moves go to the 8 (or 4) neighbouring cells. Distances are computed for the
  whole batch at once by min-plus (Bellman–Ford) relaxations on the grid until
  they stop changing, then the path is traced back from the bottom-right cell
  by following, at each cell, the neighbour of least (distance, hop count) —
  the first in a fixed order on exact ties — so the result is deterministic
  and loop-free even with zero costs.

  Args:
    costs: non-negative vertex costs, `[B, H, W]`.
    connectivity: 8 (diagonal moves allowed, the Warcraft setting) or 4.
    min_cost: if given, costs are floored at this value first — a documented,
      explicit floor for perturbed costs. If None (the default), negative
      costs raise an error (in eager mode and `tf.function`; XLA compiles
      assertions out).

  Returns:
    The 0/1 path mask, `costs`' shape and dtype.

  Raises:
    ValueError: on a wrong rank or connectivity.
    tf.errors.InvalidArgumentError: on NaN or infinite costs, and on negative
      costs when `min_cost` is None (in eager mode and `tf.function`).

  Example:
    >>> costs = tf.constant([[[1.0, 9.0], [1.0, 1.0]]])
    >>> shortest_path(costs, connectivity=4)  # [[[1., 0.], [1., 1.]]]
  """
  costs = tf.convert_to_tensor(costs)
  if costs.shape.rank != 3:
    raise ValueError(
        f"costs must have shape [batch, height, width], got {costs.shape}.")
  if connectivity not in _OFFSETS:
    raise ValueError(f"connectivity must be 4 or 8, got {connectivity!r}.")
  offsets = _OFFSETS[connectivity]
  dtype = tf.float64 if costs.dtype == tf.float64 else tf.float32
  # Checked before the floor, which would silently turn NaN into a path.
  c = tf.debugging.check_numerics(
      tf.cast(costs, dtype), "shortest_path needs finite costs, got NaN or "
      "Inf (check the model's outputs or the learning rate)")
  if min_cost is not None:
    c = tf.maximum(c, tf.cast(min_cost, dtype))
  else:
    tf.debugging.assert_non_negative(
        c, message="shortest_path needs non-negative costs (negative cycles "
        "make it undefined). Keep costs positive with a softplus output, use "
        "perturbation='multiplicative', or set an explicit min_cost floor")
  shape = tf.shape(c)
  b, h, w = shape[0], shape[1], shape[2]
  source = tf.pad(tf.ones([b, 1, 1], tf.bool), [[0, 0], [0, h - 1], [0, w - 1]])

  neg_c = -c[..., tf.newaxis]

  def relax(neg_dist, _):  # neg_dist = -dist, [B, H, W, 1].
    new = tf.maximum(neg_dist, neg_c + _max_neighbour(neg_dist, connectivity))
    return new, tf.reduce_any(new > neg_dist)

  neg_dist, _ = tf.while_loop(
      lambda d, changed: changed, relax,
      (tf.where(source, -c, -float("inf"))[..., tf.newaxis],
       tf.constant(True)), maximum_iterations=h * w)
  dist = -neg_dist[..., 0]

  # Predecessors of a cell: its neighbours of least distance. Distances fall
  # strictly along them unless costs are 0 (or vanish in rounding); only then
  # are hop counts needed to keep the trace-back from cycling on a plateau.
  n_dist = _neighbours(dist, offsets, float("inf"))
  is_pred = n_dist == tf.reduce_min(n_dist, axis=0)
  plateau = tf.reduce_any(~source & (tf.reduce_min(n_dist, axis=0) >= dist))
  hops = tf.cond(plateau, lambda: _hop_counts(is_pred, source, offsets),
                 lambda: tf.zeros_like(dist, tf.int32))
  n_hops = tf.where(is_pred, _neighbours(hops, offsets, tf.int32.max),
                    tf.int32.max)
  which = tf.argmin(  # The first predecessor of fewest hops.
      tf.cast(n_hops != tf.reduce_min(n_hops, axis=0), tf.int32), axis=0,
      output_type=tf.int32)

  # Trace back from the bottom-right cell along the chosen predecessors.
  moves = tf.constant(offsets, tf.int32)  # [K, 2]
  step = tf.gather(moves, which)  # [B, H, W, 2]
  flat_step = tf.reshape(step[..., 0] * w + step[..., 1], [b, -1])
  position = tf.fill([b], h * w - 1)
  mask = tf.one_hot(position, h * w, dtype=dtype)

  def trace(position, mask):
    move = tf.gather(flat_step, position, batch_dims=1)
    position = tf.where(position == 0, position, position + move)
    return position, tf.maximum(mask, tf.one_hot(position, h * w, dtype=dtype))

  _, mask = tf.while_loop(
      lambda p, m: tf.reduce_any(p != 0), trace, (position, mask),
      maximum_iterations=h * w)
  return tf.cast(tf.reshape(mask, shape), costs.dtype)
