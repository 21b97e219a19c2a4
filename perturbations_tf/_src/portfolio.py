"""PyEPO's Markowitz portfolio, a second-order cone program, as a batched
solver.

    max rᵀx  s.t.  1ᵀx = 1,  0 ≤ x ≤ 1,  xᵀΣx ≤ γ·mean(Σ),

with expected returns `r` the costs and the risk budget PyEPO's
(`pyepo.model.*.portfolioModel`: γ = 2.25 times the mean entry of the
covariance). The risk constraint is the cone `‖Lᵀx/√(γ·mean(Σ))‖ ≤ 1`
(Σ = LLᵀ, Cholesky; scaled so that its right-hand side is 1), and each row
is solved by Clarabel, an open-source interior-point conic solver, to its
default tolerances (relative gap 1e-8).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import functools
from typing import Any

import keras
import numpy as np
from numpy.typing import ArrayLike
import tensorflow as tf

from perturbations_tf._src import host_solver
from perturbations_tf._src import invariants
from perturbations_tf._src import optional
from perturbations_tf._src import validation
from perturbations_tf._src.errors import InfeasibleProgramError
from perturbations_tf._src.errors import UnsolvedProgramError


def _clarabel():
  owner = "Portfolio solves through Clarabel"
  return (
    optional.require("clarabel", owner, "portfolio"),
    optional.require("scipy.sparse", owner, "portfolio"),
  )


@dataclasses.dataclass(frozen=True)
class _Cone:
  """The constraints in Clarabel's form `Ax + s = b, s ∈ K` (picklable)."""

  risk_factor: np.ndarray  # Lᵀ / √budget: ‖risk_factor · x‖ ≤ 1.

  def __reduce__(self):  # Clarabel's cones do not pickle: rebuilt there.
    return (_Cone, (self.risk_factor,))

  @functools.cached_property
  def arrays(self) -> tuple[Any, Any, np.ndarray, list]:
    clarabel, sparse = _clarabel()
    n = self.risk_factor.shape[1]
    a = np.concatenate(
      [
        np.ones((1, n)),  # 1ᵀx = 1.
        -np.eye(n),  # x ≥ 0.
        np.eye(n),  # x ≤ 1.
        np.zeros((1, n)),  # (1, risk_factor · x) in the second-order cone.
        -self.risk_factor,
      ]
    )
    b = np.concatenate([[1.0], np.zeros(n), np.ones(n), [1.0], np.zeros(n)])
    cones = [
      clarabel.ZeroConeT(1),
      clarabel.NonnegativeConeT(2 * n),
      clarabel.SecondOrderConeT(n + 1),
    ]
    zero_quadratic = sparse.csc_matrix((n, n))  # A linear objective.
    return zero_quadratic, sparse.csc_matrix(a), b, cones


def solve_portfolio(returns: np.ndarray, cone: _Cone) -> np.ndarray:
  """The optimal allocation of one return vector, `[n]` (on a worker).

  Raises:
    ValueError: on non-finite returns.
    UnsolvedProgramError: when Clarabel stops without an optimum.
  """
  clarabel, _ = _clarabel()
  r = np.asarray(returns, np.float64)
  validation.check_finite_array(r, "Portfolio", "returns")
  p, a, b, cones = cone.arrays
  settings = clarabel.DefaultSettings()
  settings.verbose = False
  solution = clarabel.DefaultSolver(p, -r, a, b, cones, settings).solve()
  if str(solution.status) not in ("Solved", "AlmostSolved"):
    raise UnsolvedProgramError(f"Clarabel found no optimum: {solution.status}.")
  return np.asarray(solution.x)


