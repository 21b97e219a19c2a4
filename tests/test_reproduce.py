"""The reproduction entry point: every run, resumption, figures and tables."""

import functools
import os

import pytest

from experiments import catalogue
from experiments import classification
from experiments import pages
from experiments import predict_then_optimize as pto
from experiments import runner
import perturbations_tf as ptf
from tests import mock_cifar

# The repository's binaries, benchmarks or documentation, beside the library.
pytestmark = pytest.mark.integration


def body_rows(table: str) -> int:
  """The data rows of a section's markdown tables."""
  lines = table.splitlines()
  return sum(line.startswith("| ") for line in lines) - sum(
    line.startswith("|---") for line in lines
  )


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
  """The smallest reproduction: every run of --quick at tiny sizes."""
  root = str(tmp_path_factory.mktemp("reproduce"))
  output = os.path.join(root, "runs")
  extra = functools.partial(catalogue.smoke_flags, output)
  runs = catalogue.all_runs(quick=True)
  with mock_cifar.mock_cifar(num_examples=24):
    failures = runner.train_all(runs, output, extra)
  return root, output, runs, extra, failures


@pytest.mark.slow
def test_every_run_trains_and_a_rerun_trains_nothing(smoke, monkeypatch):
  _, output, runs, extra, failures = smoke
  assert failures == {}
  for run in runs:
    assert os.path.exists(os.path.join(output, run.name, "results.json"))
  binaries = {run.binary for run in runs}
  for binary in binaries:
    monkeypatch.setattr(
      f"experiments.{binary}.run", lambda config: pytest.fail("trained again")
    )
  assert runner.train_all(runs, output, extra) == {}


@pytest.mark.slow
def test_other_settings_are_never_overwritten(smoke):
  _, output, runs, extra, _ = smoke
  changed = [
    catalogue.Run(runs[0].name, runs[0].binary, runs[0].flags + ("--seed=1",))
  ]
  failures = runner.train_all(changed, output, extra)
  assert "holds a run with other settings (seed)" in failures[runs[0].name]


@pytest.mark.slow
def test_docs_figures_tables_and_results_page(smoke):
  root, output, _, _, _ = smoke
  page = os.path.join(root, "experiments.md")
  with open(page, "w", encoding="utf-8") as f:
    f.write(
      "intro\n<!-- reproduce:ranking -->\nstale\n"
      "<!-- /reproduce:ranking -->\nend\n"
    )
  docs = os.path.join(root, "docs")
  tables = pages.make_docs(output, docs, page)
  assert set(tables) == {
    "warcraft",
    "perturbed_squared_study",
    "perturbed_squared_scale",
    "perturbed_squared_costs",
    "blackbox_lambda",
    "resnet18",
    "warcraft_10k",
    "ranking",
    "ranking_least_squares",
    "ranking_epsilon",
    "ranking_samples",
    "ranking_soft",
    "classification",
    "pto_shortest_path",
    "pto_knapsack",
    "pto_tsp",
    "pto_portfolio",
    "pto_flow_lp",
    "pto_catalogue",
    "pto_defaults",
    "pto_knapsack_cave",
    "pto_knn",
  }
  for figure in (
    "shortest_path_curves.png",
    "shortest_path_maps.png",
    "perturbed_squared_study.png",
    "ranking_sweep.png",
    "ranking_epsilon.png",
    "ranking_soft.png",
    "classification_sweep.png",
    "predict_then_optimize_shortest_path.png",
    "predict_then_optimize_knapsack.png",
    "predict_then_optimize_tsp.png",
    "predict_then_optimize_portfolio.png",
  ):
    assert os.path.getsize(os.path.join(docs, figure)) > 10_000, figure
  # Every table is followed by what its runs were measured with.
  for name, table in tables.items():
    last = table.rstrip().splitlines()[-1]
    assert last.startswith(f"*perturbations_tf {ptf.__version__} (commit "), (
      name
    )
  # Eleven perturbed_squared settings, four λ, Fenchel–Young and blackbox on
  # the larger data; four losses at one noise level, four ε, three M, the
  # soft-rank study's three losses.
  assert body_rows(tables["perturbed_squared_study"]) == 11
  assert body_rows(tables["perturbed_squared_costs"]) == 11
  assert body_rows(tables["blackbox_lambda"]) == 4
  assert body_rows(tables["warcraft_10k"]) == 2
  assert body_rows(tables["ranking"]) == 4
  assert body_rows(tables["ranking_least_squares"]) == 2  # The squared two.
  assert body_rows(tables["ranking_epsilon"]) == 4
  assert body_rows(tables["ranking_samples"]) == 3
  assert body_rows(tables["ranking_soft"]) == 3  # FY and two soft ranks.
  # Every method, each with its two degrees, under the cell's caption.
  for study in ("pto_shortest_path", "pto_knapsack"):
    assert tables[study].startswith(
      "*30 training instances, noise half-width 0.5*\n\n| method | deg 1 "
      "| deg 6 |\n"
    )
    # PyEPO's nine methods, as the flagfiles pin them.
    assert body_rows(tables[study]) == 9
    assert "| spo_plus | " in tables[study]
  # The TSP's three methods and the portfolio's fourteen (noise: a level).
  for study, noise, methods in (
    ("pto_tsp", "noise half-width 0.5", 3),
    ("pto_portfolio", "noise level 1", 14),
  ):
    assert tables[study].startswith(f"*30 training instances, {noise}*\n\n")
    assert body_rows(tables[study]) == methods
  # Two methods through four solvers (PDLP cold and warm), one data cell:
  # 2 methods × 4 solvers × 2 degrees of the smoke.
  assert body_rows(tables["pto_flow_lp"]) == 2 * 4 * 2
  assert "| spo_plus | pdlp_warm |" in tables["pto_flow_lp"]
  # The catalogue flagfile's ten methods, two degrees.
  assert body_rows(tables["pto_catalogue"]) == 10 * 2
  # The defaults (three methods) and the alternatives (two), two degrees;
  # the knapsack's three methods and the exact CaVE, two degrees.
  assert body_rows(tables["pto_defaults"]) == 5 * 2
  assert "| pg | --nopg_central --cave_interior=0 |" in tables["pto_defaults"]
  assert body_rows(tables["pto_knapsack_cave"]) == 4 * 2
  with open(page, encoding="utf-8") as f:
    text = f.read()
  assert "stale" not in text
  assert text.startswith("intro\n") and text.endswith("end\n")
  assert "| fenchel_young | 1 | " in text
  with open(os.path.join(docs, "results.md"), encoding="utf-8") as f:
    assert "## warcraft" in f.read()


