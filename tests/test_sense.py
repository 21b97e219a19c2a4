"""The sense of a problem is declared once, by its solver: every solver
carries it, every loss, metric, layer and the cache follows it, and a
contradiction is an error naming both."""

import functools

import keras
import numpy as np
import pytest

import perturbations_tf as ptf
from perturbations_tf import solvers

GRID = (3, 3)
SHORTEST = functools.partial(solvers.grid_arc_shortest_path, grid=GRID)


def test_every_library_solver_declares_its_sense():
  maximisers = [
    solvers.argmax,
    solvers.top_k,
    solvers.ranks,
    solvers.sort,
    ptf.solvers.Knapsack([[1.0, 2.0]], [2.0]),
    ptf.solvers.LinearProgram(A_ub=[[1.0, 1.0]], b_ub=[1.0], maximize=True),
  ]
  minimisers = [
    solvers.shortest_path,
    solvers.grid_arc_shortest_path,
    ptf.solvers.LinearProgram(A_ub=[[1.0, 1.0]], b_ub=[1.0]),
  ]
  for solver in maximisers:
    assert solver.maximize is True, solver
  for solver in minimisers:
    assert solver.maximize is False, solver
  # Wrappers carry the sense of what they wrap, or declare it.
  assert ptf.solvers.numpy_solver(np.sort).maximize is None  # Undeclared.
  assert ptf.solvers.numpy_solver(np.sort, maximize=False).maximize is False
  declared = ptf.solvers.declare_sense(maximize=False)(lambda c: c)
  assert ptf.solvers.numpy_solver(declared).maximize is False
  assert ptf.solvers.SolutionCache(SHORTEST, shape=(12,)).maximize is False
  with pytest.raises(ValueError, match="declares maximize=False"):
    ptf.solvers.numpy_solver(declared, maximize=True)
  with pytest.raises(TypeError, match="maximize must be True or False"):
    ptf.solvers.declare_sense(maximize="min")


# Every class that takes a solver and a sense, by its name.
CLASSES = {
  "FenchelYoungLoss": lambda s, m: ptf.losses.FenchelYoungLoss(s, maximize=m),
  "SPOPlusLoss": lambda s, m: ptf.losses.SPOPlusLoss(s, maximize=m),
  "NCELoss": lambda s, m: ptf.losses.NCELoss(
    ptf.solvers.SolutionCache(s, shape=(12,), maximize=m)
  ),
  "CMAPLoss": lambda s, m: ptf.losses.CMAPLoss(
    ptf.solvers.SolutionCache(s, shape=(12,), maximize=m)
  ),
  "PointwiseLTRLoss": lambda s, m: ptf.losses.PointwiseLTRLoss(
    ptf.solvers.SolutionCache(s, shape=(12,), maximize=m)
  ),
  "PairwiseLTRLoss": lambda s, m: ptf.losses.PairwiseLTRLoss(
    ptf.solvers.SolutionCache(s, shape=(12,), maximize=m)
  ),
  "ListwiseLTRLoss": lambda s, m: ptf.losses.ListwiseLTRLoss(
    ptf.solvers.SolutionCache(s, shape=(12,), maximize=m)
  ),
  "PGLoss": lambda s, m: ptf.losses.PGLoss(s, maximize=m),
  "RegularizedFenchelYoungLoss": lambda s, m: (
    ptf.losses.RegularizedFenchelYoungLoss(s, maximize=m)
  ),
  "Regret": lambda s, m: ptf.metrics.Regret(s, maximize=m),
  "UnambiguousRegret": lambda s, m: ptf.metrics.UnambiguousRegret(
    s, maximize=m
  ),
  "NormalizedRegret": lambda s, m: ptf.metrics.NormalizedRegret(s, maximize=m),
  "Perturbed": lambda s, m: ptf.layers.Perturbed(s, maximize=m),
  "Blackbox": lambda s, m: ptf.layers.Blackbox(s, maximize=m),
  "NegativeIdentity": lambda s, m: ptf.layers.NegativeIdentity(s, maximize=m),
  "IMLE": lambda s, m: ptf.layers.IMLE(s, maximize=m),
  "AIMLE": lambda s, m: ptf.layers.AIMLE(s, maximize=m),
  "RegularizedFrankWolfe": lambda s, m: ptf.layers.RegularizedFrankWolfe(
    s, maximize=m
  ),
  "SolutionCache": lambda s, m: ptf.solvers.SolutionCache(
    s, shape=(12,), maximize=m
  ),
}


@pytest.mark.parametrize("name", CLASSES)
def test_every_class_follows_the_declared_sense(name):
  make = CLASSES[name]
  assert make(SHORTEST, None).maximize is False
  assert (
    make(ptf.solvers.Knapsack(np.ones((1, 12)), [3.0]), None).maximize is True
  )


# The reference's entry points keep its convention (the migration guide).
MAXIMISE_WHEN_UNDECLARED = ("FenchelYoungLoss", "Perturbed")


