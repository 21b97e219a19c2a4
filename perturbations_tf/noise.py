"""Noise distributions of the perturbations: `Normal`, `Gumbel`, and
`SumOfGamma` (for `imle`), or your own object with `sample(shape, seed,
dtype)` and `grad_neg_log_density(z)`."""

from perturbations_tf._src.noise import Gumbel
from perturbations_tf._src.noise import Normal
from perturbations_tf._src.noise import SumOfGamma
from perturbations_tf._src.noise import get_noise

__all__ = ["Gumbel", "Normal", "SumOfGamma", "get_noise"]
