"""Structured margin losses: the structured SVM and the imitation loss of
Dalle et al., "Learning with Combinatorial Optimization Layers: a
Probabilistic Approach" (2022), InferOpt's `StructuredSVMLoss` and
`ImitationLoss`.

For a maximiser of `⟨θ, y⟩` over decisions `y ∈ {0, 1}ⁿ`, a target `ȳ`,
the Hamming margin `δ(y, ȳ) = ‖y − ȳ‖₁`, a scale `α` and a regulariser Ω,

    ℓ(θ; ȳ) = max_y {m·δ(y, ȳ) + α⟨θ, y − ȳ⟩ − Ω(y)} + Ω(ȳ).

On the convex hull of 0/1 decisions `δ(y, ȳ) = ⟨1 − 2ȳ, y⟩ + ⟨1, ȳ⟩` is
linear in `y`, so with `ψ = αθ + m(1 − 2ȳ)` the loss is the Fenchel–Young
loss of Ω at the shifted scores: `ℓ(θ; ȳ) = L_Ω(ψ; ȳ)` (the constant terms
cancel because `⟨ȳ, ȳ⟩ = ⟨1, ȳ⟩`). Its gradient is `α(∇F_Ω(ψ) − ȳ)`.

- Ω = 0 (`sigma=0`): the structured SVM, `m·δ(ŷ, ȳ) + α⟨θ, ŷ − ȳ⟩` with
  `ŷ` the solver's answer at `ψ`: the loss-augmented problem is the same
  linear solver on shifted scores. Non-negative (`y = ȳ` gives 0).
- Ω induced by the perturbation `εZ` (`sigma=ε`): the perturbed
  Fenchel–Young loss at `ψ` (the library's, up to its label constant), so
  `margin=0, alpha=1` is `fenchel_young_loss` itself.

A minimiser (costs θ) is the maximiser of `−θ`: the solver sees
`αθ − m(1 − 2ȳ)`.
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from perturbations_tf._src import fenchel_young
from perturbations_tf._src import invariants
from perturbations_tf._src import labels
from perturbations_tf._src import noise as noise_lib
from perturbations_tf._src import perturbation as perturbation_lib
from perturbations_tf._src import registry
from perturbations_tf._src import sense
from perturbations_tf._src import solver_loss
from perturbations_tf._src import solving
from perturbations_tf._src import targets
from perturbations_tf._src import validation
from perturbations_tf._src.types import DTypeLike
from perturbations_tf._src.types import SeedLike
from perturbations_tf._src.types import SolverLike
from perturbations_tf._src.types import TensorLike


def _binary_targets(
  y_true: TensorLike, y_pred: tf.Tensor, solver: Any, owner: str
) -> tf.Tensor:
  """The target decisions `ȳ`, checked to be 0/1 (the Hamming margin's
  linear form needs it) and producible by the solver."""
  y = targets.solutions_of(y_true, y_pred)
  y = invariants.checked(
    y,
    invariants.is_binary(y),
    f"{owner}: the Hamming margin needs 0/1 target decisions (one-hot "
    "classes, k-subsets, paths as arc or cell masks); these are not.",
  )
  return labels.check_labels(solver, y, owner)


def _svm_settings(alpha: float = 1.0, margin: float = 1.0) -> dict:
  """The structured SVM's settings, checked."""
  if not alpha > 0:
    raise ValueError(f"alpha must be positive, got {alpha}.")
  if not margin >= 0:
    raise ValueError(f"margin must be non-negative, got {margin}.")
  return {"alpha": alpha, "margin": margin}


def _imitation_settings(
  num_samples: int = 1000,
  sigma: float = 0.1,
  noise: noise_lib.NoiseLike = "normal",
  alpha: float = 1.0,
  margin: float = 1.0,
) -> dict:
  """The imitation loss's settings, checked (M, ε and the noise as the
  perturbed losses check them, when ε > 0)."""
  if not sigma >= 0:
    raise ValueError(f"sigma must be non-negative, got {sigma}.")
  if sigma > 0:
    perturbation_lib.get_perturbation(num_samples, sigma, noise, "additive")
  return {
    "num_samples": num_samples,
    "sigma": sigma,
    "noise": noise_lib.noise_name(noise),
    **_svm_settings(alpha, margin),
  }


