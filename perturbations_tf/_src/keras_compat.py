"""One fix to Keras: `compile()` asks losses and metrics, not only layers,
whether the training step can be XLA-compiled.

Keras 3 resolves `jit_compile="auto"` (the default) to XLA on a machine with
a GPU when every *layer* of the model has `supports_jit` true
(`keras.src.trainers.trainer.model_supports_jit`). A loss or metric that
holds a host solver (`numpy_solver`, `LinearProgram`, a cache over either)
is not a layer, so `model.compile(loss=SPOPlusLoss(LinearProgram(...)))`
resolves to XLA there and `fit` fails in the compiler; the same with
`jit_compile=True` anywhere. `consult_losses_and_metrics()` wraps that
function so that it also requires `supports_jit` of the library's compiled
losses and metrics: Keras then keeps the step out of XLA (warning when
`jit_compile=True` was asked), and still chooses XLA when every solver is
TF-native. It only ever turns XLA off, and only for a model compiled with
one of the library's losses or metrics: for any other model the wrapped
function answers exactly as Keras's own (other code's objects are not
consulted, even if they define `supports_jit`). `perturbations_tf` applies
it once on import; `tests/test_keras_compat.py` fails when Keras starts
consulting losses itself, so the fix can go.
"""

from __future__ import annotations

from typing import Any

import keras
from keras.src.trainers import trainer as keras_trainer


def _compiled_objects(model: Any) -> list:
  """The losses and metrics given to `model.compile`, wherever Keras keeps
  them (the compile wrappers' attributes, lists and dicts)."""
  found, seen = [], set()

  def visit(obj: Any) -> None:
    if id(obj) in seen:
      return
    seen.add(id(obj))
    if isinstance(obj, (list, tuple)):
      for item in obj:
        visit(item)
    elif isinstance(obj, dict):
      for item in obj.values():
        visit(item)
    elif isinstance(obj, (keras.losses.Loss, keras.metrics.Metric)):
      found.append(obj)
      for item in vars(obj).values():
        visit(item)

  visit(getattr(model, "_compile_loss", None))
  visit(getattr(model, "_compile_metrics", None))
  return found


def _ours(obj: Any) -> bool:
  """Whether `obj` is the library's (its class or a base of it)."""
  return any(
    cls.__module__.startswith("perturbations_tf.") for cls in type(obj).__mro__
  )


def losses_and_metrics_support_jit(model: Any) -> bool:
  """Whether every compiled loss and metric of the library in `model`
  supports XLA (True when it compiled none)."""
  return all(
    getattr(obj, "supports_jit", True)
    for obj in _compiled_objects(model)
    if _ours(obj)
  )


def consult_losses_and_metrics() -> None:
  """Makes Keras's XLA decision require the losses' and metrics'
  `supports_jit` too (idempotent)."""
  original = keras_trainer.model_supports_jit
  if getattr(original, "consults_losses", False):
    return

  def model_supports_jit(model: Any) -> bool:
    return original(model) and losses_and_metrics_support_jit(model)

  # Marks for idempotence and for the test that tells when Keras fixes it.
  model_supports_jit.consults_losses = True  # type: ignore[attr-defined]
  model_supports_jit.original = original  # type: ignore[attr-defined]
  keras_trainer.model_supports_jit = model_supports_jit
