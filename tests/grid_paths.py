"""Exhaustive references on PyEPO's grid DAG: every path, and the best one by
brute force (scipy's Dijkstra: `benchmarks.references.scipy_shortest_path`)."""

import functools
import itertools

import numpy as np
import tensorflow as tf

from perturbations_tf import solvers


def all_paths(grid):
  """The 0/1 arc vectors of every north-west to south-east path, `[P, A]`."""
  m, n = grid
  index = {arc: k for k, arc in enumerate(solvers.grid_arcs(grid))}
  paths = []
  for south_steps in itertools.combinations(range(m + n - 2), m - 1):
    w, node = np.zeros(len(index)), 0
    for step in range(m + n - 2):
      nxt = node + (n if step in south_steps else 1)
      w[index[node, nxt]] = 1
      node = nxt
    paths.append(w)
  return np.array(paths)


def brute_force(costs, grid, maximize=False):
  """The best path of each row of `costs` and its objective, by enumeration."""
  paths = all_paths(grid)
  objectives = np.asarray(costs, np.float64) @ paths.T
  best = objectives.argmax(1) if maximize else objectives.argmin(1)
  return paths[best], objectives[np.arange(len(best)), best]


def longest_path_solver(grid):
  """A maximiser over the same paths: the shortest path of the negated
  costs, declared to maximise."""
  shortest = functools.partial(solvers.grid_arc_shortest_path, grid=grid)

  @solvers.declare_sense(maximize=True)
  def longest(costs):
    return shortest(-tf.convert_to_tensor(costs))

  return longest
