"""PyEPO's synthetic problems, number for number, and data sets solved once.

`shortest_path`, `knapsack`, `tsp` and `portfolio` equal PyEPO 2.2.7's
`genData` for any seed and setting; `make_dataset` yields
`(x, stack_targets(c, w*))` batches for any loss and metric of the library.
"""

from perturbations_tf._src.data import knapsack
from perturbations_tf._src.data import make_dataset
from perturbations_tf._src.data import optimal_solutions
from perturbations_tf._src.data import portfolio
from perturbations_tf._src.data import shortest_path
from perturbations_tf._src.data import tsp
from perturbations_tf._src.targets import stack_targets
from perturbations_tf._src.tsp import tsp_edges

__all__ = [
  "knapsack",
  "make_dataset",
  "optimal_solutions",
  "portfolio",
  "shortest_path",
  "stack_targets",
  "tsp",
  "tsp_edges",
]
