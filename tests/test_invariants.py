"""What cannot be is checked where it is computed: a negative SPO+ or regret
(a wrong sense or wrong targets) and labels a solver cannot produce are
errors in eager mode and graphs, NaN under XLA; every solver fails with the
same error types."""

import functools
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

import perturbations_tf as ptf

ARCS = functools.partial(ptf.solvers.grid_arc_shortest_path, grid=(5, 5))
# The library has no Python control flow on tensors: its graphs need no
# autograph (a full run once saw autograph swap a converted function here).
MODES = {
  "eager": lambda f: f,
  "graph": functools.partial(tf.function, autograph=False),
  "xla": functools.partial(tf.function, autograph=False, jit_compile=True),
}


def _costs(rng, rows=4, width=40):
  return tf.constant(rng.uniform(0.1, 1.0, (rows, width)), tf.float32)


@pytest.mark.parametrize("mode", MODES)
def test_a_regret_below_zero_is_an_error_or_nan(mode, rng):
  # A feasible but not optimal w in stack_targets: the perfect prediction's
  # regret was −0.31 (normalised), silently.
  c = _costs(rng)
  longest = ARCS(-c)
  metric = ptf.metrics.NormalizedRegret(ARCS)

  def update(y_true, y_pred):
    metric.update_state(y_true, y_pred)
    return metric.result()

  run = MODES[mode](update)
  if mode == "xla":
    assert np.isnan(run(ptf.data.stack_targets(c, longest), c))
  else:
    with pytest.raises(
      tf.errors.InvalidArgumentError, match="regret is negative.*stack_targets"
    ):
      run(ptf.data.stack_targets(c, longest), c)
  metric.reset_state()
  right = run(ptf.data.stack_targets(c, ARCS(c)), c + 0.1)
  assert 0 <= float(right) < np.inf


@pytest.mark.parametrize("mode", MODES)
def test_spo_plus_below_zero_is_an_error_or_nan(mode, rng):
  # A minimiser declared as a maximiser: SPO+ was −6.6, silently.
  def one_hot_argmin(c):
    return tf.one_hot(tf.argmin(c, 1), tf.shape(c)[1], dtype=c.dtype)

  wrong = ptf.solvers.declare_sense(maximize=True)(one_hot_argmin)
  c, c_hat = tf.unstack(tf.constant(rng.normal(size=(2, 8, 5)), tf.float32))
  loss = MODES[mode](lambda y, p: ptf.losses.spo_plus_loss(y, p, wrong))
  if mode == "xla":
    assert np.isnan(loss(c, c_hat)).any()
  else:
    with pytest.raises(tf.errors.InvalidArgumentError, match="SPO\\+ is neg"):
      loss(c, c_hat)
  right = ptf.solvers.declare_sense(maximize=False)(one_hot_argmin)
  assert (ptf.losses.spo_plus_loss(c, c_hat, right).numpy() >= 0).all()


def test_swapped_targets_are_refused(rng):
  # stack_targets(w, c) gave SPO+ 42.2 and a normalised regret of 3.07.
  c = _costs(rng)
  swapped = ptf.data.stack_targets(ARCS(c), c)
  with pytest.raises(tf.errors.InvalidArgumentError, match="swapped"):
    ptf.losses.spo_plus_loss(swapped, c, ARCS)
  with pytest.raises(tf.errors.InvalidArgumentError, match="swapped"):
    ptf.metrics.NormalizedRegret(ARCS).update_state(swapped, c)
  with pytest.raises(tf.errors.InvalidArgumentError, match="swapped"):
    tf.function(lambda y, p: ptf.losses.spo_plus_loss(y, p, ARCS))(swapped, c)


def test_path_labels_must_be_paths():
  arcs = np.zeros((1, 40), np.float32)
  arcs[0, [0, 2]] = 1.0  # Two arcs that leave the source: no path.
  with pytest.raises(tf.errors.InvalidArgumentError, match="flow conserved"):
    ptf.losses.fenchel_young_loss(arcs, np.ones((1, 40), np.float32), ARCS)
  cells = np.ones((1, 3, 3), np.float32)
  cells[0, 2, 2] = 0.0  # The path misses the bottom-right cell.
  with pytest.raises(tf.errors.InvalidArgumentError, match="both ends set"):
    ptf.losses.fenchel_young_loss(
      cells, cells, "shortest_path", num_samples=2, maximize=False
    )


