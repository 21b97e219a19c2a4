"""Warm starts from memory: PDLP's recent solutions, each new row started
from the one whose costs were nearest.

In decision-focused training the same instances are solved every epoch
with costs that drift little between epochs; PDLP started from the
previous epoch's primal–dual pair of an instance needs fewer iterations
than from 0 (`benchmarks/pdlp.py` measures how many). No instance index
reaches a solver, so the memory finds that pair by its costs: the nearest
stored cost vector after scaling each to unit ∞-norm (PDLP's own
normalisation, which makes the pair independent of the costs'
magnitude). A start only changes where the iterations begin: a
converged row satisfies the same tolerances from any start.

The memory is a ring of `capacity` rows in `tf.Variable`s, read and
written in eager mode, in `tf.function` and under XLA.
"""

from __future__ import annotations

import tensorflow as tf


def _unit_rows(c: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
  """Each row over its ∞-norm (1 for a zero row), and that norm."""
  magnitude = tf.reduce_max(tf.abs(c), 1)
  scale = tf.where(magnitude > 0, magnitude, 1.0)
  return c / scale[:, None], scale


class WarmStartMemory:
  """The last `capacity` solved rows of one program: costs, `x`, `y`.

  Args:
    capacity: the rows kept (a ring: the oldest are overwritten).
    columns: the solver's variables `n'`.
    rows: the solver's constraints `m'`.

  Example:
    >>> memory = WarmStartMemory(4, columns=2, rows=1)
    >>> c = tf.constant([[1.0, 2.0]], tf.float64)
    >>> memory.remember(c, tf.constant([[0.0, 1.0]], tf.float64),
    ...                 tf.constant([[-2.0]], tf.float64))
    >>> x0, y0 = memory.starts(2.0 * c)  # Same direction, twice the size.
    >>> x0.numpy(), y0.numpy()
    (array([[0., 1.]]), array([[-4.]]))
  """

  def __init__(self, capacity: int, columns: int, rows: int):
    self.capacity = capacity
    self.columns = columns
    self.rows = rows
    self._variables: tuple[tf.Variable, ...] | None = None

  def _state(self) -> tuple[tf.Variable, ...]:
    """The ring's variables, made on first use outside any graph."""
    if self._variables is None:
      with tf.init_scope():
        k = self.capacity

        def zeros(*shape: int) -> tf.Variable:
          return tf.Variable(tf.zeros(shape, tf.float64), trainable=False)

        self._variables = (
          zeros(k, self.columns),  # unit costs
          zeros(k, self.columns),  # x
          zeros(k, self.rows),  # y over the costs' magnitude
          tf.Variable(tf.zeros([k], tf.bool), trainable=False),  # filled
          tf.Variable(tf.constant(0, tf.int64), trainable=False),  # next
        )
    return self._variables

  def starts(self, costs: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """The `(x, y)` to start each row of `costs` `[B, n']` from: those of
    the nearest remembered costs, or zeros while the memory is empty."""
    unit_costs, xs, ys, filled, _ = self._state()
    unit, scale = _unit_rows(costs)
    distance = tf.reduce_sum(tf.square(unit_costs), 1)[
      None, :
    ] - 2.0 * tf.matmul(unit, unit_costs, transpose_b=True)
    distance = tf.where(filled[None, :], distance, float("inf"))
    nearest = tf.argmin(distance, axis=1)
    known = tf.reduce_any(filled)
    x0 = tf.where(known, tf.gather(xs, nearest), 0.0)
    y0 = tf.where(known, tf.gather(ys, nearest) * scale[:, None], 0.0)
    return x0, y0

  def remember(self, costs: tf.Tensor, x: tf.Tensor, y: tf.Tensor) -> None:
    """Writes the rows `(costs, x, y)` over the oldest (of a batch larger
    than the memory, its last `capacity` rows)."""
    unit_costs, xs, ys, filled, position = self._state()
    unit, scale = _unit_rows(costs)
    y = y / scale[:, None]
    count = tf.shape(unit, out_type=tf.int64)[0]
    keep = tf.minimum(count, self.capacity)
    unit, x, y = (t[count - keep :] for t in (unit, x, y))
    slots = ((position + tf.range(keep)) % self.capacity)[:, None]
    unit_costs.scatter_nd_update(slots, unit)
    xs.scatter_nd_update(slots, x)
    ys.scatter_nd_update(slots, y)
    filled.scatter_nd_update(slots, tf.ones([keep], tf.bool))
    position.assign((position + keep) % self.capacity)