def test_pyepos_grid_gets_a_panel_and_a_table_per_size_and_noise(tmp_path):

  output = tmp_path / "runs"
  pto.run(
    pto.Config(
      output_dir=str(output / "predict_then_optimize" / "shortest_path_grid"),
      methods=["two_stage", "spo_plus"],
      num_train=[20, 30],
      num_test=10,
      degrees=[1, 2],
      noise_widths=[0.0, 0.5],
      num_seeds=1,
      epochs=1,
      batch_size=10,
      verbose=0,
    )
  )
  docs = tmp_path / "docs"
  docs.mkdir()
  tables = pages.pto_docs(str(output), str(docs))
  *blocks, provenance = tables["pto_shortest_path_grid"].split("\n\n*")
  # Under the cells' tables, what the run was measured with.
  assert provenance.startswith(f"perturbations_tf {ptf.__version__} (commit ")
  assert "cores" in provenance and provenance.endswith(".*\n")
  assert [b.lstrip("*").split("*")[0] for b in blocks] == [
    f"{n} training instances, noise half-width {e}"
    for n in (20, 30)
    for e in (0, 0.5)
  ]
  assert all(b.count("| two_stage | ") == 1 for b in blocks)
  figure = docs / "predict_then_optimize_shortest_path_grid.png"
  assert os.path.getsize(figure) > 10_000


def test_bad_flags_in_a_run_name_the_flag(tmp_path):
  run = catalogue.Run("x", "ranking", ("--noise_levels=-1",))
  with pytest.raises(ValueError, match="--noise_levels must be non-negative"):
    runner.make_config(run, str(tmp_path))


def test_offline_cifar_runs_are_reported_not_run_at_once(
  tmp_path, caplog, monkeypatch
):
  monkeypatch.setattr(classification, "reachable", lambda address: False)
  runs = [
    catalogue.Run(
      "classification_sweep",
      "classification",
      (
        *catalogue.SMOKE_FLAGS["classification"],
        f"--data_dir={tmp_path / 'tfds'}",
      ),
    )
  ]
  failures = runner.train_all(runs, str(tmp_path / "runs"))
  assert failures["classification_sweep"].startswith(
    "not run: CIFAR-10 is not in"
  )
  assert "Traceback" not in caplog.text


def test_only_selects_experiments_runs_and_folders_of_runs():
  runs = catalogue.all_runs(quick=True)
  chosen = {
    prefix: [r.name for r in runs if catalogue.selects(prefix, r)]
    for prefix in (
      "predict_then_optimize",
      "predict_then_optimize/flow_lp_pdlp",
      "shortest_path/blackbox_lambda/",
      "classification_sweep",
    )
  }
  assert len(chosen["predict_then_optimize"]) == sum(
    r.binary == "predict_then_optimize" for r in runs
  )
  # A run's own name selects it alone, not its namesakes' prefixes.
  assert chosen["predict_then_optimize/flow_lp_pdlp"] == [
    "predict_then_optimize/flow_lp_pdlp"
  ]
  assert len(chosen["shortest_path/blackbox_lambda/"]) == 4
  assert chosen["classification_sweep"] == ["classification_sweep"]
