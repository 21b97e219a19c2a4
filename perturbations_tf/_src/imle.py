"""Implicit maximum-likelihood estimation (I-MLE), Niepert et al.,
"Implicit MLE: Backpropagating Through Discrete Exponential Family
Distributions" (NeurIPS 2021), as PyEPO offers it (`pyepo.func.implicitMLE`).

Perturb-and-MAP: the forward pass averages the solver over M perturbed
inputs, `(1/M) Σ_m w*(θ + σZ_m)` (for a minimiser, `w*(ĉ − σZ_m)`: as
everywhere here, a minimisation is the maximisation of `−ĉ`). The backward
pass compares those solutions with the solutions at a target moved against
the upstream gradient `g`, with the same noise:

    ∇ ≈ (s/(λM)) Σ_m [w*(θ + sσZ_m) − w*(θ − sλg + sσZ_m)],

s = `sense.sign(maximize)`, +1 for a maximiser, −1 for a minimiser (the
interpolation gradient of DBB, averaged over perturbations).
`two_sided=True` uses the targets `θ ± sλg` and divides by 2λ. The default
noise is PyEPO's Sum-of-Gamma.

Adaptive I-MLE (`AIMLE`; Minervini, Franceschi & Niepert, "Adaptive
Perturbation-Based Gradient Estimation for Discrete Latent Variable
Models", AAAI 2023) sets the step from the data, `λ = α‖θ‖/‖g‖` (norms over
the batch), so that the target keeps a distance to θ proportional to θ's
own norm whatever the scale of g, and adapts α so that the gradient is not
too sparse: α grows by a small step while the moving average (momentum
0.9) of the fraction of non-zero gradient entries is below a target
density, and shrinks otherwise. The density, its target 1 (every entry)
and the step 1e-3 from α = 1 are PyEPO 2.2.7's (`pyepo.func.AIMLE`); the
paper states its target as a number of non-zero entries per example.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
import tensorflow as tf

from perturbations_tf._src import noise as noise_lib
from perturbations_tf._src import perturbation as perturbation_lib
from perturbations_tf._src import perturbed as perturbed_lib
from perturbations_tf._src import registry
from perturbations_tf._src import sense
from perturbations_tf._src import solver_layer
from perturbations_tf._src import validation
from perturbations_tf._src.types import SeedLike
from perturbations_tf._src.types import SolverLike
from perturbations_tf._src.types import TensorLike

# Gradient entries at most this large count as zero in AIMLE's density.
_ZERO = 1e-7


class AdaptiveStep:
  """AIMLE's step `λ = α‖θ‖/‖g‖` and the rule that adapts α.

  Its state lives in two scalar Keras variables (`alpha`, `density`), so it
  is saved and restored with the layer that owns them.

  Args:
    alpha: the variable holding α.
    density: the variable holding the moving average of the gradient's
      density (the fraction of its non-zero entries).
    target_density: the density α is adapted to reach, in (0, 1].
    alpha_step: α's change per step.
  """

  def __init__(
    self,
    alpha: keras.Variable,
    density: keras.Variable,
    target_density: float,
    alpha_step: float,
  ):
    self.alpha = alpha
    self.density = density
    self.target_density = target_density
    self.alpha_step = alpha_step

  def step(self, theta: tf.Tensor, upstream: tf.Tensor) -> tf.Tensor:
    """λ for this batch (0 when the upstream gradient is 0)."""
    alpha = tf.cast(self.alpha, theta.dtype)
    return alpha * tf.math.divide_no_nan(tf.norm(theta), tf.norm(upstream))

  def observe(self, gradient: tf.Tensor) -> None:
    """Updates the density's average and α from one estimated gradient."""
    nonzero = tf.reduce_mean(tf.cast(tf.abs(gradient) > _ZERO, tf.float32))
    density = 0.9 * tf.cast(self.density, tf.float32) + 0.1 * nonzero
    self.density.assign(tf.cast(density, self.density.dtype))
    alpha = tf.cast(self.alpha, tf.float32)
    alpha = tf.where(
      density < self.target_density,
      alpha + self.alpha_step,
      tf.maximum(alpha - self.alpha_step, 0.0),
    )
    self.alpha.assign(tf.cast(alpha, self.alpha.dtype))


