"""Portfolio reaches the optimum of an independent solve (scipy's SLSQP) on
PyEPO's data, feasible to the tolerances; takes PyEPO's risk budget;
serialises, trains SPO+ to lower regret, and names bad input."""

import numpy as np
import pytest
from scipy import optimize
import tensorflow as tf

import perturbations_tf as ptf
from tests import serialization
from tests import training


def slsqp(returns: np.ndarray, cov: np.ndarray, budget: float) -> np.ndarray:
  """An independent solve: sequential quadratic programming from 1/n."""
  n = len(returns)
  return optimize.minimize(
    lambda x: -returns @ x,
    np.full(n, 1 / n),
    jac=lambda x: -returns,
    method="SLSQP",
    bounds=[(0, 1)] * n,
    constraints=[
      {"type": "eq", "fun": lambda x: x.sum() - 1, "jac": lambda x: np.ones(n)},
      {
        "type": "ineq",
        "fun": lambda x: budget - x @ cov @ x,
        "jac": lambda x: -2 * cov @ x,
      },
    ],
    options={"ftol": 1e-15, "maxiter": 1000},
  ).x


@pytest.mark.parametrize("deg", [1, 4])
def test_equals_an_independent_solve_on_pyepos_portfolio(deg, rng):
  cov, _, r = ptf.data.portfolio_data(
    20, 5, 50, deg=deg, noise_level=1.0, seed=4
  )
  solver = ptf.solvers.Portfolio(cov)
  assert solver.maximize is True
  assert solver.risk_level == pytest.approx(2.25 * np.mean(cov))  # PyEPO's.
  # PyEPO's returns and returns of both signs (SPO+'s 2ĉ − c, noise).
  returns = np.concatenate([r, 0.1 * rng.normal(size=(10, 50))])
  x = solver(tf.constant(returns, tf.float64)).numpy()
  np.testing.assert_allclose(x.sum(1), 1.0, atol=1e-9)
  assert x.min() > -1e-9 and x.max() < 1 + 1e-9
  risk = np.einsum("bi,ij,bj->b", x, cov, x)
  assert risk.max() <= solver.risk_level * (1 + 1e-7)
  for row, allocation in zip(returns, x):
    reference = slsqp(row, cov, solver.risk_level)
    assert row @ allocation == pytest.approx(row @ reference, rel=1e-5)
    # The risk binds where the best asset alone is too risky.
    assert allocation @ cov @ allocation == pytest.approx(
      solver.risk_level, rel=1e-5
    )


def test_on_worker_processes_as_on_threads():
  cov, _, r = ptf.data.portfolio_data(8, 5, 10, seed=1)
  processes = ptf.solvers.Portfolio(cov, executor="processes", num_workers=2)
  try:
    np.testing.assert_allclose(
      processes.solve(r), ptf.solvers.Portfolio(cov).solve(r), atol=1e-7
    )
  finally:
    processes.close()


def test_serialises_and_spo_plus_lowers_the_regret():
  cov, x, r = ptf.data.portfolio_data(400, 5, 10, deg=2, seed=0)
  solver = ptf.solvers.Portfolio(cov, gamma=2.25)
  copy = serialization.round_trip(solver)
  np.testing.assert_allclose(copy.covariance, cov)
  before, after = training.spo_plus_regret_before_and_after(
    solver, x, r, num_train=300, epochs=5, learning_rate=0.01
  )
  assert after < 0.5 * before


def test_names_bad_input():
  with pytest.raises(ValueError, match=r"\[n, n\]"):
    ptf.solvers.Portfolio(np.ones(3))
  with pytest.raises(ValueError, match="symmetric"):
    ptf.solvers.Portfolio([[1.0, 0.5], [0.0, 1.0]])
  with pytest.raises(ValueError, match="positive definite"):
    ptf.solvers.Portfolio([[1.0, 2.0], [2.0, 1.0]])
  with pytest.raises(ValueError, match="gamma"):
    ptf.solvers.Portfolio(np.eye(2), gamma=0.0)
  # Budget 0.6 · mean(I₂) = 0.3 < ½, the least variance of 1ᵀx = 1.
  with pytest.raises(ValueError, match="risk budget.*raise gamma"):
    ptf.solvers.Portfolio(np.eye(2), gamma=0.6)
  with pytest.raises(ValueError, match=r"shape \[batch, 2\]"):
    ptf.solvers.Portfolio(np.eye(2))(tf.zeros([1, 3]))
  with pytest.raises(tf.errors.OpError, match="finite returns"):
    tf.function(ptf.solvers.Portfolio(np.eye(2)))(tf.constant([[np.inf, 0.0]]))
