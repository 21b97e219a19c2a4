"""Models with PyEPO's `optModel` interface, written here (PyEPO imports
torch): importable by worker processes."""

import numpy as np


class SubsetModel:
  """Choose `k` of `num_cost` items, PyEPO-style: `modelSense` 1 minimises
  the chosen costs (`EPO.MINIMIZE`), −1 maximises them (`EPO.MAXIMIZE`)."""

  def __init__(self, num_cost=6, k=2, sense=1):
    self.num_cost, self.k, self.modelSense = num_cost, k, sense
    self.costs = None
    self.copies = 0

  def setObj(self, c):
    if len(c) != self.num_cost:
      raise ValueError("Size of cost vector cannot match vars.")
    self.costs = np.asarray(c, float)

  def solve(self):
    order = np.argsort(self.modelSense * self.costs, kind="stable")
    w = np.zeros(self.num_cost)
    w[order[: self.k]] = 1.0
    return w, float(self.costs @ w)

  def copy(self):
    twin = SubsetModel(self.num_cost, self.k, self.modelSense)
    self.copies += 1
    return twin
