"""The sense of a problem, declared once by its solver.

A solver declares whether it maximises or minimises its linear objective
`<y, θ>` with a boolean attribute `maximize`: the built-in solvers carry it
(`argmax`, `top_k`, `ranks` and `sort` maximise; both shortest paths
minimise; `Knapsack` maximises; a `LinearProgram` says what it was told), and
`declare_sense` sets it on a user's function. Losses, metrics, layers and the
cache take `maximize=None`, meaning "as the solver declares"; an explicit
value that contradicts a declared solver is an error.

A solver that declares nothing is refused by everything whose value depends
on the sense (SPO+, regret, DBB, I-MLE, the pool losses, …): a PyEPO user's
minimiser taken for a maximiser would train backwards without a word. Only
the two entry points of google-research `perturbations`, `perturbed` (and the
`Perturbed` layer) and the Fenchel–Young loss, keep that reference's
convention: an undeclared solver is a maximiser, as in the mathematics
(`y*(θ) = argmax_{y ∈ C} <y, θ>`). The migration guide promises it.

Every formula of the library that depends on the sense is written with
`sign(maximize)`: +1 when maximising, −1 when minimising (the minimisation
of `<y, θ>` is the maximisation of `<y, −θ>`).
"""

from __future__ import annotations

from collections.abc import Callable
import functools
from typing import Any
from typing import TypeVar

SolverT = TypeVar("SolverT")


def declare_sense(*, maximize: bool) -> Callable[[SolverT], SolverT]:
  """A decorator declaring whether a solver maximises `<y, θ>`.

  It sets the solver's `maximize` attribute, which every loss, metric, layer
  and cache reads when given `maximize=None`.

  Args:
    maximize: True for a maximiser, False for a minimiser.

  Returns:
    A decorator that returns the solver itself, declared.

  Raises:
    TypeError: if `maximize` is not a bool.

  Example:
    >>> @declare_sense(maximize=False)
    ... def cheapest(costs):
    ...   return tf.one_hot(tf.argmin(costs, -1), costs.shape[-1])
    >>> cheapest.maximize
    False
  """
  if not isinstance(maximize, bool):
    raise TypeError(f"maximize must be True or False, got {maximize!r}.")

  def declare(solver: SolverT) -> SolverT:
    solver.maximize = maximize  # type: ignore[attr-defined]
    return solver

  return declare


def declared_sense(solver: Any) -> bool | None:
  """The sense a solver declares: True, False, or None when it declares none
  (looking through `functools.partial`).

  Example:
    >>> declared_sense(functools.partial(lambda x, k: x, k=1)) is None
    True
  """
  while True:
    declared = getattr(solver, "maximize", None)
    if declared is not None:
      return bool(declared)
    if not isinstance(solver, functools.partial):
      return None
    solver = solver.func


def resolve_sense(
  solver: Any,
  maximize: bool | None,
  owner: str,
  *,
  undeclared: bool | None = None,
) -> bool:
  """The sense to use: `maximize` if given, else the solver's declared one.

  Args:
    solver: the solver.
    maximize: None ("as the solver declares") or a bool.
    owner: who asks, for the message (e.g. "SPOPlusLoss").
    undeclared: the sense of a solver that declares none, where a
      convention gives one (True for the reference's `perturbed` and
      Fenchel–Young loss); None: such a solver is an error.

  Returns:
    True to maximise, False to minimise.

  Raises:
    ValueError: if `maximize` contradicts the solver's declaration, or if
      neither says a sense and `undeclared` is None.

  Example:
    >>> resolve_sense(functools.partial(max), None, "perturbed",
    ...               undeclared=True)
    True
    >>> resolve_sense(functools.partial(max), None, "Regret")
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: Regret depends on the sense of its solver, ...
  """
  declared = declared_sense(solver)
  if maximize is None:
    if declared is not None:
      return declared
    if undeclared is None:
      raise ValueError(
        f"{owner} depends on the sense of its solver, and the solver "
        f"{solver_name(solver)!r} declares none. Declare it once: "
        "ptf.solvers.declare_sense(maximize=False)(solver) for a minimiser "
        "(PyEPO's default), numpy_solver(fn, maximize=False), or pass "
        f"maximize=True/False to {owner}."
      )
    return undeclared
  if not isinstance(maximize, bool):
    raise TypeError(
      f"{owner}: maximize must be None, True or False, got {maximize!r}."
    )
  if declared is not None and declared != maximize:
    raise ValueError(
      f"{owner} was given maximize={maximize}, but its solver "
      f"{solver_name(solver)} declares maximize={declared}. Leave "
      "maximize=None to follow the solver, or give a solver of the other "
      "sense."
    )
  return maximize


def sign(maximize: bool) -> float:
  """+1.0 when maximising, −1.0 when minimising.

  Example:
    >>> sign(False)
    -1.0
  """
  return 1.0 if maximize else -1.0


def solver_name(solver: Any) -> str:
  """A readable name of a solver, for messages (through partials).

  Example:
    >>> solver_name(functools.partial(max, key=abs))
    'max'
  """
  while isinstance(solver, functools.partial):
    solver = solver.func
  return getattr(solver, "__name__", type(solver).__name__)
