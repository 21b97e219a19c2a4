"""The perturbed optimizer: `y_ε(θ) = E[y*(θ + εZ)]` with a Monte Carlo Jacobian.

`perturbed(func)` turns any solver `y*` — argmax, ranks, shortest paths, a
black-box — into a differentiable function. The forward pass averages `func`
over `num_samples` perturbed copies of its input; the backward pass is the
integration-by-parts estimator of Berthet et al. (2020),

    J y_ε(θ)ᵀ g ≈ (1 / (εM)) Σ_m (<y_m, g> - b_m) ∇ν(Z_m),

where `b_m` is an optional control variate (unbiased because `E[∇ν(Z)] = 0`).
"""

from __future__ import annotations

import functools
import math
from typing import Any, Callable, Optional

import tensorflow as tf

from perturbations_tf import noise as noise_lib

ADDITIVE = "additive"
MULTIPLICATIVE = "multiplicative"
PERTURBATIONS = (ADDITIVE, MULTIPLICATIVE)

SeedLike = Any  # None, a Python int, or a `[2]` integer tensor.


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
    self._concrete = {}

  def __call__(self, *args):
    if not tf.executing_eagerly():
      return self._function(*args)
    key = tuple((a.shape, a.dtype) if isinstance(a, tf.Tensor) else a
                for a in args)
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

  def __init__(self, num_samples: int = 1000, sigma: float = 0.05,
               noise: noise_lib.NoiseLike = "normal",
               perturbation: str = ADDITIVE, antithetic: bool = False):
    if (isinstance(num_samples, bool) or not isinstance(num_samples, int)
        or num_samples < 1):
      raise ValueError(
          f"num_samples must be a positive integer, got {num_samples!r}.")
    if (isinstance(sigma, bool) or not isinstance(sigma, (int, float))
        or not math.isfinite(sigma) or sigma <= 0):
      raise ValueError(
          f"sigma must be a positive finite number, got {sigma!r}.")
    if perturbation not in PERTURBATIONS:
      raise ValueError(
          f"Unknown perturbation={perturbation!r}; use one of {PERTURBATIONS}.")
    self.noise = noise_lib.get_noise(noise)
    if perturbation == MULTIPLICATIVE and not isinstance(
        self.noise, noise_lib.Normal):
      raise ValueError(
          "perturbation='multiplicative' needs noise='normal' (the log-normal "
          f"factor exp(εZ - ε²/2) has mean 1 only then), got noise={noise!r}.")
    if antithetic:
      if not noise_lib.is_symmetric(self.noise):
        raise ValueError(
            f"antithetic=True needs a symmetric noise (Z and -Z equal in law), "
            f"but noise={noise!r} is not; use noise='normal' or "
            "antithetic=False.")
      if num_samples % 2:
        raise ValueError(
            "antithetic=True draws pairs (Z, -Z): num_samples must be even, "
            f"got {num_samples}.")
    self.num_samples = num_samples
    self.sigma = float(sigma)
    self.perturbation = perturbation
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
      sign: -1 to perturb `-θ` (the Fenchel–Young loss of a minimiser).

    Returns:
      `(z, eta, inputs)`: the noise `[M, B, ...]` and the perturbed
      `η(sign·θ, Z)` in the compute dtype; the solver's inputs `sign·η`,
      flattened to `[M·B, ...]` in θ's dtype.
    """
    theta = self.check_input(theta)
    dtype = compute_dtype(theta.dtype)
    z = self.sample(tf.shape(theta), seed, dtype)
    eta = self.apply(sign * tf.cast(theta, dtype), z)
    inputs = tf.reshape(tf.cast(sign * eta, theta.dtype),
                        tf.concat([[-1], tf.shape(theta)[1:]], axis=0))
    return z, eta, inputs

  def _vjp(self, y: tf.Tensor, upstream: tf.Tensor, theta: tf.Tensor,
           z: tf.Tensor, control_variate: bool, symmetrize: bool
           ) -> tf.Tensor:
    """`J y_ε(θ)ᵀ g` from the solutions `y` `[M, B, ...]`, in θ's dtype."""
    dtype = y.dtype
    g = tf.cast(upstream, dtype)
    theta_c = tf.cast(theta, dtype)
    inner = tf.reduce_sum(y * g, axis=tf.range(2, tf.rank(y)))  # [M, B]
    g_theta = self.score_sum(self.weights(inner, control_variate), theta_c, z)
    if symmetrize:
      g_theta = 0.5 * (g_theta + self.jacobian_vector(y, g, z,
                                                      control_variate))
    return tf.cast(g_theta, theta.dtype)

  def _vjp_from_seed(self, y, upstream, theta, seed, control_variate,
                     symmetrize):
    """`_vjp` with the noise drawn again from its seed: the same numbers bit
    for bit, without keeping `[M, B, ...]` noise from the forward pass."""
    z = self.sample(tf.shape(theta), seed, y.dtype)
    return self._vjp(y, upstream, theta, z, control_variate, symmetrize)

  def sample(self, shape, seed: tf.Tensor, dtype: tf.DType) -> tf.Tensor:
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

  def score_sum(self, weights: tf.Tensor, theta: tf.Tensor,
                z: tf.Tensor) -> tf.Tensor:
    """`(1/M) Σ_m w_m s(θ, Z_m)` for weights `[M, B]`: the score-function
    gradient, with `s = ∇ν(Z)/ε` (additive) or `Z/(εθ)` (multiplicative, by
    `u = log θ`). The scalings do not depend on m, so they are applied once,
    after the sum over samples."""
    score = self.noise.grad_log_density(z)
    # A broadcast product and sum: several times faster on CPU than einsum,
    # which transposes the whole [M, B, ...] score to a batched matmul.
    weights = tf.reshape(weights, tf.concat(
        [tf.shape(weights), tf.ones([tf.rank(score) - 2], tf.int32)], 0))
    total = tf.reduce_sum(weights * score, axis=0)
    total /= self.num_samples * self.sigma
    return total if self.perturbation == ADDITIVE else total / theta

  def jacobian_vector(self, y: tf.Tensor, g: tf.Tensor, z: tf.Tensor,
                      control_variate: bool) -> tf.Tensor:
    """`J g ≈ (1/(εM)) Σ_m (y_m - b_m) <∇ν(Z_m), g>` (additive noise): the
    Jacobian applied to g rather than transposed, with a baseline on y_m."""
    score = self.noise.grad_log_density(z)
    inner = tf.reduce_sum(score * g, axis=tf.range(2, tf.rank(score)))
    centred = self.weights(y, control_variate)
    inner = tf.reshape(inner, tf.concat(
        [tf.shape(inner), tf.ones([tf.rank(y) - 2], tf.int32)], 0))
    return tf.reduce_sum(inner * centred, axis=0) / (
        self.num_samples * self.sigma)

  def _factor(self, z):
    return tf.exp(self.sigma * z - 0.5 * self.sigma**2)

  def check_input(self, theta: tf.Tensor, name: str = "theta") -> tf.Tensor:
    """Raises on non-finite θ (and non-positive θ when multiplicative).

    The checks run in eager mode and in `tf.function`; XLA compiles them out
    (a TensorFlow limitation), so validate inputs before a jit-compiled step.
    """
    theta = tf.debugging.check_numerics(
        theta, f"{name} holds NaN or Inf values; the perturbed solver needs "
        "finite inputs (check the model's outputs or the learning rate).")
    if self.perturbation == MULTIPLICATIVE:
      with tf.control_dependencies([tf.debugging.assert_positive(
          theta, message=f"perturbation='multiplicative' needs {name} > 0 "
          "(e.g. a softplus or exponential output); use 'additive' for "
          "signed inputs")]):
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


