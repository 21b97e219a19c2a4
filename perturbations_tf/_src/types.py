"""Type aliases of the library's signatures.

TensorFlow accepts tensors, NumPy arrays and nested Python numbers wherever
it converts to a tensor, and Keras serialises solvers by name or config;
these aliases name what each argument takes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# Anything `tf.convert_to_tensor` takes: a tf.Tensor, a NumPy array, nested
# lists of numbers.
TensorLike = Any
# A solver: a callable (a function, a solver object, a functools.partial),
# a built-in or registered name, or a config dict.
SolverLike = str | dict[str, Any] | Callable[..., Any]
# A stateless seed: None (fresh), an int, or a [2] integer tensor.
SeedLike = Any
# A dtype: a tf.DType, a NumPy dtype or its name.
DTypeLike = Any
# A shape: a list or tuple of ints, or an int32 tensor.
ShapeLike = Any
