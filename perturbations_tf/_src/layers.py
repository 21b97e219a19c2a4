"""Keras layers built on `perturbed`: a solver as a differentiable layer.

Every layer takes every option of `perturbed` as a constructor argument,
draws its training noise seeds from a `keras.random.SeedGenerator` (a
seeded layer is reproducible, an unseeded one draws fresh noise each step),
serialises through `get_config`, and is deterministic at inference.

Inference (`training` falsy: `predict`, `evaluate`, a plain call) returns by
default the same smoothed output `y_ε(θ)` the layer was trained with,
estimated with noise fixed by the layer's seed: deterministic, the same
after saving and loading, and the same function the following layers
learnt on (as Dropout is the identity at inference, its expectation).
`inference='exact'` returns the solver's own `y*(θ)` instead: the decision
itself, one solve instead of M.
"""

from __future__ import annotations

from collections.abc import Callable
import functools
from typing import Any

import keras
import tensorflow as tf

from perturbations_tf._src import grid_paths
from perturbations_tf._src import noise as noise_lib
from perturbations_tf._src import perturbed as perturbed_lib
from perturbations_tf._src import solver_layer
from perturbations_tf._src import solvers
from perturbations_tf._src import solving
from perturbations_tf._src import validation
from perturbations_tf._src.perturbation import ADDITIVE
from perturbations_tf._src.perturbation import MULTIPLICATIVE
from perturbations_tf._src.types import SolverLike

_register = keras.saving.register_keras_serializable(package="perturbations_tf")


@_register
class Perturbed(solver_layer.SolverLayer):
  """A perturbed solver, `y_ε(θ) = E[solver(θ + εZ)]`, as a Keras layer.

  Args:
    solver: a callable, a built-in solver name (`'argmax'`, `'top_k'`,
      `'ranks'`, `'sort'`, `'shortest_path'`), a registered callable or a
      `functools.partial` of one (the last three serialise).
    num_samples: M.
    sigma: ε.
    noise: `'normal'`, `'gumbel'` or a noise object.
    batched: whether the solver takes a batch (True) or one example; the
      layer's input always has a batch axis.
    maximize: None (as the solver declares), True or False.
    perturbation: `'additive'` or `'multiplicative'` (positive inputs).
    control_variate: leave-one-out control variate in the backward pass.
    antithetic: antithetic pairs `(Z, -Z)`.
    symmetrize: average the `Jᵀg` and `J g` estimates (only for linear
      solvers with additive noise; see `perturbed`).
    regenerate_noise: draw the noise again in the backward pass instead of
      keeping it (see `perturbed`).
    seed: the seed of the layer's `keras.random.SeedGenerator` (training
      noise) and of its fixed inference noise (0 when None).
    inference: `'smoothed'` (default: `y_ε(θ)` with fixed noise) or
      `'exact'` (`y*(θ)`); see the module docstring.
    **kwargs: `keras.layers.Layer` arguments (name, dtype, ...).

  Example:
    >>> layer = Perturbed('ranks', num_samples=100, sigma=0.1, seed=0)
    >>> layer(tf.constant([[0.3, -1.0, 2.0]])).numpy()
    array([[1., 0., 2.]], dtype=float32)
  """

  # The reference's convention, as `perturbed`: an undeclared solver
  # maximises.
  UNDECLARED_SENSE = True

  def __init__(
    self,
    solver: SolverLike,
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
    seed: int | None = None,
    inference: str = "smoothed",
    **kwargs: Any,
  ):
    super().__init__(solver, maximize=maximize, **kwargs)
    self.batched = batched
    self._options: dict[str, Any] = dict(
      num_samples=num_samples,
      sigma=sigma,
      noise=noise,
      perturbation=perturbation,
      control_variate=control_variate,
      antithetic=antithetic,
      symmetrize=symmetrize,
      regenerate_noise=regenerate_noise,
    )
    self._perturbed = perturbed_lib.perturbed(
      self.solver, batched=batched, maximize=self.maximize, **self._options
    )
    self.seed = seed
    self.seed_generator = keras.random.SeedGenerator(seed)
    self.inference = validation.one_of(
      inference, solver_layer.INFERENCE_MODES, "inference"
    )

  def call(self, inputs: tf.Tensor, training: bool | None = None) -> tf.Tensor:
    if training:
      return self._perturbed(inputs, seed=self.seed_generator.next())
    if self.inference == "exact":
      solve = (
        self.solver
        if self.batched
        else solving.vectorize(
          self.solver, validation.compute_dtype(inputs.dtype)
        )
      )
      return tf.cast(
        solving.call_solver(solve, inputs, type(self).__name__), inputs.dtype
      )
    return self._perturbed(inputs, seed=self.seed or 0)

  # The noise-seed state is saved with the model (Keras leaves seed
  # generators out), so a loaded model continues the same noise sequence.
  def save_own_variables(self, store: dict) -> None:
    store["seed_generator_state"] = self.seed_generator.state.numpy()

  def load_own_variables(self, store: dict) -> None:
    if "seed_generator_state" in store.keys():  # Keras 3.3 stores lack `in`.
      self.seed_generator.state.assign(store["seed_generator_state"])

  def _solver_config(self) -> dict:
    return {"batched": self.batched}

  def get_config(self) -> dict:
    config = super().get_config()
    config.update(self._solver_config())
    config.update(self._options, seed=self.seed, inference=self.inference)
    return config


