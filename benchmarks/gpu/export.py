r"""Exports the library's XLA programs, to time them where only JAX runs.

A GPU machine may have JAX but no TensorFlow. The XLA programs TensorFlow
compiles are the same programs there: this script compiles each case here
with `jit_compile=True`, writes its HLO module (`<case>.hlo.pb`), its inputs
and TensorFlow's outputs (`<case>.npz`), and TensorFlow's own time per call
on this machine (`tf_times.json`); `benchmarks/gpu/run.py` compiles and
times the modules with the XLA inside JAX on its device and checks the
outputs.

  python -m benchmarks.gpu.export OUTPUT_DIR [--only=case,...]

A case that updates variables (a training step) has them as trailing
inputs of its program, in the order of the concrete function's captures.
"""

from __future__ import annotations

from collections.abc import Callable
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf

from benchmarks import pdlp as pdlp_benchmark
import perturbations_tf as ptf
from perturbations_tf import solvers


def forward_backward(op: Callable) -> Callable:
  """`(θ, g) ↦ (op(θ), Jᵀg)`: one forward and one backward pass."""

  def step(theta, upstream):
    with tf.GradientTape() as tape:
      tape.watch(theta)
      y = op(theta)
      inner = tf.reduce_sum(y * upstream)
    return y, tape.gradient(inner, theta)

  return step


def loss_and_gradient(loss: Callable) -> Callable:
  def step(labels, theta):
    with tf.GradientTape() as tape:
      tape.watch(theta)
      value = tf.reduce_mean(loss(labels, theta))
    return value, tape.gradient(value, theta)

  return step


def cases() -> dict:
  """Name -> (function, inputs): the programs to time."""
  rng = np.random.default_rng(0)
  out = {}
  theta = rng.normal(size=(128, 1000)).astype("float32")
  out["perturbed_argmax_B128_d1000_M100"] = (
    forward_backward(ptf.ops.perturbed(solvers.argmax, 100, 0.5, seed=1)),
    [theta, rng.normal(size=theta.shape).astype("float32")],
  )
  theta = rng.normal(size=(32, 100)).astype("float32")
  out["perturbed_ranks_B32_n100_M1000"] = (
    forward_backward(ptf.ops.perturbed(solvers.ranks, 1000, 0.5, seed=1)),
    [theta, rng.normal(size=theta.shape).astype("float32")],
  )
  costs = rng.uniform(0.1, 5.0, size=(70, 12, 12)).astype("float32")
  floored = {"name": "shortest_path", "kwargs": {"min_cost": 0.0}}
  out["fenchel_young_shortest_path_B70_12x12_M3"] = (
    loss_and_gradient(
      lambda y, t: ptf.losses.fenchel_young_loss(y, t, floored, 3, 0.1, seed=1)
    ),
    [solvers.shortest_path(costs).numpy(), costs],
  )
  for size in (12, 30):
    grids = rng.uniform(0.1, 5.0, size=(640, size, size)).astype("float32")
    out[f"shortest_path_B640_{size}x{size}"] = (
      lambda t: solvers.shortest_path(t),
      [grids],
    )
  # Linear programs in the graph: the benchmark's random LPs, a batch of
  # 1,024 and one of the M·B perturbed copies of a Fenchel–Young loss.
  program = pdlp_benchmark.random_program(np.random.default_rng(0))
  lp = ptf.solvers.LinearProgram(**program, method="pdlp")
  for batch in (1024, 8192):
    out[f"pdlp_B{batch}_n40"] = (
      lambda c: lp(c),
      [rng.normal(size=(batch, 40)).astype("float32")],
    )
  return out


def _captured_values(concrete) -> list:
  """The current values of a concrete function's captured inputs (the
  variables a training step reads and updates)."""
  values = []
  for captured in concrete.captured_inputs:
    if captured.dtype == tf.resource:
      dtype = tf.as_dtype(captured._handle_data.shape_and_type[0].dtype)
      values.append(tf.raw_ops.ReadVariableOp(resource=captured, dtype=dtype))
    else:
      values.append(captured)
  return [np.asarray(v) for v in values]


def export(output_dir: str, only=()) -> dict:
  """Writes every case's program, inputs and outputs; returns TF's times
  (ms per call, median of 20, after a warm-up)."""
  os.makedirs(output_dir, exist_ok=True)
  times = {}
  for name, (fn, inputs) in cases().items():
    if only and name not in only:
      continue
    compiled = tf.function(fn, jit_compile=True)
    tensors = [tf.constant(a) for a in inputs]
    outputs = compiled(*tensors)
    outputs = outputs if isinstance(outputs, (tuple, list)) else (outputs,)
    concrete = compiled.get_concrete_function(*tensors)
    arguments = list(inputs) + _captured_values(concrete)
    program = compiled.experimental_get_compiler_ir(*tensors)(
      stage="hlo_serialized"
    )
    with open(os.path.join(output_dir, f"{name}.hlo.pb"), "wb") as f:
      f.write(program)
    np.savez(
      os.path.join(output_dir, f"{name}.npz"),
      **{f"arg{i}": a for i, a in enumerate(arguments)},
      **{f"out{i}": np.asarray(o) for i, o in enumerate(outputs)},
    )
    seconds = []
    for _ in range(20):
      start = time.perf_counter()
      result = compiled(*tensors)
      np.asarray(result[0] if isinstance(result, (tuple, list)) else result)
      seconds.append(time.perf_counter() - start)
    times[name] = 1e3 * float(np.median(seconds))
    print(f"{name}: TF + XLA here {times[name]:.2f} ms", flush=True)
  with open(os.path.join(output_dir, "tf_times.json"), "w") as f:
    json.dump(times, f, indent=1)
  return times


if __name__ == "__main__":
  only = [
    a.split("=", 1)[1].split(",")
    for a in sys.argv[2:]
    if a.startswith("--only=")
  ]
  export(sys.argv[1], only[0] if only else ())
