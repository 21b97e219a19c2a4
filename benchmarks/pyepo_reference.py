"""PyEPO's side of `benchmarks.pyepo_side_by_side`: run in an environment
with torch and pyepo (and OR-Tools), never TensorFlow.

  python benchmarks/pyepo_reference.py DATA.npz OUT.json

Reads the data, initial weights and batch order written by the TF side,
trains `nn.Linear` with each of PyEPO's methods as its documentation's
training loops do (one process), and writes each method's test predictions
and seconds per epoch. Numbers only; the regret is computed on the TF side
for both. The models: PyEPO's OR-Tools GLOP shortest path; for the TSP and
the portfolio, where PyEPO's open models are slow (Pyomo's TSP through
HiGHS, 0.6–1 s a tour) or need a solver pip does not provide (Ipopt for
the portfolio), two `optModel`s written here on PyEPO's own interfaces:
OR-Tools CP-SAT's circuit constraint (`optOrtCpModel`, its integer scaling
of the costs), and Clarabel's cone program.
"""

from __future__ import annotations

import itertools
import json
import sys
import time

import clarabel
import numpy as np
from ortools.sat.python import cp_model
import pyepo
from pyepo import EPO
from pyepo.func.utils import sumGammaDistribution
from pyepo.model.opt import optModel
from pyepo.model.ort.ortcpmodel import optOrtCpModel
from scipy import sparse
import torch
from torch import nn


class tspCircuitModel(optOrtCpModel):
  """PyEPO's TSP (edges in its order) through CP-SAT's circuit constraint:
  one Boolean per undirected edge, the sum of its two arcs."""

  def __init__(self, num_nodes: int):
    self.num_nodes = num_nodes
    self.edges = list(itertools.combinations(range(num_nodes), 2))
    super().__init__()

  def _getModel(self):
    model = cp_model.CpModel()
    x, arcs = {}, []
    for i, j in self.edges:
      x[i, j] = model.NewBoolVar(f"x_{i}_{j}")
      forward, backward = model.NewBoolVar(""), model.NewBoolVar("")
      arcs += [(i, j, forward), (j, i, backward)]
      model.Add(x[i, j] == forward + backward)
    model.AddCircuit(arcs)
    return model, x


class portfolioClarabelModel(optModel):
  """PyEPO's portfolio (`portfolioBase`'s risk budget γ·mean(Σ)) as a cone
  program solved by Clarabel."""

  def __init__(self, covariance: np.ndarray, gamma: float = 2.25):
    self.covariance = np.asarray(covariance, np.float64)
    self.risk_level = gamma * float(np.mean(self.covariance))
    self.modelSense = EPO.MAXIMIZE
    super().__init__()

  def _getModel(self):
    n = len(self.covariance)
    factor = np.linalg.cholesky(self.covariance).T / np.sqrt(self.risk_level)
    a = np.concatenate(
      [np.ones((1, n)), -np.eye(n), np.eye(n), np.zeros((1, n)), -factor]
    )
    b = np.concatenate([[1.0], np.zeros(n), np.ones(n), [1.0], np.zeros(n)])
    cones = [
      clarabel.ZeroConeT(1),
      clarabel.NonnegativeConeT(2 * n),
      clarabel.SecondOrderConeT(n + 1),
    ]
    self._cone = (sparse.csc_matrix(a), b, cones)
    self._c = np.zeros(n)
    return None, {i: i for i in range(n)}

  def setObj(self, c):
    self._c = np.asarray(pyepo.utils.costToNumpy(c), np.float64)

  def solve(self):
    settings = clarabel.DefaultSettings()
    settings.verbose = False
    n = len(self._c)
    solution = clarabel.DefaultSolver(
      sparse.csc_matrix((n, n)), -self._c, *self._cone, settings
    ).solve()
    x = np.asarray(solution.x, np.float32)
    return x, float(self._c @ x)


def make_model(data: dict):
  """PyEPO's model of the data's problem."""
  problem = str(data["problem"])
  if problem == "tsp":
    return tspCircuitModel(int(data["num_nodes"]))
  if problem == "portfolio":
    return portfolioClarabelModel(data["covariance"], float(data["gamma"]))
  return pyepo.model.ort.shortestPathModel(tuple(int(g) for g in data["grid"]))


