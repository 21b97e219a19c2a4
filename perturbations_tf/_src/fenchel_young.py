"""The perturbed Fenchel–Young loss, `L_ε(θ; y) = F_ε(θ) + εΩ(y) - <θ, y>`.

Its gradient `y_ε(θ) - y` needs no Jacobian, only the M solver calls of the
forward pass. The value reported is the true loss up to the label-only
constant `εΩ(y)`: the Monte Carlo mean of `<y_m, η_m>` minus `<θ, y>`. A
minimiser's loss is the maximiser's loss of `−θ`.
"""

from __future__ import annotations

import warnings

import keras
import tensorflow as tf

from perturbations_tf._src import labels
from perturbations_tf._src import noise as noise_lib
from perturbations_tf._src import perturbation as perturbation_lib
from perturbations_tf._src import perturbed as perturbed_lib
from perturbations_tf._src import registry
from perturbations_tf._src import sense
from perturbations_tf._src import solver_loss
from perturbations_tf._src import targets
from perturbations_tf._src.perturbation import ADDITIVE
from perturbations_tf._src.perturbation import MULTIPLICATIVE
from perturbations_tf._src.types import DTypeLike
from perturbations_tf._src.types import SeedLike
from perturbations_tf._src.types import SolverLike
from perturbations_tf._src.types import TensorLike

_MULTIPLICATIVE_WARNING = (
  "The Fenchel–Young loss with perturbation='multiplicative' is positively "
  "homogeneous in θ (L(cθ; y) = c·L(θ; y)) and non-negative, so training "
  "drives θ towards 0. Prefer perturbation='additive' (with a min_cost "
  "floor for shortest paths) for the loss, and keep the multiplicative "
  "perturbation for perturbed layers."
)


def fenchel_young_loss(
  y_true: TensorLike,
  theta: TensorLike,
  solver: SolverLike,
  num_samples: int = 1000,
  sigma: float = 0.01,
  noise: noise_lib.NoiseLike = "normal",
  batched: bool = True,
  *,
  maximize: bool | None = None,
  perturbation: str = ADDITIVE,
  seed: SeedLike = None,
) -> tf.Tensor:
  """Per-example perturbed Fenchel–Young loss (up to the label constant).

  For a maximiser `y*(θ) = argmax_y <y, θ>` the value is
  `mean_m <y_m, η_m> - <θ, y>` with `y_m = y*(η_m)`; its gradient in θ is
  `mean_m y_m - y` (additive) or `mean_m y_m ⊙ exp(εZ_m - ε²/2) - y`
  (multiplicative): exactly the gradient of the reported estimate. For a
  minimiser (e.g. a shortest path over costs θ) everything is applied to
  `-θ`: the solver sees `θ - εZ` (additive) or `θ ⊙ exp(εZ - ε²/2)`.

  Args:
    y_true: the target structures `w*`, θ's shape `[B, ...]`, or
      `stack_targets(c, w*)`. Labels the solver cannot produce (e.g. rows
      that are not one-hot for argmax) raise.
    theta: the model's scores (maximiser) or costs (minimiser), `[B, ...]`.
    solver: the solver, as in `perturbed`; its output has θ's shape.
    num_samples: M.
    sigma: ε.
    noise: `'normal'`, `'gumbel'` or a noise object.
    batched: whether the solver takes a batch (True) or one example.
    maximize: None (as the solver declares), True or False.
    perturbation: `'additive'` or `'multiplicative'` (degenerate for this loss;
      see the warning `FenchelYoungLoss` raises).
    seed: None (fresh noise per call), an int, or a `[2]` integer tensor.

  Returns:
    The loss per example, `[B]`, in θ's dtype.

  Raises:
    ValueError: on invalid settings or shapes.

  Example:
    >>> theta = tf.constant([[1.0, 2.0, 0.5]])
    >>> y = tf.constant([[0.0, 1.0, 0.0]])
    >>> loss = fenchel_young_loss(y, theta, ptf.solvers.argmax,
    ...                           num_samples=100_000, sigma=1.0,
    ...                           noise='gumbel', seed=0)
    >>> # Its expectation: ε·(cross-entropy + γ) = 0.4644 + 0.5772.
    >>> abs(float(loss[0]) - 1.0416) < 0.02
    True
  """
  spec = perturbation_lib.get_perturbation(
    num_samples, sigma, noise, perturbation
  )
  solve_fn = registry.get_solver(solver)
  maximize = sense.resolve_sense(
    solve_fn, maximize, "fenchel_young_loss", undeclared=True
  )
  sign = sense.sign(maximize)
  theta, z, eta, inputs, batched_solver = perturbed_lib.prepare(
    spec,
    theta,
    solve_fn,
    batched,
    perturbation_lib.resolve_seed(seed),
    sign,
    "fenchel_young_loss",
  )
  y_true = labels.check_labels(
    solve_fn, targets.solutions_of(y_true, theta), "fenchel_young_loss"
  )

  @tf.custom_gradient
  def fy_op(theta: tf.Tensor, y_true: tf.Tensor):
    y = perturbed_lib.solve(
      batched_solver,
      inputs,
      spec.num_samples,
      z.dtype,
      "fenchel_young_loss",
      same_shape=True,
    )
    value, y_eps = _value_and_mean(spec, y, eta, z, theta, y_true, sign)

    def grad(upstream: tf.Tensor, variables: list | None = None):
      grads = _gradients(upstream, y_eps, theta, y_true, sign)
      if variables:
        return grads, [None] * len(variables)
      return grads

    return value, grad

  return fy_op(theta, y_true)