class _BuiltinPerturbed(Perturbed):
  """A perturbed built-in solver, configured by its own arguments.

  Linear maximisers (`LINEAR = True`) symmetrise their Jacobian estimate by
  default under additive noise: it is valid there and halves the error of the
  gradient for argmax (benchmarks/).
  """

  SOLVER: Callable[..., tf.Tensor]
  LINEAR = True

  def __init__(
    self,
    num_samples: int = 1000,
    sigma: float = 0.05,
    noise: noise_lib.NoiseLike = "normal",
    *,
    solver_kwargs: dict | None = None,
    **kwargs: Any,
  ):
    kwargs.setdefault(
      "symmetrize",
      self.LINEAR and kwargs.get("perturbation", ADDITIVE) == ADDITIVE,
    )
    self._solver_kwargs = solver_kwargs or {}
    solver = (
      functools.partial(self.SOLVER, **self._solver_kwargs)
      if self._solver_kwargs
      else self.SOLVER
    )
    super().__init__(solver, num_samples, sigma, noise, **kwargs)

  def _solver_config(self) -> dict:
    return dict(self._solver_kwargs)

  def get_config(self) -> dict:
    config = super().get_config()
    del config["solver"], config["maximize"]  # Fixed by the class.
    return config


@_register
class PerturbedArgmax(_BuiltinPerturbed):
  """Perturbed one-hot argmax; with Gumbel noise, exactly `softmax(θ/ε)`.

  Example:
    >>> layer = PerturbedArgmax(num_samples=10_000, sigma=1.0, noise='gumbel')
    >>> theta = tf.constant([[0.0, 1.0]])
    >>> bool(np.allclose(layer(theta), tf.nn.softmax(theta), atol=0.02))
    True
  """

  SOLVER = staticmethod(solvers.argmax)

  def __init__(
    self,
    num_samples: int = 1000,
    sigma: float = 0.05,
    noise: noise_lib.NoiseLike = "normal",
    **kwargs: Any,
  ):
    super().__init__(num_samples, sigma, noise, **kwargs)


@_register
class PerturbedTopK(_BuiltinPerturbed):
  """Perturbed k-hot top-k mask.

  Args:
    k: how many entries to select.
    num_samples: M.
    sigma: ε.
    noise: `'normal'`, `'gumbel'` or a noise object.
    **kwargs: the other arguments of `Perturbed`.

  Example:
    >>> PerturbedTopK(k=2, num_samples=100)(tf.constant([[3., 1., 2.]])).numpy()
    array([[1., 0., 1.]], dtype=float32)
  """

  SOLVER = staticmethod(solvers.top_k)

  def __init__(
    self,
    k: int = 1,
    num_samples: int = 1000,
    sigma: float = 0.05,
    noise: noise_lib.NoiseLike = "normal",
    **kwargs: Any,
  ):
    super().__init__(
      num_samples, sigma, noise, solver_kwargs={"k": k}, **kwargs
    )


