"""Differentiable ops over solvers, the function forms of the layers.

| op | its layer | paper |
|---|---|---|
| `perturbed` | `Perturbed` (and `PerturbedArgmax` …) | Berthet et al. (2020) |
| `blackbox` | `Blackbox` (DBB) | Vlastelica et al. (2020) |
| `negative_identity` | `NegativeIdentity` (NID) | Sahoo et al. (2023) |
| `imle` | `IMLE`, `AIMLE` | Niepert et al. (2021) |
| `regularized_frank_wolfe` | `RegularizedFrankWolfe` | Dalle et al. (2022) |
| `soft_argmax` | `SoftArgmax`, `SparseArgmax` | Martins & Astudillo (2016) |
| `soft_rank`, `soft_sort` | `SoftRank`, `SoftSort` | Blondel et al. (2020) |
"""

from perturbations_tf._src.blackbox import blackbox
from perturbations_tf._src.blackbox import negative_identity
from perturbations_tf._src.frank_wolfe import regularized_frank_wolfe
from perturbations_tf._src.imle import imle
from perturbations_tf._src.perturbed import perturbed
from perturbations_tf._src.soft_sort import soft_argmax
from perturbations_tf._src.soft_sort import soft_rank
from perturbations_tf._src.soft_sort import soft_sort

__all__ = [
  "blackbox",
  "imle",
  "negative_identity",
  "perturbed",
  "regularized_frank_wolfe",
  "soft_argmax",
  "soft_rank",
  "soft_sort",
]
