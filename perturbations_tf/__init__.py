"""perturbations_tf: differentiable perturbed optimizers for TensorFlow/Keras.

Example:
  >>> import perturbations_tf as ptf
  >>> soft_argmax = ptf.perturbed(ptf.solvers.argmax, num_samples=100)
"""

from perturbations_tf import metrics
from perturbations_tf import noise
from perturbations_tf import solvers
from perturbations_tf.blackbox import Blackbox
from perturbations_tf.blackbox import blackbox
from perturbations_tf.blackbox import negative_identity
from perturbations_tf.blackbox import NegativeIdentity
from perturbations_tf.contrastive import CMAPLoss
from perturbations_tf.contrastive import cmap_loss
from perturbations_tf.contrastive import NCELoss
from perturbations_tf.contrastive import nce_loss
from perturbations_tf.fenchel_young import FenchelYoungLoss
from perturbations_tf.fenchel_young import fenchel_young_loss
from perturbations_tf.imle import IMLE
from perturbations_tf.imle import imle
from perturbations_tf.knapsack import Knapsack
from perturbations_tf.layers import Perturbed
from perturbations_tf.layers import PerturbedArgmax
from perturbations_tf.layers import PerturbedRanks
from perturbations_tf.layers import PerturbedShortestPath
from perturbations_tf.layers import PerturbedSort
from perturbations_tf.layers import PerturbedTopK
from perturbations_tf.noise import Gumbel
from perturbations_tf.noise import Normal
from perturbations_tf.numpy_solver import numpy_solver
from perturbations_tf.numpy_solver import NumpySolver
from perturbations_tf.numpy_solver import WorkerCrashError
from perturbations_tf.perturbed import perturbed
from perturbations_tf.linear_program import InfeasibleProgramError
from perturbations_tf.linear_program import LinearProgram
from perturbations_tf.linear_program import UnsolvedProgramError
from perturbations_tf.solution_cache import SolutionCache
from perturbations_tf.spo_plus import SPOPlusLoss
from perturbations_tf.spo_plus import spo_plus_loss
from perturbations_tf.targets import stack_targets

__version__ = "0.1.0"

__all__ = [
    "Blackbox", "CMAPLoss", "FenchelYoungLoss", "Gumbel", "IMLE",
    "InfeasibleProgramError", "Knapsack", "LinearProgram", "NCELoss",
    "NegativeIdentity", "Normal", "NumpySolver", "Perturbed",
    "PerturbedArgmax", "PerturbedRanks", "PerturbedShortestPath",
    "PerturbedSort", "PerturbedTopK", "SPOPlusLoss", "SolutionCache",
    "UnsolvedProgramError", "WorkerCrashError", "blackbox", "cmap_loss",
    "fenchel_young_loss", "imle", "metrics", "nce_loss",
    "negative_identity", "noise", "numpy_solver", "perturbed", "solvers",
    "spo_plus_loss", "stack_targets",
]
