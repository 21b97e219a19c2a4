"""The perturbed optimizer `y_ε(θ) = E[y*(θ + εZ)]`, with a Monte Carlo
Jacobian.

`perturbed(solver)` turns any solver `y*` — argmax, ranks, shortest paths, a
black-box — into a differentiable function. The forward pass averages the
solver over `num_samples` perturbed copies of its input; the backward pass
is the integration-by-parts estimator of Berthet et al. (2020),

    J y_ε(θ)ᵀ g ≈ (1 / (εM)) Σ_m (<y_m, g> - b_m) ∇ν(Z_m),

where `b_m` is an optional control variate (unbiased because `E[∇ν(Z)] = 0`).
A minimiser of `<y, θ>` is the maximiser of `<y, −θ>`, so under additive
noise it sees `θ − εZ` (the same law for symmetric noise).
"""

from __future__ import annotations

from collections.abc import Callable
import functools
from typing import Any

import tensorflow as tf

from perturbations_tf._src import noise as noise_lib
from perturbations_tf._src import perturbation as perturbation_lib
from perturbations_tf._src import registry
from perturbations_tf._src import sense
from perturbations_tf._src import solving
from perturbations_tf._src import validation
from perturbations_tf._src.perturbation import ADDITIVE
from perturbations_tf._src.types import SeedLike
from perturbations_tf._src.types import SolverLike
from perturbations_tf._src.types import TensorLike


def prepare(
  spec: perturbation_lib.Perturbation,
  theta: TensorLike,
  solver: Callable[..., TensorLike],
  batched: bool,
  seed: tf.Tensor,
  sign: float,
  owner: str,
):
  """The set-up shared by `perturbed` and the Fenchel–Young loss.

  Checks θ, vectorises a one-example solver and draws the noise
  (`Perturbation.draw`), outside any `tf.custom_gradient` (whose function
  must not read variables). The draw is not recorded for gradients: the
  ops' own custom gradients carry θ's, and a tape need not keep the noise.

  Args:
    seed: a `[2]` int64 seed (see `resolve_seed`).
    sign: `sense.sign(maximize)`.

  Returns:
    `(theta, z, eta, inputs, batched_solver)`: θ as a tensor, and the noise,
    perturbed θ and solver inputs of `Perturbation.draw`; the batched solver.
  """
  theta = validation.check_batched(theta, owner + "'s input θ")
  validation.check_floating(theta, owner + "'s input θ")
  if not batched:
    solver = solving.vectorize(solver, validation.compute_dtype(theta.dtype))
  return (theta, *spec.draw(tf.stop_gradient(theta), seed, sign), solver)


def solve(
  solver: Callable,
  inputs: tf.Tensor,
  num_samples: int,
  dtype: tf.DType,
  owner: str,
  same_shape: bool = False,
  args: tuple = (),
  kwargs: dict | None = None,
) -> tf.Tensor:
  """Runs a batched solver on the `[M·B, ...]` perturbed inputs in one call.

  Returns:
    The solutions, `[M, B, ...]`, cast to `dtype`.
  """
  y = solving.call_solver(
    solver,
    inputs,
    owner,
    dtype=dtype,
    same_shape=same_shape,
    args=args,
    kwargs=kwargs,
  )
  return tf.reshape(y, tf.concat([[num_samples, -1], tf.shape(y)[1:]], 0))


