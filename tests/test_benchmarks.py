"""Smoke test of the benchmarks' quick mode: every section yields tables."""

import pytest

from benchmarks import run as benchmarks


@pytest.mark.slow
@pytest.mark.parametrize("section", sorted(benchmarks.SECTIONS))
def test_quick_section_produces_tables(section):
  tables = benchmarks.SECTIONS[section](quick=True)
  assert tables
  for title, rows in tables.items():
    assert rows, title
    markdown = benchmarks.to_markdown(title, rows)
    assert markdown.count("\n") == len(rows) + 4
    for row in rows:
      numbers = [v for v in row.values() if isinstance(v, float)]
      assert numbers and all(v == v and v >= 0 for v in numbers), row
