"""LinearProgram(method='pdlp'): HiGHS's optimum on random feasible bounded
LPs in eager mode and under XLA, the statuses of infeasible, unbounded and
unfinished rows and the policy for them, PyEPO's shortest path as a flow LP,
and the losses and metrics over it; "converged" rows that hold on netlib's
LPs, the same solutions at any scale, the presolve's cases, low precision,
one compiled solver per shape, and warm starts."""

import itertools
import json
import logging
import os

import keras
import numpy as np
import pytest
from scipy import optimize
import tensorflow as tf

import perturbations_tf as ptf
from perturbations_tf._src import pdlp
from perturbations_tf._src import pdlp_memory
from perturbations_tf._src import pdlp_program
from perturbations_tf._src import pdlp_solver
from perturbations_tf._src.program import Program
from tests import serialization

STATUS = {name: i for i, name in enumerate(ptf.solvers.LinearProgram.STATUSES)}


def random_program(rng, n=40, m_ub=20, m_eq=10):
  """Constraints feasible around an interior point of the unit box."""
  x0 = rng.uniform(0.2, 0.8, n)
  a_ub = rng.normal(size=(m_ub, n))
  b_ub = a_ub @ x0 + rng.uniform(0.1, 1.0, m_ub)
  a_eq = rng.normal(size=(m_eq, n))
  return dict(A_ub=a_ub, b_ub=b_ub, A_eq=a_eq, b_eq=a_eq @ x0, bounds=(0, 1))


def highs_objectives(program, costs, maximize=False):
  sign = -1.0 if maximize else 1.0
  return np.array(
    [
      sign * optimize.linprog(sign * c, method="highs", **program).fun
      for c in np.asarray(costs, np.float64)
    ]
  )


@pytest.mark.parametrize("mode", ["eager", "xla"])
@pytest.mark.parametrize("maximize", [False, True])
def test_equals_highs_on_random_feasible_bounded_programs(mode, maximize, rng):
  # n = 40, 20 inequalities, 10 equalities, boxes; costs vary per row.
  program = random_program(rng)
  costs = rng.normal(size=(48, 40)).astype(np.float32)
  lp = ptf.solvers.LinearProgram(**program, maximize=maximize, method="pdlp")
  solve = lp.solve_with_status
  if mode == "xla":
    solve = tf.function(solve, jit_compile=True)
  x, status = solve(tf.constant(costs))
  x = x.numpy().astype(np.float64)
  assert (status.numpy() == STATUS["converged"]).all()
  objective = np.sum(costs * x, 1)
  reference = highs_objectives(program, costs, maximize)
  np.testing.assert_array_less(
    np.abs(objective - reference) / np.maximum(np.abs(reference), 1.0), 1e-4
  )
  scale = np.abs(np.concatenate([program["b_ub"], program["b_eq"]])).max()
  assert np.maximum(x @ program["A_ub"].T - program["b_ub"], 0).max() <= (
    1e-4 * scale
  )
  assert np.abs(x @ program["A_eq"].T - program["b_eq"]).max() <= 1e-4 * scale
  assert x.min() >= 0 and x.max() <= 1  # Bounds hold exactly (projected).


def test_statuses_of_infeasible_unbounded_and_unfinished_rows():
  # Free variables, x0 + x1 ≤ 1: unbounded for costs of any sign.
  free = ptf.solvers.LinearProgram(
    A_ub=[[1.0, 1.0]], b_ub=[1.0], bounds=(None, None), method="pdlp"
  )
  _, status = free.solve_with_status(tf.constant([[-1.0, -2.0], [1.0, 1.0]]))
  assert (status.numpy() == STATUS["dual_infeasible"]).all()
  # x0 + x1 ≤ −1 with x ≥ 0: no point at all.
  empty = ptf.solvers.LinearProgram(
    A_ub=[[1.0, 1.0]], b_ub=[-1.0], method="pdlp"
  )
  _, status = empty.solve_with_status(tf.constant([[1.0, 1.0], [0.0, 2.0]]))
  assert (status.numpy() == STATUS["primal_infeasible"]).all()
  # Too few iterations: the last iterate, flagged.
  rng = np.random.default_rng(1)
  short = ptf.solvers.LinearProgram(
    **random_program(rng), method="pdlp", max_iterations=64
  )
  x, status = short.solve_with_status(rng.normal(size=(4, 40)))
  assert (status.numpy() == STATUS["iteration_limit"]).all()
  assert np.isfinite(x.numpy()).all()


