"""Smoke test of the benchmarks' quick mode: every section yields tables."""

import numpy as np
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


def test_pyepo_side_by_side_trains_ours_on_the_shared_batches():
  # PyEPO's side needs torch and runs by hand; ours must stay runnable.
  from benchmarks import pyepo_side_by_side as sbs  # pylint: disable=import-outside-toplevel
  data = sbs.make_data([0, 1], epochs=2, batch_size=25, num_train=100,
                       num_test=50)
  assert data["order_0"].shape == (2, 100)
  assert not (data["kernel_0"] == data["kernel_1"]).all()
  for method in sbs.METHODS:
    result = sbs.train_ours(method, data, 0, num_samples=3)
    assert result["predicted"].shape == (50, 40)
    regret = sbs.test_regret(data, result["predicted"])
    assert np.isfinite(regret) and regret >= 0, method