def structured_svm_loss(
  y_true: TensorLike,
  y_pred: TensorLike,
  solver: SolverLike,
  *,
  alpha: float = 1.0,
  margin: float = 1.0,
  maximize: bool | None = None,
) -> tf.Tensor:
  """Per-example structured SVM loss with the Hamming margin.

  `max_y {m‖y − ȳ‖₁ + α s⟨θ, y − ȳ⟩}` with `s = +1` for a maximiser of
  `⟨θ, y⟩` and `−1` for a minimiser of costs θ; one solve per example, of
  the loss-augmented problem `αθ + s·m(1 − 2ȳ)`.

  Args:
    y_true: the target decisions `ȳ` (0/1), `y_pred`'s shape, or
      `stack_targets(c, w*)`.
    y_pred: the scores or costs θ, `[B, ...]`.
    solver: the batched solver of the problem.
    alpha: α > 0, the scale of the scores against the margin.
    margin: m ≥ 0, the weight of the Hamming margin (0: the perceptron).
    maximize: None (as the solver declares), True or False.

  Returns:
    The losses, `[B]`, in θ's dtype: non-negative; the gradient is
    `α s (ŷ − ȳ)`.

  Raises:
    ValueError: on bad settings or shapes, or an undeclared sense.
    tf.errors.InvalidArgumentError: on targets that are not 0/1 or that the
      solver cannot produce, and on a negative value (the solver did not
      solve the loss-augmented problem; NaN under XLA).

  Example:
    >>> theta = tf.constant([[2.0, 1.0, 0.0]])
    >>> y = tf.constant([[0.0, 1.0, 0.0]])
    >>> # Class 0 wins by 1 < 1 + margin: max(2 - 1 + 2, 0, 0 - 1 + 2) = 3.
    >>> structured_svm_loss(y, theta, ptf.solvers.argmax).numpy()
    array([3.], dtype=float32)
  """
  _svm_settings(alpha, margin)
  solver = registry.get_solver(solver)
  s = sense.sign(sense.resolve_sense(solver, maximize, "structured_svm_loss"))
  theta = validation.check_batched(y_pred, "y_pred")
  dtype = validation.compute_dtype(theta.dtype)
  y_bar = tf.cast(
    _binary_targets(y_true, theta, solver, "structured_svm_loss"), dtype
  )

  @tf.custom_gradient
  def ssvm(theta: tf.Tensor):
    scores = alpha * tf.cast(theta, dtype)
    shifted = scores + s * margin * (1.0 - 2.0 * y_bar)
    y_hat = solving.call_solver(
      solver,
      tf.cast(shifted, theta.dtype),
      "structured_svm_loss",
      dtype=dtype,
      same_shape=True,
    )
    gap = y_hat - y_bar
    value = margin * targets.inner(tf.abs(gap), tf.ones_like(gap))
    value += s * targets.inner(scores, gap)
    value = invariants.non_negative(
      value,
      targets.objective_scale(shifted, y_bar, y_hat),
      "structured_svm_loss",
      "the structured SVM loss",
      s > 0,
    )

    def grad(upstream: tf.Tensor) -> tf.Tensor:
      g = targets.per_example(upstream, gap)
      return tf.cast(alpha * s * g * gap, theta.dtype)

    return tf.cast(value, theta.dtype), grad

  return ssvm(theta)


def imitation_loss(
  y_true: TensorLike,
  y_pred: TensorLike,
  solver: SolverLike,
  num_samples: int = 1000,
  sigma: float = 0.1,
  noise: noise_lib.NoiseLike = "normal",
  *,
  alpha: float = 1.0,
  margin: float = 1.0,
  maximize: bool | None = None,
  seed: SeedLike = None,
) -> tf.Tensor:
  """Per-example imitation loss: Hamming margin m, perturbation Ω of ε.

  `L_Ω(ψ; ȳ)` at `ψ = αθ + s·m(1 − 2ȳ)` (see the module): with
  `sigma=0` the structured SVM (`structured_svm_loss`), with `margin=0`
  and `alpha=1` the perturbed Fenchel–Young loss (`fenchel_young_loss`).

  Args:
    y_true: the target decisions `ȳ` (0/1), or `stack_targets(c, w*)`.
    y_pred: the scores or costs θ, `[B, ...]`.
    solver: the batched solver of the problem.
    num_samples: M, the perturbed solves per example (unused at ε = 0).
    sigma: ε ≥ 0, the scale of the perturbation that induces Ω.
    noise: `'normal'`, `'gumbel'` or a noise object.
    alpha: α > 0.
    margin: m ≥ 0.
    maximize: None (as the solver declares), True or False.
    seed: None (fresh noise per call), an int, or a `[2]` integer tensor.

  Returns:
    The losses, `[B]`, in θ's dtype; the gradient is `α s (y_ε(ψ) − ȳ)`.

  Raises:
    ValueError: on bad settings or shapes, or an undeclared sense.
    tf.errors.InvalidArgumentError: on targets that are not 0/1 or that the
      solver cannot produce.

  Example:
    >>> theta = tf.constant([[2.0, 1.0, 0.0]])
    >>> y = tf.constant([[0.0, 1.0, 0.0]])
    >>> # ε = 0: the structured SVM.
    >>> imitation_loss(y, theta, ptf.solvers.argmax, sigma=0.0).numpy()
    array([3.], dtype=float32)
  """
  _imitation_settings(num_samples, sigma, noise, alpha, margin)
  if sigma == 0:
    return structured_svm_loss(
      y_true, y_pred, solver, alpha=alpha, margin=margin, maximize=maximize
    )
  solver = registry.get_solver(solver)
  s = sense.sign(sense.resolve_sense(solver, maximize, "imitation_loss"))
  theta = validation.check_batched(y_pred, "y_pred")
  y_bar = tf.stop_gradient(
    tf.cast(
      _binary_targets(y_true, theta, solver, "imitation_loss"), theta.dtype
    )
  )
  shifted = alpha * theta + s * margin * (1.0 - 2.0 * y_bar)
  return fenchel_young.fenchel_young_loss(
    y_bar,
    shifted,
    solver,
    num_samples,
    sigma,
    noise,
    maximize=s > 0,
    seed=seed,
  )


