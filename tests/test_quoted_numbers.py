"""Every number the documentation quotes as measured comes from a results
file.

A page, a docstring or the changelog may quote a ratio (`3.1×`), a
percentage, a time (`ms`, `s`, `min`) or a decimal of three or more
places (a regret, an accuracy) only as a results file writes it: the
benchmarks' (`benchmarks/results/`), the experiments' (`docs/results.md`,
written by `experiments.reproduce`), or a table the reproduce script
rendered into a page. Code, doctest examples and rendered tables are not
prose and are skipped.
"""

import functools
import glob
import io
import os
import re
import tokenize

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NUMBER = r"\d+(?:,\d{3})*(?:\.\d+)?"
RENDERED = re.compile(
  r"<!-- reproduce:(\w+) -->(.*?)<!-- /reproduce:\1 -->", flags=re.S
)
# A ratio, a percentage or a time (a range of them too), or a decimal of
# three or more places; not a shape (`5×5`), a version or a name.
MEASURED = re.compile(
  rf"(?<![\w.×/^-])({NUMBER}(?:\s*[–-]\s*{NUMBER})?)"
  rf"(?:\s*×(?!\s*\d)|%|\s?ms\b|\s?s\b(?!\s*[=<>≤≥])|\s?min\b)"
  rf"|(?<![\w.×/^-])(\d*\.\d{{3,}})(?![\w.])"
)
NOT_PROSE = (
  RENDERED,
  re.compile(r"```.*?```", flags=re.S),  # Code blocks.
  re.compile(r"`[^`\n]*`"),  # Inline code.
  re.compile(r"^\s*>>>.*?(?=^\s*$)", flags=re.S | re.M),  # Doctests.
  re.compile(r"^--8<--.*$", flags=re.M),  # Included results files.
)


def _path(name: str) -> str:
  return os.path.join(ROOT, name)


def _read(name: str) -> str:
  with open(_path(name), encoding="utf-8") as f:
    return f.read()


def _prose(name: str) -> str:
  """A page's text, or a module's docstrings and comments."""
  text = _read(name)
  if not name.endswith(".py"):
    return text
  return "\n\n".join(  # A blank line ends each doctest.
    token.string.rstrip('"')
    for token in tokenize.generate_tokens(io.StringIO(text).readline)
    if token.type == tokenize.COMMENT
    or (token.type == tokenize.STRING and token.string.endswith('"""'))
  )


def _numbers(text: str) -> set[str]:
  return {n.replace(",", "") for n in re.findall(NUMBER, text)}


@functools.cache
def results_numbers() -> frozenset[str]:
  """Every number the results files and the rendered tables write."""
  files = ["docs/results.md", *glob.glob("benchmarks/results/*", root_dir=ROOT)]
  numbers = set().union(*(_numbers(_read(f)) for f in files))
  for page in glob.glob("docs/**/*.md", root_dir=ROOT, recursive=True):
    for match in RENDERED.finditer(_read(page)):
      numbers |= _numbers(match.group(2))
  return frozenset(numbers)


def quoting_files() -> list[str]:
  """The README, the changelog, the pages and the code's docstrings."""
  return [
    "README.md",
    "CHANGELOG.md",
    *sorted(
      page
      for page in glob.glob("docs/**/*.md", root_dir=ROOT, recursive=True)
      if page != os.path.join("docs", "results.md")
    ),
    *sorted(
      glob.glob("perturbations_tf/**/*.py", root_dir=ROOT, recursive=True)
    ),
    *sorted(glob.glob("experiments/*.py", root_dir=ROOT)),
    *sorted(glob.glob("benchmarks/*.py", root_dir=ROOT)),
  ]


def untraced(text: str) -> list[str]:
  """The measured numbers of `text`'s prose that no results file holds."""
  for pattern in NOT_PROSE:
    text = pattern.sub("", text)
  known = results_numbers()
  return [
    f"{match.group(0).strip()!r} in: {line.strip()}"
    for line in text.splitlines()
    for match in MEASURED.finditer(line)
    if not _numbers(match.group(0)) <= known
  ]


@pytest.mark.parametrize("name", quoting_files())
def test_every_quoted_measurement_is_in_a_results_file(name):
  missing = untraced(_prose(name))
  assert not missing, "\n".join(missing)


def test_a_number_no_results_file_holds_is_caught():
  assert untraced("It trains 8.17× faster, at 0.0743 regret.") == [
    "'8.17×' in: It trains 8.17× faster, at 0.0743 regret.",
    "'0.0743' in: It trains 8.17× faster, at 0.0743 regret.",
  ]
  # Shapes, settings in code, doctest outputs and rendered tables are not
  # quotes.
  assert not untraced(
    "A 5×5 grid, `tolerance=1e-6`.\n>>> f()\n0.4225\n\n"
    "<!-- reproduce:x -->\n| 0.0743 |\n<!-- /reproduce:x -->\n"
  )
