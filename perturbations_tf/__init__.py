"""perturbations_tf: differentiable perturbed optimizers for TensorFlow/Keras.

Namespaces, as Keras's: `ptf.losses`, `ptf.layers`, `ptf.metrics`,
`ptf.solvers`, `ptf.noise`, `ptf.data`; the most used names are also here,
at the top level.

Example:
  >>> import perturbations_tf as ptf
  >>> soft_argmax = ptf.perturbed(ptf.solvers.argmax, num_samples=100)
  >>> soft_argmax(tf.constant([[0.0, 5.0]])).numpy()
  array([[0., 1.]], dtype=float32)
"""

from perturbations_tf import data
from perturbations_tf import layers
from perturbations_tf import losses
from perturbations_tf import metrics
from perturbations_tf import noise
from perturbations_tf import solvers
from perturbations_tf._src import keras_compat
from perturbations_tf._src.blackbox import blackbox
from perturbations_tf._src.blackbox import negative_identity
from perturbations_tf._src.frank_wolfe import regularized_frank_wolfe
from perturbations_tf._src.imle import imle
from perturbations_tf._src.perturbed import perturbed
from perturbations_tf.data import stack_targets
from perturbations_tf.layers import IMLE
from perturbations_tf.layers import Blackbox
from perturbations_tf.layers import NegativeIdentity
from perturbations_tf.layers import Perturbed
from perturbations_tf.layers import PerturbedArgmax
from perturbations_tf.layers import PerturbedRanks
from perturbations_tf.layers import PerturbedShortestPath
from perturbations_tf.layers import PerturbedSort
from perturbations_tf.layers import PerturbedTopK
from perturbations_tf.losses import CMAPLoss
from perturbations_tf.losses import FenchelYoungLoss
from perturbations_tf.losses import NCELoss
from perturbations_tf.losses import SPOPlusLoss
from perturbations_tf.losses import cmap_loss
from perturbations_tf.losses import fenchel_young_loss
from perturbations_tf.losses import nce_loss
from perturbations_tf.losses import spo_plus_loss
from perturbations_tf.noise import Gumbel
from perturbations_tf.noise import Normal
from perturbations_tf.solvers import TSP
from perturbations_tf.solvers import InfeasibleProgramError
from perturbations_tf.solvers import Knapsack
from perturbations_tf.solvers import LinearProgram
from perturbations_tf.solvers import NumpySolver
from perturbations_tf.solvers import Portfolio
from perturbations_tf.solvers import SolutionCache
from perturbations_tf.solvers import UnsolvedProgramError
from perturbations_tf.solvers import WorkerCrashError
from perturbations_tf.solvers import declare_sense
from perturbations_tf.solvers import numpy_solver

__version__ = "0.2.0"

keras_compat.consult_losses_and_metrics()

__all__ = [
  "Blackbox",
  "CMAPLoss",
  "FenchelYoungLoss",
  "Gumbel",
  "IMLE",
  "InfeasibleProgramError",
  "Knapsack",
  "LinearProgram",
  "NCELoss",
  "NegativeIdentity",
  "Normal",
  "NumpySolver",
  "Perturbed",
  "PerturbedArgmax",
  "PerturbedRanks",
  "PerturbedShortestPath",
  "PerturbedSort",
  "PerturbedTopK",
  "Portfolio",
  "SPOPlusLoss",
  "SolutionCache",
  "TSP",
  "UnsolvedProgramError",
  "WorkerCrashError",
  "blackbox",
  "cmap_loss",
  "data",
  "declare_sense",
  "fenchel_young_loss",
  "imle",
  "layers",
  "losses",
  "metrics",
  "nce_loss",
  "negative_identity",
  "noise",
  "numpy_solver",
  "perturbed",
  "regularized_frank_wolfe",
  "solvers",
  "spo_plus_loss",
  "stack_targets",
]
