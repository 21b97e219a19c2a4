"""The cost of a gradient of given accuracy: the time of a forward+backward
at the M that brings the VJP's relative error to 10%, ours against the plain
estimator of the reference implementation."""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from benchmarks import gradient_quality
from benchmarks import overhead
from benchmarks import plain_estimator
from benchmarks import timing
import perturbations_tf as ptf
from perturbations_tf import solvers

TARGET = 0.1  # Relative RMS error of the VJP.
PROBE_M = 1000  # The error is measured here; it falls as 1/√M.


def _estimators(solver):
  sigma = gradient_quality.SIGMA
  return {
    "plain (reference)": lambda m: plain_estimator.perturbed(solver, m, sigma),
    "ours (perturbed defaults)": lambda m: ptf.ops.perturbed(solver, m, sigma),
    "ours + symmetrize (layer default)": lambda m: ptf.ops.perturbed(
      solver, m, sigma, symmetrize=True
    ),
  }


def vjp_step(soft, g):
  """A compiled `θ ↦ J y_ε(θ)ᵀ g` (autograph would unwrap the custom
  gradient of the plain estimator)."""
  return tf.function(overhead.fwd_bwd(lambda t: soft(t) * g), autograph=False)


def relative_mse(step, theta, truth, repeats: int) -> float:
  """The mean of `‖step(θ) − truth‖²` over `repeats` calls, over
  `‖truth‖²`."""
  errors = [
    float(tf.reduce_sum((step(theta) - truth) ** 2)) for _ in range(repeats)
  ]
  return float(np.mean(errors)) / float(tf.reduce_sum(truth**2))


def samples_for_target(make, theta, g, truth, repeats: int) -> int:
  """The M at which the VJP of `make(M)` reaches the TARGET relative error:
  its error measured at PROBE_M, scaled as 1/M."""
  mse = relative_mse(vjp_step(make(PROBE_M), g), theta, truth, repeats)
  return max(2, math.ceil(PROBE_M * mse / TARGET**2))


def run(quick: bool = False) -> dict:
  rng = np.random.default_rng(0)
  repeats = 10 if quick else 60
  rows = []
  for name, solver in (
    ("argmax d=10", solvers.argmax),
    ("ranks n=10", solvers.ranks),
  ):
    theta = tf.constant(rng.normal(size=(8, 10)), tf.float32)
    g = tf.constant(rng.normal(size=(8, 10)), tf.float32)
    truth = gradient_quality.exact_vjp(name, solver, "normal", theta, g, quick)
    tf.random.set_seed(0)  # The plain estimator draws from the global RNG.
    base = None
    for estimator, make in _estimators(solver).items():
      m = samples_for_target(make, theta, g, truth, repeats)
      step = vjp_step(make(m), g)
      seconds = timing.median_seconds(step, theta, repeats=repeats)
      base = base or seconds
      rows.append(
        {
          "case": name,
          "estimator": estimator,
          "M for 10% rel. error": float(m),
          "fwd+bwd at that M (ms)": 1e3 * seconds,
          "time / plain": seconds / base,
        }
      )
  return {
    "Equal accuracy: time to a 10% relative VJP error (8 examples, "
    "normal noise, ε = 0.5, tf.function)": rows
  }
