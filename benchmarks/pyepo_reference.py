"""PyEPO's side of `benchmarks.pyepo_side_by_side`: run in an environment
with torch and pyepo (and OR-Tools), never TensorFlow.

  python benchmarks/pyepo_reference.py DATA.npz OUT.json

Reads the data, initial weights and batch order written by the TF side,
trains `nn.Linear` with each of PyEPO's methods as its documentation's
training loops do (its OR-Tools GLOP shortest-path model,
one process), and writes each method's test predictions and seconds per
epoch. Numbers only; the regret is computed on the TF side for both.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np
import pyepo
import torch
from torch import nn


def train(
  method: str,
  data: dict,
  seed: int,
  num_samples: int,
  sigma: float,
  lam: float,
  learning_rate: float,
  solve_ratio: float,
) -> dict:
  grid = tuple(int(g) for g in data["grid"])
  optmodel = pyepo.model.ort.shortestPathModel(grid)
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
  if method == "spo_plus":
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
  elif method == "imle":
    imle = pyepo.func.implicitMLE(
      optmodel, n_samples=num_samples, sigma=sigma, lambd=lam, processes=1
    )
    loss_fn = lambda cp, i: l1(imle(cp), w[i])
  else:  # nce, cmap: a pool seeded with the training set, 5% refreshes.
    dataset = pyepo.data.dataset.optDataset(
      optmodel, data["x_train"], data["c_train"]
    )
    contrast = (pyepo.func.NCE if method == "nce" else pyepo.func.CMAP)(
      optmodel, processes=1, solve_ratio=solve_ratio, dataset=dataset
    )
    loss_fn = lambda cp, i: contrast(cp, w[i])
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
    for seed in settings["seeds"]:
      torch.manual_seed(seed)
      results[f"{method}/seed{seed}"] = train(
        method,
        data,
        seed,
        settings["num_samples"],
        settings["sigma"],
        settings["lam"],
        settings["learning_rate"],
        settings["solve_ratio"],
      )
      print(
        method,
        seed,
        results[f"{method}/seed{seed}"]["seconds_per_epoch"],
        flush=True,
      )
  with open(out_path, "w", encoding="utf-8") as f:
    json.dump(results, f)


if __name__ == "__main__":
  main(*sys.argv[1:])