def test_the_policy_for_rows_that_fail():
  empty = ptf.solvers.LinearProgram(
    A_ub=[[1.0, 1.0]], b_ub=[-1.0], method="pdlp"
  )
  costs = tf.constant([[1.0, 1.0]])
  # An error in words in eager mode (HiGHS's types) and tf.function (the
  # rows and their statuses); NaN under XLA (no assertions).
  with pytest.raises(ptf.solvers.InfeasibleProgramError, match="examples 0 "):
    empty(costs)
  with pytest.raises(
    tf.errors.InvalidArgumentError, match=r"(?s)no optimum.*\[0\].*\[2\]"
  ):
    tf.function(empty)(costs)
  assert np.isnan(tf.function(empty, jit_compile=True)(costs)).all()
  free = ptf.solvers.LinearProgram(
    A_ub=[[1.0, 1.0]], b_ub=[1.0], bounds=(None, 1), method="pdlp"
  )  # Unbounded below for costs with a positive entry.
  with pytest.raises(
    ptf.solvers.UnsolvedProgramError, match="unbounded .* examples 1 of"
  ):
    free(tf.constant([[-1.0, -1.0], [1.0, -1.0]]))
  # Unfinished rows are counted by a metric beside the loss.
  rng = np.random.default_rng(2)
  program = random_program(rng)
  metric = ptf.metrics.ConvergedFraction(
    ptf.solvers.LinearProgram(**program, method="pdlp", max_iterations=64)
  )
  metric.update_state(None, rng.normal(size=(8, 40)))
  assert float(metric.result()) == 0.0
  metric = ptf.metrics.ConvergedFraction(
    ptf.solvers.LinearProgram(**program, method="pdlp")
  )
  metric.update_state(None, rng.normal(size=(8, 40)))
  assert float(metric.result()) == 1.0
  with pytest.raises(ValueError, match="solve_with_status"):
    ptf.metrics.ConvergedFraction("argmax")


def flow_program(grid=(5, 5), **kwargs):
  a_eq, b_eq = ptf.solvers.grid_flow_constraints(grid)
  return ptf.solvers.LinearProgram(
    A_eq=a_eq, b_eq=b_eq, bounds=(0, 1), method="pdlp", **kwargs
  )


def test_pyepos_shortest_path_as_a_flow_program():
  _, c = ptf.data.shortest_path_data(
    300, 5, (5, 5), deg=6, noise_width=0.5, seed=0
  )
  flow = flow_program()
  assert flow.maximize is False
  x = tf.function(flow, jit_compile=True)(tf.constant(c)).numpy()
  exact = ptf.solvers.grid_arc_shortest_path(c, grid=(5, 5)).numpy()
  rounded = np.round(x)
  optimal = np.isclose(np.sum(c * rounded, 1), np.sum(c * exact, 1), rtol=1e-5)
  # Rounded paths are paths (flow conservation), and optimal.
  a_eq, b_eq = ptf.solvers.grid_flow_constraints((5, 5))
  assert np.allclose(rounded @ a_eq.T, b_eq)
  assert optimal.mean() >= 0.99


def test_losses_and_layers_over_it_train_under_xla():
  x, c = ptf.data.shortest_path_data(
    200, 5, (3, 3), deg=4, noise_width=0.5, seed=1
  )
  flow = flow_program((3, 3))
  grid = {"name": "grid_arc_shortest_path", "kwargs": {"grid": (3, 3)}}
  data = ptf.data.make_dataset(x, c, grid, batch_size=25, seed=0)
  for loss in (
    ptf.losses.SPOPlusLoss(flow),
    ptf.losses.FenchelYoungLoss(flow, num_samples=3, sigma=1.0, seed=0),
  ):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(12)])
    model.compile(
      keras.optimizers.Adam(0.05),
      loss=loss,
      metrics=[ptf.metrics.NormalizedRegret(grid)],
    )
    assert model.jit_compile is False  # No GPU here: Keras's own choice.
    model.compile(
      keras.optimizers.Adam(0.05),
      loss=loss,
      jit_compile=True,
      metrics=[ptf.metrics.NormalizedRegret(grid)],
    )
    assert model.jit_compile is True  # TF-native: XLA allowed.
    before = model.evaluate(data, verbose=0, return_dict=True)
    model.fit(data, epochs=4, verbose=0)
    after = model.evaluate(data, verbose=0, return_dict=True)
    assert after["normalized_regret"] < 0.5 * before["normalized_regret"]


