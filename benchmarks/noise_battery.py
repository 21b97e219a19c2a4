r"""The noise generator through the dieharder battery of statistical tests.

  python -m benchmarks.noise_battery   # the three streams side by side

The library's noise is a hash of (seed, position) (`_src/random.py`). This
script streams its 32-bit words into `dieharder -a -g 200` (every test of
the battery, reading raw words from standard input), for the streams the
library draws:

- `positions`: consecutive positions of one seed, as one draw reads them;
- `seeds (k, 0)`: the same position of neighbouring seeds `[k, 0]`, as
  integer seeds give (`seed=7` is `[7, 0]`), interleaved, position after
  position;
- `seeds (0, k)`: the same for `[0, k]`, the seeds a Keras `SeedGenerator`
  steps through.

It writes `noise_battery.json` and `noise_battery.md` (every test's
p-value and verdict, with the run's provenance) to `--output_dir`.
`--retest_weak` then tests each WEAK result again with dieharder's `-Y 1`
(p-samples added until it is PASSED or FAILED) and records the outcome.
dieharder is a system package (`apt-get install dieharder`), not a Python
dependency.
"""

from __future__ import annotations

from collections.abc import Iterator
import concurrent.futures
import functools
import json
import os
import re
import shutil
import subprocess
import tempfile
import time

from absl import app
from absl import flags
import tensorflow as tf

from experiments import provenance
from perturbations_tf._src import random

SEEDS = 4096  # Neighbouring seeds interleaved in the seed streams.
CHUNK = 1 << 22  # Words per write.
# "  test_name|ntup| tsamples |psamples|  p-value |Assessment"
_ROW = re.compile(
  r"^\s*(\S+)\|\s*(\d+)\|\s*\d+\|\s*\d+\|\s*([0-9.eE+-]+)\|\s*(\w+)"
)


