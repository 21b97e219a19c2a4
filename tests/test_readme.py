"""The README's and the tutorials' Python examples run as written: each block
saved as a script and run from an empty folder, as a user of the installed
package would (no access to the repository's `experiments`); and where the
prose says what a block prints, it prints that.

"about x" and "≈ x" in the prose hold within one unit of x's last decimal
place; the examples are seeded, so a miss is a changed result, to be
written down anew."""

import json
import math
import os
import pathlib
import re
import subprocess
import sys

import pytest

# The repository's binaries, benchmarks or documentation, beside the library.
pytestmark = pytest.mark.integration

ROOT = pathlib.Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def _near(claimed: str, printed: float) -> bool:
  """`printed` within one unit of the last decimal place of `claimed`."""
  places = len(claimed.partition(".")[2])
  return abs(printed - float(claimed)) <= 10.0**-places + 1e-12


def _prose(page: pathlib.Path, index: int) -> str:
  """The text around block `index` of a page: from the previous block to
  the next."""
  text = page.read_text(encoding="utf-8")
  parts = re.split(r"```python\n.*?```", text, flags=re.S)
  return parts[index] + parts[index + 1]


def _value(pattern: str, text: str) -> str:
  match = re.search(pattern, text)
  assert match, f"No {pattern!r} in: {text[:300]}"
  return match.group(1)


def _quick_start(stdout: str, prose: str, code: str) -> None:
  # "It prints the two rows `[[…]]` and `[[…]]`, a gradient, and a held-out
  # accuracy that goes from chance (about 0.3) to above 0.9."
  rows = re.findall(r"`(\[\[[^`]*\]\])`", prose)
  assert stdout.splitlines()[:2] == rows[:2]
  printed = r"accuracy: (\S+) before training, (\S+) after"
  before, after = map(float, re.search(printed, stdout).groups())
  assert _near(_value(r"about (\d\.\d+)", prose), before)
  assert after > float(_value(r"above (\d\.\d+)", prose))


def _predict_then_optimize(stdout: str, prose: str, code: str) -> None:
  regret = float(_value(r"'normalized_regret': ([\d.]+)", stdout))
  assert _near(_value(r"Regret ≈ (\d\.\d+)", code), regret)


def _soft_argmax_rows(stdout: str, prose: str, code: str) -> None:
  rows = [
    [float(v) for v in re.findall(r"[\d.]+", line)]
    for line in stdout.splitlines()[:2]
  ]
  tolerance = float(_value(r"agree to within (\d\.\d+)", prose))
  assert max(abs(a - b) for a, b in zip(*rows)) <= tolerance


def _ranking_accuracy(stdout: str, prose: str, code: str) -> None:
  accuracy = float(_value(r"'exact_match_accuracy': ([\d.]+)", stdout))
  assert _near(_value(r"about (\d\.\d+) of the held-out", prose), accuracy)


def _spo_plus_against_two_stage(stdout: str, prose: str, code: str) -> None:
  two_stage = float(_value(r"two-stage: test normalised regret (\S+)", stdout))
  spo = float(_value(r"SPO\+: test normalised regret (\S+)", stdout))
  assert _near(_value(r"about (\d\.\d+) for\s+two-stage", prose), two_stage)
  assert spo < float(_value(r"under (\d\.\d+) for SPO\+", prose))


def _ranking_direction(stdout: str, prose: str, code: str) -> None:
  cosine = float(_value(r"cos\(w, w0\) = (\S+)", stdout))
  norm = float(_value(r"norm of w = ([\d.]+)", stdout))
  assert cosine > float(_value(r"above\s+(\d\.\d+)", prose))
  degrees = float(_value(r"within (\w+) degrees", prose).replace("three", "3"))
  assert math.degrees(math.acos(min(cosine, 1.0))) < degrees
  assert _near(_value(r"its norm, about (\d\.\d+)", prose), norm)


# What the prose says a block prints: (page, block) → check(stdout, the
# prose around the block, the block's code).
CLAIMS = {
  ("README.md", 0): _quick_start,
  ("README.md", 1): _predict_then_optimize,
  ("docs/getting-started.md", 0): _soft_argmax_rows,
  ("docs/getting-started.md", 1): _ranking_accuracy,
  ("docs/tutorials/linear-program.md", 0): _spo_plus_against_two_stage,
  ("docs/tutorials/ranking.md", 0): _ranking_direction,
}


def python_blocks(path: pathlib.Path):
  return re.findall(
    r"```python\n(.*?)```", path.read_text(encoding="utf-8"), re.S
  )


# The README's examples are the front door: in the quick pass too. The
# documentation's run in the full one (each block starts a TensorFlow).
BLOCKS = [
  pytest.param(
    page,
    index,
    id=f"{page.relative_to(ROOT)}-{index}",
    marks=() if page.name == "README.md" else pytest.mark.slow,
  )
  for page in PAGES
  for index in range(len(python_blocks(page)))
]


def run_script(code: str, folder: pathlib.Path) -> subprocess.CompletedProcess:
  script = folder / "example.py"
  script.write_text(code, encoding="utf-8")
  environment = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
  return subprocess.run(
    [sys.executable, str(script)],
    cwd=folder,
    capture_output=True,
    text=True,
    timeout=900,
    env=environment,
    check=False,
  )


@pytest.mark.parametrize("page,index", BLOCKS)
def test_example_runs_as_a_saved_script(page, index, tmp_path):
  code = python_blocks(page)[index]
  result = run_script(code, tmp_path)
  assert result.returncode == 0, result.stderr[-3000:]
  assert result.stdout.strip()  # Each example prints its results.
  check = CLAIMS.get((page.relative_to(ROOT).as_posix(), index))
  if check:
    check(result.stdout, _prose(page, index), code)


def test_the_claims_name_blocks_that_exist():
  for (name, index), _ in CLAIMS.items():
    assert index < len(python_blocks(ROOT / name)), (name, index)


def test_the_main_jobs_time_is_the_measured_one():
  # The README's set-up line says how long the main job takes; the figure
  # comes from benchmarks/main_job.py's run, end to end, on that machine.
  readme = (ROOT / "README.md").read_text(encoding="utf-8")
  claim = re.search(r"main job: .*, ~(\d+) min on (\d+) CPU cores", readme)
  assert claim, "The README's main-job line lost its time."
  path = ROOT / "benchmarks" / "results" / "main_job.json"
  measured = json.loads(path.read_text(encoding="utf-8"))
  assert int(claim[1]) == round(measured["wall_time_s"] / 60)
  assert f", {claim[2]} cores" in measured["provenance"]["machine"]
