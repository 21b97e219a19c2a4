"""The README's and the tutorials' Python examples run as written: each block
saved as a script and run from an empty folder, as a user of the installed
package would (no access to the repository's `experiments`)."""

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
  result = run_script(python_blocks(page)[index], tmp_path)
  assert result.returncode == 0, result.stderr[-3000:]
  assert result.stdout.strip()  # Each example prints its results.