def perturbed(
  solver: SolverLike | None = None,
  num_samples: int = 1000,
  sigma: float = 0.05,
  noise: noise_lib.NoiseLike = "normal",
  batched: bool = True,
  *,
  maximize: bool | None = None,
  perturbation: str = ADDITIVE,
  control_variate: bool = True,
  antithetic: bool = False,
  symmetrize: bool = False,
  regenerate_noise: bool = False,
  seed: SeedLike = None,
  func: SolverLike | None = None,
) -> Callable[..., Any]:
  """Turns a solver into its differentiable perturbed version.

  The returned function computes `y_ε(θ) = (1/M) Σ_m y*(η(θ, Z_m))` and
  back-propagates with the integration-by-parts estimator. The positional
  arguments and defaults match google-research `perturbations.perturbed`.

  Args:
    solver: the solver `y*` (a callable, or a built-in or registered name,
      as for `Perturbed`). With `batched=True` it maps `[N, ...]` to
      `[N, ...]` or `[N]` (one scalar per row) and is called once on all
      `M·B` perturbed inputs. With `batched=False` it maps one example and
      is vectorised with `tf.vectorized_map` (or `tf.map_fn`). Any output
      dtype (cast to θ's). If None, returns a decorator.
    num_samples: M, the number of Monte Carlo samples.
    sigma: ε, the noise scale.
    noise: `'normal'`, `'gumbel'` or a noise object.
    batched: whether the solver takes a batch `[N, ...]` (True) or one
      example (False). θ always carries a leading batch axis `[B, ...]`.
    maximize: None (as the solver declares; a solver that declares nothing
      maximises), True or False. A minimiser sees `θ − εZ` under additive
      noise (the same law for symmetric noise).
    perturbation: `'additive'` or `'multiplicative'` (for positive θ).
    control_variate: subtract the leave-one-out mean of `<y_m, g>` in the
      backward pass (unbiased, lower variance). With `M = 1` the plain
      estimator is used.
    antithetic: use pairs `(Z, -Z)` (symmetric noise, even M).
    symmetrize: average the estimates of `Jᵀg` and `J g`. Valid (unbiased)
      only when the solver is linear, `argmax_{y ∈ C} <y, θ>` (argmax,
      top-k, ranks, shortest paths), whose perturbed Jacobian is the Hessian
      of `F_ε`, hence symmetric; additive noise, output of θ's shape. It
      halves the error for argmax (`benchmarks/gradient_quality.py`).
    regenerate_noise: draw the `[M, B, ...]` noise again from its seed in the
      backward pass (the same numbers bit for bit) instead of keeping it from
      the forward pass: less memory held between the two passes, one more
      draw (`benchmarks/memory.py`).
    seed: None for fresh noise on every call, or an int for identical noise
      (and outputs and gradients) on every call, in eager, `tf.function` and
      XLA. The returned function also takes a keyword `seed` (None, int or a
      `[2]` integer tensor) that overrides this one for a single call.
    func: the name google-research `perturbations` gives `solver`, accepted
      for drop-in compatibility.

  Returns:
    `wrapper(theta, *args, seed=None, **kwargs)`; extra arguments go to the
    solver.

  Raises:
    ValueError: on invalid settings (at construction), a θ without batch
      axis, or a solver that does not return one solution per row.

  Example:
    >>> @perturbed(num_samples=10_000, sigma=0.5, noise='gumbel', seed=0)
    ... def argmax(x):
    ...   return tf.one_hot(tf.argmax(x, -1), tf.shape(x)[-1])
    >>> theta = tf.constant([[1.0, 2.0, 0.5]])
    >>> y = argmax(theta)  # Exactly softmax(θ / 0.5) in expectation.
    >>> bool(np.allclose(y, tf.nn.softmax(theta / 0.5), atol=0.02))
    True
  """
  if func is not None:
    if solver is not None:
      raise ValueError(
        "Pass the solver once: as solver= (or positionally), "
        "or as func=, the google-research name."
      )
    solver = func
  if solver is None:
    return functools.partial(
      perturbed,
      num_samples=num_samples,
      sigma=sigma,
      noise=noise,
      batched=batched,
      maximize=maximize,
      perturbation=perturbation,
      control_variate=control_variate,
      antithetic=antithetic,
      symmetrize=symmetrize,
      regenerate_noise=regenerate_noise,
      seed=seed,
    )
  solve_fn = registry.get_solver(solver)
  spec = perturbation_lib.get_perturbation(
    num_samples, sigma, noise, perturbation, antithetic
  )
  sign = sense.sign(
    sense.resolve_sense(solve_fn, maximize, "perturbed", undeclared=True)
  )
  if symmetrize and perturbation != ADDITIVE:
    raise ValueError(
      "symmetrize=True needs perturbation='additive': only then is the "
      "Jacobian the (symmetric) Hessian of F_ε."
    )
  default_seed = seed
  if default_seed is not None:
    perturbation_lib.resolve_seed(default_seed)  # Validates at construction.

  def wrapper(
    theta: TensorLike, *args: Any, seed: SeedLike = None, **kwargs: Any
  ) -> tf.Tensor:
    seed = perturbation_lib.resolve_seed(default_seed if seed is None else seed)
    theta, z, _, inputs, batched_solver = prepare(
      spec, theta, solve_fn, batched, seed, sign, "perturbed"
    )
    dtype = z.dtype
    # The backward pass keeps the noise, or only its seed to draw it again.
    vjp, noise_or_seed = (
      (spec.vjp_from_seed, seed) if regenerate_noise else (spec.vjp, z)
    )

    @tf.custom_gradient
    def perturbed_op(theta: tf.Tensor):
      y = solve(
        batched_solver,
        inputs,
        spec.num_samples,
        dtype,
        "perturbed",
        args=args,
        kwargs=kwargs,
      )

      def grad(upstream: tf.Tensor, variables: list | None = None):
        if symmetrize and y.shape[2:] != theta.shape[1:]:
          raise ValueError(
            "symmetrize=True needs the solver's output to have θ's shape, "
            f"got {y.shape[2:]} for θ of shape {theta.shape[1:]}."
          )
        g_theta = vjp(
          y, upstream, theta, noise_or_seed, control_variate, symmetrize, sign
        )
        if variables:
          return g_theta, [None] * len(variables)
        return g_theta

      return tf.cast(tf.reduce_mean(y, axis=0), theta.dtype), grad

    return perturbed_op(theta)

  functools.update_wrapper(wrapper, solve_fn)
  # No `__wrapped__`: tf.function unwraps callables passed to it by that link
  # and would then run the bare solver.
  delattr(wrapper, "__wrapped__")
  return wrapper
