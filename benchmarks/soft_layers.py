"""Closed-form soft layers against perturbed ones, at equal smoothing.

`SoftArgmax`/`SparseArgmax` and `SoftRank` (Blondel et al. 2020) are exact:
their Jacobian costs no samples. Perturbed argmax and ranks estimate theirs
from M samples. Each row compares, on the same scores θ, a layer whose ε
is set so that its output is as far from the hard solver's as the
perturbed layer's expected output (ε = 0.5, normal noise; for the argmax,
Gumbel noise, whose perturbed argmax is exactly the softmax at the same ε):
the mean absolute distance to the hard decision, the VJP's relative error
against the layer's own exact Jacobian (zero for the closed forms), and the
time of a forward+backward at the M that brings the perturbed VJP's error
to 10%, timed in alternating rounds.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import tensorflow as tf

from benchmarks import equal_accuracy
from benchmarks import gradient_quality
from benchmarks import timing
import perturbations_tf as ptf
from perturbations_tf import solvers

SIGMA = gradient_quality.SIGMA


def distance_to_hard(y: tf.Tensor, hard: tf.Tensor) -> float:
  """Mean absolute distance of a smoothed output to the hard decision."""
  return float(tf.reduce_mean(tf.abs(y - hard)))


def matched_strength(op, theta, hard, target: float) -> float:
  """The ε at which `op(θ, ε)` is `target` away from the hard decision
  (bisection in log ε: the distance grows with ε)."""
  low, high = 1e-4, 1e3
  for _ in range(60):
    mid = math.sqrt(low * high)
    if distance_to_hard(op(theta, mid), hard) < target:
      low = mid
    else:
      high = mid
  return math.sqrt(low * high)


def _soft_rank(regularization, theta, strength):
  return ptf.ops.soft_rank(theta, regularization, strength)


def _cases(rng):
  """(name, solver, noise, soft layers {name: op(θ, ε)}, θ)."""
  argmax_layers = {
    "SoftArgmax (softmax)": lambda t, e: ptf.ops.soft_argmax(t, "kl", e),
    "SparseArgmax (sparsemax)": lambda t, e: ptf.ops.soft_argmax(t, "l2", e),
  }
  rank_layers = {
    f"SoftRank ({reg})": functools.partial(_soft_rank, reg)
    for reg in ("l2", "kl")
  }
  return [
    (
      "argmax d=10",
      solvers.argmax,
      "gumbel",
      argmax_layers,
      rng.normal(size=(8, 10)),
    ),
    (
      "ranks n=10",
      solvers.ranks,
      "normal",
      rank_layers,
      rng.normal(size=(8, 10)),
    ),
    (
      "ranks n=100",
      solvers.ranks,
      "normal",
      rank_layers,
      rng.normal(size=(8, 100)),
    ),
  ]


def run(quick: bool = False) -> dict:
  rng = np.random.default_rng(0)
  repeats = 10 if quick else 60
  rows = []
  for name, solver, noise, layers, theta in _cases(rng):
    theta = tf.constant(theta, tf.float32)
    g = tf.constant(rng.normal(size=theta.shape), tf.float32)
    hard = tf.cast(solver(theta), tf.float32)
    # The perturbed layer: its expected output from many samples, its exact
    # VJP (closed form for Gumbel argmax, else many large-M estimates).
    expected = ptf.ops.perturbed(
      solver,
      20_000 if quick else 100_000,
      SIGMA,
      noise,
      antithetic=noise == "normal",
    )(theta)
    target = distance_to_hard(expected, hard)
    truth = gradient_quality.exact_vjp(name, solver, noise, theta, g, quick)
    m = equal_accuracy.samples_for_target(
      functools.partial(ptf.ops.perturbed, solver, sigma=SIGMA, noise=noise),
      theta,
      g,
      truth,
      repeats,
    )
    steps = {
      "perturbed": equal_accuracy.vjp_step(
        ptf.ops.perturbed(solver, m, SIGMA, noise), g
      )
    }
    matched = {}
    for layer, op in layers.items():
      eps = matched_strength(op, theta, hard, target)
      matched[layer] = (eps, distance_to_hard(op(theta, eps), hard))
      steps[layer] = equal_accuracy.vjp_step(
        lambda t, op=op, eps=eps: op(t, eps), g
      )
    # In alternating rounds: a slow spell of the machine falls on all alike.
    times = timing.alternating_rounds(steps, theta, rounds=repeats)
    for layer, (eps, distance) in matched.items():
      rows.append(
        {
          "case": name,
          "layer": layer,
          "ε": eps,
          "distance to hard": distance,
          "VJP rel. error": 0.0,
          "M": 0.0,
          "fwd+bwd (ms)": 1e3 * float(np.median(times[layer])),
          "perturbed time / this": timing.ratio_spread(
            times["perturbed"], times[layer]
          ),
        }
      )
    rows.append(
      {
        "case": name,
        "layer": f"perturbed ({noise}), M for 10% error",
        "ε": SIGMA,
        "distance to hard": target,
        "VJP rel. error": equal_accuracy.TARGET,
        "M": float(m),
        "fwd+bwd (ms)": 1e3 * float(np.median(times["perturbed"])),
        "perturbed time / this": "1",
      }
    )
  title = (
    "Soft layers against perturbed ones at equal smoothing (8 examples, "
    "tf.function, alternating rounds: median (quartiles); ε of each soft "
    "layer matched to the perturbed layer's distance to the hard decision)"
  )
  return {title: rows}