_PERTURBATIONS = {}


def get_perturbation(num_samples: int = 1000, sigma: float = 0.05,
                     noise: noise_lib.NoiseLike = "normal",
                     perturbation: str = ADDITIVE,
                     antithetic: bool = False) -> Perturbation:
  """A validated `Perturbation`, shared by every caller with its settings.

  Sharing keeps the compiled draw and backward of `perturbed` and of the
  functional Fenchel–Young loss from being traced again on every call.

  Raises:
    ValueError: as `Perturbation`.
  """
  key = (num_samples, sigma, noise if isinstance(noise, str) else id(noise),
         perturbation, antithetic)
  try:
    hash(key)
  except TypeError:  # An unhashable setting: Perturbation says what is wrong.
    return Perturbation(num_samples, sigma, noise, perturbation, antithetic)
  if key not in _PERTURBATIONS:
    # Holding the noise object keeps its id from being reused.
    _PERTURBATIONS[key] = (noise, Perturbation(num_samples, sigma, noise,
                                               perturbation, antithetic))
  return _PERTURBATIONS[key][1]


def resolve_seed(seed: SeedLike) -> tf.Tensor:
  """A `[2]` int64 stateless seed: fresh when `seed` is None.

  Args:
    seed: None (fresh noise on every call), a Python int, or a `[2]` integer
      tensor (e.g. from `keras.random.SeedGenerator.next()`).

  Returns:
    An int64 tensor of shape `[2]`.

  Raises:
    ValueError: if `seed` is neither.
  """
  if seed is None:
    return tf.random.uniform([2], maxval=2**62, dtype=tf.int64)
  if isinstance(seed, int) and not isinstance(seed, bool):
    return tf.constant([seed, 0], dtype=tf.int64)
  seed = tf.convert_to_tensor(seed)
  if not seed.dtype.is_integer or seed.shape.rank != 1 or seed.shape[0] != 2:
    raise ValueError(
        f"seed must be None, an int or a [2] integer tensor, got {seed!r}.")
  return tf.cast(seed, tf.int64)


