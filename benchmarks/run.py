r"""Benchmarks of perturbations_tf against its own baselines, in one run.

  python -m benchmarks.run --quick        # a few minutes on a laptop CPU
  python -m benchmarks.run                # the full set (a GPU is welcome)

Writes `results.md` and `results.json` to `--output_dir` (default: the
committed `benchmarks/results/`, or `runs/benchmarks_quick/` with `--quick`,
so a smoke run never overwrites the full numbers). Every number is a
ratio or a rate measured in this process, side by side with its baseline:

1. overhead: forward+backward of `perturbed(func)` and of the Fenchel–Young
   loss against the plain estimator of the reference implementation
   (`plain_estimator.py`), and against the floor any implementation pays
   (the noise draw, `func` on the M·B inputs, one pass over them), in eager
   mode and tf.function;
2. gradient quality: relative mean squared error of the vector–Jacobian
   product for the plain estimator (the reference implementation's), the
   control variate, antithetic pairs and both, at M = 10, 100, 1000; and the
   time to a 10% relative error, ours against the plain estimator;
3. solvers: `solvers.shortest_path` against a pure-Python Dijkstra, and the
   numpy-solver adapter on threads, processes and a local Dask cluster;
4. memory: the memory a forward+backward holds between its passes and at
   its peak, keeping the noise or regenerating it from its seed;
5. training throughput of the shortest-path experiment, FY against baselines;
6. `LinearProgram(method='pdlp')` against HiGHS, its tolerance and what each
   of its ingredients brings (`pdlp.py`), and its warm starts from memory
   in training (`pdlp_warm_starts`);
7. exact TSP: `ptf.solvers.TSP`'s formulation against two others through
   the same HiGHS (`tsp_formulations.py`);
8. the noise draw: the library's generator against XLA's Philox and
   TensorFlow's samplers (`noise_speed.py`);
9. the closed-form soft layers (`SoftArgmax`, `SparseArgmax`, `SoftRank`)
   against the perturbed argmax and ranks at equal smoothing: the time of
   an exact gradient against that of a 10% accurate one (`soft_layers.py`).

Each section records what it was measured with (`provenance.py`): the
library's version, the commit (`+changes` when the tree had some), the
date and the machine (CPU model, cores, GPUs, TensorFlow and Python
versions), printed above its tables; a section updated with `--only`
says its own.
"""

from __future__ import annotations

import json
import os
import time

from absl import app
from absl import flags

from benchmarks import equal_accuracy
from benchmarks import gradient_quality
from benchmarks import memory
from benchmarks import noise_speed
from benchmarks import overhead
from benchmarks import pdlp
from benchmarks import soft_layers
from benchmarks import solvers_speed
from benchmarks import throughput
from benchmarks import tsp_formulations
from experiments import provenance

SECTIONS = {
  "overhead": overhead.run,
  "noise": noise_speed.run,
  "gradient": gradient_quality.run,
  "equal_accuracy": equal_accuracy.run,
  "solvers": solvers_speed.run,
  "knapsack": solvers_speed.knapsacks,
  "pdlp": pdlp.run,
  "pdlp_warm_starts": pdlp.warm_starts_in_training,
  "memory": memory.run,
  "throughput": throughput.run,
  "tsp": tsp_formulations.run,
  "soft_layers": soft_layers.run,
}


def to_markdown(title: str, rows: list) -> str:
  """A markdown table from a list of dicts (the columns of the first)."""
  if not rows:
    return ""
  columns = list(rows[0])

  def cell(v):
    if isinstance(v, float):
      return f"{v:.3g}" if abs(v) < 1000 else f"{v:,.0f}"
    return str(v)

  lines = [
    f"### {title}",
    "",
    "| " + " | ".join(columns) + " |",
    "|" + "---|" * len(columns),
  ]
  lines += [
    "| " + " | ".join(cell(r.get(c, "")) for c in columns) + " |" for r in rows
  ]
  return "\n".join(lines) + "\n"


def section_provenance(results: dict, name: str) -> str:
  """The line under a section's title: what it was measured with, or, for
  a section run before results recorded it, the machine alone."""
  recorded = results.get("provenance", {}).get(name)
  if recorded:
    return provenance.header(recorded)
  machine = results.get("machines", {}).get(name, "unknown")
  return f"Machine: {machine} (version, commit and date not recorded)."


def main(argv):
  del argv
  f = flags.FLAGS
  output_dir = f.output_dir or (
    "runs/benchmarks_quick" if f.quick else "benchmarks/results"
  )
  os.makedirs(output_dir, exist_ok=True)
  path = os.path.join(output_dir, "results.json")
  results = {"sections": {}}
  if f.only and os.path.exists(path):  # Update those sections, keep the rest.
    with open(path, encoding="utf-8") as previous:
      results = json.load(previous)
  results.setdefault("provenance", {})
  results.update(quick=f.quick)
  start = time.time()
  for name, run in SECTIONS.items():
    if f.only and name not in f.only:
      continue
    print(f"== {name}", flush=True)
    results["sections"][name] = run(quick=f.quick)
    results["provenance"][name] = provenance.record()
    for title, rows in results["sections"][name].items():
      print(to_markdown(title, rows), flush=True)
  results["wall_time_s"] = time.time() - start
  markdown = [
    f"Command: `python -m benchmarks.run{' --quick' if f.quick else ''}`"
    f"{' (sections updated with --only)' if f.only else ''}.\n"
  ]
  for name in SECTIONS:
    if name not in results["sections"]:
      continue
    markdown.append(f"## {name}\n\n{section_provenance(results, name)}\n")
    for title, rows in results["sections"][name].items():
      markdown.append(to_markdown(title, rows))
  with open(path, "w", encoding="utf-8") as out:
    json.dump(results, out, indent=2)
  with open(
    os.path.join(output_dir, "results.md"), "w", encoding="utf-8"
  ) as out:
    out.write("\n".join(markdown))
  print(
    f"Wrote {output_dir}/results.md and results.json in "
    f"{results['wall_time_s']:.0f} s."
  )


if __name__ == "__main__":
  flags.DEFINE_bool("quick", False, "Small sizes and few repeats (smoke test).")
  flags.DEFINE_string(
    "output_dir",
    "",
    "Where results go (default: "
    "benchmarks/results, or runs/benchmarks_quick with "
    "--quick).",
  )
  flags.DEFINE_list(
    "only",
    [],
    "Run only these sections (overhead, "
    "gradient, equal_accuracy, solvers, memory, "
    "throughput).",
  )
  app.run(main)
