"""The vertex-grid shortest path as it was before its loop trips were cut
(one relaxation per convergence check, a trace-back one cell per trip): the
baseline of the solver benchmark's ratios, and its trip counts.

Kept only for `benchmarks/solvers_speed.py`; the library's
`solvers.shortest_path` returns the same paths (tests/test_solvers.py).
"""

from __future__ import annotations

import tensorflow as tf

from perturbations_tf._src.grid_paths import _OFFSETS
from perturbations_tf._src.grid_paths import _max_neighbour
from perturbations_tf._src.grid_paths import _neighbours


def _hop_counts(candidate, source, offsets):
  big = tf.int32.max

  def relax(hops, _, trips):
    n_hops = tf.where(candidate, _neighbours(hops, offsets, big), big)
    best = tf.reduce_min(n_hops, axis=0)
    new = tf.where(source, 0, tf.where(best == big, big, best + 1))
    return new, tf.reduce_any(new != hops), trips + 1

  hops, _, trips = tf.while_loop(
    lambda h, changed, t: changed,
    relax,
    (tf.where(source, 0, big), tf.constant(True), 0),
    maximum_iterations=tf.size(source[0]),
  )
  return hops, trips


def shortest_path_and_trips(costs, connectivity: int = 8):
  """`(mask, trips)`: the previous solver's paths and its sequential loop
  trips (relaxations, hop counts, trace-back)."""
  offsets = _OFFSETS[connectivity]
  c = tf.convert_to_tensor(costs)
  dtype = c.dtype
  shape = tf.shape(c)
  b, h, w = shape[0], shape[1], shape[2]
  source = tf.pad(tf.ones([b, 1, 1], tf.bool), [[0, 0], [0, h - 1], [0, w - 1]])
  neg_c = -c[..., tf.newaxis]

  def relax(neg_dist, _, trips):
    new = tf.maximum(neg_dist, neg_c + _max_neighbour(neg_dist, connectivity))
    return new, tf.reduce_any(new > neg_dist), trips + 1

  neg_dist, _, relax_trips = tf.while_loop(
    lambda d, changed, t: changed,
    relax,
    (
      tf.where(source, -c, -float("inf"))[..., tf.newaxis],
      tf.constant(True),
      0,
    ),
    maximum_iterations=h * w,
  )
  dist = -neg_dist[..., 0]
  n_dist = _neighbours(dist, offsets, float("inf"))
  is_pred = n_dist == tf.reduce_min(n_dist, axis=0)
  plateau = tf.reduce_any(~source & (tf.reduce_min(n_dist, axis=0) >= dist))
  hops, hop_trips = tf.cond(
    plateau,
    lambda: _hop_counts(is_pred, source, offsets),
    lambda: (tf.zeros_like(dist, tf.int32), 0),
  )
  n_hops = tf.where(
    is_pred, _neighbours(hops, offsets, tf.int32.max), tf.int32.max
  )
  which = tf.argmin(
    tf.cast(n_hops != tf.reduce_min(n_hops, axis=0), tf.int32),
    axis=0,
    output_type=tf.int32,
  )
  moves = tf.constant(offsets, tf.int32)
  step = tf.gather(moves, which)
  flat_step = tf.reshape(step[..., 0] * w + step[..., 1], [b, -1])
  position = tf.fill([b], h * w - 1)
  mask = tf.one_hot(position, h * w, dtype=dtype)

  def trace(position, mask, trips):
    move = tf.gather(flat_step, position, batch_dims=1)
    position = tf.where(position == 0, position, position + move)
    return (
      position,
      tf.maximum(mask, tf.one_hot(position, h * w, dtype=dtype)),
      trips + 1,
    )

  _, mask, trace_trips = tf.while_loop(
    lambda p, m, t: tf.reduce_any(p != 0),
    trace,
    (position, mask, 0),
    maximum_iterations=h * w,
  )
  return tf.reshape(mask, shape), relax_trips + hop_trips + trace_trips