def compute_dtype(dtype: tf.DType) -> tf.DType:
  """Noise, means and gradients are computed in float32 (float64 if given)."""
  return tf.float64 if dtype == tf.float64 else tf.float32


def vectorize(func: Callable, dtype: tf.DType) -> Callable:
  """Maps a one-example function over a leading axis, output cast to `dtype`.

  Uses `tf.vectorized_map`, and `tf.map_fn` where `func` works on one example
  but cannot be vectorised (e.g. Python control flow on tensor values in eager
  mode). A solver that already maps over rows (`func.maps_rows`, as a
  `numpy_solver`) is called on all rows at once.

  Raises:
    ValueError: at once, when `func` fails on one example (for example a
      function written for the M perturbed copies stacked along a leading
      axis, as google-research `perturbations` calls it with batched=False).
  """
  def batched_func(x, *args, **kwargs):
    if getattr(func, "maps_rows", False):
      return tf.cast(func(x, *args, **kwargs), dtype)

    def one(xi):
      return tf.cast(func(xi, *args, **kwargs), dtype)
    try:
      return tf.vectorized_map(one, x)
    except Exception:  # pylint: disable=broad-except
      try:  # Only a function that works on one example may be mapped.
        one(x[0])
      except Exception as error:  # pylint: disable=broad-except
        raise ValueError(
            f"The one-example solver {getattr(func, '__name__', func)!r} "
            f"failed on one example of shape {x.shape[1:]}: {error}. With "
            "batched=False, func takes a single example (google-research "
            "`perturbations` instead passes it the perturbed copies stacked "
            "along a leading axis). Write func for one example, or pass "
            "batched=True and let it take a [N, ...] batch.") from error
      return tf.map_fn(one, x, fn_output_signature=dtype)
  return batched_func