def test_settings_serialise_and_bad_settings_raise():
  lp = flow_program((2, 3), tolerance=1e-5, max_iterations=500)
  copy = serialization.round_trip(lp)
  assert (copy.method, copy.tolerance, copy.max_iterations) == (
    "pdlp",
    1e-5,
    500,
  )
  assert (
    copy.supports_jit
    and not ptf.solvers.LinearProgram(A_ub=[[1.0]], b_ub=[1.0]).supports_jit
  )
  with pytest.raises(ValueError, match="integrality needs method='highs'"):
    ptf.solvers.LinearProgram(
      A_ub=[[1.0]], b_ub=[1.0], integrality=[1], method="pdlp"
    )
  with pytest.raises(ValueError, match="method must be one of"):
    ptf.solvers.LinearProgram(A_ub=[[1.0]], b_ub=[1.0], method="simplex")
  with pytest.raises(ValueError, match="tolerance must be a positive"):
    ptf.solvers.LinearProgram(
      A_ub=[[1.0]], b_ub=[1.0], method="pdlp", tolerance=0
    )


def test_preconditioning_equilibrates_and_the_step_is_stable(rng):
  program = random_program(rng)
  prepared = pdlp_program.prepare(
    Program.of(**{k: v for k, v in program.items()})
  )
  arrays = prepared.arrays
  k = arrays["matrix"]
  # K̃ = D_r K D_c, and η·‖K̃‖ < 1: the condition of PDHG's convergence.
  np.testing.assert_allclose(
    k,
    arrays["original"] * arrays["row_scale"][:, None] * arrays["col_scale"],
    1e-12,
  )
  assert arrays["step"] * np.linalg.norm(k, 2) < 1.0
  row_norms = np.abs(k).max(1)
  original = np.abs(arrays["original"]).max(1)
  assert row_norms.max() / row_norms.min() < original.max() / original.min()


NETLIB = os.path.join(
  os.path.dirname(__file__), os.pardir, "benchmarks", "netlib"
)


def worst_row(lp, x):
  """`max_i |a_iᵀx − b_i| / (1 + |b_i|)` (inequalities: the violation)."""
  p = lp.constraints()
  return np.concatenate(
    [
      np.maximum(p.A_ub @ x - p.b_ub, 0) / (1 + np.abs(p.b_ub)),
      np.abs(p.A_eq @ x - p.b_eq) / (1 + np.abs(p.b_eq)),
      [0.0],
    ]
  ).max()


@pytest.mark.parametrize("name", ["afiro", "sc50b", "blend", "share2b"])
def test_converged_means_every_row_holds_on_netlib(name):
  # Netlib's LPs from their MPS files (share2b does not converge within the
  # default 20,000 iterations: it must say so).
  path = os.path.join(NETLIB, f"{name}.mps")
  path = path if os.path.exists(path) else path + ".gz"
  with open(os.path.join(NETLIB, "optima.json"), encoding="utf-8") as f:
    optimum = json.load(f)[name]
  lp = ptf.solvers.LinearProgram.from_mps(path, method="pdlp")
  solution = lp.solve_with_info(lp.costs[None])
  x = solution.x.numpy()[0]
  status = int(solution.status[0])
  worst = worst_row(lp, x)
  # The residual the solver reports is the one computed here.
  np.testing.assert_allclose(solution.primal_residual[0], worst, rtol=1e-6)
  if status == STATUS["converged"]:
    assert worst <= lp.tolerance
    value = lp.costs @ x + lp.objective_offset
    assert abs(value - optimum) <= 1e-5 * max(1.0, abs(optimum))
  else:
    assert name == "share2b" and status == STATUS["iteration_limit"]
    assert max(worst, solution.dual_residual[0], solution.gap[0]) > (
      lp.tolerance
    )
  assert (name == "share2b") == (status != STATUS["converged"])


@pytest.mark.parametrize("method", ["pdlp", "highs"])
def test_the_same_solutions_at_any_scale(method, rng):
  # Costs, right-hand sides and bounds scaled by 1e-8 … 1e8: the same
  # vertices (divided by the data's scale), every row converged.
  program = random_program(rng, n=8, m_ub=4, m_eq=2)
  costs = rng.normal(size=(6, 8))
  solutions = {}
  for cost_scale, data_scale in itertools.product((1e-8, 1.0, 1e8), repeat=2):
    lp = ptf.solvers.LinearProgram(
      A_ub=program["A_ub"],
      b_ub=program["b_ub"] * data_scale,
      A_eq=program["A_eq"],
      b_eq=program["b_eq"] * data_scale,
      bounds=(0, data_scale),
      method=method,
    )
    x, status = lp.solve_with_status(costs * cost_scale)
    assert (status.numpy() == STATUS["converged"]).all()
    solutions[cost_scale, data_scale] = x.numpy() / data_scale
  reference = solutions[1.0, 1.0]
  objective = np.sum(costs * reference, 1)
  for x in solutions.values():
    np.testing.assert_allclose(np.sum(costs * x, 1), objective, atol=1e-5)


