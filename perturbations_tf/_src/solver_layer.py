"""What every layer over a solver shares: the solver, its sense, XLA support
and the config entries, written once."""

from __future__ import annotations

from typing import Any

import keras

from perturbations_tf._src import registry
from perturbations_tf._src import sense
from perturbations_tf._src import solver_loss
from perturbations_tf._src.types import SolverLike

# How a layer over a solver answers at inference: the smoothed output with a
# fixed seed, or the unperturbed solver's.
INFERENCE_MODES = ("smoothed", "exact")


class SolverLayer(keras.layers.Layer):
  """A Keras layer that calls a solver.

  Args:
    solver: a callable, a built-in name or a serialised solver.
    maximize: None (as the solver declares), True or False.
    **kwargs: `keras.layers.Layer` arguments (name, dtype, ...).

  Attributes:
    supports_jit: False when the solver is a host call (Keras then leaves
      `jit_compile='auto'` off).
  """

  # The sense of a solver that declares none: None refuses it (see
  # `sense.resolve_sense`).
  UNDECLARED_SENSE: bool | None = None

  def __init__(
    self, solver: SolverLike, *, maximize: bool | None = None, **kwargs: Any
  ):
    super().__init__(**kwargs)
    self.solver = registry.get_solver(solver)
    self.maximize = sense.resolve_sense(
      self.solver,
      maximize,
      type(self).__name__,
      undeclared=type(self).UNDECLARED_SENSE,
    )
    self.supports_jit = solver_loss.supports_jit(self.solver)

  def compute_output_shape(self, input_shape: tuple) -> tuple:
    return input_shape

  def get_config(self) -> dict:
    return {
      **super().get_config(),
      "solver": registry.solver_config(self.solver),
      "maximize": self.maximize,
    }
