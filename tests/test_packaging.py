"""The layout the project was specified with: a top-level setup.py (a shim
over pyproject.toml) that agrees with the package's version."""

import pathlib
import subprocess
import sys

import perturbations_tf as ptf

ROOT = pathlib.Path(__file__).parent.parent


def test_setup_py_reports_the_package_version():
  out = subprocess.run(
    [sys.executable, "setup.py", "--version"],
    cwd=ROOT,
    capture_output=True,
    text=True,
    check=True,
  )
  assert out.stdout.strip().splitlines()[-1] == ptf.__version__