@tf.function(jit_compile=True)
def _positions(start: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
  position = start + tf.bitcast(tf.range(CHUNK, dtype=tf.int32), tf.uint32)
  return random.words(position, seed)


@tf.function(jit_compile=True)
def _across_seeds(start: tf.Tensor, seeds: tf.Tensor) -> tf.Tensor:
  steps = CHUNK // SEEDS
  position = start + tf.bitcast(tf.range(steps, dtype=tf.int32), tf.uint32)
  return tf.reshape(random.words(position[:, None], seeds[None]), [-1])


def _seeds(axis: int) -> tf.Tensor:
  k = tf.range(SEEDS, dtype=tf.int64)
  zeros = tf.zeros_like(k)
  return tf.stack([k, zeros] if axis == 0 else [zeros, k], axis=1)


def stream(name: str) -> Iterator[bytes]:
  """The raw little-endian words of one stream, forever (positions wrap
  at 2³²)."""
  start = 0
  while True:
    begin = tf.constant(start % 2**32, tf.uint32)
    if name == "positions":
      chunk = _positions(begin, tf.constant([0, 1], tf.int64))
      start += CHUNK
    else:
      chunk = _across_seeds(begin, _seeds(0 if name == "seeds (k, 0)" else 1))
      start += CHUNK // SEEDS
    yield chunk.numpy().astype("<u4").tobytes()


STREAMS = ("positions", "seeds (k, 0)", "seeds (0, k)")


def parse(lines: list[str]) -> list[dict]:
  """dieharder's result rows: test name, ntup, p-value, verdict."""
  rows = []
  for line in lines:
    match = _ROW.match(line)
    if match:
      test, ntup, p, verdict = match.groups()
      rows.append(
        {"test": test, "ntup": int(ntup), "p": float(p), "verdict": verdict}
      )
  return rows


def run_dieharder(
  name: str, deadline: float, tests: tuple[str, ...] = ("-a",)
) -> tuple[list[dict], bool]:
  """Dieharder's `tests` (default: every test) on one stream, or those
  done by `deadline` (a `time.time()`); the rows, and whether the run
  ended on its own."""
  with tempfile.TemporaryFile("w+") as output:
    process = subprocess.Popen(
      ["dieharder", *tests, "-g", "200"],
      stdin=subprocess.PIPE,
      stdout=output,
      stderr=subprocess.DEVNULL,
    )
    complete = True
    try:
      for chunk in stream(name):
        if time.time() > deadline:
          complete = False
          process.kill()
          break
        process.stdin.write(chunk)
    except BrokenPipeError:  # dieharder has read what its tests need.
      pass
    process.wait()
    output.seek(0)
    return parse(output.read().splitlines()), complete


def retest_weak(name: str, rows: list[dict], deadline: float) -> None:
  """Each WEAK row of a stream tested again with dieharder's `-Y 1`, which
  adds p-samples until the result is PASSED or FAILED; the outcome goes to
  the row's `retest` (absent where `deadline` came first)."""
  for row in rows:
    if row["verdict"] != "WEAK" or time.time() > deadline:
      continue
    test = ("-d", row["test"], "-Y", "1")
    if row["ntup"]:
      test += ("-n", str(row["ntup"]))
    again, complete = run_dieharder(name, deadline, test)
    same = [
      r for r in again if (r["test"], r["ntup"]) == (row["test"], row["ntup"])
    ]
    if complete and same:
      row["retest"] = {"p": same[-1]["p"], "verdict": same[-1]["verdict"]}


def to_markdown(results: dict) -> str:
  lines = [provenance.header(results["provenance"]), ""]
  if "retest_provenance" in results:
    retest = provenance.header(results["retest_provenance"])
    lines += [f"The WEAK results re-tested with `-Y 1`: {retest}", ""]
  for name, rows in results["streams"].items():
    counts = {v: sum(r["verdict"] == v for r in rows) for v in _VERDICTS}
    stopped = (
      ""
      if results["complete"][name]
      else f" The time budget ({results['budget_minutes']:g} min) stopped "
      f"the battery after these tests, in the one after "
      f"{rows[-1]['test'] if rows else 'none'}."
    )
    retested = [r["retest"]["verdict"] for r in rows if "retest" in r]
    resolved = (
      f" Re-tested with `-Y 1` (p-samples added until PASSED or FAILED), "
      f"{len(retested)} of the WEAK: "
      + ", ".join(f"{retested.count(v)} {v}" for v in _VERDICTS)
      + "."
      if retested
      else ""
    )
    lines += [
      f"### {name}",
      "",
      ", ".join(f"{counts[v]} {v}" for v in _VERDICTS)
      + f" of {len(rows)} tests.{stopped}{resolved}",
      "",
      "| test | ntup | p-value | verdict | re-test (-Y 1) |",
      "|---|---|---|---|---|",
    ]
    lines += [
      f"| {r['test']} | {r['ntup']} | {r['p']:.4f} | {r['verdict']} | "
      + (
        f"{r['retest']['verdict']} (p {r['retest']['p']:.4f})"
        if "retest" in r
        else ""
      )
      + " |"
      for r in rows
    ]
    lines.append("")
  return "\n".join(lines)


_VERDICTS = ("PASSED", "WEAK", "FAILED")


def main(argv):
  del argv
  f = flags.FLAGS
  if shutil.which("dieharder") is None:
    raise SystemExit("dieharder is not installed (apt-get install dieharder).")
  path = os.path.join(f.output_dir, "noise_battery")
  deadline = time.time() + 60 * f.budget_minutes if f.budget_minutes else 1e30
  if f.retest_weak:
    with open(path + ".json", encoding="utf-8") as previous:
      results = json.load(previous)
    results["retest_provenance"] = provenance.record()
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
      list(
        pool.map(
          lambda item: retest_weak(*item, deadline=deadline),
          results["streams"].items(),
        )
      )
  else:
    results = {
      "provenance": provenance.record(),
      "battery": "dieharder -a -g 200",
    }
    # One dieharder per stream, side by side (each reads its own pipe).
    with concurrent.futures.ThreadPoolExecutor(len(f.streams)) as pool:
      done = list(
        pool.map(functools.partial(run_dieharder, deadline=deadline), f.streams)
      )
    results["streams"] = {n: rows for n, (rows, _) in zip(f.streams, done)}
    results["complete"] = {n: ok for n, (_, ok) in zip(f.streams, done)}
    results["budget_minutes"] = f.budget_minutes
  os.makedirs(f.output_dir, exist_ok=True)
  with open(path + ".json", "w", encoding="utf-8") as out:
    json.dump(results, out, indent=2)
  with open(path + ".md", "w", encoding="utf-8") as out:
    out.write(to_markdown(results))
  print(to_markdown(results))


if __name__ == "__main__":
  flags.DEFINE_string(
    "output_dir", "benchmarks/results", "Where noise_battery.{json,md} go."
  )
  flags.DEFINE_float(
    "budget_minutes",
    0,
    "Stop each stream's battery after this long (0: run it to its end; "
    "its lagged-sum tests read hundreds of GB).",
  )
  flags.DEFINE_multi_enum(
    "streams", list(STREAMS), STREAMS, "The streams to test."
  )
  flags.DEFINE_bool(
    "retest_weak",
    False,
    "Test each WEAK result of --output_dir's noise_battery.json again with "
    "dieharder's -Y 1, and record the outcome beside it.",
  )
  app.run(main)
