"""What the losses over a `SolutionCache`'s pool share (NCE, CMAP and the
learning-to-rank losses): the check that the solver is a cache, and one
Keras class that grows the pool before each call scores against it."""

from __future__ import annotations

import typing

import tensorflow as tf

from perturbations_tf._src import registry
from perturbations_tf._src import solution_cache
from perturbations_tf._src import solver_loss
from perturbations_tf._src.types import DTypeLike
from perturbations_tf._src.types import SolverLike
from perturbations_tf._src.types import TensorLike


def check_cache(solver: SolverLike, owner: str) -> solution_cache.SolutionCache:
  """The solver as a `SolutionCache`, or a ValueError naming the fix."""
  solver = registry.get_solver(solver)
  if not isinstance(solver, solution_cache.SolutionCache):
    raise ValueError(
      f"{owner} needs a SolutionCache as its solver (its pool, solver and "
      f"sense), got {solver!r}: wrap the solver as SolutionCache(solver, "
      "shape, initial_solutions=train_solutions)."
    )
  return solver


class PoolLoss(solver_loss.SolverLoss):
  """A loss against a `SolutionCache`'s pool, grown at every call.

  The pool is not part of the config (only the cache's settings): a loss
  loaded from its config starts from an empty pool. The model's weights
  hold it (Keras saves the compiled loss's variables: `save_weights`,
  `BackupAndRestore`), so a resumed fit goes on with the pool it had. It
  compiles under XLA when the cache's solver does.
  """

  def __init__(
    self,
    solver: SolverLike,
    *,
    maximize: bool | None = None,
    reduction: str = "sum_over_batch_size",
    name: str | None = None,
    dtype: DTypeLike = None,
    **options: typing.Any,
  ):
    super().__init__(
      check_cache(solver, type(self).__name__),
      maximize=maximize,
      reduction=reduction,
      name=name,
      dtype=dtype,
      **options,
    )

  def call(self, y_true: TensorLike, y_pred: TensorLike) -> tf.Tensor:
    cache = typing.cast(solution_cache.SolutionCache, self.solver)
    cache.update(tf.stop_gradient(y_pred))  # Grows the pool.
    return super().call(y_true, y_pred)