def train(
  method: str,
  data: dict,
  seed: int,
  num_samples: int,
  sigma: float,
  lam: float,
  learning_rate: float,
  solve_ratio: float,
  pg_h: float,
  cave_max_iter: int,
  draw: int = 0,
) -> dict:
  """Trains with one method from the seed's weights and batches; draw 0
  takes PyEPO's default noise seed (135), draw d seed 135 + d. Its pool
  refreshes draw from an unseeded generator (PyEPO seeds none)."""
  optmodel = make_model(data)
  x = torch.tensor(data["x_train"], dtype=torch.float32)
  c = torch.tensor(data["c_train"], dtype=torch.float32)
  w = torch.tensor(data["w_train"], dtype=torch.float32)
  z = (c * w).sum(1, keepdim=True)
  model = nn.Linear(x.shape[1], c.shape[1])
  with torch.no_grad():  # The TF side's initial weights.
    model.weight.copy_(torch.tensor(data[f"kernel_{seed}"].T))
    model.bias.copy_(torch.tensor(data[f"bias_{seed}"]))
  optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
  l1, mse = nn.L1Loss(), nn.MSELoss()
  regret = lambda wp, i: l1((wp * c[i]).sum(1, keepdim=True), z[i])
  if method == "two_stage":
    loss_fn = lambda cp, i: mse(cp, c[i])
  elif method == "spo_plus":
    spo = pyepo.func.SPOPlus(optmodel, processes=1)
    loss_fn = lambda cp, i: spo(cp, c[i], w[i], z[i])
  elif method in ("dbb", "nid"):
    decide = (
      pyepo.func.blackboxOpt(optmodel, lambd=lam, processes=1)
      if method == "dbb"
      else pyepo.func.negativeIdentity(optmodel, processes=1)
    )
    loss_fn = lambda cp, i: regret(decide(cp), i)
  elif method == "dpo":
    ptb = pyepo.func.perturbedOpt(
      optmodel, n_samples=num_samples, sigma=sigma, processes=1
    )
    loss_fn = lambda cp, i: mse(ptb(cp), w[i])
  elif method == "pfyl":
    pfy = pyepo.func.perturbedFenchelYoung(
      optmodel, n_samples=num_samples, sigma=sigma, processes=1
    )
    loss_fn = lambda cp, i: pfy(cp, w[i])
  elif method in ("imle", "aimle"):
    sampler = dict(
      n_samples=num_samples,
      sigma=sigma,
      processes=1,
      distribution=sumGammaDistribution(kappa=5, seed=135 + draw),
    )
    mle = (
      pyepo.func.implicitMLE(optmodel, lambd=lam, **sampler)
      if method == "imle"
      else pyepo.func.adaptiveImplicitMLE(optmodel, **sampler)
    )
    loss_fn = lambda cp, i: l1(mle(cp), w[i])
  elif method == "pg":
    pg = pyepo.func.perturbationGradient(
      optmodel, sigma=pg_h, two_sides=False, processes=1
    )
    loss_fn = lambda cp, i: pg(cp, c[i])
  elif method == "rfy":
    rfy = pyepo.func.regularizedFrankWolfeFenchelYoung(
      optmodel, lambd=1.0, processes=1
    )
    loss_fn = lambda cp, i: rfy(cp, w[i])
  elif method == "cave":
    # The binding constraints' normals at w*, zero rows where a constraint
    # does not bind (PyEPO drops them), computed on the TF side: PyEPO
    # extracts them through Gurobi only. Its Clarabel projection stops after
    # `cave_max_iter` iterations: to convergence (100) for the plain CaVE
    # that the TF side computes, 3 for PyEPO's default CaVE+.
    tight = torch.tensor(data["tight_train"], dtype=torch.float32)
    cave = pyepo.func.coneAlignedCosine(
      optmodel, max_iter=cave_max_iter, processes=1
    )
    loss_fn = lambda cp, i: cave(cp, tight[i])
  else:  # A pool seeded with the training set, 5% refreshes.
    dataset = pyepo.data.dataset.optDataset(
      optmodel, data["x_train"], data["c_train"]
    )
    pool_loss = {
      "nce": pyepo.func.NCE,
      "cmap": pyepo.func.CMAP,
      "pointwise_ltr": pyepo.func.pointwiseLearningToRank,
      "pairwise_ltr": pyepo.func.pairwiseLearningToRank,
      "listwise_ltr": pyepo.func.listwiseLearningToRank,
    }[method](optmodel, processes=1, solve_ratio=solve_ratio, dataset=dataset)
    target = c if method.endswith("ltr") else w  # Their natural targets.
    loss_fn = lambda cp, i: pool_loss(cp, target[i])
  epochs = []
  for order in data[f"order_{seed}"]:  # One row of batch indices per epoch.
    start = time.perf_counter()
    for batch in np.array_split(order, int(data["batches_per_epoch"])):
      index = torch.tensor(batch)
      loss = loss_fn(model(x[index]), index)
      optimizer.zero_grad()
      loss.backward()
      optimizer.step()
    epochs.append(time.perf_counter() - start)
  with torch.no_grad():
    predicted = model(torch.tensor(data["x_test"], dtype=torch.float32))
  return {
    "predicted": predicted.numpy().tolist(),
    "seconds_per_epoch": float(np.median(epochs)),
  }


def main(data_path: str, out_path: str):
  data = dict(np.load(data_path))
  settings = json.loads(str(data["settings"]))
  torch.set_num_threads(1)
  results = {
    "versions": {"pyepo": pyepo.__version__, "torch": torch.__version__}
  }
  for method in settings["methods"]:
    draws = settings["draws"] if method in settings["random_methods"] else 1
    for seed, draw in itertools.product(settings["seeds"], range(draws)):
      torch.manual_seed(seed + 1000 * draw)
      name = f"{method}/seed{seed}" + (f"/draw{draw}" if draw else "")
      results[name] = train(
        method,
        data,
        seed,
        settings["num_samples"],
        settings["sigma"],
        settings["lam"],
        settings["learning_rate"],
        settings["solve_ratio"],
        settings["pg_h"],
        settings["cave_max_iter"],
        draw,
      )
      print(name, results[name]["seconds_per_epoch"], flush=True)
  with open(out_path, "w", encoding="utf-8") as f:
    json.dump(results, f)


if __name__ == "__main__":
  main(*sys.argv[1:])
