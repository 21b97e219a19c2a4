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
from perturbations_tf._src.perturbation import SeedLike
from perturbations_tf._src.types import SolverLike
from perturbations_tf._src.types import TensorLike

INFERENCE_MODES = ("smoothed", "exact")


def imle(
  solver: SolverLike,
  num_samples: int = 10,
  sigma: float = 1.0,
  lam: float = 10.0,
  noise: noise_lib.NoiseLike = "sum_of_gamma",
  two_sided: bool = False,
  maximize: bool | None = None,
  seed: SeedLike = None,
) -> Callable[..., tf.Tensor]:
  """The solver with I-MLE's perturb-and-MAP forward and gradient.

  Args:
    solver: a batched solver, `[N, ...]` → `[N, ...]` (a callable or a
      solver name, as for `Perturbed`); called on the M·B perturbed inputs
      at once, twice per step (three times with `two_sided`).
    num_samples: M ≥ 1.
    sigma: σ > 0, the noise scale.
    lam: λ > 0, the step to the target.
    noise: `'sum_of_gamma'` (PyEPO's, κ = 5; no XLA kernel), `'gumbel'`,
      `'normal'`, or an object with `sample(shape, seed, dtype)`.
    two_sided: central differences between the targets `θ ± sλg`.
    maximize: None (as the solver declares), True or False.
    seed: None (fresh noise per call) or an int; the returned function takes
      a keyword `seed` (None, int or `[2]` tensor) for one call.

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
  lam = validation.positive_number(lam, "lam")
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
        step = s * lam * tf.cast(upstream, theta.dtype)
        behind = solve_all(theta - step)
        ahead = solve_all(theta + step) if two_sided else w
        width = 2.0 * lam if two_sided else lam
        return tf.cast(
          s * tf.reduce_mean(ahead - behind, 0) / width, theta.dtype
        )

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
    maximize: None (as the solver declares), True or False.
    seed: the seed of the layer's `SeedGenerator`.
    inference: `'smoothed'` (default) or `'exact'`.
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
    maximize: bool | None = None,
    seed: int | None = None,
    inference: str = "smoothed",
    **kwargs: Any,
  ):
    super().__init__(solver, maximize, **kwargs)
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
    self.inference = validation.one_of(inference, INFERENCE_MODES, "inference")
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
