"""Soft argmax, ranks and sorts in closed form: projections onto the simplex
and the permutahedron (Martins & Astudillo, ICML 2016; Blondel et al., "Fast
Differentiable Sorting and Ranking", ICML 2020).

The permutahedron `P(w)` is the convex hull of the permutations of `w`.
Regularised by `εQ` (`Q(μ) = ½‖μ‖²`, "l2") or `εE` (`E(μ) = ⟨μ, log μ − 1⟩`,
"kl"), the linear programs over it that give ranks and sorts become
projections, computed exactly in O(n log n) by a sort and an isotonic
regression (pool adjacent violators), with exact Jacobians:

    P_Q(z, w) = argmin_{μ ∈ P(w)} ½‖μ − z‖² = z − v_Q(s, w')_{σ⁻¹},
    P_E(z, w) = argmin_{μ ∈ P(w)} KL(μ, e^z) = e^{z − v_E(s, log w')_{σ⁻¹}},

with `σ` sorting `z` in decreasing order, `s = z_σ`, `w'` the decreasing
sort of `w`, and `v` the decreasing isotonic regression of `s − w'` (l2)
or of the log-sum-exp pooling `log Σ_B e^s − log Σ_B e^{w}` (kl).

In the library's conventions (those of `ptf.solvers.ranks` and `sort`):
ranks are 0-based and ascending (the largest entry gets n − 1), sorts
ascending, so that as ε → 0 the soft versions equal the hard solvers:

    soft_rank(θ) = P(θ/ε, ρ),        ρ = (0, 1, ..., n − 1),
    soft_sort(θ) = P(ρ/ε, θ).

(The KL projection needs positive weights: its ranks are computed over
`ρ + 1` and shifted back, and its sort needs positive θ.)
"""

from __future__ import annotations

import tensorflow as tf

from perturbations_tf._src import invariants
from perturbations_tf._src import validation
from perturbations_tf._src.types import TensorLike

REGULARIZATIONS = ("l2", "kl")


def _pool(first: tuple, second: tuple, kl: bool) -> tuple:
  """Two adjacent blocks as one: (sum or LSE of s, count or LSE of w)."""
  if kl:
    return (
      tf.reduce_logsumexp(tf.stack([first[0], second[0]]), 0),
      tf.reduce_logsumexp(tf.stack([first[1], second[1]]), 0),
    )
  return first[0] + second[0], first[1] + second[1]


def _value(block: tuple, kl: bool) -> tf.Tensor:
  """A block's isotonic value: its mean (l2) or LSE difference (kl)."""
  return block[0] - block[1] if kl else block[0] / block[1]


