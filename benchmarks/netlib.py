r"""`LinearProgram` on netlib's small LPs, read from their MPS files: PDLP
(in the graph, XLA) against HiGHS and the published optima.

  python -m benchmarks.netlib  # writes benchmarks/results/netlib.{json,md}

For each instance of `benchmarks/netlib/` (its README says where they come
from), PDLP at its defaults (tolerance 1e-6, at most 20,000 iterations) on
the file's costs, one row: its status, iterations, the compile time of its
first call (first call minus a later one) and the time of a solve (median
of 3); HiGHS's time through `LinearProgram`'s host path (median of 3); the
objective's error against the published optimum, `|f − f*| / max(1, |f*|)`,
for both; and PDLP's worst constraint, `max_i |a_iᵀx − b_i| / (1 + |b_i|)`
over the file's rows (inequalities: their violation), computed here from
the file's constraints, not from the solver's own residuals.
"""

from __future__ import annotations

import glob
import json
import os
import time

from absl import app
from absl import flags
import numpy as np
import tensorflow as tf

from benchmarks import timing
from experiments import provenance
import perturbations_tf as ptf

DIRECTORY = os.path.join(os.path.dirname(__file__), "netlib")


def instances(directory: str = DIRECTORY) -> dict[str, str]:
  """`{name: path}` of the MPS files of `directory`, by name."""
  paths = glob.glob(os.path.join(directory, "*.mps")) + glob.glob(
    os.path.join(directory, "*.mps.gz")
  )
  return dict(sorted((os.path.basename(p).split(".")[0], p) for p in paths))


def optima(directory: str = DIRECTORY) -> dict[str, float]:
  with open(os.path.join(directory, "optima.json"), encoding="utf-8") as f:
    return json.load(f)


def worst_row(lp: ptf.solvers.LinearProgram, x: np.ndarray) -> float:
  """`max_i |a_iᵀx − b_i| / (1 + |b_i|)` over the rows (inequalities: the
  violation); bounds hold exactly (both methods project onto them)."""
  p = lp.constraints()
  return float(
    np.concatenate(
      [
        np.maximum(p.A_ub @ x - p.b_ub, 0) / (1 + np.abs(p.b_ub)),
        np.abs(p.A_eq @ x - p.b_eq) / (1 + np.abs(p.b_eq)),
        [0.0],
      ]
    ).max()
  )


def objective_error(lp, x: np.ndarray, optimum: float) -> float:
  value = lp.costs @ x + lp.objective_offset
  return float(abs(value - optimum) / max(1.0, abs(optimum)))


def solve(name: str, path: str, optimum: float) -> dict:
  """One instance's row of the table."""
  pdlp = ptf.solvers.LinearProgram.from_mps(path, method="pdlp")
  costs = tf.constant(pdlp.costs[None])
  start = time.perf_counter()
  solution = pdlp.solve_with_info(costs)
  first = time.perf_counter() - start
  seconds = timing.median_seconds(
    lambda: pdlp.solve_with_info(costs).x, repeats=3, warmup=0
  )
  x = solution.x.numpy()[0]
  highs = ptf.solvers.LinearProgram.from_mps(path)
  exact = highs(costs).numpy()[0]
  highs_seconds = timing.median_seconds(
    lambda: highs(costs), repeats=3, warmup=0
  )
  highs.close()
  shape = pdlp.constraints()
  rows = len(shape.b_ub) + len(shape.b_eq)
  return {
    "instance": name,
    "size": rows * pdlp.num_variables,
    "rows × columns": f"{rows} × {pdlp.num_variables}",
    "PDLP status": pdlp.STATUSES[int(solution.status[0])],
    "iterations": int(solution.iterations[0]),
    "compile (s)": first - seconds,
    "PDLP solve (s)": seconds,
    "HiGHS (s)": highs_seconds,
    "PDLP objective error": objective_error(pdlp, x, optimum),
    "HiGHS objective error": objective_error(highs, exact, optimum),
    "PDLP worst row": worst_row(pdlp, x),
  }


def run(directory: str = DIRECTORY, only: tuple = ()) -> list[dict]:
  published = optima(directory)
  rows = [
    solve(name, path, published[name])
    for name, path in instances(directory).items()
    if not only or name in only
  ]
  return sorted(rows, key=lambda row: row["size"])


def _cell(value) -> str:
  if isinstance(value, float):
    return f"{value:.2g}" if value < 0.01 else f"{value:.2f}"
  return str(value)


def to_markdown(rows: list[dict]) -> str:
  columns = [c for c in rows[0] if c != "size"]
  lines = [
    "| " + " | ".join(columns) + " |",
    "|" + "---|" * len(columns),
  ]
  lines += [
    "| " + " | ".join(_cell(r[c]) for c in columns) + " |" for r in rows
  ]
  converged = [r for r in rows if r["PDLP status"] == "converged"]
  lines += [
    "",
    f"{len(converged)} of {len(rows)} instances converged within 20,000 "
    "iterations.",
  ]
  return "\n".join(lines) + "\n"


def main(argv):
  del argv
  f = flags.FLAGS
  rows = run(only=tuple(f.only))
  record = provenance.record()
  os.makedirs(f.output_dir, exist_ok=True)
  with open(
    os.path.join(f.output_dir, "netlib.json"), "w", encoding="utf-8"
  ) as out:
    json.dump({"provenance": record, "rows": rows}, out, indent=2)
  with open(
    os.path.join(f.output_dir, "netlib.md"), "w", encoding="utf-8"
  ) as out:
    out.write(f"{provenance.header(record)}\n\n{to_markdown(rows)}")
  print(to_markdown(rows))


if __name__ == "__main__":
  flags.DEFINE_string(
    "output_dir", "benchmarks/results", "Where netlib.{json,md} go."
  )
  flags.DEFINE_list("only", [], "Only these instances (default: all).")
  app.run(main)
