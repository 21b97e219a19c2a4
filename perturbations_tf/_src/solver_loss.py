"""What every loss over a solver shares: one Keras class for the plumbing.

A loss of the library is a function `fn(y_true, y_pred, solver, maximize,
**options)` and a thin registered subclass of `SolverLoss` that names it:
the solver (resolved by name, `registry.get_solver`), its sense (resolved
once, `sense.resolve_sense`), `call`, `get_config` and `supports_jit` are
written here once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
import tensorflow as tf

from perturbations_tf._src import registry
from perturbations_tf._src import sense
from perturbations_tf._src.types import DTypeLike
from perturbations_tf._src.types import SolverLike
from perturbations_tf._src.types import TensorLike


def supports_jit(solver: Any) -> bool:
  """Whether `solver` compiles under XLA (a host call does not)."""
  return bool(getattr(solver, "supports_jit", True))


class SolverLoss(keras.losses.Loss):
  """A Keras loss computed by `FUNCTION(y_true, y_pred, solver, maximize,
  **options)` over a solver.

  Subclasses set `FUNCTION` and pass their own settings as `options` (each
  a serialisable constructor argument): `call` and `get_config` need
  nothing more. A function that validates its settings exposes the check
  as `FUNCTION.check_settings(**options) -> options`; the class runs it at
  construction and validates nothing itself.

  Args:
    solver: a callable, a built-in name or a serialised solver.
    reduction, name, dtype: as for Keras losses.
    **options: the loss's own settings, passed to `FUNCTION` and saved in
      the config.
    maximize: None (as the solver declares), True or False.

  Attributes:
    supports_jit: False when the solver is a host call, so that Keras
      (through `perturbations_tf`'s compile fix) does not compile the step.
  """

  FUNCTION: Callable[..., tf.Tensor]
  # The sense of a solver that declares none: None refuses it (see
  # `sense.resolve_sense`).
  UNDECLARED_SENSE: bool | None = None

  def __init__(
    self,
    solver: SolverLike | None,
    *,
    maximize: bool | None = None,
    reduction: str = "sum_over_batch_size",
    name: str | None = None,
    dtype: DTypeLike = None,
    **options: Any,
  ):
    super().__init__(name=name, reduction=reduction, dtype=dtype)
    if solver is None:
      raise ValueError(
        f"{type(self).__name__} needs a solver: a callable, "
        "a built-in name such as 'argmax', or a solver object."
      )
    self.solver = registry.get_solver(solver)
    self.maximize = sense.resolve_sense(
      self.solver,
      maximize,
      type(self).__name__,
      undeclared=type(self).UNDECLARED_SENSE,
    )
    # The function's own settings check, run here too so that bad settings
    # fail at construction (it returns them normalised).
    check = getattr(getattr(self, "FUNCTION", None), "check_settings", None)
    self.options: dict[str, Any] = check(**options) if check else options

  @property
  def supports_jit(self) -> bool:
    return supports_jit(self.solver)

  def call(self, y_true: TensorLike, y_pred: TensorLike) -> tf.Tensor:
    """Per-example losses, in `y_pred`'s dtype."""
    return type(self).FUNCTION(
      y_true, y_pred, self.solver, maximize=self.maximize, **self.options
    )

  def get_config(self) -> dict:
    return {
      **super().get_config(),
      "solver": registry.solver_config(self.solver),
      "maximize": self.maximize,
      **self.options,
    }
