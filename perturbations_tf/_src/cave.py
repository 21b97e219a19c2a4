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
shortest path as a flow LP, `grid_flow_constraints`) and `ptf.solvers.Knapsack`
(its LP relaxation), with `w*` a vertex of that polyhedron. The cone is the
relaxation's: where the relaxation is tight at `w*` (flows, assignment,
unit-weight knapsacks) it holds the true costs and the loss is 0 there;
for a general knapsack the integer optimum is rarely optimal for the
relaxation and the loss only pulls `ĉ` towards its cone.

Two projections. `interior=0` is the exact one (the paper's plain CaVE):
once `ĉ` is inside the cone the loss is 0 and stops pushing, however close
to the boundary `ĉ` is. PyEPO's default is the paper's "CaVE+": Clarabel's
interior-point solver stopped after 3 iterations, a point inside the cone,
so the loss keeps pushing `ĉ` away from the boundary (on PyEPO's shortest
path at degree 6 it ends well below the exact projection's regret, in
PyEPO as here: the defaults table of the experiments). `interior=η > 0`
makes that deliberate and reproducible: the point of the cone's central
path of weight η, the minimiser of `½‖p − v‖² − η‖v‖² Σ log λ` over
`p = A_eqᵀy + Hᵀλ` (y free for the equalities, λ > 0 for the binding
inequalities), by Newton's method. η = 0.003 is, of η = 10⁻⁴…0.1, the
closest to the direction of Clarabel's third iterate on PyEPO's shortest
path. PyEPO's binding constraints come from Gurobi, here from the
constraints and `w*` (the same rows).
"""

from __future__ import annotations

from typing import Any
import warnings

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
      "ptf.solvers.grid_flow_constraints) or a ptf.solvers.Knapsack; got "
      f"{solver!r}."
    )
  found = constraints()
  if found.relaxed:
    warnings.warn(
      f"{owner}: the solver {sense.solver_name(solver)} is an integer "
      "program, and CaVE's cone is its LP relaxation's. Where the "
      "relaxation is not tight at the integer optimum (a general knapsack) "
      "the cone does not hold the true costs and CaVE may not learn: "
      "compare it with SPO+ or PFYL (CaVE on the knapsack, in the docs' "
      "experiments).",
      UserWarning,
      stacklevel=3,
    )
  return found


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


def _binding(
  p: polyhedron.Polyhedron, w: tf.Tensor
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
  """Which constraints bind at each `w` `[B, n]` (float64): the rows of A_ub
  `[B, m]`, the lower and the upper bounds `[B, n]` (infinite ones never)."""
  w = tf.cast(w, tf.float64)
  slack = tf.abs(tf.linalg.matvec(tf.constant(p.A_ub), w) - p.b_ub)
  return slack <= _BINDING, w <= p.lower + _BINDING, w >= p.upper - _BINDING


def binding_mask(p: polyhedron.Polyhedron, w: tf.Tensor) -> tf.Tensor:
  """Which rows of `normals(p)` bind at each `w` `[B, n]`: `[B, rows]`."""
  ub, at_lower, at_upper = _binding(p, w)
  return tf.concat(
    [
      ub,
      tf.ones([tf.shape(ub)[0], 2 * len(p.A_eq)], tf.bool),
      tf.gather(at_lower, np.flatnonzero(np.isfinite(p.lower)), axis=1),
      tf.gather(at_upper, np.flatnonzero(np.isfinite(p.upper)), axis=1),
    ],
    1,
  )


def _inequalities(
  p: polyhedron.Polyhedron, w: tf.Tensor
) -> tuple[tf.Tensor, tf.Tensor]:
  """The inequality rows binding at each w, compactly: every row of A_ub
  (masked where it does not bind) and one bound row per variable, `−e_k` at
  its lower bound, `e_k` at its upper bound (masked when neither binds).

  Returns:
    `([B, R, n] rows, [B, R] mask)`, R = rows of A_ub + n.
  """
  ub, at_lower, at_upper = _binding(p, w)
  at_upper &= ~at_lower  # One row per variable.
  batch, n = tf.shape(ub)[0], p.lower.shape[0]
  sign = tf.cast(at_upper, tf.float64) - tf.cast(at_lower, tf.float64)
  bounds = sign[..., tf.newaxis] * tf.eye(n, dtype=tf.float64)
  rows = tf.concat(
    [tf.broadcast_to(tf.constant(p.A_ub), [batch, *p.A_ub.shape]), bounds], 1
  )
  return rows, tf.concat([ub, at_lower | at_upper], 1)


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


def interior_projection(
  v: tf.Tensor,
  equalities: np.ndarray,
  inequalities: tf.Tensor,
  mask: tf.Tensor,
  interior: float,
  iterations: int,
) -> tf.Tensor:
  """A point of the cone `{A_eqᵀy + Hᵀλ : λ ≥ 0}` near each row of v, kept
  inside it by a log barrier: `A_eqᵀy + Hᵀλ` at the minimiser of
  `½‖A_eqᵀy + Hᵀλ − v‖² − η‖v‖² Σ log λ` (λ over the masked rows of H),
  the central path's point of weight η (float64).

  Newton steps on (y, λ) with a fraction-to-boundary rule, the barrier's
  weight decreased from ‖v‖² to η‖v‖² (×0.1 per step) then held: an
  interior-point method stopped on the central path. η → 0 gives the exact
  projection; η > 0 a point strictly inside the cone, scale-free in v.

  Args:
    v: the points, `[B, n]`.
    equalities: the rows whose multipliers are free, `[m, n]`.
    inequalities: each point's rows whose multipliers are non-negative,
      `[B, R, n]`.
    mask: which inequality rows span each point's cone, `[B, R]`.
    interior: η > 0.
    iterations: Newton steps.

  Returns:
    The points, `[B, n]`, float64.
  """
  v = tf.cast(v, tf.float64)
  batch, m = tf.shape(v)[0], equalities.shape[0]
  inequalities = tf.cast(inequalities, tf.float64)
  barrier = tf.concat(
    [tf.zeros([batch, m], tf.float64), tf.cast(mask, tf.float64)], 1
  )
  used = tf.concat([tf.ones([batch, m], tf.float64), barrier[:, m:]], 1)
  shared = tf.broadcast_to(
    tf.constant(equalities, tf.float64), [batch, *equalities.shape]
  )
  k = used[..., tf.newaxis] * tf.concat([shared, inequalities], 1)
  gram = tf.matmul(k, k, transpose_b=True)
  kv = tf.einsum("brn,bn->br", k, v)
  vv = tf.reduce_sum(v * v, -1, keepdims=True)
  eye = tf.eye(tf.shape(k)[1], dtype=tf.float64)
  scale = tf.sqrt(tf.reduce_max(tf.linalg.diag_part(gram), -1, keepdims=True))
  scale = tf.maximum(scale, 1e-12)
  # A ridge on every multiplier keeps the Newton systems definite (the
  # equalities are rank-deficient) and the minimiser bounded.
  ridge = 1e-10 * scale**2 * tf.cast(tf.shape(k)[1], tf.float64)

  def body(
    i: tf.Tensor, x: tf.Tensor, weight: tf.Tensor
  ) -> tuple[tf.Tensor, ...]:
    mu = vv * tf.maximum(weight, interior)
    safe = tf.where(barrier > 0, x, tf.ones_like(x))
    grad = (
      tf.einsum("brs,bs->br", gram, x) + ridge * x - kv - mu / safe * barrier
    ) * used
    diagonal = mu / safe**2 * barrier + ridge * used + (1.0 - used)
    hess = gram + diagonal[..., tf.newaxis] * eye
    step = -tf.linalg.cholesky_solve(
      tf.linalg.cholesky(hess), grad[..., tf.newaxis]
    )[..., 0]
    shrinking = (step < 0) & (barrier > 0)
    ratio = tf.where(
      shrinking,
      -safe / tf.where(shrinking, step, -tf.ones_like(step)),
      tf.cast(np.inf, tf.float64),
    )
    alpha = tf.minimum(
      tf.ones_like(vv), 0.99 * tf.reduce_min(ratio, -1, keepdims=True)
    )
    return i + 1, x + alpha * step, weight * 0.1

  start = barrier * tf.sqrt(vv) / scale
  _, x, _ = tf.while_loop(
    lambda i, *_: i < iterations,
    body,
    (tf.constant(0), start, tf.constant(1.0, tf.float64)),
  )
  return tf.einsum("br,brn->bn", x, k)


def _check_settings(
  max_iterations: int | None = None, interior: float = 0.003
) -> dict[str, Any]:
  if not interior >= 0:
    raise ValueError(f"interior must be >= 0, got {interior!r}.")
  if max_iterations is None:
    max_iterations = 15 if interior > 0 else 500
  return dict(
    max_iterations=validation.positive_int(max_iterations, "max_iterations"),
    interior=float(interior),
  )


def cave_loss(
  y_true: TensorLike,
  y_pred: TensorLike,
  solver: SolverLike,
  max_iterations: int | None = None,
  interior: float = 0.003,
  *,
  maximize: bool | None = None,
) -> tf.Tensor:
  """Per-example CaVE loss: `1 − cos(sĉ, Π_cone(sĉ))`.

  Args:
    y_true: the optimal solutions `w*(c)` (vertices), `[B, n]`, or
      `stack_targets(c, w*)`.
    y_pred: the predicted costs `ĉ`, `[B, n]`.
    solver: a `LinearProgram` or a `Knapsack`: its constraints give the
      cone (it is not called).
    max_iterations: the projection's iterations (None: 500 FISTA steps
      for the exact projection, 15 Newton steps for the interior one).
    interior: η ≥ 0; η > 0 takes the point of the cone's central path of
      weight η (`interior_projection`), inside the cone (CaVE+; the default
      0.003 matches PyEPO's CaVE+ and learns where the exact projection
      stalls); 0 projects exactly (the paper's plain CaVE).
    maximize: None (as the solver declares), True or False.

  Returns:
    `[B]` losses in [0, 2], in `y_pred`'s dtype: 0 when `ĉ` makes `w*`
    optimal (exact projection).

  Raises:
    ValueError: for a solver without constraints, or shapes that do not
      match.

  Example:
    >>> lp = ptf.solvers.LinearProgram(A_ub=[[1.0, 1.0]], b_ub=[1.0],
    ...                                bounds=(0, 1))  # Pick at most one.
    >>> w = tf.constant([[1.0, 0.0]])  # Optimal for costs (−1, 0) …
    >>> exact = functools.partial(cave_loss, solver=lp, interior=0.0)
    >>> exact(w, tf.constant([[-1.0, 0.0]])).numpy().round(6)
    array([0.], dtype=float32)
    >>> exact(w, tf.constant([[1.0, 0.0]])).numpy().round(6)  # … not.
    array([1.], dtype=float32)
  """
  solver = registry.get_solver(solver)
  p = constraints_of(solver, "cave_loss")
  settings = _check_settings(max_iterations, interior)
  max_iterations, interior = settings["max_iterations"], settings["interior"]
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
  mask = binding_mask(p, w)
  if interior > 0:
    inequalities, inner_mask = _inequalities(p, w)
    projection = interior_projection(
      tf.stop_gradient(v),
      p.A_eq,
      inequalities,
      inner_mask,
      interior,
      max_iterations,
    )
  else:
    projection = project_onto_cone(
      tf.stop_gradient(v), normals(p), mask, max_iterations
    )
  projection = tf.stop_gradient(tf.cast(projection, dtype))
  cosine = tf.reduce_sum(v * projection, -1) / tf.maximum(
    tf.norm(v, axis=-1) * tf.norm(projection, axis=-1), 1e-12
  )
  return tf.cast(1.0 - cosine, y_pred.dtype)


cave_loss.check_settings = _check_settings  # type: ignore[attr-defined]


@keras.saving.register_keras_serializable(package="perturbations_tf")
class CaVELoss(solver_loss.SolverLoss):
  """The CaVE loss as a Keras loss, `call(y_true, y_pred)`; see `cave_loss`.

  Args:
    solver: a `LinearProgram` or a `Knapsack` (its constraints; not called).
    max_iterations: the projection's iterations (None: its default).
    interior: η ≥ 0: > 0 for a point inside the cone (CaVE+; the default
      0.003 matches PyEPO's CaVE+), 0 for the exact projection (CaVE).
    maximize: None (as the solver declares), True or False.
    reduction: the Keras reduction over the batch.
    name: the loss's name.
    dtype: the loss's dtype (Keras).

  Example:
    >>> a_eq, b_eq = ptf.solvers.grid_flow_constraints((5, 5))
    >>> lp = ptf.solvers.LinearProgram(A_eq=a_eq, b_eq=b_eq, bounds=(0, 1))
    >>> ptf.losses.CaVELoss(lp, interior=0.003).supports_jit  # XLA too.
    True
  """

  FUNCTION = staticmethod(cave_loss)

  def __init__(
    self,
    solver: SolverLike,
    max_iterations: int | None = None,
    interior: float = 0.003,
    *,
    maximize: bool | None = None,
    reduction: str = "sum_over_batch_size",
    name: str = "cave",
    dtype: DTypeLike = None,
  ):
    super().__init__(
      solver,
      maximize=maximize,
      reduction=reduction,
      name=name,
      dtype=dtype,
      max_iterations=max_iterations,
      interior=interior,
    )
    constraints_of(self.solver, "CaVELoss")

  @property
  def supports_jit(self) -> bool:
    return True  # The solver is never called.
