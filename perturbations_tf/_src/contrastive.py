"""Contrastive losses over a pool of feasible solutions: NCE and CMAP,
Mulamba et al., "Contrastive Losses and Solution Caching for
Predict-and-Optimize" (IJCAI 2021), as PyEPO offers them
(`pyepo.func.NCE`, `pyepo.func.contrastiveMAP`).

For a minimisation, true optimum `w* = w*(c)`, predicted costs `ĉ` and a
pool S of feasible solutions:

    NCE(ĉ)  = (1/|S|) Σ_{w ∈ S} (ĉᵀw* − ĉᵀw),
    CMAP(ĉ) = ĉᵀw* − min_{w ∈ S} ĉᵀw,

both pulling `ĉ` to make `w*` better than the pool's solutions (maximisation
mirrors the signs). NCE averages over the pool rather than summing, as PyEPO
does, so its scale does not grow with the pool. No solver is differentiated:
the gradient is `w* − mean(S)` or `w* − argmin_S ĉᵀw`.

The pool is a `SolutionCache`'s (the losses' `solver`): each call first
passes `ĉ` through the cache, which solves a fraction of the rows exactly
and adds the new solutions to the pool (PyEPO's `solve_ratio`); seed it
with the training labels (`initial_solutions`), as PyEPO seeds its pool
with the training set's solutions.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from perturbations_tf._src import labels
from perturbations_tf._src import pool_loss
from perturbations_tf._src import sense
from perturbations_tf._src import solution_cache
from perturbations_tf._src import targets
from perturbations_tf._src import validation
from perturbations_tf._src.types import DTypeLike
from perturbations_tf._src.types import SolverLike
from perturbations_tf._src.types import TensorLike


def _own_objective(
  y_true: TensorLike,
  y_pred: TensorLike,
  cache: solution_cache.SolutionCache,
  maximize: bool | None,
  owner: str,
):
  """`ĉᵀw*` per example `[B]`, ĉ flattened `[B, size]` (both in the
  pool's dtype), and the sign of the sense."""
  y_pred = validation.check_batched(y_pred, "y_pred")
  s = sense.sign(sense.resolve_sense(cache, maximize, owner))
  w = labels.check_labels(
    cache.solver, targets.solutions_of(y_true, y_pred), owner
  )
  dtype = cache.pool.dtype
  own = targets.inner(tf.cast(y_pred, dtype), tf.cast(w, dtype))
  return own, cache.flatten(y_pred), s


def nce_loss(
  y_true: TensorLike,
  y_pred: TensorLike,
  solver: solution_cache.SolutionCache,
  *,
  maximize: bool | None = None,
) -> tf.Tensor:
  """Per-example NCE loss against the pool of a `SolutionCache` (the pool
  as it is).

  Args:
    y_true: the optimal solutions `w*(c)`, `[B, ...]`, or
      `stack_targets(c, w*)`.
    y_pred: the predicted costs `ĉ`, `[B, ...]`.
    solver: the `SolutionCache` whose pool (and sense) is used.
    maximize: None (as the cache declares), True or False.

  Returns:
    `[B]` losses in `y_pred`'s dtype.

  Raises:
    ValueError: on shapes that do not match.

  Example:
    >>> paths = tf.constant([[1., 0., 1., 0.], [0., 1., 0., 1.]])  # 2×2 grid.
    >>> cache = ptf.solvers.SolutionCache(
    ...   {'name': 'grid_arc_shortest_path', 'kwargs': {'grid': (2, 2)}},
    ...   shape=(4,), initial_solutions=paths)
    >>> c_hat = tf.constant([[0.5, 1.5, 0.5, 1.5]])  # w* costs 1, the other 3.
    >>> nce_loss(paths[:1], c_hat, cache).numpy()  # 1 − (1 + 3) / 2
    array([-1.], dtype=float32)
  """
  cache = pool_loss.check_cache(solver, "nce_loss")
  own, flat, s = _own_objective(y_true, y_pred, cache, maximize, "nce_loss")
  # The mean of ĉᵀw over the pool is ĉᵀ(mean of the pool): one vector, not
  # a product with every pooled solution.
  mean = tf.linalg.matvec(flat, cache.pool_mean())
  return tf.cast(s * (mean - own), tf.convert_to_tensor(y_pred).dtype)


def cmap_loss(
  y_true: TensorLike,
  y_pred: TensorLike,
  solver: solution_cache.SolutionCache,
  *,
  maximize: bool | None = None,
) -> tf.Tensor:
  """Per-example contrastive MAP loss against the pool of a `SolutionCache`.

  Args: as `nce_loss`.

  Returns:
    `[B]` losses, `ĉᵀw* − min_S ĉᵀw` (minimisation); non-negative when `w*`
    is in the pool. The pool must hold a solution (`CMAPLoss` grows it
    before scoring); its gradient is `w* − argmin_S ĉᵀw`.

  Example:
    >>> paths = tf.constant([[1., 0., 1., 0.], [0., 1., 0., 1.]])  # 2×2 grid.
    >>> cache = ptf.solvers.SolutionCache(
    ...   {'name': 'grid_arc_shortest_path', 'kwargs': {'grid': (2, 2)}},
    ...   shape=(4,), initial_solutions=paths)
    >>> c_hat = tf.constant([[0.0, 0.5, 0.0, 0.5]])  # The first is cheaper.
    >>> cmap_loss(paths[1:], c_hat, cache).numpy()  # 1 − 0
    array([1.], dtype=float32)
  """
  cache = pool_loss.check_cache(solver, "cmap_loss")
  own, flat, s = _own_objective(y_true, y_pred, cache, maximize, "cmap_loss")
  # The best pooled solution is picked without a gradient, then scored
  # again: the gradient is s·(w_best − w*), not a product with the pool.
  best = cache.best_in_pool(tf.stop_gradient(flat))
  value = s * (tf.reduce_sum(flat * best, 1) - own)
  return tf.cast(value, tf.convert_to_tensor(y_pred).dtype)


@keras.saving.register_keras_serializable(package="perturbations_tf")
class NCELoss(pool_loss.PoolLoss):
  """Noise-contrastive estimation over a solution pool, a Keras loss.

  `call(y_true, y_pred)`: `y_true` the optimal solutions `w*(c)` (or
  `stack_targets(c, w*)`), `y_pred` the predicted costs. Each call first
  passes `y_pred` through the cache, growing its pool.

  Args:
    solver: a `SolutionCache` (solver, sense, pool).
    maximize: None (as the cache declares), True or False.
    reduction: the Keras reduction over the batch.
    name: the loss's name.
    dtype: the loss's dtype (Keras).

  Example:
    >>> cache = ptf.solvers.SolutionCache('grid_arc_shortest_path', shape=(40,),
    ...                       solve_fraction=0.05,
    ...                           initial_solutions=tf.eye(40)[:2])
    >>> loss = ptf.losses.NCELoss(cache)
    >>> loss.maximize  # As the cache, as its shortest path.
    False
  """

  FUNCTION = staticmethod(nce_loss)

  def __init__(
    self,
    solver: SolverLike,
    *,
    maximize: bool | None = None,
    reduction: str = "sum_over_batch_size",
    name: str = "nce",
    dtype: DTypeLike = None,
  ):
    super().__init__(
      solver, maximize=maximize, reduction=reduction, name=name, dtype=dtype
    )


@keras.saving.register_keras_serializable(package="perturbations_tf")
class CMAPLoss(pool_loss.PoolLoss):
  """Contrastive MAP over a solution pool, a Keras loss; as `NCELoss`.

  Example:
    >>> cache = ptf.solvers.SolutionCache('grid_arc_shortest_path', shape=(40,))
    >>> model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(40)])
    >>> model.compile('adam', loss=ptf.losses.CMAPLoss(cache), jit_compile=True)
  """

  FUNCTION = staticmethod(cmap_loss)

  def __init__(
    self,
    solver: SolverLike,
    *,
    maximize: bool | None = None,
    reduction: str = "sum_over_batch_size",
    name: str = "cmap",
    dtype: DTypeLike = None,
  ):
    super().__init__(
      solver, maximize=maximize, reduction=reduction, name=name, dtype=dtype
    )
