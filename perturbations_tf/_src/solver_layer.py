"""What every layer over a solver shares: the solver, its sense, XLA support
and the config entries, written once."""

from __future__ import annotations

from typing import Any

import keras

from perturbations_tf._src import registry
from perturbations_tf._src import sense
from perturbations_tf._src import solver_loss
from perturbations_tf._src.types import SolverLike


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

  def __init__(
    self, solver: SolverLike, maximize: bool | None = None, **kwargs: Any
  ):
    super().__init__(**kwargs)
    self.solver = registry.get_solver(solver)
    self.maximize = sense.resolve_sense(
      self.solver, maximize, type(self).__name__
    )
    self.supports_jit = solver_loss.supports_jit(self.solver)

  def compute_output_shape(self, input_shape: tuple) -> tuple:
    return input_shape

  def get_config(self) -> dict:
    return {
      **super().get_config(),
      "solver": registry.solver_name(self.solver),
      "maximize": self.maximize,
    }