@pytest.mark.parametrize("name", CLASSES)
def test_an_undeclared_solver_is_refused_unless_told(name):
  def undeclared(x):
    return SHORTEST(-x)

  if name in MAXIMISE_WHEN_UNDECLARED:
    assert CLASSES[name](undeclared, None).maximize is True
  else:
    with pytest.raises(ValueError, match="declares none.*declare_sense"):
      CLASSES[name](undeclared, None)
  assert CLASSES[name](undeclared, False).maximize is False


def test_a_pyepo_minimiser_cannot_train_backwards():
  # A PyEPO user's minimiser, undeclared: SPO+ was −6.6 and the regret −2.2,
  # silently, when it was taken for a maximiser.
  def one_hot_argmin(c):
    return np.eye(c.shape[1], dtype=c.dtype)[np.argmin(c, 1)]

  solver = ptf.solvers.numpy_solver(one_hot_argmin, batched=True)
  for make in (
    ptf.losses.SPOPlusLoss,
    ptf.metrics.Regret,
    ptf.metrics.NormalizedRegret,
    ptf.losses.PGLoss,
    functools.partial(
      ptf.losses.spo_plus_loss, np.ones((1, 3)), np.ones((1, 3))
    ),
  ):
    with pytest.raises(ValueError, match="maximize=False"):
      make(solver)
  # Declared, the values are what they must be: non-negative.
  minimiser = ptf.solvers.numpy_solver(
    one_hot_argmin, batched=True, maximize=False
  )
  rng = np.random.default_rng(0)
  c, c_hat = rng.normal(size=(2, 8, 5)).astype(np.float32)
  assert (ptf.losses.spo_plus_loss(c, c_hat, minimiser).numpy() >= 0).all()


@pytest.mark.parametrize("name", CLASSES)
def test_a_contradiction_is_an_error_naming_both(name):
  owner = (
    "SolutionCache"
    if name.endswith(("NCELoss", "CMAPLoss", "LTRLoss"))
    else name
  )
  with pytest.raises(
    ValueError,
    match=(
      rf"{owner} was given maximize=True, but its solver "
      "grid_arc_shortest_path declares maximize=False"
    ),
  ):
    CLASSES[name](SHORTEST, True)


def test_the_pool_losses_check_their_own_maximize_against_the_cache():
  cache = ptf.solvers.SolutionCache(SHORTEST, shape=(12,))
  for cls in (
    ptf.losses.NCELoss,
    ptf.losses.CMAPLoss,
    ptf.losses.PointwiseLTRLoss,
    ptf.losses.PairwiseLTRLoss,
    ptf.losses.ListwiseLTRLoss,
  ):
    assert cls(cache).maximize is False
    with pytest.raises(
      ValueError, match="SolutionCache declares maximize=False"
    ):
      cls(cache, maximize=True)


def test_the_fenchel_young_loss_over_a_shortest_path_learns_without_a_flag():
  # The case that used to train the wrong way silently (regret 0.566 where
  # maximize=False gave 0.010): now the solver's own sense is used.
  x, c = ptf.data.shortest_path_data(400, 5, grid=(5, 5), deg=2, seed=0)
  solver = "grid_arc_shortest_path"
  data = ptf.data.make_dataset(x, c, solver, batch_size=32, seed=0)
  keras.utils.set_random_seed(0)
  model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(40)])
  model.compile(
    keras.optimizers.Adam(0.05),
    loss=ptf.losses.FenchelYoungLoss(solver, 10, 1.0, seed=0),
    metrics=[ptf.metrics.NormalizedRegret(solver)],
  )
  before = model.evaluate(data, verbose=0, return_dict=True)
  model.fit(data, epochs=8, verbose=0)
  after = model.evaluate(data, verbose=0, return_dict=True)
  assert after["normalized_regret"] < 0.1
  assert after["normalized_regret"] < 0.3 * before["normalized_regret"]


def test_cave_follows_its_programs_sense():
  program = dict(A_ub=np.ones((1, 12)), b_ub=[3.0], bounds=(0, 1))
  for maximize in (False, True):
    lp = ptf.solvers.LinearProgram(**program, maximize=maximize)
    assert ptf.losses.CaVELoss(lp).maximize is maximize
  with pytest.raises(ValueError, match="declares maximize=False"):
    ptf.losses.CaVELoss(ptf.solvers.LinearProgram(**program), maximize=True)


def test_maximize_is_keyword_only_everywhere():
  # It was positional at five different indices: Blackbox(solver, True)
  # set λ, not the sense.
  import importlib
  import inspect

  checked = 0
  for namespace in ("ops", "layers", "losses", "metrics", "solvers"):
    module = importlib.import_module(f"perturbations_tf.{namespace}")
    for name in module.__all__:
      obj = getattr(module, name)
      target = obj.__init__ if inspect.isclass(obj) else obj
      if not callable(target):
        continue
      try:
        parameters = inspect.signature(target).parameters
      except (TypeError, ValueError):
        continue
      if "maximize" in parameters and name != "declare_sense":
        kind = parameters["maximize"].kind
        assert kind is inspect.Parameter.KEYWORD_ONLY, f"{namespace}.{name}"
        checked += 1
  assert checked > 30
  with pytest.raises(TypeError):
    ptf.layers.Blackbox(SHORTEST, 10.0, True)
