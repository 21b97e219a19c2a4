"""LinearProgram equals scipy's linprog / milp, on threads and processes,
raises clear errors, serialises, and drops into the losses in one line."""

import keras
import numpy as np
import pytest
from scipy import optimize
import tensorflow as tf

import perturbations_tf as ptf
from tests import serialization


def random_lp(rng, n=6, rows=3):
  """A bounded LP: max cᵀx, A x ≤ b with positive A, 0 ≤ x ≤ 1."""
  return dict(
    A_ub=rng.uniform(0.5, 2.0, (rows, n)),
    b_ub=rng.uniform(2.0, 4.0, rows),
    bounds=(0, 1),
  )


@pytest.mark.parametrize("executor", ["threads", "processes"])
def test_equals_linprog_and_milp(executor, rng):
  problem = random_lp(rng)
  costs = rng.normal(size=(24, 6))
  for integer in (False, True):
    lp = ptf.solvers.LinearProgram(
      **problem,
      maximize=True,
      executor=executor,
      num_workers=2,
      integrality=np.ones(6) if integer else None,
    )
    got = lp(tf.constant(costs)).numpy()
    lp.close()
    for c, x in zip(costs, got):
      if integer:
        want = optimize.milp(
          -c,
          integrality=np.ones(6),
          bounds=optimize.Bounds(0, 1),
          constraints=optimize.LinearConstraint(
            problem["A_ub"], -np.inf, problem["b_ub"]
          ),
        )
      else:
        want = optimize.linprog(
          -c,
          A_ub=problem["A_ub"],
          b_ub=problem["b_ub"],
          bounds=(0, 1),
          method="highs",
        )
      assert np.isclose(c @ x, -want.fun, rtol=1e-9, atol=1e-9)
      assert (problem["A_ub"] @ x <= problem["b_ub"] + 1e-9).all()
      if integer:
        np.testing.assert_allclose(x, np.round(x), atol=1e-9)


def test_equality_constraints_and_free_bounds(rng):
  # min cᵀx s.t. Σx = 1, x ≥ 0: the cheapest vertex (an argmin).
  lp = ptf.solvers.LinearProgram(A_eq=np.ones((1, 5)), b_eq=[1.0])
  costs = rng.normal(size=(10, 5)).astype(np.float32)
  got = lp(costs)
  assert got.dtype == tf.float32
  np.testing.assert_allclose(got, np.eye(5)[costs.argmin(1)], atol=1e-7)
  # max x0 + 2·x1 s.t. x0 + x1 ≤ 1, x0 ≥ −2, 0 ≤ x1 ≤ 3: x = (−2, 3).
  lp = ptf.solvers.LinearProgram(
    A_ub=[[1.0, 1.0]], b_ub=[1.0], bounds=[(-2, None), (0, 3)], maximize=True
  )
  np.testing.assert_allclose(
    lp.solve(np.array([[1.0, 2.0]])), [[-2.0, 3.0]], atol=1e-9
  )


def test_integer_costs_give_the_fractional_optimum():
  # A fractional knapsack on integer costs: the optimum [1, 1, 0.6] used to
  # be truncated to the costs' integer dtype.
  lp = ptf.solvers.LinearProgram(
    A_ub=[[3.0, 4.0, 5.0]], b_ub=[10.0], bounds=(0, 1), maximize=True
  )
  for dtype in (tf.int32, tf.int64):
    x = lp(tf.constant([[1, 1, 1]], dtype))
    assert x.dtype == tf.float32
    np.testing.assert_allclose(x, [[1.0, 1.0, 0.6]], atol=1e-9)
  assert lp(tf.constant([[1.0, 1.0, 1.0]], tf.float64)).dtype == tf.float64
  lp.close()


def test_errors_name_the_problem_and_the_instance():
  with pytest.raises(ptf.solvers.InfeasibleProgramError, match="infeasible"):
    ptf.solvers.LinearProgram(A_ub=[[1.0, 1.0]], b_ub=[-1.0])
  with pytest.raises(ValueError, match="A_ub and b_ub go together"):
    ptf.solvers.LinearProgram(A_ub=[[1.0, 1.0]])
  with pytest.raises(ValueError, match=r"A_ub must be \[rows, n\]"):
    ptf.solvers.LinearProgram(A_ub=[[1.0, 1.0]], b_ub=[1.0, 2.0])
  with pytest.raises(ValueError, match="number of variables"):
    ptf.solvers.LinearProgram(
      A_ub=[[1.0, 1.0]], b_ub=[1.0], A_eq=[[1.0]], b_eq=[1.0]
    )
  with pytest.raises(ValueError, match="integrality must hold"):
    ptf.solvers.LinearProgram(A_ub=[[1.0, 1.0]], b_ub=[1.0], integrality=[2, 0])
  with pytest.raises(ValueError, match="lower <= upper"):
    ptf.solvers.LinearProgram(A_ub=[[1.0, 1.0]], b_ub=[1.0], bounds=(1, 0))
  lp = ptf.solvers.LinearProgram(A_ub=[[1.0, -1.0]], b_ub=[1.0])  # x ≥ 0 only.
  with pytest.raises(ValueError, match=r"shape \[batch, 2\]"):
    lp(tf.zeros([3, 4]))
  # min cᵀx is unbounded when c has a negative entry along a free ray.
  with pytest.raises(
    ptf.solvers.UnsolvedProgramError, match="unbounded"
  ) as error:
    lp.solve(np.array([[1.0, 1.0], [1.0, 1.0], [-1.0, -1.0]]))
  assert "example 2 of the batch" in " ".join(error.value.__notes__)
  with pytest.raises(
    tf.errors.OpError, match="(?s)unbounded.*example 1 of the batch"
  ):
    tf.function(lp)(tf.constant([[1.0, 1.0], [-1.0, -1.0]]))


def test_serialises_and_trains_in_one_line_with_every_loss(rng):
  problem = random_lp(rng, n=4, rows=2)
  lp = ptf.solvers.LinearProgram(**problem, maximize=True)
  serialization.round_trip(lp)
  x = rng.normal(size=(64, 3)).astype(np.float32)
  c = (x @ rng.normal(size=(3, 4)) + 1.0).astype(np.float32)
  w = lp.solve(c).astype(np.float32)
  for loss, y in (
    (ptf.losses.SPOPlusLoss(lp, maximize=True), c),
    (ptf.losses.FenchelYoungLoss(lp, num_samples=4, sigma=0.5), w),
  ):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4)])
    model.compile(
      keras.optimizers.Adam(0.05),
      loss=loss,
      jit_compile=False,
      metrics=[ptf.metrics.NormalizedRegret(lp, maximize=True)],
    )
    history = model.fit(
      x,
      y if loss.name == "fenchel_young" else c,
      epochs=2,
      batch_size=16,
      verbose=0,
    )
    assert np.isfinite(history.history["loss"]).all()
  soft = ptf.ops.perturbed(lp, num_samples=8, sigma=0.5, seed=0)(c[:2])
  assert soft.shape == (2, 4)
  restored = serialization.round_trip(ptf.losses.SPOPlusLoss(lp, maximize=True))
  np.testing.assert_allclose(
    restored.call(c[:4], c[:4] + 0.3),
    ptf.losses.spo_plus_loss(c[:4], c[:4] + 0.3, lp, maximize=True),
  )