def _blocks(s: tf.Tensor, w: tf.Tensor, kl: bool) -> tf.Tensor:
  """Pool adjacent violators, batched: each position's block index, `[B, n]`
  int32, for the decreasing isotonic regression of `s − w` (l2: `w` is
  ignored in the pooling weights, every position counts 1) or of the KL
  pooling of `(s, w)`."""
  batch, n = tf.shape(s)[0], tf.shape(s)[1]
  rows = tf.range(batch)
  first = s - w if not kl else s
  second = tf.ones_like(s) if not kl else w

  def push(
    i: tf.Tensor,
    top: tf.Tensor,
    a: tf.Tensor,
    b: tf.Tensor,
    count: tf.Tensor,
  ) -> tuple:
    # Block `top` is position i alone.
    index = tf.stack([rows, top], 1)
    a = tf.tensor_scatter_nd_update(a, index, first[:, i])
    b = tf.tensor_scatter_nd_update(b, index, second[:, i])
    count = tf.tensor_scatter_nd_update(count, index, tf.ones_like(rows))
    top = top + 1

    def violated(
      top: tf.Tensor, a: tf.Tensor, b: tf.Tensor, count: tf.Tensor
    ) -> tuple:
      last = tf.stack([rows, tf.maximum(top - 1, 0)], 1)
      before = tf.stack([rows, tf.maximum(top - 2, 0)], 1)
      current = _value((tf.gather_nd(a, last), tf.gather_nd(b, last)), kl)
      previous = _value((tf.gather_nd(a, before), tf.gather_nd(b, before)), kl)
      return (top >= 2) & (previous <= current), last, before

    def any_violated(
      top: tf.Tensor, a: tf.Tensor, b: tf.Tensor, count: tf.Tensor
    ) -> tf.Tensor:
      return tf.reduce_any(violated(top, a, b, count)[0])

    def merge(
      top: tf.Tensor, a: tf.Tensor, b: tf.Tensor, count: tf.Tensor
    ) -> tuple:
      bad, last, before = violated(top, a, b, count)
      merged = _pool(
        (tf.gather_nd(a, before), tf.gather_nd(b, before)),
        (tf.gather_nd(a, last), tf.gather_nd(b, last)),
        kl,
      )

      def keep(new: tf.Tensor, old: tf.Tensor) -> tf.Tensor:
        return tf.where(bad, new, old)

      a = tf.tensor_scatter_nd_update(
        a, before, keep(merged[0], tf.gather_nd(a, before))
      )
      b = tf.tensor_scatter_nd_update(
        b, before, keep(merged[1], tf.gather_nd(b, before))
      )
      count = tf.tensor_scatter_nd_update(
        count,
        before,
        keep(
          tf.gather_nd(count, before) + tf.gather_nd(count, last),
          tf.gather_nd(count, before),
        ),
      )
      count = tf.tensor_scatter_nd_update(
        count, last, keep(tf.zeros_like(rows), tf.gather_nd(count, last))
      )
      return tf.where(bad, top - 1, top), a, b, count

    top, a, b, count = tf.while_loop(any_violated, merge, (top, a, b, count))
    return i + 1, top, a, b, count

  zeros = tf.zeros_like(s)
  _, _, _, _, count = tf.while_loop(
    lambda i, *_: i < n,
    push,
    (
      tf.constant(0),
      tf.zeros([batch], tf.int32),
      zeros,
      zeros,
      tf.zeros([batch, n], tf.int32),
    ),
  )
  ends = tf.cumsum(count, axis=1)
  positions = tf.broadcast_to(tf.range(n), [batch, n])
  return tf.searchsorted(ends, positions, side="right")


