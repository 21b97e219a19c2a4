"""CaVE: the binding constraints' cone, its projection against scipy's NNLS,
the loss against its formula."""

import numpy as np
import pytest
from scipy import optimize
import tensorflow as tf

import perturbations_tf as ptf
from perturbations_tf._src import cave
from tests import serialization
from tests import training

A_EQ, B_EQ = ptf.solvers.grid_flow_constraints(training.GRID)
FLOW_LP = ptf.solvers.LinearProgram(A_eq=A_EQ, b_eq=B_EQ, bounds=(0, 1))


def test_the_binding_normals_of_a_path(rng):
  c = rng.uniform(0.1, 2.0, (4, 40))
  w = ptf.solvers.grid_arc_shortest_path(c, training.GRID).numpy()
  p = FLOW_LP.constraints()
  mask = cave.binding_mask(p, w).numpy()
  rows = cave.normals(p)
  assert rows.shape == (2 * len(A_EQ) + 80, 40)
  for b in range(4):  # ± every flow row, then −e_k off the path, e_k on it.
    expected = np.concatenate([np.ones(2 * len(A_EQ)), w[b] == 0, w[b] == 1])
    np.testing.assert_array_equal(mask[b], expected)


def test_the_projection_is_scipys_non_negative_least_squares(rng):
  c = rng.uniform(0.1, 2.0, (16, 40))
  w = ptf.solvers.grid_arc_shortest_path(c, training.GRID).numpy()
  p = FLOW_LP.constraints()
  rows, mask = cave.normals(p), cave.binding_mask(p, w).numpy()
  v = rng.normal(size=(16, 40))
  projection = cave.project_onto_cone(v, rows, mask, 500).numpy()
  for b in range(16):
    g = rows[mask[b]]
    lam, _ = optimize.nnls(g.T, v[b], maxiter=10_000)
    np.testing.assert_allclose(projection[b], lam @ g, atol=1e-8)


def test_loss_is_the_cosine_to_the_projection_and_zero_at_true_costs(rng):
  # The exact projection (interior=0): the paper's plain CaVE.
  c = rng.uniform(0.1, 2.0, (16, 40))
  w = ptf.solvers.grid_arc_shortest_path(c, training.GRID).numpy()
  np.testing.assert_allclose(
    cave.cave_loss(w, c, FLOW_LP, interior=0.0), 0.0, atol=1e-10
  )
  c_hat = tf.constant(rng.normal(size=(16, 40)))
  with tf.GradientTape() as tape:
    tape.watch(c_hat)
    loss = ptf.losses.cave_loss(
      ptf.data.stack_targets(c, w), c_hat, FLOW_LP, interior=0.0
    )
  grad = tape.gradient(loss, c_hat).numpy()
  p = FLOW_LP.constraints()
  v = -c_hat.numpy()  # A minimisation: −ĉ should point into the cone.
  proj = cave.project_onto_cone(
    v, cave.normals(p), cave.binding_mask(p, w), 500
  ).numpy()
  nv, nq = np.linalg.norm(v, axis=1), np.linalg.norm(proj, axis=1)
  cosine = (v * proj).sum(1) / (nv * nq)
  np.testing.assert_allclose(loss, 1 - cosine, atol=1e-8)
  # d(1 − cos)/dv with the projection fixed, times dv/dĉ = −1.
  dv = -(proj / (nv * nq)[:, None] - cosine[:, None] * v / (nv**2)[:, None])
  np.testing.assert_allclose(grad, -dv, atol=1e-8)
  assert np.all((loss.numpy() >= 0) & (loss.numpy() <= 2))


