"""perturbations_tf: differentiable perturbed optimizers for TensorFlow/Keras.

Example:
  >>> import perturbations_tf as ptf
  >>> soft_argmax = ptf.perturbed(ptf.solvers.argmax, num_samples=100)
"""

from perturbations_tf import metrics
from perturbations_tf import noise
from perturbations_tf import solvers
from perturbations_tf.fenchel_young import FenchelYoungLoss
from perturbations_tf.fenchel_young import fenchel_young_loss
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
from perturbations_tf.solution_cache import SolutionCache

__version__ = "0.1.0"

__all__ = [
    "FenchelYoungLoss", "Gumbel", "Normal", "NumpySolver", "Perturbed",
    "PerturbedArgmax", "PerturbedRanks", "PerturbedShortestPath",
    "PerturbedSort", "PerturbedTopK", "SolutionCache", "WorkerCrashError",
    "fenchel_young_loss", "metrics", "noise", "numpy_solver", "perturbed",
    "solvers",
]
