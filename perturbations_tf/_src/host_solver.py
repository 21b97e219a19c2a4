"""The shared shell of a problem solver whose rows are solved on the host.

A problem of fixed structure (a tour over `n` nodes, a portfolio over a
covariance) solved one cost vector at a time by a numpy function, through
`numpy_solver` (threads, worker processes or a given executor). The subclass
gives the per-row function, its width, its sense and its settings; this
class checks the costs' shape and does the rest once.
"""

from __future__ import annotations

from collections.abc import Callable
import concurrent.futures
from typing import Any
from typing import Self

import numpy as np
import tensorflow as tf

from perturbations_tf._src import numpy_solver as numpy_solver_lib
from perturbations_tf._src import validation
from perturbations_tf._src.types import TensorLike


class HostSolver:
  """A batched solver over `[B, num_variables]` costs, solved row by row on
  the host; serialisable through the settings the subclass records.

  Subclasses set `maximize`, call `_start` in `__init__` and register
  themselves with Keras.
  """

  maximize: bool
  maps_rows = True  # `perturbed(batched=False)` must not map it again.
  supports_jit = False  # A host call: compile() leaves XLA off.

  def _start(
    self,
    solve_row: Callable[[np.ndarray], np.ndarray],
    num_variables: int,
    executor: str | concurrent.futures.Executor,
    num_workers: int | None,
    config: dict[str, Any],
  ):
    """Wraps `solve_row` (picklable, for worker processes) as the op.

    Args:
      solve_row: maps one float64 cost vector to its optimal solution.
      num_variables: the width of a cost vector and of a solution.
      executor: as `numpy_solver`.
      num_workers: as `numpy_solver`.
      config: the constructor's other arguments, for `get_config`.
    """
    self.num_variables = num_variables
    self.__name__ = type(self).__name__
    self._config = dict(
      config,
      executor=executor if isinstance(executor, str) else "threads",
      num_workers=num_workers,
    )
    self._solver = numpy_solver_lib.numpy_solver(
      solve_row,
      output_shape=(num_variables,),
      executor=executor,
      num_workers=num_workers,
      maximize=self.maximize,
    )

  def __call__(self, costs: TensorLike) -> tf.Tensor:
    return self._solver(
      validation.check_rows(costs, self.num_variables, self.__name__)
    )

  def solve(self, costs: np.ndarray) -> np.ndarray:
    """The optimal solution of each row of a numpy `[B, n]` array."""
    return self._solver.solve(np.asarray(costs))

  def close(self):
    """Shuts down the worker pool (also done at exit)."""
    self._solver.close()

  def get_config(self) -> dict:
    return dict(self._config)

  @classmethod
  def from_config(cls, config: dict) -> Self:
    return cls(**config)