def test_presolve_bounds_only_empty_rows_and_fixed_variables():
  # What HiGHS answers, for programs the presolve reshapes.
  costs = np.array([[1.0, -1.0, 2.0], [-1.0, 1.0, -0.5], [0.0, 0.0, 1.0]])
  programs = [
    dict(bounds=[(0, 1), (-2, 3), (-1, 4)]),  # Bounds only.
    dict(  # An empty row (0 = 0) and a fixed variable.
      A_eq=[[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]],
      b_eq=[0.0, 1.0],
      bounds=[(0, 1), (0.25, 0.25), (0, 1)],
    ),
    dict(  # Every variable fixed: the rows empty, and satisfied.
      A_ub=[[1.0, 2.0, 0.0]], b_ub=[3.0], bounds=[(1, 1), (0.5, 0.5), (2, 2)]
    ),
  ]
  for program in programs:
    pdlp_lp = ptf.solvers.LinearProgram(**program, method="pdlp")
    x, status = pdlp_lp.solve_with_status(costs)
    assert (status.numpy() == STATUS["converged"]).all()
    exact = ptf.solvers.LinearProgram(**program)(costs).numpy()
    np.testing.assert_allclose(
      np.sum(costs * x.numpy(), 1), np.sum(costs * exact, 1), atol=1e-5
    )
  # Unbounded along a free bound; infeasible empty rows (0 = 1, 0 ≤ −1).
  free = ptf.solvers.LinearProgram(bounds=[(0, 1), (None, 1)], method="pdlp")
  _, status = free.solve_with_status([[1.0, 1.0], [1.0, -1.0]])
  assert status.numpy().tolist() == [STATUS["dual_infeasible"], 0]
  for program in (
    dict(A_eq=[[0.0, 0.0]], b_eq=[1.0]),
    dict(A_ub=[[0.0, 0.0]], b_ub=[-1.0]),
    dict(A_ub=[[1.0, 1.0]], b_ub=[1.0], bounds=[(1, 1), (0.5, 0.5)]),
  ):
    lp = ptf.solvers.LinearProgram(**program, method="pdlp")
    _, status = lp.solve_with_status([[1.0, 1.0]])
    assert status.numpy().tolist() == [STATUS["primal_infeasible"]]
    with pytest.raises(ptf.solvers.InfeasibleProgramError):
      lp([[1.0, 1.0]])


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_low_precision_costs_are_solved_in_float64(dtype):
  plan = dict(A_ub=[[1.0, 1.0]], b_ub=[2e3], bounds=(0, 1e3), maximize=True)
  lp = ptf.solvers.LinearProgram(**plan, method="pdlp")
  x = lp(tf.constant([[1.0, 2.0]], dtype))
  assert x.dtype == dtype
  np.testing.assert_allclose(x.numpy().astype(np.float64), [[1e3, 1e3]])
  # Beyond the dtype's range: an error, not inf.
  big = ptf.solvers.LinearProgram(
    A_ub=[[1.0, 1.0]],
    b_ub=[2e5],
    bounds=(0, 1e5),
    maximize=True,
    method="pdlp",
  )
  if dtype == "bfloat16":  # Its range is float32's.
    assert np.isfinite(big(tf.constant([[1.0, 1.0]], dtype))).all()
    return
  with pytest.raises(tf.errors.InvalidArgumentError, match="range of float16"):
    big(tf.constant([[1.0, 1.0]], dtype))
  with pytest.raises(tf.errors.InvalidArgumentError, match="range of float16"):
    tf.function(big)(tf.constant([[1.0, 1.0]], dtype))