def _segment_ids(blocks: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
  """Row-major ids of each position's block, and their number."""
  n = tf.shape(blocks)[1]
  offset = tf.range(tf.shape(blocks)[0])[:, None] * n
  return tf.reshape(blocks + offset, [-1]), tf.size(blocks)


def _isotonic(s: tf.Tensor, w: tf.Tensor, kl: bool) -> tf.Tensor:
  """`v`, the decreasing isotonic regression (see the module), `[B, n]`,
  with its exact Jacobian: each position's value depends on its block."""

  @tf.custom_gradient
  def isotonic(s: tf.Tensor, w: tf.Tensor):
    blocks = tf.stop_gradient(_blocks(s, w, kl))
    ids, count = _segment_ids(blocks)
    flat_s, flat_w = tf.reshape(s, [-1]), tf.reshape(w, [-1])
    if kl:
      # Stable segment log-sum-exps: shift by each segment's maximum.
      def lse(x: tf.Tensor) -> tuple:
        top = tf.math.unsorted_segment_max(x, ids, count)
        total = tf.math.unsorted_segment_sum(
          tf.exp(x - tf.gather(top, ids)), ids, count
        )
        return top + tf.math.log(tf.maximum(total, 1e-300)), top

      lse_s, _ = lse(flat_s)
      lse_w, _ = lse(flat_w)
      value = tf.gather(lse_s - lse_w, ids)
    else:
      sums = tf.math.unsorted_segment_sum(flat_s - flat_w, ids, count)
      sizes = tf.math.unsorted_segment_sum(tf.ones_like(flat_s), ids, count)
      value = tf.gather(sums / tf.maximum(sizes, 1.0), ids)
      lse_s = lse_w = None
    v = tf.reshape(value, tf.shape(s))

    def grad(g: tf.Tensor) -> tuple:
      flat_g = tf.reshape(g, [-1])
      total = tf.gather(tf.math.unsorted_segment_sum(flat_g, ids, count), ids)
      if kl:
        ds = total * tf.exp(flat_s - tf.gather(lse_s, ids))
        dw = -total * tf.exp(flat_w - tf.gather(lse_w, ids))
      else:
        sizes = tf.gather(
          tf.math.unsorted_segment_sum(tf.ones_like(flat_g), ids, count), ids
        )
        ds = total / sizes
        dw = -ds
      return tf.reshape(ds, tf.shape(s)), tf.reshape(dw, tf.shape(w))

    return v, grad

  return isotonic(s, w)


def project_permutahedron(
  z: TensorLike, w: TensorLike, regularization: str = "l2"
) -> tf.Tensor:
  """The projection of `z` onto the permutahedron of `w`, row by row.

  Args:
    z: the points, `[B, n]`.
    w: the permuted vectors, `[B, n]` (positive for `'kl'`).
    regularization: `'l2'` (Euclidean projection) or `'kl'` (KL
      projection of `e^z`).

  Returns:
    `[B, n]`, differentiable in `z` and `w` (exact Jacobians).

  Example:
    >>> project_permutahedron([[3.0, 0.0, 1.0]], [[0.0, 1.0, 2.0]]).numpy()
    array([[2., 0., 1.]], dtype=float32)
  """
  if regularization not in REGULARIZATIONS:
    raise ValueError(
      f"regularization must be one of {REGULARIZATIONS}, got "
      f"{regularization!r}."
    )
  z = tf.convert_to_tensor(z)
  w = tf.cast(tf.convert_to_tensor(w), z.dtype)
  kl = regularization == "kl"
  order = tf.argsort(z, axis=-1, direction="DESCENDING", stable=True)
  s = tf.gather(z, order, batch_dims=1)
  w_sorted = tf.sort(w, axis=-1, direction="DESCENDING")
  if kl:
    w_sorted = tf.math.log(w_sorted)
  v = _isotonic(s, w_sorted, kl)
  inverse = tf.argsort(order, axis=-1, stable=True)
  v = tf.gather(v, inverse, batch_dims=1)
  return tf.exp(z - v) if kl else z - v


def _check(
  theta: TensorLike, strength: float, regularization: str, owner: str
) -> tf.Tensor:
  theta = validation.check_batched(theta, "theta")
  if theta.shape.rank != 2:
    raise ValueError(f"{owner} takes [batch, n] scores, got {theta.shape}.")
  if not strength > 0:
    raise ValueError(
      f"regularization_strength must be positive, got {strength}."
    )
  if regularization not in REGULARIZATIONS:
    raise ValueError(
      f"regularization must be one of {REGULARIZATIONS}, got "
      f"{regularization!r}."
    )
  return theta


def soft_rank(
  theta: TensorLike,
  regularization: str = "l2",
  regularization_strength: float = 1.0,
) -> tf.Tensor:
  """Soft 0-based ascending ranks: `ptf.solvers.ranks` as ε → 0.

  Args:
    theta: the scores, `[B, n]`.
    regularization: `'l2'` or `'kl'`.
    regularization_strength: ε > 0.

  Returns:
    `[B, n]` in θ's floating dtype: a point of the permutahedron of
    `(0, ..., n − 1)` (its entries sum to `n(n − 1)/2`).

  Raises:
    ValueError: on bad settings or a θ that is not `[B, n]`.

  Example:
    >>> soft_rank([[0.3, -1.0, 2.0]], regularization_strength=0.01).numpy()
    array([[1., 0., 2.]], dtype=float32)
  """
  theta = _check(theta, regularization_strength, regularization, "soft_rank")
  dtype = validation.compute_dtype(theta.dtype)
  z = tf.cast(theta, dtype) / regularization_strength
  n = tf.shape(z)[-1]
  ranks = tf.broadcast_to(tf.range(n, dtype=dtype), tf.shape(z))
  if regularization == "kl":
    return project_permutahedron(z, ranks + 1.0, "kl") - 1.0
  return project_permutahedron(z, ranks, "l2")


def soft_sort(
  theta: TensorLike,
  regularization: str = "l2",
  regularization_strength: float = 1.0,
) -> tf.Tensor:
  """Soft ascending sort: `ptf.solvers.sort` as ε → 0.

  Args:
    theta: the values, `[B, n]` (positive for `'kl'`).
    regularization: `'l2'` or `'kl'`.
    regularization_strength: ε > 0.

  Returns:
    `[B, n]` in θ's floating dtype: a point of the permutahedron of θ,
    non-decreasing.

  Raises:
    ValueError: on bad settings or a θ that is not `[B, n]`.
    tf.errors.InvalidArgumentError: `'kl'` with entries that are not
      positive.

  Example:
    >>> soft_sort([[0.3, -1.0, 2.0]], regularization_strength=0.01).numpy(
    ... ).round(4)
    array([[-1. ,  0.3,  2. ]], dtype=float32)
  """
  theta = _check(theta, regularization_strength, regularization, "soft_sort")
  dtype = validation.compute_dtype(theta.dtype)
  theta = tf.cast(theta, dtype)
  n = tf.shape(theta)[-1]
  ascending = tf.broadcast_to(tf.range(n, dtype=dtype), tf.shape(theta))
  if regularization == "kl":
    theta = invariants.checked(
      theta,
      theta > 0,
      "soft_sort: regularization='kl' sorts positive values only.",
    )
  return project_permutahedron(
    ascending / regularization_strength, theta, regularization
  )


def sparsemax(z: TensorLike) -> tf.Tensor:
  """The Euclidean projection of each row of `z` onto the simplex (Martins &
  Astudillo, 2016): `max(z − τ, 0)`, sparse, with its exact Jacobian.

  Example:
    >>> sparsemax([[1.0, 0.5, -1.0]]).numpy()
    array([[0.75, 0.25, 0.  ]], dtype=float32)
  """
  z = tf.convert_to_tensor(z)
  n = tf.shape(z)[-1]
  top = tf.sort(z, axis=-1, direction="DESCENDING")
  k = tf.range(1, n + 1, dtype=z.dtype)
  cumulative = tf.cumsum(top, axis=-1)
  support = tf.reduce_sum(
    tf.cast(1.0 + k * top > cumulative, tf.int32), axis=-1, keepdims=True
  )
  tau = (tf.gather(cumulative, support - 1, batch_dims=1) - 1.0) / tf.cast(
    support, z.dtype
  )
  return tf.nn.relu(z - tau)


def soft_argmax(
  theta: TensorLike,
  regularization: str = "kl",
  regularization_strength: float = 1.0,
) -> tf.Tensor:
  """A regularised argmax: `'kl'` (entropy) gives `softmax(θ/ε)`, `'l2'`
  gives `sparsemax(θ/ε)`; both are the one-hot `ptf.solvers.argmax` as
  ε → 0.

  Args:
    theta: the scores, `[B, n]`.
    regularization: `'kl'` (softmax) or `'l2'` (sparsemax).
    regularization_strength: ε > 0.

  Returns:
    `[B, n]` points of the simplex, in θ's floating dtype.

  Raises:
    ValueError: on bad settings or a θ that is not `[B, n]`.

  Example:
    >>> soft_argmax([[1.0, 0.5, -1.0]], "l2").numpy()
    array([[0.75, 0.25, 0.  ]], dtype=float32)
  """
  theta = _check(theta, regularization_strength, regularization, "soft_argmax")
  z = tf.cast(theta, validation.compute_dtype(theta.dtype))
  z = z / regularization_strength
  return tf.nn.softmax(z, axis=-1) if regularization == "kl" else sparsemax(z)
