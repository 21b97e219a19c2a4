"""Tests of the numpy-solver adapter."""

import numpy as np
import pytest
import tensorflow as tf

import perturbations_tf as ptf
from perturbations_tf import solvers
from experiments import dijkstra


def python_shortest_path(costs):
  return dijkstra.shortest_path(costs, 8)[0]


def test_matches_tf_solver_in_eager_and_function(rng):
  costs = rng.uniform(0.1, 3.0, size=(6, 5, 5)).astype(np.float32)
  solver = ptf.numpy_solver(python_shortest_path, num_workers=3)
  expected = solvers.shortest_path(costs)
  np.testing.assert_array_equal(solver(costs), expected)
  traced = tf.function(solver)
  np.testing.assert_array_equal(traced(costs), expected)
  assert traced.get_concrete_function(
      tf.TensorSpec([None, 5, 5])).structured_outputs.shape.as_list() == [
          None, 5, 5]


def test_inside_perturbed_and_fenchel_young(rng):
  costs = rng.uniform(2.0, 4.0, size=(2, 4, 4)).astype(np.float32)
  solver = ptf.numpy_solver(python_shortest_path)
  kwargs = dict(num_samples=10, sigma=0.3, seed=0)
  np.testing.assert_array_equal(
      tf.function(ptf.perturbed(solver, **kwargs))(costs),
      ptf.perturbed(solvers.shortest_path, **kwargs)(costs))
  labels = solvers.shortest_path(costs)
  loss = ptf.FenchelYoungLoss(solver, maximize=False,
                              perturbation="additive", **kwargs)
  np.testing.assert_allclose(
      tf.function(loss)(labels, costs + 10.0),
      ptf.FenchelYoungLoss(solvers.shortest_path, maximize=False, **kwargs)(
          labels, costs + 10.0), rtol=1e-6)


def test_output_shape_dtype_and_batched_mode():
  scalar = ptf.numpy_solver(lambda x: x.max(), output_shape=(),
                            output_dtype=np.float64)
  out = scalar(tf.constant([[1.0, 3.0], [2.0, 0.0]]))
  assert out.dtype == tf.float64 and out.shape == (2,)
  np.testing.assert_array_equal(out, [3.0, 2.0])
  whole = ptf.numpy_solver(lambda x: np.argsort(np.argsort(x, -1), -1),
                           output_dtype="float32", batched=True)
  np.testing.assert_array_equal(whole(tf.constant([[0.3, -1.0, 2.0]])),
                                [[1, 0, 2]])
  assert not whole.supports_jit
  layer = ptf.Perturbed(whole, num_samples=4)
  assert not layer.supports_jit  # Keras then leaves jit_compile='auto' off.


def test_errors_name_the_example_and_xla():
  def fails_on_negative(x):
    if x.min() < 0:
      raise ArithmeticError("negative entry")
    return x

  solver = ptf.numpy_solver(fails_on_negative, num_workers=2)
  bad = tf.constant([[1.0, 2.0], [3.0, 4.0], [-1.0, 0.0]])
  with pytest.raises(ArithmeticError, match="negative entry") as info:
    solver(bad)
  assert "example 2 of the batch" in str(info.value.__notes__)
  with pytest.raises(tf.errors.OpError,
                     match=r"(?s)negative entry.*example 2 of the batch"):
    tf.function(solver)(bad)
  with pytest.raises(ValueError, match="cannot be XLA-compiled"):
    tf.function(solver, jit_compile=True)(bad)
  with pytest.raises(ValueError, match="num_workers"):
    ptf.numpy_solver(fails_on_negative, num_workers=0)