def imle(
  solver: SolverLike,
  num_samples: int = 10,
  sigma: float = 1.0,
  lam: float | AdaptiveStep = 10.0,
  noise: noise_lib.NoiseLike = "sum_of_gamma",
  two_sided: bool = False,
  seed: SeedLike = None,
  *,
  maximize: bool | None = None,
) -> Callable[..., tf.Tensor]:
  """The solver with I-MLE's perturb-and-MAP forward and gradient.

  Args:
    solver: a batched solver, `[N, ...]` → `[N, ...]` (a callable or a
      solver name, as for `Perturbed`); called on the M·B perturbed inputs
      at once, twice per step (three times with `two_sided`).
    num_samples: M ≥ 1.
    sigma: σ > 0, the noise scale.
    lam: λ > 0, the step to the target; or an `AdaptiveStep` (AIMLE's λ,
      set per batch and adapted after each gradient).
    noise: `'sum_of_gamma'` (PyEPO's, κ = 5; no XLA kernel), `'gumbel'`,
      `'normal'`, or an object with `sample(shape, seed, dtype)`.
    two_sided: central differences between the targets `θ ± sλg`.
    seed: None (fresh noise per call) or an int; the returned function takes
      a keyword `seed` (None, int or `[2]` tensor) for one call.
    maximize: None (as the solver declares), True or False.

  Returns:
    `solve(theta, seed=None)`: the mean perturbed solution, θ's shape and
    dtype, with the I-MLE gradient.

  Raises:
    ValueError: on invalid settings.

  Example:
    >>> decide = imle('grid_arc_shortest_path', num_samples=10, sigma=1.0,
    ...               lam=10.0, seed=0)
    >>> decide(tf.ones([3, 40])).shape  # The mean of 10 perturbed paths.
    TensorShape([3, 40])
  """
  solver = registry.get_solver(solver)
  spec = perturbation_lib.get_perturbation(num_samples, sigma)  # M, σ.
  adaptive = lam if isinstance(lam, AdaptiveStep) else None
  fixed_lam = 0.0 if adaptive else validation.positive_number(lam, "lam")
  noise_obj = noise_lib.get_noise(noise, sample_only=True)
  s = sense.sign(sense.resolve_sense(solver, maximize, "imle"))
  default_seed = seed
  if seed is not None:
    perturbation_lib.resolve_seed(seed)

  def wrapper(theta: TensorLike, seed: SeedLike = None) -> tf.Tensor:
    theta = validation.check_batched(theta, "imle's input θ")
    theta = spec.check_input(theta)
    dtype = validation.compute_dtype(theta.dtype)
    z = noise_obj.sample(
      tf.concat([[num_samples], tf.shape(theta)], 0),
      perturbation_lib.resolve_seed(default_seed if seed is None else seed),
      dtype,
    )
    shift = tf.stop_gradient(s * sigma * z)  # [M, B, ...]

    def solve_all(center: tf.Tensor) -> tf.Tensor:
      inputs = tf.cast(center, dtype)[tf.newaxis] + shift
      flat = tf.reshape(inputs, tf.concat([[-1], tf.shape(theta)[1:]], 0))
      return perturbed_lib.solve(
        solver,
        tf.cast(flat, theta.dtype),
        num_samples,
        dtype,
        "imle",
        same_shape=True,
      )

    @tf.custom_gradient
    def imle_op(theta: tf.Tensor):
      w = solve_all(theta)

      def grad(upstream: tf.Tensor) -> tf.Tensor:
        upstream = tf.cast(upstream, theta.dtype)
        lam_now = (
          fixed_lam if adaptive is None else adaptive.step(theta, upstream)
        )
        step = s * lam_now * upstream
        behind = solve_all(theta - step)
        ahead = solve_all(theta + step) if two_sided else w
        width = tf.cast(2.0 * lam_now if two_sided else lam_now, dtype)
        gradient = tf.cast(
          s * tf.math.divide_no_nan(tf.reduce_mean(ahead - behind, 0), width),
          theta.dtype,
        )
        if adaptive is not None:
          adaptive.observe(gradient)
        return gradient

      return tf.cast(tf.reduce_mean(w, axis=0), theta.dtype), grad

    return imle_op(theta)

  return wrapper