def _value_and_mean_graph(
  spec: perturbation_lib.Perturbation,
  y: tf.Tensor,
  eta: tf.Tensor,
  z: tf.Tensor,
  theta: tf.Tensor,
  y_true: tf.Tensor,
  sign: float,
):
  """`mean_m <y_m, η_m> - <θ', y>` and `y_ε` (with θ' = sign·θ)."""
  axes = tf.range(2, tf.rank(y))
  theta_c = sign * tf.cast(theta, y.dtype)
  value = tf.reduce_mean(
    tf.reduce_sum(y * eta, axis=axes), axis=0
  ) - tf.reduce_sum(theta_c * tf.cast(y_true, y.dtype), axis=axes - 1)
  if spec.perturbation != ADDITIVE:  # Additive: ∂η/∂θ = 1.
    y = y * spec.tangent(z)
  y_eps = tf.reduce_mean(y, axis=0)
  return tf.cast(value, theta.dtype), y_eps


_value_and_mean = perturbation_lib.Compiled(_value_and_mean_graph)


def _gradients_graph(
  upstream: tf.Tensor,
  y_eps: tf.Tensor,
  theta: tf.Tensor,
  y_true: tf.Tensor,
  sign: float,
):
  """The gradients in θ (`sign·g·(y_ε - y)`) and in y (`-sign·g·θ`)."""
  dtype = y_eps.dtype
  g = tf.reshape(
    tf.cast(upstream, dtype),
    tf.concat([tf.shape(upstream), tf.ones([tf.rank(y_eps) - 1], tf.int32)], 0),
  )
  y_c = tf.cast(y_true, dtype)
  return (
    tf.cast(sign * g * (y_eps - y_c), theta.dtype),
    tf.cast(-sign * g * tf.cast(theta, dtype), theta.dtype),
  )


# One graph in eager mode: its dozen small ops dispatched one by one cost
# as much as the loss's own work at small sizes (the overhead benchmark).
_gradients = perturbation_lib.Compiled(_gradients_graph)