def test_programs_of_one_shape_share_one_compiled_solver(rng, caplog):
  pdlp_solver._compiled.cache_clear()
  first = ptf.solvers.LinearProgram(**random_program(rng), method="pdlp")
  other = ptf.solvers.LinearProgram(
    **random_program(rng), method="pdlp", tolerance=1e-4, max_iterations=900
  )
  with caplog.at_level(logging.WARNING):
    for lp in (first, other):
      # Buckets 8, 8, 8, 4, 4, 1, 2, 16, 32: six shapes, six traces.
      for batch in (5, 6, 8, 3, 4, 1, 2, 16, 30):
        lp.solve_with_status(rng.normal(size=(batch, 40)))
  info = pdlp_solver._compiled.cache_info()
  assert (info.misses, info.hits) == (6, 12)
  for bucket in (1, 2, 4, 8, 16, 32):
    solver = pdlp_solver._compiled((30, 40, bucket), pdlp.Options())
    assert solver.experimental_get_tracing_count() == 1
  assert "retracing" not in caplog.text


def assert_warm_start_pays(warm, cold, costs):
  """Every warm row converged, in fewer iterations (0.8× the cold mean),
  to the cold objective."""
  assert (warm.status.numpy() == STATUS["converged"]).all()
  assert np.mean(warm.iterations) < 0.8 * np.mean(cold.iterations)
  np.testing.assert_allclose(
    np.sum(costs * warm.x.numpy(), 1),
    np.sum(costs * cold.x.numpy(), 1),
    rtol=1e-5,
  )


def test_warm_starts_take_fewer_iterations_to_the_same_answer(rng):
  lp = ptf.solvers.LinearProgram(**random_program(rng), method="pdlp")
  costs = rng.normal(size=(32, 40))
  nearby = costs + 0.01 * rng.normal(size=costs.shape)
  previous = lp.solve_with_info(costs)
  cold = lp.solve_with_info(nearby)
  warm = lp.solve_with_info(nearby, initial=previous)
  assert_warm_start_pays(warm, cold, nearby)
  with pytest.raises(ValueError, match="HiGHS's solutions are exact"):
    ptf.solvers.LinearProgram(**random_program(rng)).solve_with_info(costs)


def test_a_memory_of_solutions_warm_starts_each_row_from_the_nearest(rng):
  program = random_program(rng)
  costs = rng.normal(size=(32, 40))
  shuffled = rng.permutation(32)
  # The same instances a little changed, in another order and magnitude.
  nearby = 1e3 * (costs + 0.01 * rng.normal(size=costs.shape))[shuffled]
  cold = ptf.solvers.LinearProgram(**program, method="pdlp")
  lp = ptf.solvers.LinearProgram(**program, method="pdlp", warm_starts=64)
  assert serialization.round_trip(lp).get_config()["warm_starts"] == 64
  first = lp.solve_with_info(costs)
  np.testing.assert_array_equal(  # An empty memory starts from 0.
    first.iterations, cold.solve_with_info(costs).iterations
  )
  reference = cold.solve_with_info(nearby)
  # Under XLA too: the memory's variables are read and written in the
  # compiled graph.
  warm = tf.function(lp.solve_with_info, jit_compile=True)(tf.constant(nearby))
  assert_warm_start_pays(warm, reference, nearby)
  # Each row started from its own instance's solution: its start was
  # already near its answer.
  _, y0 = lp._backend.memory.starts(tf.constant(costs[shuffled]))
  np.testing.assert_allclose(
    y0, first.y.numpy()[shuffled], rtol=1e-9, atol=1e-12
  )


def test_the_memory_is_a_ring_of_the_latest_rows():
  memory = pdlp_memory.WarmStartMemory(2, columns=2, rows=1)
  rows = tf.constant([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]], tf.float64)
  memory.remember(rows, rows, tf.constant([[1.0], [2.0], [3.0]], tf.float64))
  # A batch larger than the memory keeps its last rows.
  x0, y0 = memory.starts(rows)
  np.testing.assert_array_equal(x0, [[0, 1], [0, 1], [-1, 0]])
  np.testing.assert_array_equal(y0, [[2], [2], [3]])
  memory.remember(rows[:1], rows[:1], tf.constant([[4.0]], tf.float64))
  x0, _ = memory.starts(rows)  # [0, 1] was the oldest: overwritten.
  np.testing.assert_array_equal(x0, [[1, 0], [1, 0], [-1, 0]])


def test_warm_starts_need_pdlp():
  with pytest.raises(ValueError, match="warm_starts applies to method='pdlp'"):
    ptf.solvers.LinearProgram(A_ub=[[1.0]], b_ub=[1.0], warm_starts=8)
  with pytest.raises(ValueError, match="warm_starts must be a positive"):
    ptf.solvers.LinearProgram(
      A_ub=[[1.0]], b_ub=[1.0], method="pdlp", warm_starts=-1
    )
