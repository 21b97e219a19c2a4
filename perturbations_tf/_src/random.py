"""Uniform random numbers from a counter-based generator in plain integer ops.

The library's noise must be a function of its seed alone, the same in eager
mode, in `tf.function` and under XLA. TensorFlow's stateless random ops do
not give that: under XLA they draw other numbers than their CPU kernels once
the draw is not constant-folded (a runtime seed, a large shape). So the bits
here are a hash of (seed, position) written in 32-bit integer operations,
and every sampler runs as one XLA-compiled program (`compiled`), called from
eager mode, from graphs and from other XLA programs alike: the same program
on the same device, so the same numbers bit for bit, transformed values
included. Under XLA the hash is also faster than TensorFlow's philox.

The hash is two rounds of Wellons' "lowbias32" integer mixer (a bijection
of 32-bit words with low avalanche bias) over the position, keyed by a hash
of the seed's four 32-bit words.
"""

from __future__ import annotations

from collections.abc import Callable
import functools

import tensorflow as tf

from perturbations_tf._src.types import ShapeLike
from perturbations_tf._src.types import TensorLike

_MULTIPLIERS = (0x7FEB352D, 0x846CA68B)
_GOLDEN = 0x9E3779B9


def _mix(x: tf.Tensor) -> tf.Tensor:
  """lowbias32: a bijection of uint32 words."""
  for shift, multiplier in zip((16, 15), _MULTIPLIERS):
    x = tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, shift))
    x = x * tf.constant(multiplier, tf.uint32)
  return tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, 16))


def _keys(seed: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
  """Two 32-bit keys hashed from the four words of each int64 `[..., 2]`
  seed (keys of shape `[...]`)."""
  seed = tf.cast(seed, tf.int64)
  words = tf.bitcast(seed, tf.uint32)  # [..., 2, 2]
  words = tf.reshape(words, tf.concat([tf.shape(seed)[:-1], [4]], 0))
  key = tf.constant(_GOLDEN, tf.uint32)
  for i in range(4):
    key = _mix(key + words[..., i])
  return key, _mix(key + tf.constant(_GOLDEN, tf.uint32))


def words(position: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
  """The generator's 32-bit words at uint32 `position`s of the streams of
  int64 `[..., 2]` seeds, broadcast (keys of shape `seed.shape[:-1]`)."""
  first, second = _keys(seed)
  return _mix(tf.bitwise.bitwise_xor(_mix(position + first), second))


def _bits(count: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
  """`count` random uint32 words: positions 0, 1, ... of `seed`'s stream."""
  return words(tf.bitcast(tf.range(count, dtype=tf.int32), tf.uint32), seed)


def uniform_graph(
  shape: tf.Tensor, seed: tf.Tensor, dtype: tf.DType
) -> tf.Tensor:
  """Uniforms in (0, 1), never 0 or 1, of `shape` (an int32 tensor), for
  use inside a `compiled` sampler: 23 random bits per float32 (as
  TensorFlow's own), 52 per float64 (two words)."""
  n = tf.reduce_prod(shape)
  if dtype == tf.float64:
    words = tf.cast(tf.bitwise.right_shift(_bits(2 * n, seed), 6), tf.float64)
    value = words[:n] * 2.0**26 + words[n:]
    u = (value + 0.5) * 2.0**-52
  else:
    value = tf.cast(tf.bitwise.right_shift(_bits(n, seed), 9), tf.float32)
    u = (value + 0.5) * 2.0**-23
  return tf.reshape(u, shape)


def compiled(graph: Callable[..., tf.Tensor]) -> Callable[..., tf.Tensor]:
  """A sampler `graph(shape, seed, dtype)` (built on `uniform_graph`) run as
  one XLA program per dtype, from eager mode, graphs and XLA alike: the same
  program on the same device, so the same numbers bit for bit, transformed
  values included (transcendental functions differ between XLA and
  TensorFlow's own kernels in the last bits).

  Returns:
    `sample(shape, seed, dtype=tf.float32)`: `shape` a list or an int32
    tensor (at most 2³¹ − 1 entries), `seed` an integer `[2]` tensor or a
    pair of ints; float32 or float64 (other floating dtypes draw float32
    and cast).
  """
  programs = {
    dtype: tf.function(
      functools.partial(graph, dtype=dtype),
      jit_compile=True,
      autograph=False,
      reduce_retracing=True,
    )
    for dtype in (tf.float32, tf.float64)
  }

  def sample(
    shape: ShapeLike, seed: TensorLike, dtype: tf.DType = tf.float32
  ) -> tf.Tensor:
    program = programs[tf.float64 if dtype == tf.float64 else tf.float32]
    shape = tf.cast(tf.convert_to_tensor(shape), tf.int32)
    seed = tf.cast(tf.convert_to_tensor(seed), tf.int64)
    return tf.cast(program(shape, seed), dtype)

  functools.update_wrapper(sample, graph)
  return sample


uniform = compiled(uniform_graph)
uniform.__doc__ = """Uniform samples in the open interval (0, 1), a function
of the seed alone (see `compiled` for the arguments).

Example:
  >>> u = uniform([2, 3], seed=[1, 2])
  >>> u.shape, bool(tf.reduce_all((u > 0) & (u < 1)))
  (TensorShape([2, 3]), True)
"""


def permutation(n: int | tf.Tensor, seed: TensorLike) -> tf.Tensor:
  """A random permutation of `0, ..., n - 1` (int32), a function of `seed`.

  Example:
    >>> sorted(permutation(5, seed=[0, 3]).numpy().tolist())
    [0, 1, 2, 3, 4]
  """
  return tf.cast(tf.argsort(uniform(tf.reshape(n, [1]), seed)), tf.int32)
