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
  rows = re.findall(r"^\| (`solvers\.[^|]*)\| `(True|False)` \|", page, re.M)
  declared = {
    name: value
    for cell, value in rows
    for name in re.findall(r"`(?:solvers\.)?(\w+)`", cell)
  }
  # Every solver of the namespace that declares a fixed sense is a row.
  fixed = {
    name
    for name in ptf.solvers.__all__
    if isinstance(getattr(getattr(ptf.solvers, name), "maximize", None), bool)
  }
  assert fixed == set(declared)
  for name, value in declared.items():
    assert str(getattr(ptf.solvers, name).maximize) == value, name


def test_the_targets_table_names_every_loss_and_metric():
  page = (ROOT / "docs" / "conventions.md").read_text(encoding="utf-8")
  table = page.split("## Targets: `y_true`")[1].split("\n## ")[0]
  named = set(re.findall(r"`(?:losses\.|metrics\.)?(\w+)`", table))
  assert set(ptf.losses.__all__) <= named
  assert set(ptf.metrics.__all__) <= named


def test_the_design_pages_layout_names_every_module():
  text = (ROOT / "docs" / "design.md").read_text(encoding="utf-8")
  layout = text.split("## Layout", 1)[1].split("```")[1]
  named = set(re.findall(r"\w+\.py", layout))
  package = ROOT / "perturbations_tf"
  modules = {p.name for p in package.glob("*.py")} | {
    p.name for p in (package / "_src").glob("*.py")
  }
  assert named == modules