def solve(func: Callable, inputs: tf.Tensor, num_samples: int,
          dtype: tf.DType, args=(), kwargs=None) -> tf.Tensor:
  """Runs a batched `func` on the `[M·B, ...]` perturbed inputs in one call.

  Returns:
    The solutions, `[M, B, ...]`, cast to `dtype`.
  """
  y = tf.convert_to_tensor(func(inputs, *args, **(kwargs or {})))
  if y.shape.rank is None or y.shape.rank < 1:
    raise ValueError(
        f"func must return one output per input row ([M·B, ...] or [M·B]), "
        f"got shape {y.shape}.")
  return tf.reshape(tf.cast(y, dtype),
                    tf.concat([[num_samples, -1], tf.shape(y)[1:]], 0))


def check_rank(theta: tf.Tensor, batched: bool, name: str = "theta"):
  """Raises ValueError unless θ has a known rank ≥ 2 (batched) or ≥ 1."""
  min_rank = 2 if batched else 1
  if theta.shape.rank is None or theta.shape.rank < min_rank:
    raise ValueError(
        f"{name} must have rank >= {min_rank} with batched={batched} "
        f"({'[batch, ...]' if batched else 'one example'}), got shape "
        f"{theta.shape}." + (" Add a batch axis or pass batched=False."
                             if batched else ""))
  if not theta.dtype.is_floating:
    raise TypeError(f"{name} must be a floating tensor, got {theta.dtype}.")


def prepare(spec: Perturbation, theta, func: Callable, batched: bool,
            seed: tf.Tensor, sign: float = 1.0):
  """The set-up shared by `perturbed` and the Fenchel–Young loss.

  Checks θ, vectorises a one-example `func`, adds a batch axis to an
  unbatched θ and draws the noise (`Perturbation.draw`), outside any
  `tf.custom_gradient` (DESIGN.md). The draw is not recorded for gradients:
  the ops' own custom gradients carry θ's, and a tape need not keep the noise.

  Args:
    seed: a `[2]` int64 seed (see `resolve_seed`).

  Returns:
    `(theta_b, z, eta, inputs, solver)`: θ with a batch axis, and the
    noise, perturbed θ and solver inputs of `Perturbation.draw`; the batched
    solver.
  """
  theta = tf.convert_to_tensor(theta)
  check_rank(theta, batched)
  solver = func if batched else vectorize(func, compute_dtype(theta.dtype))
  theta_b = theta if batched else theta[tf.newaxis]
  return (theta_b, *spec.draw(tf.stop_gradient(theta_b), seed, sign), solver)


