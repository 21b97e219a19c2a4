"""Results files say what they were measured with, and say when the code
they measured has changed since: every recorded commit exists in the
history, and a section whose sources differ at HEAD is reported by a
warning (a stale measurement, to re-run)."""

import glob
import json
import os
import subprocess
import warnings

import pytest

from experiments import provenance

# The repository's binaries, benchmarks or documentation, beside the library.
pytestmark = pytest.mark.integration

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "benchmarks", "results")
# The benchmark module that measures each section of results.json.
SECTION_SOURCES = {
  "overhead": "benchmarks/overhead.py",
  "noise": "benchmarks/noise_speed.py",
  "gradient": "benchmarks/gradient_quality.py",
  "equal_accuracy": "benchmarks/equal_accuracy.py",
  "solvers": "benchmarks/solvers_speed.py",
  "knapsack": "benchmarks/solvers_speed.py",
  "pdlp": "benchmarks/pdlp.py",
  "pdlp_warm_starts": "benchmarks/pdlp.py",
  "memory": "benchmarks/memory.py",
  "throughput": "benchmarks/throughput.py",
  "tsp": "benchmarks/tsp_formulations.py",
  "soft_layers": "benchmarks/soft_layers.py",
}


# What the side-by-sides with PyEPO measure: our side's training (its
# methods come from the predict-then-optimize binary) and PyEPO's.
SIDE_BY_SIDE_SOURCES = (
  "benchmarks/pyepo_side_by_side.py",
  "benchmarks/pyepo_reference.py",
  "experiments/predict_then_optimize.py",
  "perturbations_tf",
)


def _git(*args: str) -> subprocess.CompletedProcess:
  return subprocess.run(
    ["git", "-C", ROOT, *args], capture_output=True, text=True, check=False
  )


def recorded_sections() -> dict[str, tuple[dict, tuple[str, ...]]]:
  """Each results section with a recorded provenance, and its sources."""
  with open(os.path.join(RESULTS, "results.json"), encoding="utf-8") as f:
    benchmarks = json.load(f)
  sections = {
    name: (record, (SECTION_SOURCES[name], "perturbations_tf"))
    for name, record in benchmarks.get("provenance", {}).items()
  }
  for name, sources in {
    "netlib": ("benchmarks/netlib.py", "benchmarks/netlib", "perturbations_tf"),
    "noise_battery": (
      "benchmarks/noise_battery.py",
      "perturbations_tf/_src/random.py",
    ),
    "main_job": ("benchmarks/main_job.py", "experiments", "perturbations_tf"),
  }.items():
    path = os.path.join(RESULTS, f"{name}.json")
    with open(path, encoding="utf-8") as f:
      sections[name] = (json.load(f)["provenance"], sources)
  # The side-by-sides with PyEPO, one results file per comparison.
  for path in sorted(
    glob.glob(os.path.join(RESULTS, "pyepo_side_by_side*.json"))
  ):
    with open(path, encoding="utf-8") as f:
      sections[os.path.basename(path)[:-5]] = (
        json.load(f)["provenance"],
        SIDE_BY_SIDE_SOURCES,
      )
  return sections


def test_every_benchmark_section_has_a_source():
  with open(os.path.join(RESULTS, "results.json"), encoding="utf-8") as f:
    names = set(json.load(f)["sections"])
  assert names <= set(SECTION_SOURCES)


def test_recorded_commits_exist_and_stale_sections_are_reported():
  if _git("rev-parse", "--is-inside-work-tree").returncode != 0:
    pytest.skip("Not a git checkout: no history to compare with.")
  stale = []
  for name, (record, sources) in recorded_sections().items():
    assert set(record) == {"version", "commit", "date", "machine"}, name
    commit = record["commit"].removesuffix("+changes")
    known = _git("cat-file", "-e", f"{commit}^{{commit}}").returncode == 0
    assert known, f"{name}: commit {commit} is not in the history"
    changed = _git("diff", "--quiet", commit, "HEAD", "--", *sources)
    if changed.returncode:
      stale.append(f"{name} ({provenance.header(record)})")
  if stale:
    warnings.warn(
      "Measured on code that has changed since: "
      + "; ".join(stale)
      + ". Re-run these sections.",
      stacklevel=1,
    )


def _record(commit: str, date: str) -> dict:
  return {"version": "0.3.0", "commit": commit, "date": date, "machine": "m"}


def test_a_table_states_each_runs_provenance_not_the_last_write():
  # A sweep rerun to add methods keeps the older runs' provenance: the line
  # under its table names both commits, and counts the unrecorded runs.
  sweep = {
    "provenance": _record("bbb", "2026-12-03"),
    "run_provenance": {
      "a/seed0": _record("aaa", "2026-12-01"),
      "b/seed0": _record("bbb", "2026-12-03"),
      "c/seed0": None,
    },
  }
  line = provenance.describe([sweep, None])
  assert line.startswith("*perturbations_tf 0.3.0 (commit aaa, bbb), ")
  assert "2026-12-01 to 2026-12-03; m" in line
  assert line.endswith("; not recorded by 1 of its 3 runs.*")
  plain = provenance.describe([{"provenance": _record("ccc", "2026-12-02")}])
  assert plain == "*perturbations_tf 0.3.0 (commit ccc), 2026-12-02; m.*"
  assert provenance.describe([{}]).startswith("*Provenance not recorded")


def test_a_sweep_records_each_run_and_reads_it_back(tmp_path):
  from experiments import common

  class Config:
    seed, output_dir = 0, str(tmp_path)

  trainer = type("T", (), {})()
  trainer.config, trainer.output_dir, trainer.is_chief = (
    Config,
    str(tmp_path),
    True,
  )
  trainer.run_provenance = {}
  common.run_sweep(trainer, {"a": lambda name: {"x": 1.0}})
  first = trainer.run_provenance["a"]
  assert set(first) == {"version", "commit", "date", "machine"}
  trainer.run_provenance = {}
  common.run_sweep(trainer, {"a": lambda name: 1 / 0, "b": lambda n: {}})
  assert trainer.run_provenance["a"] == first  # Read back, not retrained.
