"""Perturbation-gradient (PG) losses, Huang & Gupta, "Decision-Focused
Learning with Directional Gradients" (NeurIPS 2024), as PyEPO offers them
(`pyepo.func.perturbationGradient`).

For a minimisation with value function `V(θ) = min_{w ∈ W} θᵀw` (concave),
the decision cost of predicted costs `ĉ` under true costs `c` is the
directional derivative of the plug-in objective:

    cᵀw*(ĉ) = d/dt V(ĉ + t c) at t = 0   (where V is differentiable).

PG losses replace that derivative by a finite difference of width h:

    PGB(ĉ, c) = (V(ĉ) − V(ĉ − h c)) / h                 (backward)
    PGC(ĉ, c) = (V(ĉ + h c) − V(ĉ − h c)) / (2h)        (central)

Each is Lipschitz in ĉ, a difference of concave functions, with gradient
(Danskin) `(w*(ĉ) − w*(ĉ − h c))/h`, resp. `(w*(ĉ + h c) − w*(ĉ − h c))/(2h)`:
one extra solve per example (two for the central one), all in one batched
call. Unlike SPO+ they need only the true costs, and the paper shows that
their approximation error vanishes as the sample grows with h → 0, hence a
best-in-class policy even for a misspecified model. A maximisation mirrors
every sign: `V(θ) = max θᵀw` and the loss is the negated difference.
h defaults to PyEPO's σ = 0.1; the paper lets h shrink with the training
set's size, a setting `h` leaves to the user.
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from perturbations_tf._src import registry
from perturbations_tf._src import sense
from perturbations_tf._src import solver_loss
from perturbations_tf._src import solving
from perturbations_tf._src import targets
from perturbations_tf._src import validation
from perturbations_tf._src.types import DTypeLike
from perturbations_tf._src.types import SolverLike
from perturbations_tf._src.types import TensorLike


def _check_settings(h: float = 0.1, central: bool = True) -> dict[str, Any]:
  return dict(h=validation.positive_number(h, "h"), central=bool(central))


def pg_loss(
  y_true: TensorLike,
  y_pred: TensorLike,
  solver: SolverLike,
  h: float = 0.1,
  central: bool = True,
  *,
  maximize: bool | None = None,
) -> tf.Tensor:
  """Per-example perturbation-gradient loss (PGB, or PGC with `central`).

  Args:
    y_true: the true costs `c`, `y_pred`'s shape, or `stack_targets(c, w*)`
      (its solutions are not needed).
    y_pred: the predicted costs `ĉ`, `[B, ...]`.
    solver: the batched solver, called once on `[2B, ...]`.
    h: the finite-difference width h > 0.
    central: central differences (PGC, the default: it learns where PGB
      does not, see the predict-then-optimize guide) or backward ones
      (PGB, PyEPO's default) with False.
    maximize: None (as the solver declares), True or False.

  Returns:
    `[B]` losses in `y_pred`'s dtype, whose gradient in `y_pred` is the
    difference of solutions over h (none flows to `y_true`).

  Raises:
    ValueError: on h ≤ 0 or shapes that do not match.

  Example:
    >>> c = tf.constant([[1.0, 5.0, 2.0, 1.0]])  # Best path: arcs 0, 2.
    >>> solver = functools.partial(ptf.solvers.grid_arc_shortest_path,
    ...                            grid=(2, 2))
    >>> pg_loss(c, c, solver, h=0.5).numpy()  # (V(c) − V(c/2)) / ½ = z*(c)
    array([3.], dtype=float32)
  """
  solver = registry.get_solver(solver)
  h, central = _check_settings(h, central).values()
  s = sense.sign(sense.resolve_sense(solver, maximize, "pg_loss"))
  y_pred = validation.check_batched(y_pred, "y_pred")
  dtype = validation.compute_dtype(y_pred.dtype)
  c_hat = tf.cast(y_pred, dtype)
  costs = tf.stop_gradient(tf.cast(targets.costs_of(y_true, y_pred), dtype))
  ahead = c_hat + h * costs if central else c_hat
  behind = c_hat - h * costs
  solutions = tf.stop_gradient(
    solving.call_solver(
      solver,
      tf.cast(tf.concat([ahead, behind], 0), y_pred.dtype),
      "pg_loss",
      dtype=dtype,
      same_shape=True,
    )
  )
  w_ahead, w_behind = tf.split(solutions, 2)
  # V at each point, as the objective of its (fixed) solution: by Danskin
  # the gradient in ĉ is the solution itself.
  difference = targets.inner(ahead, w_ahead) - targets.inner(behind, w_behind)
  width = 2.0 * h if central else h
  return tf.cast(-s * difference / width, y_pred.dtype)


pg_loss.check_settings = _check_settings  # type: ignore[attr-defined]


@keras.saving.register_keras_serializable(package="perturbations_tf")
class PGLoss(solver_loss.SolverLoss):
  """The perturbation-gradient loss as a Keras loss, `call(y_true, y_pred)`.

  Args:
    solver: the batched solver (a callable, a name or a solver object).
    h: the finite-difference width.
    central: PGC (central differences, the default) or, with False, PGB
      (backward differences, PyEPO's default).
    maximize: None (as the solver declares), True or False.
    reduction: the Keras reduction over the batch.
    name: the loss's name.
    dtype: the loss's dtype (Keras).

  `y_true` is the true costs (or `stack_targets(c, w*)`), `y_pred` the
  predicted costs. See `pg_loss`.

  Example:
    >>> loss = PGLoss({'name': 'grid_arc_shortest_path',
    ...                'kwargs': {'grid': (5, 5)}}, h=0.1, central=True)
    >>> loss.get_config()['central']
    True
  """

  FUNCTION = staticmethod(pg_loss)

  def __init__(
    self,
    solver: SolverLike,
    h: float = 0.1,
    central: bool = True,
    *,
    maximize: bool | None = None,
    reduction: str = "sum_over_batch_size",
    name: str = "pg",
    dtype: DTypeLike = None,
  ):
    super().__init__(
      solver,
      maximize=maximize,
      reduction=reduction,
      name=name,
      dtype=dtype,
      h=h,
      central=central,
    )
