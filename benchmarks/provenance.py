"""What a results file records about its run: the library's version, the
repository's commit (and whether the tree had changes), the date and the
machine."""

from __future__ import annotations

import datetime
import subprocess

from benchmarks import run as run_lib
import perturbations_tf as ptf


def _commit() -> str:
  """`git describe`-like: the commit, `+changes` if the tree differs."""
  try:
    commit = subprocess.run(
      ["git", "rev-parse", "--short=12", "HEAD"],
      capture_output=True,
      text=True,
      check=True,
    ).stdout.strip()
    changed = subprocess.run(
      ["git", "status", "--porcelain", "--untracked-files=no"],
      capture_output=True,
      text=True,
      check=True,
    ).stdout.strip()
  except (OSError, subprocess.CalledProcessError):
    return "unknown"
  return commit + ("+changes" if changed else "")


def record() -> dict:
  """`{version, commit, date, machine}` of this run."""
  return {
    "version": ptf.__version__,
    "commit": _commit(),
    "date": datetime.date.today().isoformat(),
    "machine": run_lib.machine(),
  }


def header(provenance: dict) -> str:
  """One markdown line stating a results file's provenance."""
  return (
    f"perturbations_tf {provenance['version']} (commit "
    f"{provenance['commit']}), {provenance['date']}; "
    f"{provenance['machine']}."
  )