@keras.saving.register_keras_serializable(package="perturbations_tf")
class FenchelYoungLoss(solver_loss.SolverLoss):
  """Perturbed Fenchel–Young loss as a Keras loss, `call(y_true, theta)`.

  Args:
    solver: the solver: a callable, a built-in solver name (`'argmax'`,
      `'top_k'`, `'ranks'`, `'sort'`, `'shortest_path'`, ...), a registered
      callable (`keras.saving.register_keras_serializable`) or a solver
      object; the last three serialise with the loss. A parametrised
      built-in comes with its parameters: `{'name': 'top_k', 'kwargs':
      {'k': 3}}`.
    num_samples: M.
    sigma: ε.
    noise: `'normal'`, `'gumbel'` or a noise object.
    batched: whether the solver takes a batch (True) or one example.
    maximize: None (as the solver declares), True or False.
    reduction: Keras reduction over the batch.
    name: the loss name.
    perturbation: `'additive'` or `'multiplicative'` (warns: degenerate).
    seed: the seed of the loss's `keras.random.SeedGenerator`: each call
      draws new noise, and a seeded loss draws the same sequence (an unseeded
      one follows `keras.utils.set_random_seed`). For identical noise on
      every call use the functional `fenchel_young_loss(seed=int)`.
    func: the name google-research `perturbations` gives `solver`, accepted
      for drop-in compatibility.

  `y_true` is the target structures `w*` (or `stack_targets(c, w*)`),
  `y_pred` the scores θ.

  Attributes:
    perturbed: the perturbed solver `θ ↦ y_ε(θ)` whose difference to the
      label is the loss's gradient (as google-research `perturbations`
      exposes it): the same solver, noise, perturbation and sense, fresh
      noise per call unless given `seed=`.

  Example:
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    >>> model.compile('adam', loss=FenchelYoungLoss('argmax', sigma=0.1))
  """

  # The reference's convention, which the migration guide promises: an
  # undeclared solver maximises.
  UNDECLARED_SENSE = True

  def __init__(
    self,
    solver: SolverLike | None = None,
    num_samples: int = 1000,
    sigma: float = 0.01,
    noise: noise_lib.NoiseLike = "normal",
    batched: bool = True,
    *,
    maximize: bool | None = None,
    reduction: str = "sum_over_batch_size",
    name: str = "fenchel_young",
    perturbation: str = ADDITIVE,
    seed: int | None = None,
    dtype: DTypeLike = None,
    func: SolverLike | None = None,
  ):
    if func is not None:
      if solver is not None:
        raise ValueError(
          "Pass the solver once: as solver= (or "
          "positionally), or as func=, the google-research "
          "name."
        )
      solver = func
    spec = perturbation_lib.get_perturbation(
      num_samples, sigma, noise, perturbation
    )  # Validates.
    super().__init__(
      solver,
      maximize=maximize,
      reduction=reduction,
      name=name,
      dtype=dtype,
      num_samples=num_samples,
      sigma=spec.sigma,
      noise=noise_lib.noise_name(spec.noise),
      batched=batched,
      perturbation=perturbation,
    )
    if perturbation == MULTIPLICATIVE:
      warnings.warn(_MULTIPLICATIVE_WARNING, UserWarning, stacklevel=2)
    self.spec = spec
    self.seed = seed
    self.seed_generator = keras.random.SeedGenerator(seed)
    self.perturbed = perturbed_lib.perturbed(
      self.solver,
      num_samples,
      sigma,
      spec.noise,
      batched,
      maximize=self.maximize,
      perturbation=perturbation,
    )

  def call(self, y_true: TensorLike, y_pred: TensorLike) -> tf.Tensor:
    """Per-example losses, in `y_pred`'s dtype."""
    return fenchel_young_loss(
      y_true,
      y_pred,
      self.solver,
      self.spec.num_samples,
      self.spec.sigma,
      self.spec.noise,
      self.options["batched"],
      maximize=self.maximize,
      perturbation=self.spec.perturbation,
      seed=self.seed_generator.next(),
    )

  def get_config(self) -> dict:
    return {**super().get_config(), "seed": self.seed}
