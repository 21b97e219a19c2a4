r"""The main job's wall time, end to end, as a user first runs it.

  python -m benchmarks.main_job

Runs `python -m experiments.shortest_path` (the README's main job: 4,000
synthetic Warcraft-like maps, generated on the way) in a fresh process with
empty data and output folders, alone on the machine; then the same job
with `--loss=cost_mse` (the network alone: no solver, no noise), the floor
of the main job's time. Writes `main_job.json` and `main_job.md` (the wall
times, the binary's own test metrics, the provenance) to `--output_dir`.
The README's time is checked against this file by a test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

from absl import app
from absl import flags

from experiments import provenance

MAIN_JOB = "python -m experiments.shortest_path"
NETWORK_ALONE = ("--loss=cost_mse",)


def measure(*extra_flags: str) -> dict:
  """Times the main job (given `extra_flags`) from nothing; its results and
  the wall time."""
  with tempfile.TemporaryDirectory() as folder:
    command = [
      sys.executable,
      "-m",
      "experiments.shortest_path",
      f"--output_dir={folder}/run",
      f"--synthetic_dir={folder}/data",
      *extra_flags,
    ]
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    seconds = time.perf_counter() - start
    with open(f"{folder}/run/results.json", encoding="utf-8") as f:
      results = json.load(f)
  return {
    "command": " ".join((MAIN_JOB, *extra_flags)),
    "wall_time_s": seconds,
    "test_perfect_path_accuracy": results["metrics"]["test"][
      "perfect_path_accuracy"
    ],
  }


def main(argv):
  del argv
  record = provenance.record()  # The code measured, before it runs.
  result = {
    "provenance": record,
    **measure(),
    "network_alone": measure(*NETWORK_ALONE),
  }
  os.makedirs(flags.FLAGS.output_dir, exist_ok=True)
  path = os.path.join(flags.FLAGS.output_dir, "main_job")
  with open(path + ".json", "w", encoding="utf-8") as out:
    json.dump(result, out, indent=2)
  table = (
    f"{provenance.header(record)}\n\n"
    "| command | wall time (min) | test perfect-path accuracy |\n"
    "|---|---|---|\n"
    + "".join(
      f"| `{run['command']}` | {run['wall_time_s'] / 60:.1f} | "
      f"{run['test_perfect_path_accuracy']:.3f} |\n"
      for run in (result, result["network_alone"])
    )
  )
  with open(path + ".md", "w", encoding="utf-8") as out:
    out.write(table)
  print(table)


if __name__ == "__main__":
  flags.DEFINE_string(
    "output_dir", "benchmarks/results", "Where main_job.{json,md} go."
  )
  app.run(main)
