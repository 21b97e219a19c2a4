"""Keras layers over solvers: perturbed optimizers, surrogate gradients
(DBB, NID), I-MLE, and the solution cache.

All are deterministic at inference and stochastic in training; all
serialise."""

from perturbations_tf._src.blackbox import Blackbox
from perturbations_tf._src.blackbox import NegativeIdentity
from perturbations_tf._src.imle import IMLE
from perturbations_tf._src.layers import Perturbed
from perturbations_tf._src.layers import PerturbedArgmax
from perturbations_tf._src.layers import PerturbedRanks
from perturbations_tf._src.layers import PerturbedShortestPath
from perturbations_tf._src.layers import PerturbedSort
from perturbations_tf._src.layers import PerturbedTopK
from perturbations_tf._src.solution_cache import SolutionCache

__all__ = [
  "Blackbox",
  "IMLE",
  "NegativeIdentity",
  "Perturbed",
  "PerturbedArgmax",
  "PerturbedRanks",
  "PerturbedShortestPath",
  "PerturbedSort",
  "PerturbedTopK",
  "SolutionCache",
]
