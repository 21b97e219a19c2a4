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

The pool is a `SolutionCache`'s: each call first passes `ĉ` through the
cache, which solves a fraction of the rows exactly and adds the new
solutions to the pool (PyEPO's `solve_ratio`); seed it with the training
labels (`initial_solutions`), as PyEPO seeds its pool with the training set's
solutions.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from perturbations_tf.perturbed import check_rank
from perturbations_tf import registry
from perturbations_tf import solution_cache
from perturbations_tf import targets


def _own_objective(y_true, y_pred, cache: solution_cache.SolutionCache):
  """`ĉᵀw*` per example `[B]` and ĉ flattened `[B, size]`, in the pool's
  dtype."""
  y_pred = tf.convert_to_tensor(y_pred)
  check_rank(y_pred, batched=True, name="y_pred")
  y_true = tf.cast(tf.convert_to_tensor(y_true), y_pred.dtype)
  if y_true.shape.rank != y_pred.shape.rank:
    raise ValueError(f"y_true must hold the optimal solutions w*(c), of "
                     f"y_pred's shape {y_pred.shape}; got {y_true.shape}.")
  dtype = cache.pool.dtype
  own = targets.inner(tf.cast(y_pred, dtype), tf.cast(y_true, dtype))
  return own, tf.reshape(tf.cast(y_pred, dtype), [tf.shape(y_pred)[0], -1])


def nce_loss(y_true, y_pred,
             cache: solution_cache.SolutionCache) -> tf.Tensor:
  """Per-example NCE loss against the pool of `cache` (the pool as it is).

  Args:
    y_true: the optimal solutions `w*(c)`, `[B, ...]`.
    y_pred: the predicted costs `ĉ`, the same shape.
    cache: the `SolutionCache` whose pool (and sense) is used.

  Returns:
    `[B]` losses in `y_pred`'s dtype.

  Raises:
    ValueError: on shapes that do not match.

  Example:
    >>> cache = SolutionCache(solver, shape=(40,), maximize=False,
    ...                       initial_solutions=w_train)
    >>> nce_loss(w, c_hat, cache)
  """
  own, flat = _own_objective(y_true, y_pred, cache)
  # The mean of ĉᵀw over the pool is ĉᵀ(mean of the pool): one vector, not
  # a product with every pooled solution.
  mean = tf.linalg.matvec(flat, cache.pool_mean())
  value = targets.sense(cache.maximize) * (own - mean)
  return tf.cast(value, tf.convert_to_tensor(y_pred).dtype)


def cmap_loss(y_true, y_pred,
              cache: solution_cache.SolutionCache) -> tf.Tensor:
  """Per-example contrastive MAP loss against the pool of `cache`.

  Args: as `nce_loss`.

  Returns:
    `[B]` losses, `ĉᵀw* − min_S ĉᵀw` (minimisation); non-negative when `w*`
    is in the pool. The pool must hold a solution (`CMAPLoss` grows it
    before scoring); its gradient is `w* − argmin_S ĉᵀw`.

  Example:
    >>> cmap_loss(w, c_hat, cache)
  """
  own, flat = _own_objective(y_true, y_pred, cache)
  # The best pooled solution is picked without a gradient, then scored
  # again: the gradient is s·(w* − w_best), not a product with the pool.
  best = cache.best_in_pool(tf.stop_gradient(flat))
  value = targets.sense(cache.maximize) * (
      own - tf.reduce_sum(flat * best, 1))
  return tf.cast(value, tf.convert_to_tensor(y_pred).dtype)


class _PoolLoss(keras.losses.Loss):
  """A loss against a `SolutionCache`'s pool, grown at every call."""

  FUNCTION = None

  def __init__(self, cache, reduction: str = "sum_over_batch_size",
               name: str = None, dtype=None):
    super().__init__(name=name, reduction=reduction, dtype=dtype)
    self.cache = registry.get_solver(cache)
    if not isinstance(self.cache, solution_cache.SolutionCache):
      raise ValueError(
          f"{type(self).__name__} needs a SolutionCache (its pool, solver "
          f"and sense), got {cache!r}: wrap the solver as SolutionCache("
          "solver, shape, maximize=..., initial_solutions=train_solutions).")

  def call(self, y_true, y_pred):
    self.cache.update(tf.stop_gradient(y_pred))  # Grows the pool.
    return type(self).FUNCTION(y_true, y_pred, self.cache)

  def get_config(self) -> dict:
    return {**super().get_config(),
            "cache": registry.solver_name(self.cache)}


@keras.saving.register_keras_serializable(package="perturbations_tf")
class NCELoss(_PoolLoss):
  """Noise-contrastive estimation over a solution pool, a Keras loss.

  `call(y_true, y_pred)`: `y_true` the optimal solutions `w*(c)`, `y_pred`
  the predicted costs. Each call first passes `y_pred` through the cache,
  growing its pool. The pool is not part of the config (only the cache's
  settings): a loaded loss starts from an empty pool. It compiles under
  XLA when the cache's solver does (`cache.supports_jit`).

  Args:
    cache: a `SolutionCache` (solver, sense, pool).
    reduction, name, dtype: as for Keras losses.

  Example:
    >>> cache = SolutionCache(solver, shape=(40,), solve_fraction=0.05,
    ...                       maximize=False, initial_solutions=w_train)
    >>> model.compile('adam', loss=NCELoss(cache), jit_compile=True)
  """

  FUNCTION = staticmethod(nce_loss)

  def __init__(self, cache, reduction="sum_over_batch_size", name="nce",
               dtype=None):
    super().__init__(cache, reduction, name, dtype)


@keras.saving.register_keras_serializable(package="perturbations_tf")
class CMAPLoss(_PoolLoss):
  """Contrastive MAP over a solution pool, a Keras loss; as `NCELoss`.

  Example:
    >>> model.compile('adam', loss=CMAPLoss(cache), jit_compile=True)
  """

  FUNCTION = staticmethod(cmap_loss)

  def __init__(self, cache, reduction="sum_over_batch_size", name="cmap",
               dtype=None):
    super().__init__(cache, reduction, name, dtype)
