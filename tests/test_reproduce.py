"""The reproduction entry point: every run, resumption, figures and tables."""

import functools
import os

import pytest

from experiments import classification
from experiments import predict_then_optimize as pto
from experiments import reproduce
from tests import mock_cifar

# The repository's binaries, benchmarks or documentation, beside the library.
pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
  """The smallest reproduction: every run of --quick at tiny sizes."""
  root = str(tmp_path_factory.mktemp("reproduce"))
  output = os.path.join(root, "runs")
  extra = functools.partial(reproduce.smoke_flags, output)
  runs = reproduce.all_runs(quick=True)
  with mock_cifar.mock_cifar(num_examples=24):
    failures = reproduce.train_all(runs, output, extra)
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
  assert reproduce.train_all(runs, output, extra) == {}


@pytest.mark.slow
def test_other_settings_are_never_overwritten(smoke):
  _, output, runs, extra, _ = smoke
  changed = [
    reproduce.Run(runs[0].name, runs[0].binary, runs[0].flags + ("--seed=1",))
  ]
  failures = reproduce.train_all(changed, output, extra)
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
  tables = reproduce.make_docs(output, docs, page)
  assert set(tables) == {
    "warcraft",
    "perturbed_squared_study",
    "perturbed_squared_scale",
    "blackbox_lambda",
    "resnet18",
    "warcraft_10k",
    "ranking",
    "ranking_epsilon",
    "ranking_samples",
    "classification",
    "pto_shortest_path",
    "pto_knapsack",
    "pto_tsp",
    "pto_portfolio",
    "pto_flow_lp",
    "pto_catalogue",
    "pto_defaults",
    "pto_knapsack_cave",
  }
  for figure in (
    "shortest_path_curves.png",
    "shortest_path_maps.png",
    "perturbed_squared_study.png",
    "ranking_sweep.png",
    "ranking_epsilon.png",
    "classification_sweep.png",
    "predict_then_optimize_shortest_path.png",
    "predict_then_optimize_knapsack.png",
    "predict_then_optimize_tsp.png",
    "predict_then_optimize_portfolio.png",
  ):
    assert os.path.getsize(os.path.join(docs, figure)) > 10_000, figure
  # Eleven perturbed_squared settings, four λ, Fenchel–Young and blackbox on
  # the larger data; four losses at one noise level, four ε, three M.
  assert tables["perturbed_squared_study"].count("\n") == 2 + 11
  assert tables["blackbox_lambda"].count("\n") == 2 + 4
  assert tables["warcraft_10k"].count("\n") == 2 + 2
  assert tables["ranking"].count("\n") == 2 + 4
  assert tables["ranking_epsilon"].count("\n") == 2 + 4
  assert tables["ranking_samples"].count("\n") == 2 + 3
  # Every method, each with its two degrees, under the cell's caption.
  for study in ("pto_shortest_path", "pto_knapsack"):
    assert tables[study].startswith(
      "*30 training instances, noise half-width 0.5*\n\n| method | deg 1 "
      "| deg 6 |\n"
    )
    # PyEPO's nine methods, as the flagfiles pin them.
    assert tables[study].count("\n") == 2 + 2 + 9
    assert "| spo_plus | " in tables[study]
  # The TSP's three methods and the portfolio's fourteen (noise: a level).
  for study, noise, methods in (
    ("pto_tsp", "noise half-width 0.5", 3),
    ("pto_portfolio", "noise level 1", 14),
  ):
    assert tables[study].startswith(f"*30 training instances, {noise}*\n\n")
    assert tables[study].count("\n") == 2 + 2 + methods
  # Two methods through four solvers (PDLP cold and warm), one data cell.
  # Header, rule, then 2 methods × 4 solvers × 2 degrees of the smoke.
  assert tables["pto_flow_lp"].count("\n") == 2 + 2 * 4 * 2
  assert "| spo_plus | pdlp_warm |" in tables["pto_flow_lp"]
  # Eight methods of the catalogue, two degrees.
  assert tables["pto_catalogue"].count("\n") == 2 + 8 * 2
  # The defaults (three methods) and the alternatives (two), two degrees;
  # the knapsack's three methods and the exact CaVE, two degrees.
  assert tables["pto_defaults"].count("\n") == 2 + 5 * 2
  assert "| pg | --nopg_central --cave_interior=0 |" in tables["pto_defaults"]
  assert tables["pto_knapsack_cave"].count("\n") == 2 + 4 * 2
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
  tables = reproduce.pto_docs(str(output), str(docs))
  blocks = tables["pto_shortest_path_grid"].split("\n\n*")
  assert [b.lstrip("*").split("*")[0] for b in blocks] == [
    f"{n} training instances, noise half-width {e}"
    for n in (20, 30)
    for e in (0, 0.5)
  ]
  assert all(b.count("| two_stage | ") == 1 for b in blocks)
  figure = docs / "predict_then_optimize_shortest_path_grid.png"
  assert os.path.getsize(figure) > 10_000


def test_bad_flags_in_a_run_name_the_flag(tmp_path):
  run = reproduce.Run("x", "ranking", ("--noise_levels=-1",))
  with pytest.raises(ValueError, match="--noise_levels must be non-negative"):
    reproduce.make_config(run, str(tmp_path))


def test_offline_cifar_runs_are_reported_not_run_at_once(
  tmp_path, caplog, monkeypatch
):
  monkeypatch.setattr(classification, "reachable", lambda address: False)
  runs = [
    reproduce.Run(
      "classification_sweep",
      "classification",
      (
        *reproduce.SMOKE_FLAGS["classification"],
        f"--data_dir={tmp_path / 'tfds'}",
      ),
    )
  ]
  failures = reproduce.train_all(runs, str(tmp_path / "runs"))
  assert failures["classification_sweep"].startswith(
    "not run: CIFAR-10 is not in"
  )
  assert "Traceback" not in caplog.text


def test_only_selects_experiments_runs_and_folders_of_runs():
  runs = reproduce.all_runs(quick=True)
  chosen = {
    prefix: [r.name for r in runs if reproduce._selects(prefix, r)]
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
