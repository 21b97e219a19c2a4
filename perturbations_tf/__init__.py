"""perturbations_tf: differentiable perturbed optimizers for TensorFlow/Keras.

Every public object has one home, in one of seven namespaces, as Keras's:
`ptf.ops` (the differentiable ops: `perturbed`, `blackbox`, `imle`, …),
`ptf.layers`, `ptf.losses`, `ptf.metrics`, `ptf.solvers`, `ptf.noise` and
`ptf.data`. The top level holds the namespaces and `__version__` only; the
names it held before 0.3.0 (`ptf.perturbed`, `ptf.FenchelYoungLoss`, …)
still work, with a DeprecationWarning naming their home.

Example:
  >>> import perturbations_tf as ptf
  >>> soft_argmax = ptf.ops.perturbed(ptf.solvers.argmax, num_samples=100)
  >>> soft_argmax(tf.constant([[0.0, 5.0]])).numpy()
  array([[0., 1.]], dtype=float32)
"""

from perturbations_tf import data
from perturbations_tf import layers
from perturbations_tf import losses
from perturbations_tf import metrics
from perturbations_tf import noise
from perturbations_tf import ops
from perturbations_tf import solvers
from perturbations_tf._src import deprecation as _deprecation
from perturbations_tf._src import keras_compat as _keras_compat

__version__ = "0.3.0"

_keras_compat.consult_losses_and_metrics()

# The names of 0.2.0's top level, each now at its one home.
__getattr__ = _deprecation.aliases(
  "ptf",
  {
    "Blackbox": "perturbations_tf.layers:Blackbox",
    "CMAPLoss": "perturbations_tf.losses:CMAPLoss",
    "FenchelYoungLoss": "perturbations_tf.losses:FenchelYoungLoss",
    "Gumbel": "perturbations_tf.noise:Gumbel",
    "IMLE": "perturbations_tf.layers:IMLE",
    "InfeasibleProgramError": "perturbations_tf.solvers:InfeasibleProgramError",
    "Knapsack": "perturbations_tf.solvers:Knapsack",
    "LinearProgram": "perturbations_tf.solvers:LinearProgram",
    "NCELoss": "perturbations_tf.losses:NCELoss",
    "NegativeIdentity": "perturbations_tf.layers:NegativeIdentity",
    "Normal": "perturbations_tf.noise:Normal",
    "NumpySolver": "perturbations_tf.solvers:NumpySolver",
    "Perturbed": "perturbations_tf.layers:Perturbed",
    "PerturbedArgmax": "perturbations_tf.layers:PerturbedArgmax",
    "PerturbedRanks": "perturbations_tf.layers:PerturbedRanks",
    "PerturbedShortestPath": "perturbations_tf.layers:PerturbedShortestPath",
    "PerturbedSort": "perturbations_tf.layers:PerturbedSort",
    "PerturbedTopK": "perturbations_tf.layers:PerturbedTopK",
    "Portfolio": "perturbations_tf.solvers:Portfolio",
    "SPOPlusLoss": "perturbations_tf.losses:SPOPlusLoss",
    "SolutionCache": "perturbations_tf.solvers:SolutionCache",
    "TSP": "perturbations_tf.solvers:TSP",
    "UnsolvedProgramError": "perturbations_tf.solvers:UnsolvedProgramError",
    "WorkerCrashError": "perturbations_tf.solvers:WorkerCrashError",
    "blackbox": "perturbations_tf.ops:blackbox",
    "cmap_loss": "perturbations_tf.losses:cmap_loss",
    "declare_sense": "perturbations_tf.solvers:declare_sense",
    "fenchel_young_loss": "perturbations_tf.losses:fenchel_young_loss",
    "imle": "perturbations_tf.ops:imle",
    "nce_loss": "perturbations_tf.losses:nce_loss",
    "negative_identity": "perturbations_tf.ops:negative_identity",
    "numpy_solver": "perturbations_tf.solvers:numpy_solver",
    "perturbed": "perturbations_tf.ops:perturbed",
    "regularized_frank_wolfe": "perturbations_tf.ops:regularized_frank_wolfe",
    "spo_plus_loss": "perturbations_tf.losses:spo_plus_loss",
    "stack_targets": "perturbations_tf.data:stack_targets",
  },
)

__all__ = [
  "data",
  "layers",
  "losses",
  "metrics",
  "noise",
  "ops",
  "solvers",
]
