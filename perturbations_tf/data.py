"""PyEPO's synthetic problems, number for number, and data sets solved once.

`shortest_path_data`, `knapsack_data`, `tsp_data` and `portfolio_data`
equal PyEPO 2.2.7's `genData` for any seed and setting; `make_dataset`
yields `(x, stack_targets(c, w*))` batches for any loss and metric of the
library; `knn_targets` smooths noisy costs over feature-space neighbours.
"""

from perturbations_tf._src import deprecation as _deprecation
from perturbations_tf._src.data import knapsack_data
from perturbations_tf._src.data import knn_targets
from perturbations_tf._src.data import make_dataset
from perturbations_tf._src.data import optimal_solutions
from perturbations_tf._src.data import portfolio_data
from perturbations_tf._src.data import shortest_path_data
from perturbations_tf._src.data import tsp_data
from perturbations_tf._src.targets import stack_targets

__all__ = [
  "knapsack_data",
  "knn_targets",
  "make_dataset",
  "optimal_solutions",
  "portfolio_data",
  "shortest_path_data",
  "stack_targets",
  "tsp_data",
]

# 0.2.0's names: the generators were named as the solvers of `ptf.solvers`.
__getattr__ = _deprecation.aliases(
  "ptf.data",
  {
    "knapsack": "perturbations_tf.data:knapsack_data",
    "portfolio": "perturbations_tf.data:portfolio_data",
    "shortest_path": "perturbations_tf.data:shortest_path_data",
    "tsp": "perturbations_tf.data:tsp_data",
    "tsp_edges": "perturbations_tf.solvers:tsp_edges",
  },
)
