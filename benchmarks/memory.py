"""Memory of a perturbed forward+backward, keeping the noise for the backward
pass or drawing it again from its seed, against the solver alone.

Each measurement runs in a fresh subprocess and reads TensorFlow's own
allocator statistics (`tf.config.experimental.get_memory_info('CPU:0')`):
the peak of a forward+backward in a `tf.function` over the memory in use
before it, and the memory still in use after an eager forward pass under a
tape — what the op keeps alive for the backward pass while the rest of a
model runs. TensorFlow keeps statistics of the CPU allocator only when it
is its BFC allocator, which some builds and processors (AMD EPYC, seen) do
not use by default: the subprocess asks for it
(`TF_CPU_ALLOCATOR_USE_BFC=true`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

_SCRIPT = r"""
import json, sys, time
import numpy as np
import tensorflow as tf
import perturbations_tf as ptf
from perturbations_tf import solvers
m, b, d = (int(a) for a in sys.argv[1:4])
what = sys.argv[4]
theta = tf.random.stateless_normal([b, d], [0, 1])
g = tf.random.stateless_normal([b, d], [1, 1])
soft = ptf.ops.perturbed(solvers.argmax, m, 0.5,
                     regenerate_noise=what == "regenerate")
step = tf.function(lambda t: solvers.argmax(
    tf.reshape(t[None] + tf.random.stateless_normal([m, b, d], [2, 2]),
               [m * b, d])))
def fwd_bwd(t):
  with tf.GradientTape() as tape:
    tape.watch(t)
    inner = tf.reduce_sum(soft(t) * g)
  return tape.gradient(inner, t)
fn = tf.function(step if what == "solver" else fwd_bwd)
MIB = 2.0**20
def memory(key):
  return tf.config.experimental.get_memory_info("CPU:0")[key] / MIB
fn.get_concrete_function(theta)  # Trace, allocating no tensors.
tf.config.experimental.reset_memory_stats("CPU:0")
before = memory("current")
fn(theta).numpy()
result = {"peak_mib": memory("peak") - before}
times = []
for _ in range(5):
  start = time.perf_counter()
  fn(theta).numpy()
  times.append(time.perf_counter() - start)
result["seconds"] = float(np.median(times))
if what != "solver":
  before = memory("current")
  with tf.GradientTape() as tape:
    tape.watch(theta)
    inner = tf.reduce_sum(soft(theta) * g)
  result["held_mib"] = memory("current") - before
  tape.gradient(inner, theta).numpy()
print(json.dumps(result))
"""


def _measure(m, b, d, what) -> dict:
  environment = {**os.environ, "TF_CPU_ALLOCATOR_USE_BFC": "true"}
  out = subprocess.run(
    [sys.executable, "-c", _SCRIPT, str(m), str(b), str(d), what],
    capture_output=True,
    text=True,
    check=True,
    env=environment,
  )
  return json.loads(out.stdout.strip().splitlines()[-1])


def run(quick: bool = False) -> dict:
  rows = []
  for m, b, d in (
    [(100, 64, 1000)] if quick else [(100, 64, 1000), (1000, 64, 1000)]
  ):
    solver = _measure(m, b, d, "solver")
    for noise in ("keep", "regenerate"):
      step = _measure(m, b, d, noise)
      rows.append(
        {
          "M·B·d": f"{m}·{b}·{d}",
          "one M·B·d float32 tensor (MiB)": m * b * d * 4 / 2**20,
          "noise for the backward": noise,
          "held between passes (MiB)": step["held_mib"],
          "fwd+bwd peak growth (MiB)": step["peak_mib"],
          "solver on fresh perturbed inputs, peak (MiB)": solver["peak_mib"],
          "fwd+bwd time (ms)": 1e3 * step["seconds"],
          "time / solver on fresh inputs": step["seconds"] / solver["seconds"],
        }
      )
  return {
    "Memory: argmax, keeping or regenerating the noise (fresh process "
    "each, tf.function)": rows
  }
