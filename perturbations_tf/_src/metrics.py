"""Keras metrics for structured outputs: exact match, Hamming, projection,
Spearman, and the regret of predict-then-optimize.

Each structure metric can first map the model's output through a solver
(`solver=`), so a model that outputs scores or costs is scored on the
structure they induce: e.g. `ExactMatchAccuracy(solver='ranks')` for perfect
rankings. Their natural `y_true` is the true structure; the regret metrics'
is the true costs; all accept `stack_targets(c, w*)`.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from perturbations_tf._src import invariants
from perturbations_tf._src import registry
from perturbations_tf._src import sense
from perturbations_tf._src import solver_loss
from perturbations_tf._src import solvers
from perturbations_tf._src import solving
from perturbations_tf._src import targets
from perturbations_tf._src import validation
from perturbations_tf._src.types import DTypeLike
from perturbations_tf._src.types import SolverLike
from perturbations_tf._src.types import TensorLike

_register = keras.saving.register_keras_serializable(package="perturbations_tf")


class _StructureMean(keras.metrics.Mean):
  """Mean over examples of a per-example score of (y_true, structure)."""

  def __init__(
    self,
    solver: SolverLike | None = None,
    name: str | None = None,
    dtype: DTypeLike = None,
  ):
    super().__init__(name=name, dtype=dtype)
    self.solver = None if solver is None else registry.get_solver(solver)

  @property
  def supports_jit(self) -> bool:
    return solver_loss.supports_jit(self.solver)

  def update_state(
    self,
    y_true: TensorLike,
    y_pred: TensorLike,
    sample_weight: TensorLike = None,
  ) -> None:
    y_pred = tf.convert_to_tensor(y_pred)
    y_true = targets.solutions_of(y_true, y_pred)
    if self.solver is not None:
      y_pred = solving.call_solver(self.solver, y_pred, self.name)
    y_true = tf.cast(y_true, tf.float32)
    y_pred = tf.cast(y_pred, tf.float32)
    return super().update_state(self.score(y_true, y_pred), sample_weight)

  def score(self, y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
    """The per-example score, `[B]`."""
    raise NotImplementedError

  def get_config(self) -> dict:
    config = super().get_config()
    config["solver"] = (
      None if self.solver is None else registry.solver_config(self.solver)
    )
    return config


def _per_example_axes(x: tf.Tensor) -> tf.Tensor:
  return tf.range(1, tf.rank(x))


class _EntrywiseMatch(_StructureMean):
  """Scores from the entries of y_pred within `tolerance` of y_true's."""

  def __init__(
    self,
    solver: SolverLike | None = None,
    tolerance: float = 1e-3,
    name: str | None = None,
    dtype: DTypeLike = None,
  ):
    super().__init__(solver, name, dtype)
    self.tolerance = tolerance

  def matches(self, y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
    return tf.abs(y_true - y_pred) <= self.tolerance

  def get_config(self) -> dict:
    return {**super().get_config(), "tolerance": self.tolerance}


@_register
class ExactMatchAccuracy(_EntrywiseMatch):
  """Fraction of examples whose whole structure (path, ranking) is right.

  Args:
    solver: optional solver applied to `y_pred` first.
    tolerance: entries within this distance count as equal.
    name: the metric's name.
    dtype: the dtype of its variables.

  Example:
    >>> m = ExactMatchAccuracy()
    >>> m.update_state([[0, 1, 2], [0, 1, 2]], [[0, 1, 2], [1, 0, 2]])
    >>> float(m.result())
    0.5
  """

  def __init__(
    self,
    solver: SolverLike | None = None,
    tolerance: float = 1e-3,
    name: str = "exact_match_accuracy",
    dtype: DTypeLike = None,
  ):
    super().__init__(solver, tolerance, name, dtype)

  def score(self, y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
    return tf.cast(
      tf.reduce_all(
        self.matches(y_true, y_pred), axis=_per_example_axes(y_true)
      ),
      tf.float32,
    )


@_register
class HammingAccuracy(_EntrywiseMatch):
  """Mean fraction of entries (path cells, item ranks) that are right.

  Args: as for `ExactMatchAccuracy`.

  Example:
    >>> m = HammingAccuracy()
    >>> m.update_state([[1, 0, 0, 1]], [[1, 1, 0, 1]])
    >>> float(m.result())
    0.75
  """

  def __init__(
    self,
    solver: SolverLike | None = None,
    tolerance: float = 1e-3,
    name: str = "hamming_accuracy",
    dtype: DTypeLike = None,
  ):
    super().__init__(solver, tolerance, name, dtype)

  def score(self, y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
    return tf.reduce_mean(
      tf.cast(self.matches(y_true, y_pred), tf.float32),
      axis=_per_example_axes(y_true),
    )


@_register
class ProjectionAccuracy(_StructureMean):
  """Mean of `<y_pred, y_true> / <y_true, y_true>` over examples.

  For structures of constant norm (permutations, rankings, one-hot and
  k-hot vectors) it is the linear objective of the predicted structure over
  its maximum, reached by `y_true` itself: 1 for a perfect prediction, and
  partial credit for near misses (for one-hot argmax, the accuracy).

  Example:
    >>> m = ProjectionAccuracy(solver='ranks')
    >>> m.update_state([[0., 1., 2.]], [[0.1, 0.9, 0.5]])  # ranks [0, 2, 1]
    >>> round(float(m.result()), 6)  # (0 + 2 + 2) / 5
    0.8
  """

  def __init__(
    self,
    solver: SolverLike | None = None,
    name: str = "projection_accuracy",
    dtype: DTypeLike = None,
  ):
    super().__init__(solver, name, dtype)

  def score(self, y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
    axes = _per_example_axes(y_true)
    return tf.reduce_sum(y_pred * y_true, axis=axes) / tf.reduce_sum(
      y_true * y_true, axis=axes
    )


@_register
class SpearmanCorrelation(_StructureMean):
  """Mean Spearman rank correlation between `y_true` and `y_pred` rows.

  Both are ranked along the last axis (ties to the lower index), then
  Pearson-correlated, so scores and ranks can be compared directly.

  Example:
    >>> m = SpearmanCorrelation()
    >>> m.update_state([[0., 1., 2., 3.]], [[0.1, 0.3, 0.2, 0.9]])
    >>> round(float(m.result()), 6)
    0.8
  """

  def __init__(
    self, name: str = "spearman_correlation", dtype: DTypeLike = None
  ):
    super().__init__(None, name, dtype)

  def score(self, y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
    a = solvers.ranks(y_true)
    b = solvers.ranks(y_pred)
    a -= tf.reduce_mean(a, axis=-1, keepdims=True)
    b -= tf.reduce_mean(b, axis=-1, keepdims=True)
    corr = tf.reduce_sum(a * b, -1) / tf.sqrt(
      tf.reduce_sum(a * a, -1) * tf.reduce_sum(b * b, -1)
    )
    return corr

  def get_config(self) -> dict:
    config = super().get_config()
    config.pop("solver")
    return config


@_register
class Regret(keras.metrics.Metric):
  """Mean regret of the decisions taken on predicted costs.

  For true costs `c`, predicted `ĉ` and a minimiser `w*`: the regret of one
  example is `cᵀw*(ĉ) − z*(c) ≥ 0`, `z*(c) = cᵀw*(c)` (a maximisation
  mirrors it: `z*(c) − cᵀw*(ĉ)`).

  Args:
    solver: the batched solver: a callable, a solver name or a serialisable
      solver object.
    maximize: None (as the solver declares), True or False.
    name: the metric's name.
    dtype: the dtype of its variables.

  `update_state(y_true, y_pred)`: `y_true` the true costs (or
  `stack_targets(c, w*(c))`, which skips their solve), `y_pred` the
  predicted costs. A regret below zero beyond rounding (a wrong sense, or
  stacked solutions that are not optimal for their costs) raises
  `tf.errors.InvalidArgumentError` in eager mode and graphs, and makes the
  result NaN under XLA; stacked solutions the solver cannot produce raise.

  Example:
    >>> m = Regret('grid_arc_shortest_path')
    >>> c = tf.ones([1, 40])
    >>> m.update_state(c, c)
    >>> float(m.result())
    0.0
  """

  def __init__(
    self,
    solver: SolverLike,
    *,
    maximize: bool | None = None,
    name: str = "regret",
    dtype: DTypeLike = None,
  ):
    super().__init__(name=name, dtype=dtype)
    self.solver = registry.get_solver(solver)
    self.maximize = sense.resolve_sense(
      self.solver, maximize, type(self).__name__
    )
    self.total_regret = self.add_variable(
      shape=(), initializer="zeros", name="total_regret"
    )
    self.total_optimal = self.add_variable(
      shape=(), initializer="zeros", name="total_optimal"
    )
    self.count = self.add_variable(shape=(), initializer="zeros", name="count")

  @property
  def supports_jit(self) -> bool:
    return solver_loss.supports_jit(self.solver)

  def update_state(
    self,
    y_true: TensorLike,
    y_pred: TensorLike,
    sample_weight: TensorLike = None,
  ) -> None:
    y_pred = tf.convert_to_tensor(y_pred)
    costs, solutions = targets.split_targets(
      y_true, y_pred, self.solver, self.name
    )
    decisions = self.decisions(y_pred, costs)
    optimal = targets.inner(costs, solutions)
    regret = invariants.non_negative(
      sense.sign(self.maximize) * (optimal - targets.inner(costs, decisions)),
      targets.objective_scale(costs, solutions, decisions),
      self.name,
      "the regret",
      self.maximize,
    )
    weight = (
      tf.ones_like(regret)
      if sample_weight is None
      else tf.reshape(tf.cast(sample_weight, regret.dtype), [-1])
    )
    for variable, value in (
      (self.total_regret, regret * weight),
      (self.total_optimal, tf.abs(optimal) * weight),
      (self.count, weight),
    ):
      variable.assign_add(tf.cast(tf.reduce_sum(value), variable.dtype))

  def decisions(self, y_pred: tf.Tensor, costs: tf.Tensor) -> tf.Tensor:
    """The decisions taken on the predicted costs, in `costs`' dtype."""
    return solving.call_solver(
      self.solver, y_pred, self.name, dtype=costs.dtype, same_shape=True
    )

  def result(self) -> tf.Tensor:
    return tf.math.divide_no_nan(self.total_regret, self.count)

  def get_config(self) -> dict:
    return {
      **super().get_config(),
      "solver": registry.solver_config(self.solver),
      "maximize": self.maximize,
    }


@_register
class NormalizedRegret(Regret):
  """Normalised regret, `Σ regret / Σ |z*(c)|` over all examples seen.

  PyEPO's headline metric: the regret of the whole set relative to its
  optimal objective. Arguments as `Regret`.

  Example:
    >>> m = NormalizedRegret('grid_arc_shortest_path')
    >>> c = tf.ones([1, 40])
    >>> m.update_state(c, -c)  # Every path costs 8 here: no regret.
    >>> float(m.result())
    0.0
  """

  def __init__(
    self,
    solver: SolverLike,
    *,
    maximize: bool | None = None,
    name: str = "normalized_regret",
    dtype: DTypeLike = None,
  ):
    super().__init__(solver, maximize=maximize, name=name, dtype=dtype)

  def result(self) -> tf.Tensor:
    return tf.math.divide_no_nan(self.total_regret, self.total_optimal)


@_register
class UnambiguousRegret(NormalizedRegret):
  """Normalised regret of the worst decision among the predicted optima
  (PyEPO's `unambRegret`).

  When the predicted costs `ĉ` have several optimal decisions (a model
  predicting all zeros: every decision), the regret depends on which one
  the solver returns. This metric charges the worst: among the decisions
  optimal for `ĉ` rounded to a multiple of `tolerance`, the one of highest
  true cost (lowest value for a maximisation). Written as one solve per
  example: with `r = round(ĉ/tolerance)` (integers) and 0/1 decisions,
  distinct objectives `rᵀw` differ by at least 1, so solving
  `r − δc` with `δ = ½/(‖c‖₁ + 1)` keeps the optima of r and, among them,
  picks the worst for c (minimisation; mirrored for a maximisation). The
  solve is in float64, exact for the library's TF-native solvers; it needs
  decisions in [0, 1] (paths, knapsacks, the 0/1 programs of PyEPO).

  Args:
    solver: the batched solver.
    tolerance: the resolution at which predicted objectives tie, > 0.
    maximize: None (as the solver declares), True or False.
    name: the metric's name.
    dtype: the dtype of its variables.

  Example:
    >>> c = (39.0 - tf.range(40.0))[tf.newaxis] / 40.0
    >>> zeros = tf.zeros([1, 40])  # Every path is optimal for ĉ = 0.
    >>> plain = ptf.metrics.NormalizedRegret('grid_arc_shortest_path')
    >>> plain.update_state(c, zeros)  # The solver's tie-break: the best.
    >>> worst = UnambiguousRegret('grid_arc_shortest_path')
    >>> worst.update_state(c, zeros)  # The costliest path.
    >>> round(float(plain.result()), 4), round(float(worst.result()), 4)
    (0.0, 1.3913)
  """

  def __init__(
    self,
    solver: SolverLike,
    tolerance: float = 1e-5,
    *,
    maximize: bool | None = None,
    name: str = "unambiguous_regret",
    dtype: DTypeLike = None,
  ):
    super().__init__(solver, maximize=maximize, name=name, dtype=dtype)
    self.tolerance = validation.positive_number(tolerance, "tolerance")

  def decisions(self, y_pred: tf.Tensor, costs: tf.Tensor) -> tf.Tensor:
    c = tf.cast(costs, tf.float64)
    rounded = tf.round(tf.cast(y_pred, tf.float64) / self.tolerance)
    axes = tf.range(1, tf.rank(c))
    delta = 0.5 / (tf.reduce_sum(tf.abs(c), axes) + 1.0)
    delta = tf.reshape(delta, tf.concat([[-1], tf.ones_like(axes)], 0))
    return solving.call_solver(
      self.solver,
      rounded - delta * c,
      self.name,
      dtype=costs.dtype,
      same_shape=True,
    )

  def get_config(self) -> dict:
    return {**super().get_config(), "tolerance": self.tolerance}


@_register
class ConvergedFraction(keras.metrics.Mean):
  """The fraction of predictions whose program an iterative solver solved to
  its tolerance (`LinearProgram(method='pdlp')` and any solver with
  `solve_with_status(costs) -> (x, status)`, status 0 when converged).

  A `LinearProgram` with `method='pdlp'` returns the last iterate of a row
  that hit its iteration limit: this metric counts them, beside the loss.
  `y_true` is ignored (any shape); `y_pred` the predicted costs.

  Args:
    solver: the solver with `solve_with_status`.
    name: the metric's name.
    dtype: the dtype of its variables.

  Example:
    >>> lp = ptf.solvers.LinearProgram(A_ub=[[1.0, 1.0]], b_ub=[1.0],
    ...                                bounds=(0, 1), method="pdlp")
    >>> m = ConvergedFraction(lp)
    >>> m.update_state(None, tf.constant([[1.0, -1.0], [-2.0, 1.0]]))
    >>> float(m.result())
    1.0
  """

  def __init__(
    self,
    solver: SolverLike,
    name: str = "converged_fraction",
    dtype: DTypeLike = None,
  ):
    super().__init__(name=name, dtype=dtype)
    self.solver = registry.get_solver(solver)
    if not callable(getattr(self.solver, "solve_with_status", None)):
      raise ValueError(
        f"ConvergedFraction needs a solver with solve_with_status, such as "
        f"LinearProgram(method='pdlp'); got {self.solver!r}."
      )

  @property
  def supports_jit(self) -> bool:
    return solver_loss.supports_jit(self.solver)

  def update_state(
    self,
    y_true: TensorLike,
    y_pred: TensorLike,
    sample_weight: TensorLike = None,
  ) -> None:
    del y_true
    _, status = self.solver.solve_with_status(  # type: ignore[attr-defined]
      tf.convert_to_tensor(y_pred)
    )
    return super().update_state(tf.cast(status == 0, self.dtype), sample_weight)

  def get_config(self) -> dict:
    return {
      **super().get_config(),
      "solver": registry.solver_config(self.solver),
    }