@keras.saving.register_keras_serializable(package="perturbations_tf")
class Portfolio(host_solver.HostSolver):
  """PyEPO's Markowitz portfolio over `n` assets as a batched solver (it
  maximises the expected return).

  Calling it on expected returns `[B, n]` returns each row's optimal
  allocation `x` (`1ᵀx = 1`, `0 ≤ x ≤ 1`, `xᵀΣx ≤ γ·mean(Σ)`), `[B, n]` in
  the returns' floating dtype. The feasible set is convex but not a
  polytope: its optimal allocations are interior to faces, continuous in
  `r` where the risk constraint binds. A host call through `numpy_solver`;
  needs the `portfolio` extra (Clarabel, scipy).

  Args:
    covariance: Σ, `[n, n]` symmetric positive definite (`data.portfolio`'s
      first output).
    gamma: the risk budget's multiple of the covariance's mean entry
      (PyEPO's default 2.25).
    executor: `'threads'` (default), `'processes'` or a
      `concurrent.futures.Executor`, as `numpy_solver`.
    num_workers: as `numpy_solver` (default: the CPU count).

  Raises:
    ValueError: on a covariance that is not symmetric positive definite or
      a non-positive gamma.
    InfeasibleProgramError: on a budget no allocation meets (a ValueError).
    ImportError: without Clarabel or scipy.

  Example:
    >>> # Two independent assets of variance 1; budget 1.5 · mean(Σ) = 0.75:
    >>> # all in the first is too risky, x₁ = (1 + √½)/2 meets the budget.
    >>> solver = Portfolio(np.eye(2), gamma=1.5)
    >>> solver(tf.constant([[1.0, 0.0]])).numpy().round(4)
    array([[0.8536, 0.1464]], dtype=float32)
  """

  maximize = True

  def __init__(
    self,
    covariance: ArrayLike,
    gamma: float = 2.25,
    *,
    executor: str | concurrent.futures.Executor = "threads",
    num_workers: int | None = None,
  ):
    sigma = np.asarray(covariance, np.float64)
    gamma = validation.positive_number(gamma, "gamma")
    if sigma.ndim != 2 or sigma.shape[0] != sigma.shape[1]:
      raise ValueError(f"covariance must be [n, n], got {sigma.shape}.")
    if not np.all(np.isfinite(sigma)) or not np.allclose(sigma, sigma.T):
      raise ValueError("covariance must be finite and symmetric.")
    try:
      lower = np.linalg.cholesky(sigma)
    except np.linalg.LinAlgError as error:
      raise ValueError("covariance must be positive definite.") from error
    self.risk_level = gamma * float(np.mean(sigma))
    self.covariance = sigma
    cone = _Cone(lower.T / np.sqrt(self.risk_level))
    try:  # Fails here, not in the first training step.
      solve_portfolio(np.zeros(len(sigma)), cone)
    except UnsolvedProgramError as error:
      raise InfeasibleProgramError(
        f"No allocation meets the risk budget γ·mean(Σ) = "
        f"{self.risk_level:.3g}: raise gamma."
      ) from error
    self._start(
      functools.partial(solve_portfolio, cone=cone),
      len(sigma),
      executor,
      num_workers,
      dict(covariance=sigma.tolist(), gamma=gamma),
    )

  def check_solutions(self, y: tf.Tensor, owner: str) -> tf.Tensor:
    """`y` after a check that its rows are allocations within the budget:
    `1ᵀx = 1`, `0 ≤ x ≤ 1` and `xᵀΣx ≤ γ·mean(Σ)`, each to 1e-6 (relative
    for the risk), the accuracy of the conic solver's optima.

    Example:
      >>> Portfolio(np.eye(2), gamma=1.5).check_solutions(
      ...   tf.constant([[0.5, 0.5]]), "test").shape
      TensorShape([1, 2])
    """
    y = validation.check_rows(y, self.num_variables, owner, "labels")
    x = tf.cast(y, tf.float64)
    risk = tf.reduce_sum(tf.matmul(x, self.covariance) * x, axis=1)
    ok = (
      tf.reduce_all(tf.abs(tf.reduce_sum(x, axis=1) - 1.0) <= 1e-6)
      & tf.reduce_all((x >= -1e-6) & (x <= 1.0 + 1e-6))
      & tf.reduce_all(risk <= self.risk_level * (1.0 + 1e-6))
    )
    return invariants.checked(
      y,
      ok,
      f"{owner}: the labels of a Portfolio must be allocations within its "
      f"budget (they sum to 1, each in [0, 1], risk xᵀΣx ≤ "
      f"{self.risk_level:.6g}); are y_true's costs and solutions swapped?",
    )