@_register
class PerturbedRanks(_BuiltinPerturbed):
  """Perturbed 0-based ascending ranks (the smallest entry gets 0).

  Example:
    >>> layer = PerturbedRanks(num_samples=100, sigma=0.1)
    >>> layer(tf.constant([[3., 1.]])).numpy()
    array([[1., 0.]], dtype=float32)
  """

  SOLVER = staticmethod(solvers.ranks)

  def __init__(
    self,
    num_samples: int = 1000,
    sigma: float = 0.05,
    noise: noise_lib.NoiseLike = "normal",
    **kwargs: Any,
  ):
    super().__init__(num_samples, sigma, noise, **kwargs)


@_register
class PerturbedSort(_BuiltinPerturbed):
  """Perturbed sort of the last axis.

  Args:
    direction: `'ASCENDING'` or `'DESCENDING'`.

  Example:
    >>> layer = PerturbedSort(num_samples=100, sigma=0.1)
    >>> layer(tf.constant([[3., 1.]])).numpy().round(1)  # Smoothed values.
    array([[1., 3.]], dtype=float32)
  """

  SOLVER = staticmethod(solvers.sort)
  LINEAR = False  # Sorted values are not a linear maximiser's solution.

  def __init__(
    self,
    direction: str = "ASCENDING",
    num_samples: int = 1000,
    sigma: float = 0.05,
    noise: noise_lib.NoiseLike = "normal",
    **kwargs: Any,
  ):
    if direction not in ("ASCENDING", "DESCENDING"):
      raise ValueError(
        f"direction must be 'ASCENDING' or 'DESCENDING', got {direction!r}."
      )
    super().__init__(
      num_samples,
      sigma,
      noise,
      solver_kwargs={"direction": direction},
      **kwargs,
    )


@_register
class PerturbedShortestPath(_BuiltinPerturbed):
  """Perturbed shortest path on vertex-cost grids `[B, H, W]`.

  Defaults to the multiplicative perturbation `θ ⊙ exp(εZ - ε²/2)`, which
  keeps positive costs positive. With `perturbation='additive'`, perturbed
  costs can be negative: `min_cost` (default 0) floors them explicitly before
  the solver; `min_cost=None` makes the solver raise on them instead.

  Args:
    connectivity: 8 (the Warcraft setting) or 4.
    num_samples: M.
    sigma: ε.
    noise: `'normal'` (the multiplicative perturbation needs it).
    min_cost: the floor for perturbed costs, or None.
    perturbation: `'multiplicative'` (default) or `'additive'`.
    **kwargs: the other arguments of `Perturbed`.

  Example:
    >>> layer = PerturbedShortestPath(num_samples=3, sigma=0.1)
    >>> layer(tf.constant([[[1.0, 9.0], [1.0, 1.0]]])).numpy()
    array([[[1., 0.],
            [0., 1.]]], dtype=float32)
  """

  SOLVER = staticmethod(grid_paths.shortest_path)

  def __init__(
    self,
    connectivity: int = 8,
    num_samples: int = 1000,
    sigma: float = 0.05,
    noise: noise_lib.NoiseLike = "normal",
    *,
    min_cost: float | None = 0.0,
    perturbation: str = MULTIPLICATIVE,
    **kwargs: Any,
  ):
    grid_paths.check_connectivity(connectivity)
    super().__init__(
      num_samples,
      sigma,
      noise,
      solver_kwargs={"connectivity": connectivity, "min_cost": min_cost},
      perturbation=perturbation,
      **kwargs,
    )
