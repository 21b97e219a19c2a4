"""TSP returns the optimal tour of every row (against all tours, for any
costs' sign), in PyEPO's edge order, in graphs, on worker processes;
serialises, trains SPO+ to lower regret, and names bad input."""

import itertools

import numpy as np
import pytest
import tensorflow as tf

import perturbations_tf as ptf
from perturbations_tf.solvers import tsp_edges
from tests import serialization
from tests import training


def all_tours(n: int) -> np.ndarray:
  """Every tour of the complete graph on n nodes as 0/1 edge vectors."""
  index = {e: k for k, e in enumerate(tsp_edges(n))}
  tours = set()
  for order in itertools.permutations(range(1, n)):
    cycle = (0, *order, 0)
    tour = np.zeros(len(index))
    for a, b in zip(cycle, cycle[1:]):
      tour[index[(min(a, b), max(a, b))]] = 1
    tours.add(tuple(tour))
  return np.array(sorted(tours))


@pytest.mark.parametrize("num_nodes", [4, 5, 7])
def test_equals_the_best_of_all_tours(num_nodes, rng):
  # PyEPO's costs, costs of both signs (SPO+'s 2ĉ − c, noise) and
  # integer costs with ties.
  tours = all_tours(num_nodes)
  assert len(tours) == np.prod(range(1, num_nodes)) // 2  # (n − 1)!/2.
  e = len(tsp_edges(num_nodes))
  _, c = ptf.data.tsp_data(20, 5, num_nodes, deg=4, noise_width=0.5, seed=1)
  costs = np.concatenate(
    [c, rng.normal(size=(20, e)), rng.integers(0, 3, (20, e))]
  ).astype(np.float64)
  solved = ptf.solvers.TSP(num_nodes)(tf.constant(costs)).numpy()
  assert solved.dtype == np.float64
  for cost, tour in zip(costs, solved):
    assert any(np.array_equal(tour, t) for t in tours)  # A tour.
    assert cost @ tour == pytest.approx(np.min(tours @ cost), abs=1e-9)


def test_pyepos_edge_order_and_the_tour_order():
  # PyEPO's tspABBase: itertools.combinations of the nodes.
  assert tsp_edges(6) == list(itertools.combinations(range(6), 2))
  assert ptf.solvers.tsp_edges is tsp_edges
  # The pentagon's sides are the shortest tour; read back in order.
  angle = 2 * np.pi * np.array([0, 2, 4, 1, 3]) / 5
  points = np.stack([np.cos(angle), np.sin(angle)], 1)
  i, j = np.array(tsp_edges(5)).T
  lengths = np.linalg.norm(points[i] - points[j], axis=1)
  tour = ptf.solvers.TSP(5)(tf.constant([lengths], tf.float32)).numpy()[0]
  assert ptf.solvers.TSP.tour(tour, 5) == [0, 2, 4, 1, 3]  # Round the circle.
  triangles = {(0, 1), (0, 2), (1, 2), (3, 4), (3, 5), (4, 5)}
  two_triangles = np.array([e in triangles for e in tsp_edges(6)], float)
  for not_a_tour in (two_triangles, np.eye(15)[0]):
    with pytest.raises(ValueError, match="not a tour of all 6 nodes"):
      ptf.solvers.TSP.tour(not_a_tour, 6)


def test_in_a_graph_and_on_worker_processes():
  _, c = ptf.data.tsp_data(12, 5, 8, seed=2)
  threads = ptf.solvers.TSP(8)
  expected = threads(tf.constant(c)).numpy()
  np.testing.assert_array_equal(tf.function(threads)(c).numpy(), expected)
  processes = ptf.solvers.TSP(8, executor="processes", num_workers=2)
  try:
    np.testing.assert_array_equal(processes.solve(c), expected)
  finally:
    processes.close()
  with pytest.raises(ValueError, match="XLA|host"):
    tf.function(threads, jit_compile=True)(c)


def test_serialises_and_spo_plus_lowers_the_regret():
  solver = ptf.solvers.TSP(8, time_limit=10.0)
  copy = serialization.round_trip(solver)
  assert copy.num_nodes == 8 and copy.maximize is False
  x, c = ptf.data.tsp_data(300, 5, 8, deg=4, noise_width=0.5, seed=0)
  before, after = training.spo_plus_regret_before_and_after(
    solver, x, c, num_train=200, epochs=4, learning_rate=0.05
  )
  assert after < 0.5 * before


def test_names_bad_input():
  with pytest.raises(ValueError, match="num_nodes >= 3"):
    ptf.solvers.TSP(2)
  with pytest.raises(ValueError, match="time_limit"):
    ptf.solvers.TSP(5, time_limit=0)
  with pytest.raises(ValueError, match=r"shape \[batch, 10\]"):
    ptf.solvers.TSP(5)(tf.zeros([2, 9]))
  with pytest.raises(tf.errors.OpError, match="finite costs"):
    tf.function(ptf.solvers.TSP(5))(tf.constant([[np.nan] * 10]))


def test_solves_leave_the_process_warning_filters_alone(monkeypatch):
  """scipy checks a dense constraint matrix under an "error" warnings
  filter, process-wide: on a solver thread it turned a warning of the
  training loop into an exception. TSP and MILPs give it none."""
  from scipy.optimize import _constraints

  def refuse(*args, **kwargs):
    raise AssertionError("a solve entered scipy's catch_warnings()")

  monkeypatch.setattr(_constraints, "catch_warnings", refuse)
  _, c = ptf.data.tsp_data(4, 5, 8, seed=3)
  assert ptf.solvers.TSP(8).solve(c).sum() == 4 * 8
  milp = ptf.solvers.LinearProgram(
    A_ub=[[3.0, 4.0, 5.0]],
    b_ub=[8.0],
    A_eq=[[1.0, 0.0, 1.0]],
    b_eq=[1.0],
    bounds=(0, 1),
    integrality=[1, 1, 1],
    maximize=True,
  )
  np.testing.assert_array_equal(milp.solve([[1.0, 1.0, 2.0]]), [[0, 0, 1]])
