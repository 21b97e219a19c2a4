"""What a results file records about its run: the library's version, the
repository's commit (and whether the tree had changes), the date and the
machine."""

from __future__ import annotations

from collections.abc import Sequence
import datetime
import os
import platform
import subprocess

import tensorflow as tf

import perturbations_tf as ptf


def machine() -> str:
  """The CPU model and cores, the GPUs, TensorFlow's and Python's versions."""
  cpu = platform.processor() or platform.machine()
  try:
    with open("/proc/cpuinfo", encoding="utf-8") as f:
      cpu = next(
        line.split(":", 1)[1].strip()
        for line in f
        if line.startswith("model name")
      )
  except (OSError, StopIteration):
    pass
  gpus = tf.config.list_physical_devices("GPU")
  return (
    f"{cpu}, {os.cpu_count()} cores"
    + (f", {len(gpus)} GPU(s)" if gpus else ", no GPU")
    + f"; TensorFlow {tf.__version__}, Python {platform.python_version()}"
  )


def _git(*args: str) -> str:
  return subprocess.run(
    ["git", *args], capture_output=True, text=True, check=True
  ).stdout.strip()


def _commit() -> str:
  """`git describe`-like: the commit, `+changes` if the tree differs."""
  try:
    commit = _git("rev-parse", "--short=12", "HEAD")
    changed = _git("status", "--porcelain", "--untracked-files=no")
  except (OSError, subprocess.CalledProcessError):
    return "unknown"
  return commit + ("+changes" if changed else "")


def record() -> dict:
  """`{version, commit, date, machine}` of this run."""
  return {
    "version": ptf.__version__,
    "commit": _commit(),
    "date": datetime.date.today().isoformat(),
    "machine": machine(),
  }


def header(provenance: dict) -> str:
  """One markdown line stating a results file's provenance."""
  return (
    f"perturbations_tf {provenance['version']} (commit "
    f"{provenance['commit']}), {provenance['date']}; "
    f"{provenance['machine']}."
  )


def describe(results: Sequence[dict | None]) -> str:
  """One italic markdown line: what the runs behind a table (their
  results.json contents; None for runs absent) were measured with —
  versions, commits, dates and machines, each listed once — and how many
  did not record it."""
  present = [r for r in results if r]
  # A sweep's results hold each run's own (`run_provenance`), which can be
  # older than the sweep's last write.
  measured = [
    record
    for r in present
    for record in (
      r["run_provenance"].values()
      if "run_provenance" in r
      else [r.get("provenance")]
    )
  ]
  records = [record for record in measured if record]
  missing = len(measured) - len(records)
  if not records:
    return "*Provenance not recorded: these runs predate its recording.*"

  def values(key: str) -> str:
    return ", ".join(sorted({str(p[key]) for p in records}))

  dates = sorted({p["date"] for p in records})
  line = (
    f"*perturbations_tf {values('version')} (commit {values('commit')}), "
    f"{dates[0]}{f' to {dates[-1]}' if len(dates) > 1 else ''}; "
    f"{values('machine')}"
  )
  if missing:
    line += f"; not recorded by {missing} of its {len(measured)} runs"
  return line + ".*"