structured_svm_loss.check_settings = _svm_settings  # type: ignore[attr-defined]
imitation_loss.check_settings = _imitation_settings  # type: ignore[attr-defined]


@keras.saving.register_keras_serializable(package="perturbations_tf")
class StructuredSVMLoss(solver_loss.SolverLoss):
  """The structured SVM loss with the Hamming margin, as a Keras loss.

  Args:
    solver: the batched solver (a callable, a built-in name or a solver
      object, as for `SPOPlusLoss`).
    alpha: α > 0, the scale of the scores against the margin.
    margin: m ≥ 0, the margin's weight.
    maximize: None (as the solver declares), True or False.
    reduction: the Keras reduction over the batch.
    name: the loss's name.
    dtype: the loss's dtype (Keras).

  `y_true` is the 0/1 target decisions (or `stack_targets(c, w*)`),
  `y_pred` the scores or costs. See `structured_svm_loss`.

  Example:
    >>> loss = StructuredSVMLoss({'name': 'grid_arc_shortest_path',
    ...                           'kwargs': {'grid': (5, 5)}})
    >>> loss.maximize
    False
  """

  FUNCTION = staticmethod(structured_svm_loss)

  def __init__(
    self,
    solver: SolverLike,
    alpha: float = 1.0,
    margin: float = 1.0,
    *,
    maximize: bool | None = None,
    reduction: str = "sum_over_batch_size",
    name: str = "structured_svm",
    dtype: DTypeLike = None,
  ):
    super().__init__(
      solver,
      maximize=maximize,
      reduction=reduction,
      name=name,
      dtype=dtype,
      alpha=alpha,
      margin=margin,
    )


@keras.saving.register_keras_serializable(package="perturbations_tf")
class ImitationLoss(solver_loss.SolverLoss):
  """The imitation loss (Hamming margin, perturbation-induced Ω), as a
  Keras loss.

  Args:
    solver: the batched solver.
    num_samples: M.
    sigma: ε ≥ 0 (0: the structured SVM).
    noise: `'normal'`, `'gumbel'` or a noise object.
    alpha: α > 0.
    margin: m ≥ 0 (0 with α = 1: the Fenchel–Young loss).
    maximize: None (as the solver declares), True or False.
    seed: the seed of the loss's `keras.random.SeedGenerator` (new noise on
      every call, the same sequence for the same seed).
    reduction: the Keras reduction over the batch.
    name: the loss's name.
    dtype: the loss's dtype (Keras).

  Example:
    >>> loss = ImitationLoss('argmax', num_samples=100, sigma=0.5, seed=0)
    >>> y = tf.constant([[0.0, 1.0, 0.0]])
    >>> bool(loss(y, tf.constant([[2.0, 1.0, 0.0]])) > 0)
    True
  """

  FUNCTION = staticmethod(imitation_loss)

  def __init__(
    self,
    solver: SolverLike,
    num_samples: int = 1000,
    sigma: float = 0.1,
    noise: noise_lib.NoiseLike = "normal",
    alpha: float = 1.0,
    margin: float = 1.0,
    *,
    maximize: bool | None = None,
    seed: int | None = None,
    reduction: str = "sum_over_batch_size",
    name: str = "imitation",
    dtype: DTypeLike = None,
  ):
    super().__init__(
      solver,
      maximize=maximize,
      reduction=reduction,
      name=name,
      dtype=dtype,
      num_samples=num_samples,
      sigma=sigma,
      noise=noise,
      alpha=alpha,
      margin=margin,
    )
    self.seed = seed
    self.seed_generator = keras.random.SeedGenerator(seed)

  def call(self, y_true: TensorLike, y_pred: TensorLike) -> tf.Tensor:
    """Per-example losses, in `y_pred`'s dtype."""
    return imitation_loss(
      y_true,
      y_pred,
      self.solver,
      maximize=self.maximize,
      seed=self.seed_generator.next(),
      **self.options,
    )

  def get_config(self) -> dict:
    return {**super().get_config(), "seed": self.seed}