@keras.saving.register_keras_serializable(package="perturbations_tf")
class IMLE(solver_layer.SolverLayer):
  """`imle(...)` as a Keras layer, seeded by a `keras.random.SeedGenerator`.

  Training draws fresh noise at every step; inference is deterministic, as
  for `Perturbed` (`inference='smoothed'`: the perturbed mean with noise
  fixed by the layer's seed; `'exact'`: the solver's own output).

  Args:
    solver: the batched solver, as for `imle`.
    num_samples: M.
    sigma: σ, the noise scale.
    lam: λ, the step to the target.
    noise: a noise name (a noise object does not serialise).
    two_sided: central differences.
    seed: the seed of the layer's `SeedGenerator`.
    inference: `'smoothed'` (default) or `'exact'`.
    maximize: None (as the solver declares), True or False.
    **kwargs: `keras.layers.Layer` arguments.

  Example:
    >>> layer = IMLE('grid_arc_shortest_path', num_samples=10, lam=10.0)
    >>> bool(tf.reduce_all(layer(tf.ones([2, 40])) == layer(tf.ones([2, 40]))))
    True
  """

  def __init__(
    self,
    solver: SolverLike,
    num_samples: int = 10,
    sigma: float = 1.0,
    lam: float = 10.0,
    noise: noise_lib.NoiseLike = "sum_of_gamma",
    two_sided: bool = False,
    seed: int | None = None,
    inference: str = "smoothed",
    *,
    maximize: bool | None = None,
    **kwargs: Any,
  ):
    super().__init__(solver, maximize=maximize, **kwargs)
    self._options: dict[str, Any] = dict(
      num_samples=num_samples,
      sigma=sigma,
      lam=lam,
      noise=noise,
      two_sided=two_sided,
    )
    self._solve = imle(self.solver, maximize=self.maximize, **self._options)
    self.seed = seed
    self.seed_generator = keras.random.SeedGenerator(seed)
    self.inference = validation.one_of(
      inference, solver_layer.INFERENCE_MODES, "inference"
    )
    self.supports_jit = self.supports_jit and noise != "sum_of_gamma"

  def call(self, inputs: tf.Tensor, training: bool | None = None) -> tf.Tensor:
    if training:
      return self._solve(inputs, seed=self.seed_generator.next())
    if self.inference == "exact":
      return tf.cast(self.solver(inputs), inputs.dtype)
    return self._solve(inputs, seed=self.seed or 0)

  def get_config(self) -> dict:
    return {
      **super().get_config(),
      **self._options,
      "seed": self.seed,
      "inference": self.inference,
    }


@keras.saving.register_keras_serializable(package="perturbations_tf")
class AIMLE(IMLE):
  """Adaptive I-MLE as a Keras layer: `IMLE` whose step λ follows the data.

  `λ = α‖θ‖/‖g‖` for each batch, α adapted after each backward pass towards
  a gradient density (see the module's docstring; Minervini et al., AAAI
  2023, as PyEPO's `AIMLE`). α and the density's average are the layer's
  non-trainable weights: saved with it, restored with it.

  Args:
    solver: the batched solver, as for `IMLE`.
    num_samples: M.
    sigma: σ, the noise scale.
    noise: a noise name.
    two_sided: central differences.
    seed: the seed of the layer's `SeedGenerator`.
    inference: `'smoothed'` (default) or `'exact'`.
    target_density: the fraction of non-zero gradient entries α aims at,
      in (0, 1].
    alpha_step: α's change per training step, > 0.
    maximize: None (as the solver declares), True or False.
    **kwargs: `keras.layers.Layer` arguments.

  Example:
    >>> layer = AIMLE('grid_arc_shortest_path', num_samples=10, seed=0)
    >>> theta = tf.Variable(tf.ones([2, 40]))
    >>> with tf.GradientTape() as tape:
    ...   loss = tf.reduce_sum(layer(theta, training=True) * tf.range(40.0))
    >>> _ = tape.gradient(loss, theta)
    >>> round(float(layer.alpha.numpy()), 3)  # Density below 1: α grew.
    1.001
  """

  def __init__(
    self,
    solver: SolverLike,
    num_samples: int = 10,
    sigma: float = 1.0,
    noise: noise_lib.NoiseLike = "sum_of_gamma",
    two_sided: bool = False,
    seed: int | None = None,
    inference: str = "smoothed",
    target_density: float = 1.0,
    alpha_step: float = 1e-3,
    *,
    maximize: bool | None = None,
    **kwargs: Any,
  ):
    super().__init__(
      solver,
      num_samples,
      sigma,
      1.0,  # λ is replaced below.
      noise,
      two_sided,
      maximize=maximize,
      seed=seed,
      inference=inference,
      **kwargs,
    )
    del self._options["lam"]
    self.target_density = validation.fraction(target_density, "target_density")
    self.alpha_step = validation.positive_number(alpha_step, "alpha_step")
    self.alpha = self.add_weight(
      shape=(), initializer="ones", trainable=False, name="alpha"
    )
    self.density = self.add_weight(
      shape=(), initializer="ones", trainable=False, name="density"
    )
    self._solve = imle(
      self.solver,
      maximize=self.maximize,
      lam=AdaptiveStep(
        self.alpha, self.density, self.target_density, self.alpha_step
      ),
      **self._options,
    )

  def get_config(self) -> dict:
    return {
      **super().get_config(),
      "target_density": self.target_density,
      "alpha_step": self.alpha_step,
    }
