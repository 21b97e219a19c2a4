"""Old names kept as deprecated aliases of their one home.

Each public object has one home in one namespace (the API page states the
rule); names it had before 0.3.0 still resolve, with a DeprecationWarning
naming the new home, through the namespace module's `__getattr__`.
"""

from __future__ import annotations

from collections.abc import Callable
import importlib
from typing import Any
import warnings


def aliases(namespace: str, homes: dict[str, str]) -> Callable[[str], Any]:
  """A module `__getattr__` resolving old names to their homes, warning.

  Args:
    namespace: the module that kept the old names, e.g.
      `"perturbations_tf"`.
    homes: old name → its home, `"module:name"` (e.g.
      `"perturbations_tf.losses:FenchelYoungLoss"`).

  Returns:
    The `__getattr__` of the module.

  Example:
    >>> getattr_ = aliases("old", {"pi": "math:pi"})
    >>> with warnings.catch_warnings(record=True) as caught:
    ...   warnings.simplefilter("always")
    ...   value = getattr_("pi")
    >>> round(value, 2), str(caught[0].message)
    (3.14, 'old.pi is deprecated since 0.3.0: use math.pi.')
  """

  def __getattr__(name: str) -> Any:
    home = homes.get(name)
    if home is None:
      raise AttributeError(f"module {namespace!r} has no attribute {name!r}")
    module, attribute = home.split(":")
    warnings.warn(
      f"{namespace}.{name} is deprecated since 0.3.0: use "
      f"{module.replace('perturbations_tf', 'ptf')}.{attribute}.",
      DeprecationWarning,
      stacklevel=2,
    )
    return getattr(importlib.import_module(module), attribute)

  return __getattr__
