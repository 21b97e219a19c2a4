"""Cone-aligned vector estimation (CaVE), Tang & Khalil, "CaVE: A Cone-Aligned
Approach for Fast Predict-then-Optimize with Binary Linear Programs"
(CPAIOR 2024), as PyEPO offers it (`pyepo.func.coneAlignedCosine`).

At a vertex `w*` of `{A_ub w ≤ b_ub, A_eq w = b_eq, l ≤ w ≤ u}`, the costs
for which `w*` is optimal are the normal cone: for a minimisation, `−c` in
the cone spanned by the normals of the constraints binding at `w*` (the
rows of A_ub that hold with equality, ± every row of A_eq, `−e_k` where
`w*_k = l_k`, `e_k` where `w*_k = u_k`). CaVE trains the predicted costs to
point into that cone: with `v = sĉ` (s = −1 for a minimisation, +1 for a
maximisation) and `p` its Euclidean projection onto the cone,

    CaVE(ĉ, w*) = 1 − cos(v, p),   p fixed (no gradient flows through it).

No solver is called during training: only `w*(c)` (the labels) and the
constraints. The projection is a non-negative least-squares problem,
`min_{λ ≥ 0} ‖Gᵀλ − v‖²` over the binding normals G, solved here in the
graph for the whole batch (XLA included) by accelerated projected gradient
(FISTA with adaptive restarts) for a fixed number of iterations.

Which problems: binary linear programs whose feasible set is given as a
polyhedron by their solver, `ptf.solvers.LinearProgram` (e.g. the grid's
shortest path as a flow LP, `grid_flow_constraints`) and `ptf.Knapsack`
(its LP relaxation), with `w*` a vertex of that polyhedron. The cone is the
relaxation's: where the relaxation is tight at `w*` (flows, assignment,
unit-weight knapsacks) it holds the true costs and the loss is 0 there;
for a general knapsack the integer optimum is rarely optimal for the
relaxation and the loss only pulls `ĉ` towards its cone. PyEPO's default is
"CaVE+": Clarabel's interior-point solver stopped after 3 iterations, so
its projection lies inside the cone; here the projection is converged (the
paper's plain CaVE), and PyEPO's binding constraints come from Gurobi,
here from the constraints and `w*` (the same rows).
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import tensorflow as tf

from perturbations_tf._src import polyhedron
from perturbations_tf._src import registry
from perturbations_tf._src import sense
from perturbations_tf._src import solver_loss
from perturbations_tf._src import targets
from perturbations_tf._src import validation
from perturbations_tf._src.types import DTypeLike
from perturbations_tf._src.types import SolverLike
from perturbations_tf._src.types import TensorLike

# A constraint binds when it holds within this (absolute) tolerance.
_BINDING = 1e-5


def constraints_of(solver: Any, owner: str) -> polyhedron.Polyhedron:
  """The solver's feasible set, or a ValueError naming the solvers that
  have one."""
  constraints = getattr(solver, "constraints", None)
  if not callable(constraints):
    raise ValueError(
      f"{owner} needs the problem's constraints: give it a "
      "ptf.solvers.LinearProgram (for the grid's shortest path, built from "
      "ptf.solvers.grid_flow_constraints) or a ptf.Knapsack; got "
      f"{solver!r}."
    )
  return constraints()


def normals(p: polyhedron.Polyhedron) -> np.ndarray:
  """Every constraint's outward normal, `[A_ub; A_eq; −A_eq; −I; I]` over
  the finite bounds: the rows `binding_mask` selects from."""
  n = p.lower.shape[0]
  eye = np.eye(n)
  return np.concatenate(
    [
      p.A_ub,
      p.A_eq,
      -p.A_eq,
      -eye[np.isfinite(p.lower)],
      eye[np.isfinite(p.upper)],
    ]
  )


def binding_mask(p: polyhedron.Polyhedron, w: tf.Tensor) -> tf.Tensor:
  """Which rows of `normals(p)` bind at each `w` `[B, n]`: `[B, rows]`."""
  w = tf.cast(w, tf.float64)
  batch = tf.shape(w)[0]
  lower, upper = np.isfinite(p.lower), np.isfinite(p.upper)
  slack = tf.abs(tf.linalg.matvec(tf.constant(p.A_ub), w) - p.b_ub)
  return tf.concat(
    [
      slack <= _BINDING,
      tf.ones([batch, 2 * len(p.A_eq)], tf.bool),
      tf.gather(w, np.flatnonzero(lower), axis=1) <= p.lower[lower] + _BINDING,
      tf.gather(w, np.flatnonzero(upper), axis=1) >= p.upper[upper] - _BINDING,
    ],
    1,
  )


def project_onto_cone(
  v: tf.Tensor,
  generators: np.ndarray,
  mask: tf.Tensor,
  max_iterations: int,
) -> tf.Tensor:
  """The projection of each row of v `[B, n]` onto the cone spanned by the
  masked rows of `generators` `[R, n]`, `Gᵀλ*` with
  `λ* = argmin_{λ ≥ 0} ½‖Gᵀλ − v‖²` (λ zero off the mask), by FISTA with
  restarts (float64).

  Args:
    v: the points, `[B, n]`.
    generators: the cone's generators, `[R, n]`.
    mask: which generators span each row's cone, `[B, R]`.
    max_iterations: FISTA iterations.

  Returns:
    The projections, `[B, n]`, float64.
  """
  v = tf.cast(v, tf.float64)
  g = tf.constant(generators, tf.float64)
  mask = tf.cast(mask, tf.float64)
  # 1/L, L = ‖G‖₂², bounds every masked sub-matrix's Lipschitz constant.
  step = 1.0 / max(float(np.linalg.norm(generators, 2)) ** 2, 1e-12)

  def gradient(lam: tf.Tensor) -> tf.Tensor:
    return tf.matmul(tf.matmul(lam, g) - v, g, transpose_b=True)

  def body(
    i: tf.Tensor, lam: tf.Tensor, z: tf.Tensor, t: tf.Tensor
  ) -> tuple[tf.Tensor, ...]:
    new = tf.nn.relu(z - step * gradient(z)) * mask
    t_new = 0.5 * (1.0 + tf.sqrt(1.0 + 4.0 * t * t))
    # Restart the momentum of a row where it points uphill (O'Donoghue &
    # Candès): monotone progress on degenerate (rank-deficient) problems.
    uphill = tf.reduce_sum((z - new) * (new - lam), -1, keepdims=True) > 0
    t_new = tf.where(uphill, tf.ones_like(t_new), t_new)
    momentum = tf.where(uphill, tf.zeros_like(t), (t - 1.0) / t_new)
    return i + 1, new, new + momentum * (new - lam), t_new

  batch = tf.shape(v)[0]
  zeros = tf.zeros([batch, g.shape[0]], tf.float64)
  ones = tf.ones([batch, 1], tf.float64)
  _, lam, _, _ = tf.while_loop(
    lambda i, *_: i < max_iterations,
    body,
    (tf.constant(0), zeros, zeros, ones),
  )
  return tf.matmul(lam, g)


def cave_loss(
  y_true: TensorLike,
  y_pred: TensorLike,
  solver: SolverLike,
  maximize: bool | None = None,
  max_iterations: int = 500,
) -> tf.Tensor:
  """Per-example CaVE loss: `1 − cos(sĉ, Π_cone(sĉ))`.

  Args:
    y_true: the optimal solutions `w*(c)` (vertices), `[B, n]`, or
      `stack_targets(c, w*)`.
    y_pred: the predicted costs `ĉ`, `[B, n]`.
    solver: a `LinearProgram` or a `Knapsack`: its constraints give the
      cone (it is not called).
    maximize: None (as the solver declares), True or False.
    max_iterations: the projection's FISTA iterations.

  Returns:
    `[B]` losses in [0, 2], 0 when `ĉ` makes `w*` optimal, in `y_pred`'s
    dtype.

  Raises:
    ValueError: for a solver without constraints, or shapes that do not
      match.

  Example:
    >>> lp = ptf.solvers.LinearProgram(A_ub=[[1.0, 1.0]], b_ub=[1.0],
    ...                                bounds=(0, 1))  # Pick at most one.
    >>> w = tf.constant([[1.0, 0.0]])  # Optimal for costs (−1, 0) …
    >>> cave_loss(w, tf.constant([[-1.0, 0.0]]), lp).numpy().round(6)
    array([0.], dtype=float32)
    >>> cave_loss(w, tf.constant([[1.0, 0.0]]), lp).numpy().round(6)  # … not.
    array([1.], dtype=float32)
  """
  solver = registry.get_solver(solver)
  p = constraints_of(solver, "cave_loss")
  max_iterations = validation.positive_int(max_iterations, "max_iterations")
  s = sense.sign(sense.resolve_sense(solver, maximize, "cave_loss"))
  y_pred = validation.check_batched(y_pred, "y_pred")
  w = targets.solutions_of(y_true, y_pred)
  if y_pred.shape.rank != 2 or y_pred.shape[1] != p.lower.shape[0]:
    raise ValueError(
      f"cave_loss: y_pred must be [B, {p.lower.shape[0]}] for this "
      f"problem's {p.lower.shape[0]} variables, got {y_pred.shape}."
    )
  dtype = validation.compute_dtype(y_pred.dtype)
  v = s * tf.cast(y_pred, dtype)
  projection = project_onto_cone(
    tf.stop_gradient(v), normals(p), binding_mask(p, w), max_iterations
  )
  projection = tf.stop_gradient(tf.cast(projection, dtype))
  cosine = tf.reduce_sum(v * projection, -1) / tf.maximum(
    tf.norm(v, axis=-1) * tf.norm(projection, axis=-1), 1e-12
  )
  return tf.cast(1.0 - cosine, y_pred.dtype)


@keras.saving.register_keras_serializable(package="perturbations_tf")
class CaVELoss(solver_loss.SolverLoss):
  """The CaVE loss as a Keras loss, `call(y_true, y_pred)`; see `cave_loss`.

  Args:
    solver: a `LinearProgram` or a `Knapsack` (its constraints; not called).
    maximize: None (as the solver declares), True or False.
    max_iterations: the projection's FISTA iterations.
    reduction, name, dtype: as for Keras losses.

  Example:
    >>> a_eq, b_eq = ptf.solvers.grid_flow_constraints((5, 5))
    >>> lp = ptf.solvers.LinearProgram(A_eq=a_eq, b_eq=b_eq, bounds=(0, 1))
    >>> ptf.losses.CaVELoss(lp).supports_jit  # In the graph, XLA included.
    True
  """

  FUNCTION = staticmethod(cave_loss)

  def __init__(
    self,
    solver: SolverLike,
    maximize: bool | None = None,
    max_iterations: int = 500,
    reduction: str = "sum_over_batch_size",
    name: str = "cave",
    dtype: DTypeLike = None,
  ):
    super().__init__(
      solver,
      maximize,
      reduction,
      name,
      dtype,
      max_iterations=validation.positive_int(max_iterations, "max_iterations"),
    )
    constraints_of(self.solver, "CaVELoss")

  @property
  def supports_jit(self) -> bool:
    return True  # The solver is never called.