def test_tsp_labels_must_be_tours():
  tsp = ptf.solvers.TSP(5)
  theta = tf.ones([1, 10])
  three = np.zeros((1, 10), np.float32)
  three[0, :3] = 1.0  # Three edges of a 5-node graph.
  two_triangles = ptf.solvers.TSP(6).check_solutions  # Degree 2, 2 cycles.
  for label in (three, np.zeros((1, 10), np.float32)):  # FY was −16.7.
    with pytest.raises(tf.errors.InvalidArgumentError, match="tours of all 5"):
      ptf.losses.fenchel_young_loss(label, theta, tsp, num_samples=2)
    with pytest.raises(tf.errors.InvalidArgumentError, match="tours of all 5"):
      ptf.losses.spo_plus_loss(ptf.data.stack_targets(theta, label), theta, tsp)
  edges = ptf.solvers.tsp_edges(6)
  triangles = np.zeros((1, 15), np.float32)
  for edge in ((0, 1), (1, 2), (0, 2), (3, 4), (4, 5), (3, 5)):
    triangles[0, edges.index(edge)] = 1.0
  with pytest.raises(tf.errors.InvalidArgumentError, match="one cycle"):
    two_triangles(triangles, "test")
  tour = tsp(theta)
  assert (
    float(
      ptf.losses.spo_plus_loss(ptf.data.stack_targets(theta, tour), theta, tsp)[
        0
      ]
    )
    == 0.0
  )


def test_portfolio_labels_must_meet_the_budget():
  portfolio = ptf.solvers.Portfolio(np.eye(2), gamma=1.5)
  returns = tf.constant([[1.0, 0.0]])
  for bad in ([[1.0, 0.0]], [[0.5, 0.6]], [[1.2, -0.2]]):  # Risk, sum, bounds.
    with pytest.raises(tf.errors.InvalidArgumentError, match="budget"):
      ptf.losses.spo_plus_loss(
        ptf.data.stack_targets(returns, bad), returns, portfolio
      )
  best = portfolio(returns)
  loss = ptf.losses.spo_plus_loss(
    ptf.data.stack_targets(returns, best), returns, portfolio
  )
  assert abs(float(loss[0])) < 1e-5


def test_every_problem_solver_raises_the_same_error_types():
  with pytest.raises(ptf.solvers.InfeasibleProgramError, match="risk budget"):
    ptf.solvers.Portfolio(np.eye(2) + 1.0, gamma=0.1)
  tsp = ptf.solvers.TSP(30, time_limit=1e-6)
  with pytest.raises(ptf.solvers.UnsolvedProgramError, match="no tour"):
    tsp.solve(np.random.default_rng(0).uniform(size=(1, 435)))
  tsp.close()
  assert issubclass(ptf.solvers.InfeasibleProgramError, ValueError)
  assert issubclass(ptf.solvers.UnsolvedProgramError, RuntimeError)


def test_defaults_that_learn():
  a_eq, b_eq = ptf.solvers.grid_flow_constraints((3, 3))
  lp = ptf.solvers.LinearProgram(A_eq=a_eq, b_eq=b_eq, bounds=(0, 1))
  assert ptf.losses.CaVELoss(lp).options["interior"] == 0.003  # CaVE+.
  assert ptf.losses.PGLoss(ARCS).options["central"] is True  # PGC.
  # CaVE over an integer program says that its cone is the relaxation's.
  with pytest.warns(UserWarning, match="LP relaxation"):
    ptf.losses.CaVELoss(ptf.solvers.Knapsack([[1.0, 2.0, 3.0]], [3.0]))
  with warnings.catch_warnings():
    warnings.simplefilter("error")
    ptf.losses.CaVELoss(lp)  # A flow LP: no warning.


def test_two_stage_trains_on_make_dataset():
  x, c = ptf.data.shortest_path_data(300, 5, grid=(5, 5), deg=2, seed=0)
  data = ptf.data.make_dataset(x, c, "grid_arc_shortest_path", batch_size=32)
  keras.utils.set_random_seed(0)
  model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(40)])
  model.compile(
    keras.optimizers.Adam(0.05),
    loss=ptf.losses.LeastSquaresLoss(),
    metrics=[ptf.metrics.NormalizedRegret("grid_arc_shortest_path")],
  )
  before = model.evaluate(data, verbose=0, return_dict=True)
  model.fit(data, epochs=5, verbose=0)
  after = model.evaluate(data, verbose=0, return_dict=True)
  assert after["loss"] < 0.2 * before["loss"]
  assert after["normalized_regret"] < 0.5 * before["normalized_regret"]
  np.testing.assert_allclose(  # Keras's mean squared error on the costs.
    ptf.losses.least_squares_loss(ptf.data.stack_targets(c, c), c + 1.0),
    keras.losses.mean_squared_error(c, c + 1.0),
    rtol=1e-6,
  )
