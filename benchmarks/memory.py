"""Peak memory of a perturbed forward+backward against the solver alone.

Each measurement runs in a fresh subprocess: after set-up and tracing, the
kernel's peak-RSS counter is reset (`/proc/self/clear_refs`), the step runs
once, and the peak's growth over the resident size before it is reported.
"""

from __future__ import annotations

import json
import subprocess
import sys

_SCRIPT = r"""
import json, sys
import tensorflow as tf
import perturbations_tf as ptf
from perturbations_tf import solvers
m, b, d, what = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
theta = tf.random.stateless_normal([b, d], [0, 1])
g = tf.random.stateless_normal([b, d], [1, 1])
soft = ptf.perturbed(solvers.argmax, m, 0.5)
step = tf.function(lambda t: solvers.argmax(
    tf.reshape(t[None] + tf.random.stateless_normal([m, b, d], [2, 2]),
               [m * b, d])))
def fwd_bwd(t):
  with tf.GradientTape() as tape:
    tape.watch(t)
    inner = tf.reduce_sum(soft(t) * g)
  return tape.gradient(inner, t)
fn = tf.function(fwd_bwd if what == "perturbed" else step)
def status(key):
  with open("/proc/self/status") as f:
    return next(int(l.split()[1]) for l in f if l.startswith(key + ":"))
fn.get_concrete_function(theta)  # Trace, allocating no tensors.
with open("/proc/self/clear_refs", "w") as f:
  f.write("5")  # Resets VmHWM, the peak resident set size.
before = status("VmRSS")
fn(theta).numpy()
print(json.dumps({"peak_mib": (status("VmHWM") - before) / 1024}))
"""


def _peak(m, b, d, what) -> float:
  out = subprocess.run([sys.executable, "-c", _SCRIPT, str(m), str(b), str(d),
                        what], capture_output=True, text=True, check=True)
  return json.loads(out.stdout.strip().splitlines()[-1])["peak_mib"]


def run(quick: bool = False) -> dict:
  rows = []
  for m, b, d in ([(100, 64, 1000)] if quick else
                  [(100, 64, 1000), (1000, 64, 1000)]):
    inputs_mib = m * b * d * 4 / 2**20
    solver = _peak(m, b, d, "solver")
    perturbed = _peak(m, b, d, "perturbed")
    rows.append({"M·B·d": f"{m}·{b}·{d}",
                 "one M·B·d float32 tensor (MiB)": inputs_mib,
                 "solver alone, peak growth (MiB)": solver,
                 "perturbed fwd+bwd, peak growth (MiB)": perturbed,
                 "ratio": perturbed / max(solver, 1e-9)})
  return {"Memory: peak resident growth, argmax (fresh process each)": rows}
