"""The perturbation `η(θ, Z)` and the two derivatives the estimators need.

`Perturbation` holds the validated settings shared by `perturbed` and the
Fenchel–Young loss (M, ε, the noise, additive or multiplicative, antithetic
pairs); it draws the noise, perturbs θ, and gives the tangent `∂η/∂θ` and
the score sums of the integration-by-parts estimator. Its computations run
as graphs even in eager mode (`Compiled`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
import weakref

import tensorflow as tf

from perturbations_tf._src import noise as noise_lib
from perturbations_tf._src import validation
from perturbations_tf._src.types import SeedLike
from perturbations_tf._src.types import ShapeLike

ADDITIVE = "additive"
MULTIPLICATIVE = "multiplicative"
PERTURBATIONS = (ADDITIVE, MULTIPLICATIVE)


class Compiled:
  """A function run as a graph, called cheaply in eager mode.

  Inside a `tf.function` or XLA it is inlined. In eager mode it runs as one
  graph instead of many eagerly dispatched ops, through concrete functions
  kept per shapes and dtypes of its tensor arguments (and values of its
  Python ones): that skips `tf.function`'s per-call signature matching,
  which costs as much as a few eager ops.

  Args:
    fn: a function of tensors and hashable Python values.
  """

  MAX_CONCRETE = 32  # Past this many signatures, tf.function's own dispatch.

  def __init__(self, fn: Callable):
    self._function = tf.function(fn, reduce_retracing=True, autograph=False)
    self._concrete: dict[tuple, Callable] = {}

  def __call__(self, *args: Any) -> Any:
    if not tf.executing_eagerly():
      return self._function(*args)
    key = tuple(
      (a.shape, a.dtype) if isinstance(a, tf.Tensor) else a for a in args
    )
    concrete = self._concrete.get(key)
    if concrete is None:
      if len(self._concrete) >= self.MAX_CONCRETE:
        return self._function(*args)
      concrete = self._function.get_concrete_function(*args)
      self._concrete[key] = concrete
    return concrete(*args)


class Perturbation:
  """Validated perturbation settings shared by `perturbed` and the FY loss.

  It draws the noise `Z` (`[M, *shape]`), maps `θ` to its perturbed copies
  `η(θ, Z)`, and gives the two derivatives the estimators need: the tangent
  `∂η/∂θ` (elementwise) and sums of the score `s(θ, Z)`, for which
  `∇_θ E[f(η)] = E[f(η) s(θ, Z)]`.

  Args:
    num_samples: M, the number of perturbed copies, `>= 1`.
    sigma: ε, the noise scale, a positive finite number.
    noise: `'normal'`, `'gumbel'` or a noise object (see `noise.py`).
    perturbation: `'additive'` (`θ + εZ`) or `'multiplicative'`
      (`θ ⊙ exp(εZ - ε²/2)`, normal noise, positive θ).
    antithetic: draw pairs `(Z, -Z)`; needs a symmetric noise, even M.

  Raises:
    ValueError: on any invalid setting, naming the argument and the fix.
  """

  def __init__(
    self,
    num_samples: int = 1000,
    sigma: float = 0.05,
    noise: noise_lib.NoiseLike = "normal",
    perturbation: str = ADDITIVE,
    antithetic: bool = False,
  ):
    self.num_samples = validation.positive_int(num_samples, "num_samples")
    self.sigma = validation.positive_number(sigma, "sigma")
    self.perturbation = validation.one_of(
      perturbation, PERTURBATIONS, "perturbation"
    )
    self.noise = noise_lib.get_noise(noise)
    if perturbation == MULTIPLICATIVE and not isinstance(
      self.noise, noise_lib.Normal
    ):
      raise ValueError(
        "perturbation='multiplicative' needs noise='normal' (the log-normal "
        f"factor exp(εZ - ε²/2) has mean 1 only then), got noise={noise!r}."
      )
    if antithetic:
      if not noise_lib.is_symmetric(self.noise):
        raise ValueError(
          f"antithetic=True needs a symmetric noise (Z and -Z equal in law), "
          f"but noise={noise!r} is not; use noise='normal' or "
          "antithetic=False."
        )
      if num_samples % 2:
        raise ValueError(
          "antithetic=True draws pairs (Z, -Z): num_samples must be even, "
          f"got {num_samples}."
        )
    self.antithetic = bool(antithetic)
    # The op's own computations run as graphs even in eager mode: one call
    # each instead of dozens of eagerly dispatched ops.
    self.draw = Compiled(self._draw)
    self.vjp = Compiled(self._vjp)
    self.vjp_from_seed = Compiled(self._vjp_from_seed)

  def _draw(self, theta: tf.Tensor, seed: tf.Tensor, sign: float = 1.0):
    """Checks θ, draws `Z` and perturbs: the forward pass up to the solver.

    Args:
      theta: `[B, ...]`.
      seed: a `[2]` int64 stateless seed.
      sign: `sense.sign(maximize)`: a minimiser of `<y, θ>` maximises
        `<y, −θ>`, so it is perturbed as `−θ` (it sees `θ − εZ` under
        additive noise, `θ ⊙ exp(εZ − ε²/2)` under multiplicative).

    Returns:
      `(z, eta, inputs)`: the noise `[M, B, ...]` and the perturbed
      `η(sign·θ, Z)` in the compute dtype; the solver's inputs `sign·η`,
      flattened to `[M·B, ...]` in θ's dtype.
    """
    theta = self.check_input(theta)
    dtype = validation.compute_dtype(theta.dtype)
    z = self.sample(tf.shape(theta), seed, dtype)
    eta = self.apply(sign * tf.cast(theta, dtype), z)
    inputs = tf.reshape(
      tf.cast(sign * eta, theta.dtype),
      tf.concat([[-1], tf.shape(theta)[1:]], axis=0),
    )
    return z, eta, inputs

  def _vjp(
    self,
    y: tf.Tensor,
    upstream: tf.Tensor,
    theta: tf.Tensor,
    z: tf.Tensor,
    control_variate: bool,
    symmetrize: bool,
    sign: float = 1.0,
  ) -> tf.Tensor:
    """`J y_ε(θ)ᵀ g` from the solutions `y` `[M, B, ...]`, in θ's dtype.

    With `sign = −1` the solutions are of `−θ`'s perturbations (`_draw`),
    so the derivative in θ is −1 times that in `−θ`.
    """
    dtype = y.dtype
    g = tf.cast(upstream, dtype)
    theta_c = sign * tf.cast(theta, dtype)
    inner = tf.reduce_sum(y * g, axis=tf.range(2, tf.rank(y)))  # [M, B]
    g_theta = self.score_sum(self.weights(inner, control_variate), theta_c, z)
    if symmetrize:
      g_theta = 0.5 * (g_theta + self.jacobian_vector(y, g, z, control_variate))
    return tf.cast(sign * g_theta, theta.dtype)

  def _vjp_from_seed(
    self,
    y: tf.Tensor,
    upstream: tf.Tensor,
    theta: tf.Tensor,
    seed: tf.Tensor,
    control_variate: bool,
    symmetrize: bool,
    sign: float = 1.0,
  ) -> tf.Tensor:
    """`_vjp` with the noise drawn again from its seed: the same numbers bit
    for bit, without keeping `[M, B, ...]` noise from the forward pass."""
    z = self.sample(tf.shape(theta), seed, y.dtype)
    return self._vjp(y, upstream, theta, z, control_variate, symmetrize, sign)

  def sample(
    self, shape: ShapeLike, seed: tf.Tensor, dtype: tf.DType
  ) -> tf.Tensor:
    """Draws `Z` of shape `[M, *shape]` from a stateless `[2]` seed."""
    m = self.num_samples // 2 if self.antithetic else self.num_samples
    z = self.noise.sample(tf.concat([[m], shape], axis=0), seed, dtype)
    return tf.concat([z, -z], axis=0) if self.antithetic else z

  def apply(self, theta: tf.Tensor, z: tf.Tensor) -> tf.Tensor:
    """The perturbed inputs `η(θ, Z)`, `[M, *θ.shape]`."""
    if self.perturbation == ADDITIVE:
      return theta + self.sigma * z
    return theta * self._factor(z)

  def tangent(self, z: tf.Tensor) -> tf.Tensor | float:
    """`∂η/∂θ`, elementwise: 1 (additive) or `exp(εZ - ε²/2)`."""
    return 1.0 if self.perturbation == ADDITIVE else self._factor(z)

  def score_sum(
    self, weights: tf.Tensor, theta: tf.Tensor, z: tf.Tensor
  ) -> tf.Tensor:
    """`(1/M) Σ_m w_m s(θ, Z_m)` for weights `[M, B]`: the score-function
    gradient, with `s = ∇ν(Z)/ε` (additive) or `Z/(εθ)` (multiplicative, by
    `u = log θ`). The scalings do not depend on m, so they are applied once,
    after the sum over samples."""
    score = self.noise.grad_neg_log_density(z)
    # A broadcast product and sum: several times faster on CPU than einsum,
    # which transposes the whole [M, B, ...] score to a batched matmul
    # (benchmarks/overhead.py measures the op against the plain estimator).
    weights = tf.reshape(
      weights,
      tf.concat(
        [tf.shape(weights), tf.ones([tf.rank(score) - 2], tf.int32)], 0
      ),
    )
    total = tf.reduce_sum(weights * score, axis=0)
    total /= self.num_samples * self.sigma
    return total if self.perturbation == ADDITIVE else total / theta

  def jacobian_vector(
    self, y: tf.Tensor, g: tf.Tensor, z: tf.Tensor, control_variate: bool
  ) -> tf.Tensor:
    """`J g ≈ (1/(εM)) Σ_m (y_m - b_m) <∇ν(Z_m), g>` (additive noise): the
    Jacobian applied to g rather than transposed, with a baseline on y_m."""
    score = self.noise.grad_neg_log_density(z)
    inner = tf.reduce_sum(score * g, axis=tf.range(2, tf.rank(score)))
    centred = self.weights(y, control_variate)
    inner = tf.reshape(
      inner,
      tf.concat([tf.shape(inner), tf.ones([tf.rank(y) - 2], tf.int32)], 0),
    )
    return tf.reduce_sum(inner * centred, axis=0) / (
      self.num_samples * self.sigma
    )

  def _factor(self, z: tf.Tensor) -> tf.Tensor:
    return tf.exp(self.sigma * z - 0.5 * self.sigma**2)

  def check_input(self, theta: tf.Tensor, name: str = "theta") -> tf.Tensor:
    """Raises on non-finite θ (and non-positive θ when multiplicative).

    The checks run in eager mode and in `tf.function`; XLA compiles them out
    (a TensorFlow limitation), so validate inputs before a jit-compiled step.
    """
    theta = validation.check_finite(theta, f"The perturbed solver's {name}")
    if self.perturbation == MULTIPLICATIVE:
      with tf.control_dependencies(
        [
          tf.debugging.assert_positive(
            theta,
            message=f"perturbation='multiplicative' needs {name} > 0 "
            "(e.g. a softplus or exponential output); use 'additive' for "
            "signed inputs",
          )
        ]
      ):
        theta = tf.identity(theta)
    return theta

  def weights(self, inner: tf.Tensor, control_variate: bool) -> tf.Tensor:
    """Centres per-sample values (`[M, B, ...]`, e.g. `<y_m, g>`) by a baseline.

    Without antithetic pairs the baseline is the leave-one-out mean, which is
    independent of `Z_m`, hence unbiased. With antithetic pairs any baseline
    shared by a pair cancels exactly within it, so the full mean is used: it
    changes nothing in exact arithmetic and improves floating-point accuracy.
    With `M = 1` there is nothing to leave out and the plain estimator is used.
    """
    m = self.num_samples
    if not control_variate or m == 1:
      return inner
    total = tf.reduce_sum(inner, axis=0, keepdims=True)
    if self.antithetic:
      return inner - total / m
    return inner - (total - inner) / (m - 1)


# Perturbations in use, by settings: callers with the same settings share
# one, and with it its compiled draw and backward pass (not traced again on
# every call of the functional loss). Dropped when no caller holds it.
_IN_USE: weakref.WeakValueDictionary[tuple, Perturbation] = (
  weakref.WeakValueDictionary()
)


def get_perturbation(
  num_samples: int = 1000,
  sigma: float = 0.05,
  noise: noise_lib.NoiseLike = "normal",
  perturbation: str = ADDITIVE,
  antithetic: bool = False,
) -> Perturbation:
  """A validated `Perturbation`, shared by the callers with its settings.

  Raises:
    ValueError: as `Perturbation`.
  """
  # A noise object is keyed by itself (the perturbation holds it, so its
  # id is not reused while the entry lives).
  key = (num_samples, sigma, noise, perturbation, antithetic)
  try:
    found = _IN_USE.get(key)
  except TypeError:  # An unhashable setting: Perturbation says what is wrong.
    return Perturbation(num_samples, sigma, noise, perturbation, antithetic)
  if found is None:
    found = Perturbation(num_samples, sigma, noise, perturbation, antithetic)
    _IN_USE[key] = found
  return found


def resolve_seed(seed: SeedLike) -> tf.Tensor:
  """A `[2]` int64 stateless seed: fresh when `seed` is None.

  Args:
    seed: None (fresh noise on every call), a Python int, or a `[2]` integer
      tensor (e.g. from `keras.random.SeedGenerator.next()`).

  Returns:
    An int64 tensor of shape `[2]`.

  Raises:
    ValueError: if `seed` is neither.

  Example:
    >>> resolve_seed(7).numpy()
    array([7, 0])
  """
  if seed is None:
    return tf.random.uniform([2], maxval=2**62, dtype=tf.int64)
  if isinstance(seed, int) and not isinstance(seed, bool):
    return tf.constant([seed, 0], dtype=tf.int64)
  seed = tf.convert_to_tensor(seed)
  if not seed.dtype.is_integer or seed.shape.rank != 1 or seed.shape[0] != 2:
    raise ValueError(
      f"seed must be None, an int or a [2] integer tensor, got {seed!r}."
    )
  return tf.cast(seed, tf.int64)
