"""Keras layers over solvers: perturbed optimizers, surrogate gradients
(DBB, NID), I-MLE and adaptive I-MLE, the regularised Frank–Wolfe
optimizer, and the closed-form regularised argmax, ranks and sort
(`SoftArgmax`, `SparseArgmax`, `SoftRank`, `SoftSort`); their function
forms are in `ptf.ops`.

All are deterministic at inference (the perturbed ones stochastic in
training); all serialise."""

from perturbations_tf._src import deprecation as _deprecation
from perturbations_tf._src.blackbox import Blackbox
from perturbations_tf._src.blackbox import NegativeIdentity
from perturbations_tf._src.frank_wolfe import RegularizedFrankWolfe
from perturbations_tf._src.imle import AIMLE
from perturbations_tf._src.imle import IMLE
from perturbations_tf._src.layers import Perturbed
from perturbations_tf._src.layers import PerturbedArgmax
from perturbations_tf._src.layers import PerturbedRanks
from perturbations_tf._src.layers import PerturbedShortestPath
from perturbations_tf._src.layers import PerturbedSort
from perturbations_tf._src.layers import PerturbedTopK
from perturbations_tf._src.regularized_layers import SoftArgmax
from perturbations_tf._src.regularized_layers import SoftRank
from perturbations_tf._src.regularized_layers import SoftSort
from perturbations_tf._src.regularized_layers import SparseArgmax

__all__ = [
  "AIMLE",
  "Blackbox",
  "IMLE",
  "NegativeIdentity",
  "Perturbed",
  "PerturbedArgmax",
  "PerturbedRanks",
  "PerturbedShortestPath",
  "PerturbedSort",
  "PerturbedTopK",
  "RegularizedFrankWolfe",
  "SoftArgmax",
  "SoftRank",
  "SoftSort",
  "SparseArgmax",
]

__getattr__ = _deprecation.aliases(
  "ptf.layers", {"SolutionCache": "perturbations_tf.solvers:SolutionCache"}
)
