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


def run_dieharder(name: str, deadline: float) -> tuple[list[dict], bool]:
  """Every dieharder test on one stream, or those done by `deadline` (a
  `time.time()`); the rows, and whether the battery ran to its end."""
  with tempfile.TemporaryFile("w+") as output:
    process = subprocess.Popen(
      ["dieharder", "-a", "-g", "200"],
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


def to_markdown(results: dict) -> str:
  lines = [provenance.header(results["provenance"]), ""]
  for name, rows in results["streams"].items():
    counts = {v: sum(r["verdict"] == v for r in rows) for v in _VERDICTS}
    stopped = (
      ""
      if results["complete"][name]
      else f" The time budget ({results['budget_minutes']:g} min) stopped "
      f"the battery after these tests, in the one after "
      f"{rows[-1]['test'] if rows else 'none'}."
    )
    lines += [
      f"### {name}",
      "",
      ", ".join(f"{counts[v]} {v}" for v in _VERDICTS)
      + f" of {len(rows)} tests.{stopped}",
      "",
      "| test | ntup | p-value | verdict |",
      "|---|---|---|---|",
    ]
    lines += [
      f"| {r['test']} | {r['ntup']} | {r['p']:.4f} | {r['verdict']} |"
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
  results = {
    "provenance": provenance.record(),
    "battery": "dieharder -a -g 200",
  }
  deadline = time.time() + 60 * f.budget_minutes if f.budget_minutes else 1e30
  # One dieharder per stream, side by side (each reads its own pipe).
  with concurrent.futures.ThreadPoolExecutor(len(f.streams)) as pool:
    done = list(
      pool.map(functools.partial(run_dieharder, deadline=deadline), f.streams)
    )
  results["streams"] = {name: rows for name, (rows, _) in zip(f.streams, done)}
  results["complete"] = {name: ok for name, (_, ok) in zip(f.streams, done)}
  results["budget_minutes"] = f.budget_minutes
  os.makedirs(f.output_dir, exist_ok=True)
  path = os.path.join(f.output_dir, "noise_battery")
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
  app.run(main)
