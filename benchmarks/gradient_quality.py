"""Relative mean squared error of the perturbed VJP, per estimator and M."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

import perturbations_tf as ptf
from perturbations_tf import solvers

ESTIMATORS = {  # name: (control_variate, antithetic, symmetrize)
  "plain": (False, False, False),
  "control variate": (True, False, False),
  "antithetic": (False, True, False),
  "both": (True, True, False),
  "control variate + symmetrized": (True, False, True),
}
SIGMA = 0.5


def _vjp(soft, theta, g, seed):
  with tf.GradientTape() as tape:
    tape.watch(theta)
    inner = tf.reduce_sum(soft(theta, seed=seed) * g)
  return tape.gradient(inner, theta)


def exact_vjp(name, solver, noise, theta, g, quick):
  """The exact VJP (Gumbel argmax), or the mean of many large-M estimates."""
  if name.startswith("argmax") and noise == "gumbel":  # Closed form.
    p = tf.nn.softmax(theta / SIGMA)
    return p * (g - tf.reduce_sum(p * g, -1, keepdims=True)) / SIGMA
  # Otherwise the mean of many large-M estimates with both variance reductions.
  m = 20_000 if quick else 200_000
  soft = ptf.ops.perturbed(solver, m, SIGMA, noise, antithetic=True)
  return tf.add_n([_vjp(soft, theta, g, seed) for seed in range(5)]) / 5


def run(quick: bool = False) -> dict:
  rng = np.random.default_rng(0)
  cases = [
    ("argmax d=10 gumbel", solvers.argmax, "gumbel", 10),
    ("argmax d=10 normal", solvers.argmax, "normal", 10),
    ("ranks n=10 normal", solvers.ranks, "normal", 10),
  ]
  sizes = (10, 100) if quick else (10, 100, 1000)
  repeats = 20 if quick else 100
  rows = []
  for name, solver, noise, d in cases:
    theta = tf.constant(rng.normal(size=(8, d)), tf.float32)
    g = tf.constant(rng.normal(size=(8, d)), tf.float32)
    truth = exact_vjp(name, solver, noise, theta, g, quick)
    scale = float(tf.reduce_sum(truth**2))
    for estimator, (cv, anti, sym) in ESTIMATORS.items():
      if anti and noise != "normal":
        continue
      row = {"case": name, "estimator": estimator}
      for m in sizes:
        soft = ptf.ops.perturbed(
          solver,
          m,
          SIGMA,
          noise,
          control_variate=cv,
          antithetic=anti,
          symmetrize=sym,
        )
        errors = [
          float(tf.reduce_sum((_vjp(soft, theta, g, s) - truth) ** 2))
          for s in range(repeats)
        ]
        row[f"rel. MSE M={m}"] = np.mean(errors) / scale
      # Relative RMSE falls as 1/√M: the M that reaches 10%.
      row["M for 10% rel. error"] = float(
        sizes[-1] * row[f"rel. MSE M={sizes[-1]}"] / 0.01
      )
      rows.append(row)
  for row in rows:  # Gain over the plain estimator at equal M.
    plain = next(
      r for r in rows if r["case"] == row["case"] and r["estimator"] == "plain"
    )
    row["MSE / plain"] = (
      row[f"rel. MSE M={sizes[-1]}"] / plain[f"rel. MSE M={sizes[-1]}"]
    )
  return {
    "Gradient quality: relative MSE of the VJP (8 examples, ε = 0.5)": rows
  }
