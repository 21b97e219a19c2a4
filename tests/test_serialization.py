"""Every public Keras class of the library (layers, losses, metrics and the
solver objects) serialises, through the one harness."""

import importlib
import inspect

import numpy as np
import pytest

import perturbations_tf as ptf
from tests import serialization

ARCS = {"name": "grid_arc_shortest_path", "kwargs": {"grid": [3, 3]}}


def _cache():
  return ptf.solvers.SolutionCache(ARCS, shape=(12,), seed=0)


def _flow_lp():
  a_eq, b_eq = ptf.solvers.grid_flow_constraints((3, 3))
  return ptf.solvers.LinearProgram(A_eq=a_eq, b_eq=b_eq, bounds=(0, 1))


# One instance of every public class that Keras serialises, with settings
# away from the defaults where it has any.
INSTANCES = {
  "layers.AIMLE": lambda: ptf.layers.AIMLE("argmax", target_density=0.5),
  "layers.Blackbox": lambda: ptf.layers.Blackbox(ARCS, lam=5.0),
  "layers.IMLE": lambda: ptf.layers.IMLE(ARCS, num_samples=4, lam=5.0),
  "layers.NegativeIdentity": lambda: ptf.layers.NegativeIdentity(ARCS),
  "layers.Perturbed": lambda: ptf.layers.Perturbed(
    "ranks", num_samples=20, sigma=0.5, noise="gumbel", seed=1
  ),
  "layers.PerturbedArgmax": lambda: ptf.layers.PerturbedArgmax(seed=1),
  "layers.PerturbedRanks": lambda: ptf.layers.PerturbedRanks(antithetic=True),
  "layers.PerturbedShortestPath": lambda: ptf.layers.PerturbedShortestPath(4),
  "layers.PerturbedSort": lambda: ptf.layers.PerturbedSort("DESCENDING"),
  "layers.PerturbedTopK": lambda: ptf.layers.PerturbedTopK(k=2),
  "layers.RegularizedFrankWolfe": lambda: ptf.layers.RegularizedFrankWolfe(
    "argmax", lam=2.0
  ),
  "layers.SoftArgmax": lambda: ptf.layers.SoftArgmax("l2", 0.5),
  "layers.SoftRank": lambda: ptf.layers.SoftRank("kl", 0.3),
  "layers.SoftSort": lambda: ptf.layers.SoftSort(regularization_strength=2.0),
  "layers.SparseArgmax": lambda: ptf.layers.SparseArgmax(0.2),
  "losses.CMAPLoss": lambda: ptf.losses.CMAPLoss(_cache()),
  "losses.ClosedFormFenchelYoungLoss": lambda: (
    ptf.losses.ClosedFormFenchelYoungLoss(ptf.layers.SoftRank("kl", 0.3))
  ),
  "losses.CaVELoss": lambda: ptf.losses.CaVELoss(_flow_lp(), interior=0.01),
  "losses.DecisionLoss": lambda: ptf.losses.DecisionLoss(
    ptf.layers.IMLE(ARCS, num_samples=4, lam=5.0), "solution", "l2"
  ),
  "losses.FenchelYoungLoss": lambda: ptf.losses.FenchelYoungLoss(
    "top_k", 10, 0.2, "gumbel", seed=3
  ),
  "losses.ImitationLoss": lambda: ptf.losses.ImitationLoss(
    ARCS, 5, 0.2, alpha=2.0, margin=0.5, seed=3
  ),
  "losses.LeastSquaresLoss": lambda: ptf.losses.LeastSquaresLoss(name="ls"),
  "losses.ListwiseLTRLoss": lambda: ptf.losses.ListwiseLTRLoss(
    _cache(), temperature=0.5
  ),
  "losses.NCELoss": lambda: ptf.losses.NCELoss(_cache()),
  "losses.PGLoss": lambda: ptf.losses.PGLoss(ARCS, h=0.2, central=False),
  "losses.PairwiseLTRLoss": lambda: ptf.losses.PairwiseLTRLoss(
    _cache(), margin=0.1
  ),
  "losses.PointwiseLTRLoss": lambda: ptf.losses.PointwiseLTRLoss(_cache()),
  "losses.RegularizedFenchelYoungLoss": (
    lambda: ptf.losses.RegularizedFenchelYoungLoss(ARCS, lam=2.0)
  ),
  "losses.SPOPlusLoss": lambda: ptf.losses.SPOPlusLoss(ARCS, name="spo"),
  "losses.StructuredSVMLoss": lambda: ptf.losses.StructuredSVMLoss(
    ARCS, alpha=0.5
  ),
  "metrics.ConvergedFraction": lambda: ptf.metrics.ConvergedFraction(
    ptf.solvers.LinearProgram(A_ub=[[1.0, 1.0]], b_ub=[1.0], method="pdlp")
  ),
  "metrics.ExactMatchAccuracy": lambda: ptf.metrics.ExactMatchAccuracy(
    "ranks", tolerance=0.1
  ),
  "metrics.HammingAccuracy": lambda: ptf.metrics.HammingAccuracy("ranks"),
  "metrics.NormalizedRegret": lambda: ptf.metrics.NormalizedRegret(ARCS),
  "metrics.ProjectionAccuracy": lambda: ptf.metrics.ProjectionAccuracy("ranks"),
  "metrics.Regret": lambda: ptf.metrics.Regret(ARCS, name="r"),
  "metrics.SpearmanCorrelation": lambda: ptf.metrics.SpearmanCorrelation(),
  "metrics.UnambiguousRegret": lambda: ptf.metrics.UnambiguousRegret(
    ARCS, tolerance=1e-3
  ),
  "solvers.Knapsack": lambda: ptf.solvers.Knapsack([[3.0, 4.0, 5.0]], [8.0]),
  "solvers.LinearProgram": _flow_lp,
  "solvers.NumpySolver": lambda: ptf.solvers.numpy_solver(
    ptf.solvers.argmax, num_workers=2
  ),
  "solvers.Portfolio": lambda: ptf.solvers.Portfolio(np.eye(3), gamma=2.0),
  "solvers.SolutionCache": _cache,
  "solvers.TSP": lambda: ptf.solvers.TSP(5, time_limit=10.0),
}


def _public_classes():
  for namespace in ("layers", "losses", "metrics", "solvers"):
    module = importlib.import_module(f"perturbations_tf.{namespace}")
    for name in module.__all__:
      obj = getattr(module, name)
      if inspect.isclass(obj) and hasattr(obj, "get_config"):
        yield f"{namespace}.{name}"


def test_every_public_class_is_covered():
  assert sorted(_public_classes()) == sorted(INSTANCES)


@pytest.mark.parametrize("name", sorted(INSTANCES))
def test_round_trip(name):
  obj = INSTANCES[name]()
  copy = serialization.round_trip(obj)
  if hasattr(obj, "maximize"):
    assert copy.maximize == obj.maximize
