"""Every number the documentation quotes as measured comes from a results
file.

A page, a docstring or the changelog may quote a ratio (`3.1×`), a
percentage, a time (`ms`, `s`, `min`), a decimal of three or more
places (a regret, an accuracy) or a number in scientific notation with a
decimal mantissa (`4.0e-7`, equal to a results file's `4.0e-07` or
`0.0000004`; `1e-2` is a setting) only as a results file writes it: the
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
# Any number as a value (scientific notation too), for comparing values.
VALUE = r"\d+(?:\.\d+)?(?:e[-+]?\d+)?"
RENDERED = re.compile(
  r"<!-- reproduce:(\w+) -->(.*?)<!-- /reproduce:\1 -->", flags=re.S
)
# A ratio, a percentage or a time (a range of them too), a decimal of
# three or more places, or scientific notation with a decimal mantissa; not
# a shape (`5×5`), a version, a name or a setting (`1e-2`).
MEASURED = re.compile(
  rf"(?<![\w.×/^-])({NUMBER}(?:\s*[–-]\s*{NUMBER})?)"
  rf"(?:\s*×(?!\s*\d)|%|\s?ms\b|\s?s\b(?!\s*[=<>≤≥])|\s?min\b)"
  rf"|(?<![\w.×/^-])(\d*\.\d{{3,}})(?![\w.])"
  rf"|(?<![\w.×/^-])(\d+\.\d+e[-+]?\d+)(?![\w.])"
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


def _values(text: str) -> set[float]:
  """The numbers of `text` as values: `4.0e-7` is `4.0e-07` is `4e-7`."""
  return {float(n) for n in re.findall(VALUE, text.replace(",", ""))}


@functools.cache
def results_text() -> str:
  """What the results files and the rendered tables write."""
  files = ["docs/results.md", *glob.glob("benchmarks/results/*", root_dir=ROOT)]
  texts = [_read(f) for f in files]
  for page in glob.glob("docs/**/*.md", root_dir=ROOT, recursive=True):
    texts += [match.group(2) for match in RENDERED.finditer(_read(page))]
  return "\n".join(texts)


@functools.cache
def results_numbers() -> frozenset[str]:
  """Every number the results files and the rendered tables write."""
  return frozenset(_numbers(results_text()))


@functools.cache
def results_values() -> frozenset[float]:
  """The same, as values (for the quotes in scientific notation)."""
  return frozenset(_values(results_text()))


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
  return [
    f"{match.group(0).strip()!r} in: {line.strip()}"
    for line in text.splitlines()
    for match in MEASURED.finditer(line)
    if not (
      _values(match.group(3)) <= results_values()
      if match.group(3)
      else _numbers(match.group(0)) <= results_numbers()
    )
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
  assert untraced("1 − cos is 9.87e-11 at Adam 1e-2.") == [
    "'9.87e-11' in: 1 − cos is 9.87e-11 at Adam 1e-2."
  ]
  # A quote in scientific notation is compared as a value.
  assert _values("4.0e-7") == _values("4.0e-07") == _values("0.0000004")
  # Shapes, settings in code, doctest outputs and rendered tables are not
  # quotes.
  assert not untraced(
    "A 5×5 grid, `tolerance=1e-6`.\n>>> f()\n0.4225\n\n"
    "<!-- reproduce:x -->\n| 0.0743 |\n<!-- /reproduce:x -->\n"
  )
