"""The package's structure: no import circle, Keras-shaped namespaces, every
public name reachable, and an import that needs no optional dependency."""

import ast
import importlib
import pathlib
import subprocess
import sys

import pytest

import perturbations_tf as ptf

PACKAGE = pathlib.Path(ptf.__file__).parent
NAMESPACES = ("data", "layers", "losses", "metrics", "noise", "ops", "solvers")
# The top-level names of 0.1.0 and 0.2.0, all kept (deprecated aliases).
NAMES_0_1 = (
  "Blackbox",
  "CMAPLoss",
  "FenchelYoungLoss",
  "Gumbel",
  "IMLE",
  "InfeasibleProgramError",
  "Knapsack",
  "LinearProgram",
  "NCELoss",
  "NegativeIdentity",
  "Normal",
  "NumpySolver",
  "Perturbed",
  "PerturbedArgmax",
  "PerturbedRanks",
  "PerturbedShortestPath",
  "PerturbedSort",
  "PerturbedTopK",
  "SPOPlusLoss",
  "SolutionCache",
  "UnsolvedProgramError",
  "WorkerCrashError",
  "blackbox",
  "cmap_loss",
  "fenchel_young_loss",
  "imle",
  "metrics",
  "nce_loss",
  "negative_identity",
  "noise",
  "numpy_solver",
  "perturbed",
  "solvers",
  "spo_plus_loss",
  "stack_targets",
)


def _module_name(path: pathlib.Path) -> str:
  parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
  return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: pathlib.Path) -> set:
  """The package's modules that `path` imports at module level."""
  found = set()
  for node in ast.parse(path.read_text(encoding="utf-8")).body:
    if isinstance(node, ast.Import):
      names = [alias.name for alias in node.names]
    elif isinstance(node, ast.ImportFrom) and node.module:
      # `from a.b import c` imports a.b, and a.b.c when c is a module.
      names = [node.module] + [
        f"{node.module}.{alias.name}" for alias in node.names
      ]
    else:
      continue
    found.update(n for n in names if n.startswith("perturbations_tf"))
  return found


def import_graph() -> dict:
  modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
  return {
    name: sorted(m for m in _imports(path) if m in modules and m != name)
    for name, path in modules.items()
  }


def find_cycle(graph: dict):
  """A list of modules forming an import circle, or None."""
  state = {}

  def visit(node, path):
    state[node] = "open"
    for nxt in graph.get(node, ()):
      if state.get(nxt) == "open":
        return path[path.index(nxt) :] + [nxt]
      if nxt not in state:
        cycle = visit(nxt, path + [nxt])
        if cycle:
          return cycle
    state[node] = "done"
    return None

  for start in sorted(graph):
    if start not in state:
      cycle = visit(start, [start])
      if cycle:
        return cycle
  return None


def test_the_library_has_no_import_circle():
  graph = import_graph()
  assert len(graph) > 20  # The graph was read.
  assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))
  # The checker itself finds a circle.
  assert find_cycle({"a": ["b"], "b": ["c"], "c": ["a"]}) == [
    "a",
    "b",
    "c",
    "a",
  ]


def test_namespaces_and_every_public_name():
  for namespace in NAMESPACES:
    module = importlib.import_module(f"perturbations_tf.{namespace}")
    assert getattr(ptf, namespace) is module
    for name in module.__all__:
      assert getattr(module, name) is not None, (namespace, name)
  # The top level holds the namespaces only.
  assert sorted(ptf.__all__) == sorted(NAMESPACES)
  assert not hasattr(ptf, "keras_compat")  # Private.


def _namespace(name):
  return f"perturbations_tf.{name}"


def test_every_public_object_has_one_home():
  homes = {}
  for namespace in NAMESPACES:
    module = importlib.import_module(f"perturbations_tf.{namespace}")
    for name in module.__all__:
      homes.setdefault(id(getattr(module, name)), []).append(
        f"{namespace}.{name}"
      )
  twice = [places for places in homes.values() if len(places) > 1]
  assert not twice, twice


def test_old_names_resolve_to_their_home_with_a_warning():
  old = NAMES_0_1 + ("LinearProgram", "TSP", "Portfolio", "declare_sense")
  for name in old:
    if name in NAMESPACES:
      continue
    with pytest.warns(DeprecationWarning, match=f"ptf.{name} is deprecated"):
      alias = getattr(ptf, name)
    homes = [
      module
      for module in map(importlib.import_module, map(_namespace, NAMESPACES))
      if name in module.__all__
    ]
    assert len(homes) == 1 and getattr(homes[0], name) is alias, name
  with pytest.warns(DeprecationWarning, match="ptf.solvers.SolutionCache"):
    assert ptf.layers.SolutionCache is ptf.solvers.SolutionCache
  with pytest.warns(DeprecationWarning, match="shortest_path_data"):
    assert ptf.data.shortest_path is ptf.data.shortest_path_data
  with pytest.raises(AttributeError, match="no attribute 'nothing'"):
    ptf.nothing  # noqa: B018


def test_the_default_import_needs_no_optional_dependency():
  # What TensorFlow and Keras import themselves (scipy and matplotlib, where
  # installed) does not count: only what importing the library adds.
  code = (
    "import sys, tensorflow, keras; before = set(sys.modules); "
    "import perturbations_tf; added = set(sys.modules) - before; "
    "print(sorted(m for m in added if m.split('.')[0] in ('scipy', "
    "'matplotlib', 'dask', 'distributed', 'tensorflow_datasets', "
    "'absl')))"
  )
  out = subprocess.run(
    [sys.executable, "-c", code], capture_output=True, text=True, check=True
  )
  assert out.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.parametrize("namespace", NAMESPACES)
def test_namespace_modules_only_reexport(namespace):
  # jaxopt's pattern: the implementation is private, the namespace thin.
  path = PACKAGE / f"{namespace}.py"
  body = ast.parse(path.read_text(encoding="utf-8")).body
  kinds = {type(node) for node in body}
  assert kinds <= {ast.Expr, ast.ImportFrom, ast.Assign}, kinds
