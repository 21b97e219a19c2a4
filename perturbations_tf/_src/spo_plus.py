"""The SPO+ loss of Elmachtoub & Grigas, "Smart "Predict, then Optimize""
(Management Science, 2022).

For a minimisation `w*(c) = argmin_{w ∈ W} cᵀw`, `z*(c) = cᵀw*(c)`, and
predicted costs `ĉ`:

    ℓ_SPO+(ĉ, c) = max_{w ∈ W} (c − 2ĉ)ᵀw + 2ĉᵀw*(c) − z*(c)
                 = (2ĉ − c)ᵀ(w*(c) − ŵ),   ŵ = w*(2ĉ − c),

a convex upper bound of the regret `cᵀw*(ĉ) − z*(c)` with subgradient
`2(w*(c) − ŵ)`. A maximisation mirrors every sign: the value is
`(c − 2ĉ)ᵀ(w*(c) − ŵ)` with `ŵ` the maximiser of `(2ĉ − c)ᵀw`, and the
subgradient `−2(w*(c) − ŵ)`. One solve per example (two when `w*(c)` is
not given).
"""

from __future__ import annotations

import keras
import tensorflow as tf

from perturbations_tf._src import invariants
from perturbations_tf._src import registry
from perturbations_tf._src import sense
from perturbations_tf._src import solver_loss
from perturbations_tf._src import solving
from perturbations_tf._src import targets
from perturbations_tf._src import validation
from perturbations_tf._src.types import DTypeLike
from perturbations_tf._src.types import SolverLike
from perturbations_tf._src.types import TensorLike


def spo_plus_loss(
  y_true: TensorLike,
  y_pred: TensorLike,
  solver: SolverLike,
  *,
  maximize: bool | None = None,
) -> tf.Tensor:
  """Per-example SPO+ loss of predicted costs.

  Args:
    y_true: the true costs `c`, `y_pred`'s shape, or
      `stack_targets(c, w*(c))` to skip solving them.
    y_pred: the predicted costs `ĉ`, `[B, ...]`.
    solver: the batched solver of the problem, `[B, ...]` → `[B, ...]`.
    maximize: None (as the solver declares), True or False.

  Returns:
    The losses, `[B]`, in `y_pred`'s dtype; non-negative, and at least the
    regret of `ĉ`. Its gradient in `y_pred` is the SPO+ subgradient (none
    flows to `y_true`).

  Raises:
    ValueError: on `y_true` of the wrong shape, an undeclared sense, or a
      `maximize` that contradicts the solver.
    tf.errors.InvalidArgumentError: when the value is negative (a wrong
      sense or wrong targets; under XLA such values are NaN), or stacked
      solutions the solver cannot produce.

  Example:
    >>> c = tf.constant([[1.0, 5.0, 2.0, 1.0]])
    >>> solver = functools.partial(ptf.solvers.grid_arc_shortest_path,
    ...                            grid=(2, 2))
    >>> spo_plus_loss(c, c, solver).numpy()  # No regret at the true costs.
    array([0.], dtype=float32)
  """
  solver = registry.get_solver(solver)
  s = sense.sign(sense.resolve_sense(solver, maximize, "spo_plus_loss"))
  y_pred = validation.check_batched(y_pred, "y_pred")
  dtype = validation.compute_dtype(y_pred.dtype)
  costs, solutions = targets.split_targets(
    y_true, y_pred, solver, "spo_plus_loss"
  )
  costs, solutions = tf.cast(costs, dtype), tf.cast(solutions, dtype)

  @tf.custom_gradient
  def spo_plus(c_hat: tf.Tensor):
    shifted = 2.0 * tf.cast(c_hat, dtype) - costs
    w_hat = solving.call_solver(
      solver,
      tf.cast(shifted, c_hat.dtype),
      "spo_plus_loss",
      dtype=dtype,
      same_shape=True,
    )
    gap = solutions - w_hat
    value = invariants.non_negative(
      -s * targets.inner(shifted, gap),
      targets.objective_scale(shifted, solutions, w_hat),
      "spo_plus_loss",
      "SPO+",
      s > 0,
    )

    def grad(upstream: tf.Tensor) -> tf.Tensor:
      g = targets.per_example(upstream, gap)
      return tf.cast(-2.0 * s * g * gap, c_hat.dtype)

    return tf.cast(value, c_hat.dtype), grad

  return spo_plus(y_pred)


@keras.saving.register_keras_serializable(package="perturbations_tf")
class SPOPlusLoss(solver_loss.SolverLoss):
  """The SPO+ loss as a Keras loss, `call(y_true, y_pred)`.

  Args:
    solver: the batched solver: a callable, a built-in name
      (`'grid_arc_shortest_path'` …), a `LinearProgram`, a `Knapsack`, or
      any serialisable solver, as for `Perturbed`.
    maximize: None (as the solver declares), True or False.
    reduction: the Keras reduction over the batch.
    name: the loss's name.
    dtype: the loss's dtype (Keras).

  `y_true` is the true costs, or `stack_targets(c, w*(c))` to skip their
  solve; `y_pred` the predicted costs. See `spo_plus_loss`.

  Example:
    >>> loss = SPOPlusLoss({'name': 'grid_arc_shortest_path',
    ...                     'kwargs': {'grid': (5, 5)}})
    >>> loss.maximize  # As the solver declares: it minimises.
    False
  """

  FUNCTION = staticmethod(spo_plus_loss)

  def __init__(
    self,
    solver: SolverLike,
    *,
    maximize: bool | None = None,
    reduction: str = "sum_over_batch_size",
    name: str = "spo_plus",
    dtype: DTypeLike = None,
  ):
    super().__init__(
      solver, maximize=maximize, reduction=reduction, name=name, dtype=dtype
    )
