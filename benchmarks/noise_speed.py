"""The noise draw: the library's generator against XLA's Philox and
TensorFlow's own samplers, in one process (medians of alternating calls).

The library's hash (`_src/random.py`) and XLA's Philox-4x32-10 both run
inside one compiled sampler, so both keep the noise identical in every
mode; the table says what each costs, and what a normal draw costs against
`tf.random.normal` (the plain estimator's, which no seed reproduces across
modes).
"""

from __future__ import annotations

import tensorflow as tf

from benchmarks import timing
import perturbations_tf as ptf
from perturbations_tf._src import random

SHAPES = ((1000, 32, 10), (100, 128, 1000))  # The overhead table's M·B·d.


def _philox_graph(
  shape: tf.Tensor, seed: tf.Tensor, dtype: tf.DType
) -> tf.Tensor:
  return tf.random.stateless_uniform(shape, seed, dtype=dtype, alg="philox")


_philox = random.compiled(_philox_graph)


def run(quick: bool = False) -> dict:
  repeats = 5 if quick else 30
  normal = ptf.noise.Normal()
  rows = []
  for shape in SHAPES[:1] if quick else SHAPES:
    for mode in ("eager", "function"):
      draws = {
        "hash": lambda s, shape=shape: random.uniform(shape, s),
        "philox": lambda s, shape=shape: _philox(shape, s),
        "stateless": lambda s, shape=shape: tf.random.stateless_uniform(
          shape, s
        ),
        "normal": lambda s, shape=shape: normal.sample(shape, s),
        "tf normal": lambda s, shape=shape: tf.random.normal(shape),
      }
      t = timing.interleaved_medians(
        {k: timing.compile_mode(f, mode) for k, f in draws.items()},
        tf.constant([3, 4], tf.int64),
        repeats=repeats,
      )
      rows.append(
        {
          "draws": " × ".join(map(str, shape)),
          "mode": mode,
          "uniforms: hash (ms)": 1e3 * t["hash"],
          "XLA Philox / hash": t["philox"] / t["hash"],
          "tf.random.stateless_uniform / hash": t["stateless"] / t["hash"],
          "normals: ours (ms)": 1e3 * t["normal"],
          "ours / tf.random.normal": t["normal"] / t["tf normal"],
        }
      )
  return {"The noise draw: the library's generator against others": rows}
