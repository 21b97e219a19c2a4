"""Overhead of the perturbed op and the FY loss over the bare solver."""

from __future__ import annotations

import functools

import tensorflow as tf

import perturbations_tf as ptf
from perturbations_tf import solvers
from benchmarks import timing

# (name, solver, θ shape [B, ...], M, ε, maximize)
CASES = [
    ("argmax B=32 d=10", solvers.argmax, (32, 10), 1000, 0.5, True),
    ("argmax B=128 d=1000", solvers.argmax, (128, 1000), 100, 0.5, True),
    ("ranks B=32 n=100", solvers.ranks, (32, 100), 100, 0.5, True),
    ("ranks B=32 n=100", solvers.ranks, (32, 100), 1000, 0.5, True),
    ("top_k k=10 B=32 n=100", functools.partial(solvers.top_k, k=10),
     (32, 100), 100, 0.5, True),
    ("shortest_path B=70 12x12", functools.partial(
        solvers.shortest_path, min_cost=0.0), (70, 12, 12), 3, 0.1, False),
    ("shortest_path B=70 12x12", functools.partial(
        solvers.shortest_path, min_cost=0.0), (70, 12, 12), 30, 0.1, False),
]
QUICK = (0, 2, 5)


def _theta(shape):
  return tf.random.stateless_uniform(shape, [0, 1], 0.5, 2.0)


def run(quick: bool = False) -> dict:
  rows = []
  cases = [CASES[i] for i in QUICK] if quick else CASES
  repeats = 3 if quick else 30  # Medians of many: 2-core timings are noisy.
  for name, solver, shape, m, sigma, maximize in cases:
    theta = _theta(shape)
    # The same M·B perturbed inputs the perturbed op feeds the solver
    # (iteration counts of the shortest path depend on the data).
    noise = ptf.noise.Normal().sample((m,) + shape, tf.constant([3, 4]),
                                      tf.float32)
    flat = tf.reshape(theta + sigma * noise, (m * shape[0],) + shape[1:])
    upstream = tf.random.stateless_normal(shape, [1, 2])
    soft = ptf.perturbed(solver, m, sigma)

    def perturbed_step(theta):
      with tf.GradientTape() as tape:
        tape.watch(theta)
        inner = tf.reduce_sum(soft(theta) * upstream)
      return tape.gradient(inner, theta)

    def fy_step(theta):
      with tf.GradientTape() as tape:
        tape.watch(theta)
        loss = tf.reduce_sum(ptf.fenchel_young_loss(
            upstream, theta, solver, m, sigma, maximize=maximize))
      return tape.gradient(loss, theta)

    for mode in timing.MODES:
      if quick and mode == "eager" and "shortest" in name:
        continue  # Eager while-loops: slow, and the ratio tells little.
      base = timing.median_seconds(timing.compile_mode(solver, mode), flat,
                                   repeats=repeats)
      ratios = {
          label: timing.median_seconds(timing.compile_mode(step, mode), theta,
                                       repeats=repeats) / base
          for label, step in (("perturbed fwd+bwd / solver", perturbed_step),
                              ("FY loss fwd+bwd / solver", fy_step))}
      rows.append({"case": name, "M": m, "mode": mode,
                   "solver on M·B (ms)": 1e3 * base, **ratios})
  # Noise: ε = 0.5 (argmax, ranks, top-k), 0.1 (shortest paths, M·B copies
  # of costs in [0.5, 2], floored at 0); fresh noise every call (seed=None).
  return {"Overhead over the solver alone on the same M·B inputs": rows}
