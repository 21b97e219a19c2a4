"""Smoke test of the benchmarks' quick mode: every section yields tables."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from benchmarks import overhead
from benchmarks import run as benchmarks
import perturbations_tf as ptf

# The repository's binaries, benchmarks or documentation, beside the library.
pytestmark = pytest.mark.integration

RESULTS = os.path.join(
  os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
  "benchmarks",
  "results",
)


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
  from benchmarks import pyepo_side_by_side as sbs

  data = sbs.make_data(
    [0, 1], epochs=2, batch_size=25, num_train=100, num_test=50
  )
  assert data["order_0"].shape == (2, 100)
  assert not (data["kernel_0"] == data["kernel_1"]).all()
  # CaVE's binding constraints for PyEPO: ± the 25 flow rows, 80 bounds.
  assert data["tight_train"].shape == (100, 2 * 25 + 80, 40)
  predicted = {}
  for method in sbs.METHODS:
    result = sbs.train_ours(method, data, 0, num_samples=3)
    assert result["predicted"].shape == (50, 40)
    regret = sbs.test_regret(data, result["predicted"])
    assert np.isfinite(regret) and regret >= 0, method
    predicted[method] = result["predicted"]
  # `--draws`: the random methods run again with other noise, the others
  # once.
  assert sbs.seeds_and_draws("dpo", [0, 1], 2) == [
    (0, 0),
    (0, 1),
    (1, 0),
    (1, 1),
  ]
  assert sbs.seeds_and_draws("spo_plus", [0, 1], 2) == [(0, 0), (1, 0)]
  again = sbs.train_ours("dpo", data, 0, num_samples=3)["predicted"]
  other = sbs.train_ours("dpo", data, 0, num_samples=3, draw=1)["predicted"]
  np.testing.assert_array_equal(again, predicted["dpo"])
  assert not np.allclose(other, predicted["dpo"])
  assert sbs.mean_std([0.1, 0.3]) == "0.2000 ± 0.1414"
  assert sbs.mean_std([0.1142]) == "0.1142"  # One run: no spread to show.
  # `--cave=exact`: the exact projection on our side, not CaVE+'s point.
  exact = sbs.train_ours("cave", data, 0, cave="exact")["predicted"]
  assert not np.allclose(exact, predicted["cave"])


def test_gpu_export_writes_each_program_its_inputs_and_outputs(tmp_path):
  # The path to time the library's XLA programs on a machine with JAX
  # alone: the HLO module and the arrays benchmarks/gpu/run.py reads.
  from benchmarks.gpu import export

  times = export.export(str(tmp_path), only=["shortest_path_B640_12x12"])
  assert set(times) == {"shortest_path_B640_12x12"}
  assert (tmp_path / "shortest_path_B640_12x12.hlo.pb").stat().st_size > 1000
  arrays = np.load(tmp_path / "shortest_path_B640_12x12.npz")
  assert arrays["arg0"].shape == arrays["out0"].shape == (640, 12, 12)
  assert set(np.unique(arrays["out0"])) == {0.0, 1.0}


def test_netlib_table_is_rendered_from_its_results_file(tmp_path):
  # The guide includes benchmarks/results/netlib.md: it must be the
  # rendering of netlib.json, whose provenance it states; and the
  # benchmark's row for one instance runs here.
  import json
  import os

  from benchmarks import netlib
  from experiments import provenance

  results = os.path.join(os.path.dirname(netlib.__file__), "results")
  with open(os.path.join(results, "netlib.json"), encoding="utf-8") as f:
    recorded = json.load(f)
  assert set(recorded["provenance"]) == {"version", "commit", "date", "machine"}
  with open(os.path.join(results, "netlib.md"), encoding="utf-8") as f:
    page = f.read()
  assert page == (
    f"{provenance.header(recorded['provenance'])}\n\n"
    f"{netlib.to_markdown(recorded['rows'])}"
  )
  assert {row["instance"] for row in recorded["rows"]} == set(
    netlib.instances()
  )
  (row,) = netlib.run(only=("afiro",))
  assert row["PDLP status"] == "converged"
  assert row["PDLP worst row"] <= 1e-6 and row["PDLP objective error"] < 1e-5


# The overhead table's smallest sizes, where the noise draw dominates: the
# core op must not fall behind the plain estimator there again. The ratio
# is read round by round (the two calls of a round moments apart, so a slow
# spell of a machine busy with other tests slows both) and its median
# taken; the bound leaves room for the rest of that noise (the benchmark's
# full form measures the ratio).
@pytest.mark.parametrize("case", overhead.QUICK_REGRESSION)
def test_the_core_op_keeps_pace_with_the_plain_estimator(case):
  ratios = overhead.step_ratios(case, "function", rounds=31)
  assert ratios["perturbed"] < overhead.REGRESSION_BOUND, ratios
  assert ratios["fenchel_young"] < overhead.REGRESSION_BOUND, ratios


def test_the_generator_passes_the_dieharder_tests_it_was_given():
  # benchmarks/noise_battery.py's run: `dieharder -a` on the three streams
  # the library draws (up to its time budget, which the results record and
  # the page states). A good generator fails none; a p-value outside
  # [0.005, 0.995] ("WEAK") comes once in 100 tests by chance.
  path = os.path.join(RESULTS, "noise_battery.json")
  with open(path, encoding="utf-8") as f:
    battery = json.load(f)
  assert set(battery["streams"]) == {
    "positions",
    "seeds (k, 0)",
    "seeds (0, k)",
  }
  for name, rows in battery["streams"].items():
    verdicts = [row["verdict"] for row in rows]
    assert len(rows) >= 30, name  # Past the diehard and sts tests.
    assert "FAILED" not in verdicts, name
    assert all(0 <= row["p"] <= 1 for row in rows), name
  # Consecutive positions: WEAK no more often than chance. Across
  # neighbouring seeds more came WEAK than chance gives; each must then
  # have passed dieharder's -Y 1 re-test (p-samples added until it is
  # PASSED or FAILED), as the reproducibility guide says.
  positions = [row["verdict"] for row in battery["streams"]["positions"]]
  assert positions.count("WEAK") <= 1 + len(positions) // 20
  for name, rows in battery["streams"].items():
    weak = [row for row in rows if row["verdict"] == "WEAK"]
    if len(weak) > 1 + len(rows) // 20:
      assert all(row["retest"]["verdict"] == "PASSED" for row in weak), name


def test_soft_layers_match_the_perturbed_smoothing_by_their_strength():
  # Gumbel-perturbed argmax at ε is softmax(θ/ε) exactly: matched on its
  # distance to the hard argmax, the softmax's strength must be that ε.
  # Sparsemax, which reaches the hard argmax at finite ε, needs a larger one.
  from benchmarks import soft_layers

  theta = np.random.default_rng(0).normal(size=(8, 10)).astype(np.float32)
  hard = np.eye(10, dtype=np.float32)[theta.argmax(-1)]
  target = soft_layers.distance_to_hard(
    tf.nn.softmax(theta / soft_layers.SIGMA), hard
  )
  softmax, sparsemax = (
    soft_layers.matched_strength(
      lambda t, e, reg=reg: ptf.ops.soft_argmax(t, reg, e), theta, hard, target
    )
    for reg in ("kl", "l2")
  )
  assert softmax == pytest.approx(soft_layers.SIGMA, rel=1e-4)
  assert sparsemax > 2 * softmax
