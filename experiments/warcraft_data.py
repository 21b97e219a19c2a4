"""Warcraft shortest-path data: the real files, or a synthetic look-alike.

The dataset of Vlastelica et al. (2020) is a folder of `.npy` files,
`{train,val,test}_{maps,shortest_paths,vertex_weights}.npy`: maps
`(N, 8k, 8k, 3)` uint8 (8×8 pixels per cell), paths and vertex weights
`(N, k, k)`. Without it, `synthesize` writes files of the same names and
shapes: k×k maps of spatially coherent terrain of a few types, each with a
fixed vertex cost, drawn as textured 8×8 tiles with pixel noise so that the
costs must be recognised from the image; labels come from the exact solver.
Both are read by `load_split`, through one path.
"""

from __future__ import annotations

import os

import numpy as np
import tensorflow as tf

from perturbations_tf import solvers

SPLITS = ("train", "val", "test")
FILES = ("maps", "shortest_paths", "vertex_weights")
TILE = 8
# Vertex costs of the terrain types (the range of the Warcraft costs).
TERRAIN_COSTS = np.array([0.8, 1.2, 3.0, 5.3, 7.7, 9.2], np.float32)


def _tiles(rng: np.random.Generator) -> np.ndarray:
  """One textured 8×8 RGB tile per terrain type: a colour and a pattern."""
  colours = rng.uniform(40, 215, size=(len(TERRAIN_COSTS), 1, 1, 3))
  patterns = rng.normal(0, 30, size=(len(TERRAIN_COSTS), TILE, TILE, 1))
  return colours + patterns


def _terrain(rng: np.random.Generator, num_maps: int, k: int) -> np.ndarray:
  """Terrain types `(N, k, k)`: the argmax of smooth random fields, one per
  type, so that types form coherent regions."""
  coarse = max(2, k // 4)
  fields = rng.normal(size=(num_maps, coarse, coarse, len(TERRAIN_COSTS)))
  smooth = tf.image.resize(fields, (k, k), method="bicubic").numpy()
  smooth += 0.3 * rng.normal(size=smooth.shape)  # Some isolated cells.
  return np.argmax(smooth, axis=-1)


def synthesize(
  num_maps: int, k: int, seed: int, batch: int = 500
) -> dict[str, np.ndarray]:
  """Generates `num_maps` synthetic k×k Warcraft-like instances.

  Returns:
    `{'maps': uint8 (N, 8k, 8k, 3), 'shortest_paths': float32 (N, k, k),
    'vertex_weights': float32 (N, k, k)}`.
  """
  rng = np.random.default_rng(seed)
  tiles = _tiles(np.random.default_rng(1234))  # Same look in every split.
  terrain = _terrain(rng, num_maps, k)
  weights = TERRAIN_COSTS[terrain]
  pixels = tiles[terrain]  # (N, k, k, 8, 8, 3)
  maps = pixels.transpose(0, 1, 3, 2, 4, 5).reshape(
    num_maps, k * TILE, k * TILE, 3
  )
  maps += rng.normal(0, 20, size=maps.shape)  # Pixel noise.
  paths = np.concatenate(
    [
      solvers.shortest_path(tf.constant(weights[i : i + batch])).numpy()
      for i in range(0, num_maps, batch)
    ]
  )
  return {
    "maps": np.clip(maps, 0, 255).astype(np.uint8),
    "shortest_paths": paths.astype(np.float32),
    "vertex_weights": weights.astype(np.float32),
  }


def synthetic_dir(
  root: str, k: int, sizes: tuple[int, int, int], seed: int
) -> str:
  """The cache folder of one synthetic dataset, created on first use."""
  folder = os.path.join(
    root, f"synthetic_{k}x{k}_" + "_".join(map(str, sizes)) + f"_seed{seed}"
  )
  if not os.path.exists(os.path.join(folder, "test_vertex_weights.npy")):
    os.makedirs(folder, exist_ok=True)
    for split_seed, (split, size) in enumerate(zip(SPLITS, sizes)):
      data = synthesize(size, k, seed * 3 + split_seed)
      for name, array in data.items():
        tmp = os.path.join(folder, f".{split}_{name}.npy")
        np.save(tmp, array)
        os.replace(tmp, os.path.join(folder, f"{split}_{name}.npy"))
  return folder


def load_split(folder: str, split: str, k: int) -> dict[str, np.ndarray]:
  """Reads and checks one split of real or synthetic Warcraft data.

  Raises:
    FileNotFoundError: naming the missing file.
    ValueError: naming the file whose shape or dtype is wrong.
  """
  data = {}
  for name in FILES:
    path = os.path.join(folder, f"{split}_{name}.npy")
    if not os.path.exists(path):
      raise FileNotFoundError(
        f"Missing Warcraft file {path}: --data_dir must hold "
        f"{{train,val,test}}_{{{','.join(FILES)}}}.npy."
      )
    data[name] = np.load(path, mmap_mode="r")
  n = len(data["maps"])
  expected = {
    "maps": (n, TILE * k, TILE * k, 3),
    "shortest_paths": (n, k, k),
    "vertex_weights": (n, k, k),
  }
  for name, shape in expected.items():
    if data[name].shape != shape:
      raise ValueError(
        f"{split}_{name}.npy has shape {data[name].shape}, expected {shape} "
        f"for --grid_size={k}."
      )
  if data["maps"].dtype != np.uint8:
    raise ValueError(
      f"{split}_maps.npy must be uint8 RGB, got {data['maps'].dtype}."
    )
  return {name: np.asarray(array) for name, array in data.items()}
