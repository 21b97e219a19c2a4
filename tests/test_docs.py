"""The documentation covers the public API: every public name of every
namespace has its entry in the API reference (the site's build fails on
broken references; `.ci/run` builds it with warnings as errors)."""

import pathlib
import re

import pytest

import perturbations_tf as ptf

# The repository's binaries, benchmarks or documentation, beside the library.
pytestmark = pytest.mark.integration

ROOT = pathlib.Path(__file__).resolve().parent.parent
API = ROOT / "docs" / "api"
NAMESPACES = ("ops", "losses", "layers", "metrics", "solvers", "noise", "data")


def documented() -> set:
  names = set()
  for page in API.glob("*.md"):
    names.update(
      re.findall(
        r"^::: (perturbations_tf[\w.]*)$",
        page.read_text(encoding="utf-8"),
        re.M,
      )
    )
  return names


@pytest.mark.parametrize("namespace", NAMESPACES)
def test_each_api_page_lists_its_namespace_exactly(namespace):
  page = (API / f"{namespace}.md").read_text(encoding="utf-8")
  listed = re.findall(
    rf"^::: perturbations_tf\.{namespace}\.(\w+)$", page, re.M
  )
  assert sorted(listed) == sorted(getattr(ptf, namespace).__all__)


def test_every_api_entry_is_a_public_name_at_its_home():
  prefixes = {f"perturbations_tf.{namespace}" for namespace in NAMESPACES}
  for entry in documented():
    assert entry.rsplit(".", 1)[0] in prefixes, entry


def test_the_sense_table_says_what_each_solver_declares():
  page = (ROOT / "docs" / "conventions.md").read_text(encoding="utf-8")
  rows = dict(
    re.findall(r"^\| `solvers\.(\w+)[^|]*\| `(True|False)` \|", page, re.M)
  )
  assert {"argmax", "Knapsack", "TSP", "Portfolio", "shortest_path"} <= set(
    rows
  )
  for name, declared in rows.items():
    assert str(getattr(ptf.solvers, name).maximize) == declared, name
