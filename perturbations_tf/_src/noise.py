"""Noise distributions for perturbed optimizers.

A noise distribution has density `μ(z) ∝ exp(−ν(z))`, applied elementwise.
The perturbed estimators need two things from it: samples drawn from a
stateless seed, and `∇ν(z) = −∇ log μ(z)`, the gradient of the negative
log-density, which appears in the integration-by-parts Jacobian. Any object
with the methods `sample(shape, seed, dtype)` and `grad_neg_log_density(z)`
(and an optional boolean attribute `symmetric`) can be passed wherever a
noise name is accepted, so users can bring their own distribution.

The built-in samplers draw from the library's counter-based generator
(`random.py`): the same seed gives the same noise in eager mode,
`tf.function` and XLA.
"""

from __future__ import annotations

import math
from typing import Any

import tensorflow as tf

from perturbations_tf._src import random
from perturbations_tf._src import validation
from perturbations_tf._src.types import ShapeLike
from perturbations_tf._src.types import TensorLike


def _sin_cos_half_turn(x: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
  """`sin x` and `cos x` for `|x| ≤ π/2` by their Taylor polynomials, to
  the dtype's precision (XLA's general `sin`/`cos` reduce the argument
  first, which costs more than the rest of a normal draw)."""
  terms = 10 if x.dtype == tf.float64 else 6  # Last term < 2⁻⁵³ or 2⁻²⁴.
  x2 = x * x
  sin, cos = tf.ones_like(x), tf.ones_like(x)
  for k in range(terms, 0, -1):  # Horner: 1 − x²/((2k)(2k+1))·(...).
    sin = 1.0 - x2 * sin / ((2 * k) * (2 * k + 1))
    cos = 1.0 - x2 * cos / ((2 * k - 1) * (2 * k))
  return x * sin, cos


def _normal_graph(
  shape: tf.Tensor, seed: tf.Tensor, dtype: tf.DType
) -> tf.Tensor:
  """Box–Muller on pairs of uniforms, split along the first axis (half the
  transcendental work of a normal per uniform): `r = √(−2 log u₁)` and the
  angle `2πu₂ = π + 2x` with `x = π(u₂ − ½)`, so that the cosine and sine
  of the angle are `s² − c²` and `−2sc` with `s, c = sin x, cos x`."""
  half = tf.concat([[(shape[0] + 1) // 2], shape[1:]], axis=0)
  u = random.uniform_graph(tf.concat([[2], half], axis=0), seed, dtype)
  radius = tf.sqrt(-2.0 * tf.math.log(u[0]))
  sin, cos = _sin_cos_half_turn(math.pi * (u[1] - 0.5))
  return tf.concat(
    [radius * (sin * sin - cos * cos), -2.0 * radius * sin * cos], axis=0
  )[: shape[0]]


def _gumbel_graph(
  shape: tf.Tensor, seed: tf.Tensor, dtype: tf.DType
) -> tf.Tensor:
  return -tf.math.log(-tf.math.log(random.uniform_graph(shape, seed, dtype)))


_sample_normal = random.compiled(_normal_graph)
_sample_gumbel = random.compiled(_gumbel_graph)


class Normal:
  """Standard normal noise: `ν(z) = z²/2`, `∇ν(z) = z`.

  Example:
    >>> z = Normal().sample([2, 3], seed=[1, 2])
    >>> z.shape
    TensorShape([2, 3])
  """

  name = "normal"
  symmetric = True

  def sample(
    self, shape: ShapeLike, seed: TensorLike, dtype: tf.DType = tf.float32
  ) -> tf.Tensor:
    """Draws standard normal samples from a stateless `[2]` integer seed
    (Box–Muller on pairs of uniforms)."""
    return _sample_normal(shape, seed, dtype)

  def grad_neg_log_density(self, z: tf.Tensor) -> tf.Tensor:
    """Returns `∇ν(z) = z`."""
    return z


class Gumbel:
  """Standard Gumbel noise: `ν(z) = z + exp(-z)`, `∇ν(z) = 1 - exp(-z)`.

  Its mean is Euler's constant γ; with one-hot argmax it gives
  `E[argmax(θ + εZ)] = softmax(θ/ε)` exactly.

  Example:
    >>> z = Gumbel().sample([10_000], seed=[1, 2])
    >>> abs(float(tf.reduce_mean(z)) - 0.5772) < 0.06  # Euler's constant.
    True
  """

  name = "gumbel"
  symmetric = False

  def sample(
    self, shape: ShapeLike, seed: TensorLike, dtype: tf.DType = tf.float32
  ) -> tf.Tensor:
    """Draws standard Gumbel samples `-log(-log(U))` from a stateless seed."""
    return _sample_gumbel(shape, seed, dtype)

  def grad_neg_log_density(self, z: tf.Tensor) -> tf.Tensor:
    """Returns `∇ν(z) = 1 - exp(-z)`."""
    return 1.0 - tf.exp(-z)


class SumOfGamma:
  """Sum-of-Gamma noise of Niepert et al. (2021), the default of I-MLE.

  `SoG(κ, τ, s) = (τ/κ)·(Σ_{i=1}^{s} G_i − log s)`, `G_i ~ Gamma(1/κ, κ/i)`
  (shape, scale): for a structure of `κ` chosen entries (a k-subset, a path
  of κ arcs), the sum over its entries of such noise is approximately
  Gumbel, so perturb-and-MAP samples nearly its Gibbs distribution. PyEPO
  uses `κ = 5`, `s = 10`, `τ = 1`.

  Its density has no closed-form score `∇ν`, so it serves perturb-and-MAP
  estimators that need samples only (`imle`), not `perturbed` or the
  Fenchel–Young loss. Its sampler has no XLA kernel (TensorFlow's stateless
  Gamma): under `jit_compile=True` use `'gumbel'` or `'normal'`.

  Args:
    kappa: κ > 0.
    num_terms: s, the number of Gamma terms (≥ 1).
    temperature: τ > 0.

  Example:
    >>> SumOfGamma(kappa=5).sample([2, 3], seed=[1, 2]).shape
    TensorShape([2, 3])
  """

  name = "sum_of_gamma"
  symmetric = False

  def __init__(
    self, kappa: float = 5.0, num_terms: int = 10, temperature: float = 1.0
  ):
    self.kappa = validation.positive_number(kappa, "kappa")
    self.num_terms = validation.positive_int(num_terms, "num_terms")
    self.temperature = validation.positive_number(temperature, "temperature")

  def sample(
    self, shape: ShapeLike, seed: TensorLike, dtype: tf.DType = tf.float32
  ) -> tf.Tensor:
    """Draws SoG samples from a stateless `[2]` integer seed."""
    shape = tf.convert_to_tensor(shape, tf.int32)
    s = self.num_terms
    gamma = tf.random.stateless_gamma(  # Gamma(1/κ, 1), scaled by κ/i below.
      tf.concat([[s], shape], 0),
      seed=tf.cast(seed, tf.int64),
      alpha=tf.constant(1.0 / self.kappa, dtype),
      dtype=dtype,
    )
    scale = self.kappa / tf.range(1, s + 1, dtype=dtype)
    scale = tf.reshape(scale, tf.concat([[s], tf.ones_like(shape)], 0))
    total = tf.reduce_sum(gamma * scale, axis=0) - math.log(s)
    return (self.temperature / self.kappa) * total


_NOISES = {"normal": Normal, "gumbel": Gumbel}
# Noises of perturb-and-MAP estimators, which need samples only.
_SAMPLE_ONLY = {"sum_of_gamma": SumOfGamma}

NoiseLike = str | Any  # A name, or an object with sample() and the score.


def get_noise(noise: NoiseLike, sample_only: bool = False) -> Any:
  """Returns a noise object from a name or a user object.

  Args:
    noise: `'normal'`, `'gumbel'`, or an object with `sample(shape, seed,
      dtype)` and `grad_neg_log_density(z)` methods.
    sample_only: for estimators that need samples only (`imle`): then
      `'sum_of_gamma'` and objects with just `sample` are accepted too.

  Returns:
    The noise object.

  Raises:
    ValueError: if `noise` is an unknown name or lacks the methods needed.
  """
  if sample_only:
    if isinstance(noise, str) and noise in _SAMPLE_ONLY:
      return _SAMPLE_ONLY[noise]()
    if not isinstance(noise, str) and callable(getattr(noise, "sample", None)):
      return noise
  if isinstance(noise, str) and noise in _SAMPLE_ONLY:
    raise ValueError(
      f"noise={noise!r} has no closed-form score ∇ν, which the perturbed "
      "Jacobian and the Fenchel–Young loss need: use it with imle, or "
      "choose 'normal' or 'gumbel' here."
    )
  if isinstance(noise, str):
    if noise not in _NOISES:
      raise ValueError(
        f"Unknown noise={noise!r}; supported names are {sorted(_NOISES)}, "
        "or pass an object with sample(shape, seed, dtype) and "
        "grad_neg_log_density(z) methods."
      )
    return _NOISES[noise]()
  if not (
    callable(getattr(noise, "sample", None))
    and callable(getattr(noise, "grad_neg_log_density", None))
  ):
    raise ValueError(
      f"noise={noise!r} must be one of {sorted(_NOISES)} or an object with "
      "sample(shape, seed, dtype) and grad_neg_log_density(z) methods."
    )
  return noise


def noise_name(noise: NoiseLike) -> NoiseLike:
  """The name of a built-in noise object (for configs), else the object."""
  return (
    getattr(noise, "name", noise) if type(noise) in _NOISES.values() else noise
  )


def is_symmetric(noise: NoiseLike) -> bool:
  """Whether `Z` and `-Z` have the same law (needed for antithetic pairs)."""
  return bool(getattr(noise, "symmetric", False))