def test_the_interior_point_is_the_barrier_problems_minimiser(rng):
  c = rng.uniform(0.1, 2.0, (4, 40))
  w = ptf.solvers.grid_arc_shortest_path(c, training.GRID).numpy()
  m = len(A_EQ)
  inequalities, inner_mask = cave._inequalities(FLOW_LP.constraints(), w)
  inequalities, inner_mask = inequalities.numpy(), inner_mask.numpy()
  # One bound row per arc: −e_k off the path, e_k on it.
  np.testing.assert_array_equal(inner_mask, True)
  np.testing.assert_array_equal(np.einsum("bkk->bk", inequalities), 2 * w - 1)
  v = -(c + rng.normal(scale=0.5, size=c.shape))
  eta = 0.003
  ours = cave.interior_projection(v, A_EQ, inequalities, inner_mask, eta, 15)
  for b in range(4):  # An independent solve: L-BFGS-B on (y, λ > 0).
    h = inequalities[b][inner_mask[b]]
    mu = eta * v[b] @ v[b]

    def objective(z, h=h, b=b, mu=mu):
      y, lam = z[:m], z[m:]
      r = A_EQ.T @ y + h.T @ lam - v[b]
      value = 0.5 * r @ r - mu * np.sum(np.log(lam))
      return value, np.concatenate([A_EQ @ r, h @ r - mu / lam])

    z0 = np.concatenate([np.zeros(m), np.ones(len(h))])
    bounds = [(None, None)] * m + [(1e-12, None)] * len(h)
    result = optimize.minimize(
      objective,
      z0,
      jac=True,
      bounds=bounds,
      method="L-BFGS-B",
      options={"maxiter": 20_000, "ftol": 1e-15, "gtol": 1e-10},
    )
    point = A_EQ.T @ result.x[:m] + h.T @ result.x[m:]
    np.testing.assert_allclose(ours[b], point, atol=1e-4)


def test_interior_cave_keeps_pushing_inside_and_is_scale_free(rng):
  c = rng.uniform(0.1, 2.0, (8, 40))
  w = ptf.solvers.grid_arc_shortest_path(c, training.GRID).numpy()
  exact = cave.cave_loss(w, c, FLOW_LP, interior=1e-9).numpy()
  np.testing.assert_allclose(exact, 0.0, atol=1e-6)  # η → 0: CaVE.
  inside = cave.cave_loss(w, c, FLOW_LP, interior=0.003).numpy()
  assert np.all((inside > 1e-4) & (inside < 0.3)), inside
  np.testing.assert_allclose(
    cave.cave_loss(w, 10.0 * c, FLOW_LP, interior=0.003), inside, rtol=1e-6
  )


def test_a_full_knapsack_binds_its_capacity(rng):
  # Unit weights: the knapsack takes the 3 most valuable items and its
  # LP relaxation is tight, so the cone holds the true values.
  knapsack = ptf.solvers.Knapsack(np.ones((1, 8)), [3.0])
  values = rng.uniform(0.1, 2.0, (8, 8))
  w = knapsack(values).numpy()
  p = knapsack.constraints()
  mask = cave.binding_mask(p, w).numpy()
  np.testing.assert_array_equal(mask[:, 0], True)  # The capacity row.
  np.testing.assert_allclose(
    cave.cave_loss(w, values, knapsack, interior=0.0), 0, atol=1e-9
  )
  assert np.all(
    cave.cave_loss(w, -values, knapsack, interior=0.0).numpy() > 0.1
  )


def test_the_keras_loss_serialises_and_needs_constraints():
  loss = ptf.losses.CaVELoss(FLOW_LP, max_iterations=200, interior=0.01)
  clone = serialization.round_trip(loss)
  assert clone.options == {"max_iterations": 200, "interior": 0.01}
  with pytest.raises(ValueError, match="interior"):
    ptf.losses.CaVELoss(FLOW_LP, interior=-1.0)
  with pytest.raises(ValueError, match="constraints"):
    ptf.losses.CaVELoss("grid_arc_shortest_path")


@pytest.mark.parametrize("interior", [0.0, 0.003])
def test_it_trains_a_linear_model_to_lower_regret(interior):
  before, after = training.regret_before_and_after(
    lambda w: ptf.losses.CaVELoss(FLOW_LP, interior=interior), "solutions"
  )
  assert after < 0.5 * before, (before, after)