def perturbed(func: Optional[Callable] = None,
              num_samples: int = 1000,
              sigma: float = 0.05,
              noise: noise_lib.NoiseLike = "normal",
              batched: bool = True,
              *,
              perturbation: str = ADDITIVE,
              control_variate: bool = True,
              antithetic: bool = False,
              symmetrize: bool = False,
              regenerate_noise: bool = False,
              seed: SeedLike = None) -> Callable:
  """Turns a solver into its differentiable perturbed version.

  The returned function computes `y_ε(θ) = (1/M) Σ_m func(η(θ, Z_m))` and
  back-propagates with the integration-by-parts estimator. The positional
  arguments and defaults match google-research `perturbations.perturbed`.

  Args:
    func: the solver. With `batched=True` it maps `[N, ...]` to `[N, ...]` or
      `[N]` (one scalar per row) and is called once on all `M·B` perturbed
      inputs. With `batched=False` it maps one example; it is vectorised with
      `tf.vectorized_map` (or `tf.map_fn`). Any output dtype (cast to θ's).
      If None, returns a decorator.
    num_samples: M, the number of Monte Carlo samples.
    sigma: ε, the noise scale.
    noise: `'normal'`, `'gumbel'` or a noise object.
    batched: whether θ (and func's input) carry a leading batch axis.
      Unbatched θ is a single example.
    perturbation: `'additive'` or `'multiplicative'` (for positive θ).
    control_variate: subtract the leave-one-out mean of `<y_m, g>` in the
      backward pass (unbiased, lower variance). With `M = 1` the plain
      estimator is used.
    antithetic: use pairs `(Z, -Z)` (symmetric noise, even M).
    symmetrize: average the estimates of `Jᵀg` and `J g`. Valid (unbiased)
      only when func is a linear maximiser `argmax_{y ∈ C} <y, θ>` (argmax,
      top-k, ranks, shortest paths), whose perturbed Jacobian is the Hessian
      of `F_ε`, hence symmetric; additive noise, output of θ's shape. It
      halves the error for argmax (see the benchmarks).
    regenerate_noise: draw the `[M, B, ...]` noise again from its seed in the
      backward pass (the same numbers bit for bit) instead of keeping it from
      the forward pass: less memory held between the two passes, one more
      draw (see the benchmarks).
    seed: None for fresh noise on every call, or an int for identical noise
      (and outputs and gradients) on every call, in eager, `tf.function` and
      XLA. The returned function also takes a keyword `seed` (None, int or a
      `[2]` integer tensor) that overrides this one for a single call.

  Returns:
    `wrapper(theta, *args, seed=None, **kwargs)`; extra arguments go to func.

  Raises:
    ValueError: on invalid settings (at construction) or a θ of too low rank.

  Example:
    >>> @perturbed(num_samples=500, sigma=0.5, noise='gumbel', seed=0)
    ... def argmax(x):
    ...   return tf.one_hot(tf.argmax(x, -1), tf.shape(x)[-1])
    >>> y = argmax(tf.constant([[1.0, 2.0, 0.5]]))  # ≈ softmax(θ / 0.5)
  """
  if func is None:
    return functools.partial(
        perturbed, num_samples=num_samples, sigma=sigma, noise=noise,
        batched=batched, perturbation=perturbation,
        control_variate=control_variate, antithetic=antithetic,
        symmetrize=symmetrize, regenerate_noise=regenerate_noise, seed=seed)
  spec = get_perturbation(num_samples, sigma, noise, perturbation, antithetic)
  if symmetrize and perturbation != ADDITIVE:
    raise ValueError(
        "symmetrize=True needs perturbation='additive': only then is the "
        "Jacobian the (symmetric) Hessian of F_ε.")
  default_seed = seed
  if default_seed is not None:
    resolve_seed(default_seed)  # Validates at construction.

  def wrapper(theta, *args, seed: SeedLike = None, **kwargs):
    seed = resolve_seed(default_seed if seed is None else seed)
    theta_b, z, _, inputs, solver = prepare(spec, theta, func, batched, seed)
    dtype = z.dtype
    # The backward pass keeps the noise, or only its seed to draw it again.
    vjp, noise_or_seed = ((spec.vjp_from_seed, seed) if regenerate_noise
                          else (spec.vjp, z))

    @tf.custom_gradient
    def perturbed_op(theta_b):
      y = solve(solver, inputs, spec.num_samples, dtype, args, kwargs)

      def grad(upstream, variables=None):
        if symmetrize and y.shape[2:] != theta_b.shape[1:]:
          raise ValueError(
              "symmetrize=True needs func's output to have θ's shape, got "
              f"{y.shape[2:]} for θ of shape {theta_b.shape[1:]}.")
        g_theta = vjp(y, upstream, theta_b, noise_or_seed, control_variate,
                      symmetrize)
        if variables:
          return g_theta, [None] * len(variables)
        return g_theta

      return tf.cast(tf.reduce_mean(y, axis=0), theta_b.dtype), grad

    out = perturbed_op(theta_b)
    return out if batched else out[0]

  functools.update_wrapper(wrapper, func)
  # No `__wrapped__`: tf.function unwraps callables passed to it by that link
  # and would then run the bare solver.
  del wrapper.__wrapped__
  return wrapper
