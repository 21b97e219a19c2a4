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
NAMESPACES = ("losses", "layers", "metrics", "solvers", "noise", "data")


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
def test_every_public_name_of_a_namespace_is_in_the_api_reference(namespace):
  module = getattr(ptf, namespace)
  missing = [
    name
    for name in module.__all__
    if f"perturbations_tf.{namespace}.{name}" not in documented()
  ]
  assert not missing, f"docs/api/{namespace}.md lacks {missing}"


def test_every_top_level_name_is_documented_somewhere():
  entries = documented()
  for name in ptf.__all__:
    obj = getattr(ptf, name)
    if name in NAMESPACES:
      continue
    found = f"perturbations_tf.{name}" in entries or any(
      entry.endswith(f".{name}")
      and getattr(getattr(ptf, entry.split(".")[1], None), name, None) is obj
      for entry in entries
    )
    assert found, f"ptf.{name} is in no page of docs/api/"
