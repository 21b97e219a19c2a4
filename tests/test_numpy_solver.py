"""Tests of the numpy-solver adapter: executors, errors, compositions."""

import functools
import os
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

from experiments import dijkstra
import perturbations_tf as ptf
from perturbations_tf import solvers
from tests import serialization

# Module-level solvers: worker processes receive them by reference.
python_shortest_path = dijkstra.path_mask


def one_hot_argmax(x):
  return np.eye(x.shape[-1], dtype=x.dtype)[np.argmax(x)]


def dies_on_negative(x):
  if x.min() < 0:
    os._exit(3)  # A crash in a worker.
  return x


def fails_on_negative(x):
  if x.min() < 0:
    raise ArithmeticError("negative entry")
  return x


@pytest.fixture(scope="module")
def process_solver():
  """One pool of two worker processes, shared by the tests that need one."""
  solver = ptf.solvers.numpy_solver(
    python_shortest_path, executor="processes", num_workers=2
  )
  yield solver
  solver.close()


def test_matches_tf_solver_in_eager_and_function(rng):
  costs = rng.uniform(0.1, 3.0, size=(6, 5, 5)).astype(np.float32)
  solver = ptf.solvers.numpy_solver(python_shortest_path, num_workers=3)
  expected = solvers.shortest_path(costs)
  np.testing.assert_array_equal(solver(costs), expected)
  traced = tf.function(solver)
  np.testing.assert_array_equal(traced(costs), expected)
  assert traced.get_concrete_function(
    tf.TensorSpec([None, 5, 5])
  ).structured_outputs.shape.as_list() == [None, 5, 5]


def test_inside_perturbed_and_fenchel_young(rng):
  costs = rng.uniform(2.0, 4.0, size=(2, 4, 4)).astype(np.float32)
  solver = ptf.solvers.numpy_solver(python_shortest_path)
  kwargs = dict(num_samples=10, sigma=0.3, seed=0)
  np.testing.assert_array_equal(
    tf.function(ptf.ops.perturbed(solver, **kwargs))(costs),
    ptf.ops.perturbed(solvers.shortest_path, **kwargs)(costs),
  )
  labels = solvers.shortest_path(costs)
  loss = ptf.losses.FenchelYoungLoss(
    solver, maximize=False, perturbation="additive", **kwargs
  )
  np.testing.assert_allclose(
    tf.function(loss)(labels, costs + 10.0),
    ptf.losses.FenchelYoungLoss(
      solvers.shortest_path, maximize=False, **kwargs
    )(labels, costs + 10.0),
    rtol=1e-6,
  )


def test_output_shape_dtype_and_batched_mode():
  scalar = ptf.solvers.numpy_solver(
    lambda x: x.max(), output_shape=(), output_dtype=np.float64
  )
  out = scalar(tf.constant([[1.0, 3.0], [2.0, 0.0]]))
  assert out.dtype == tf.float64 and out.shape == (2,)
  np.testing.assert_array_equal(out, [3.0, 2.0])
  whole = ptf.solvers.numpy_solver(
    lambda x: np.argsort(np.argsort(x, -1), -1),
    output_dtype="float32",
    batched=True,
  )
  np.testing.assert_array_equal(
    whole(tf.constant([[0.3, -1.0, 2.0]])), [[1, 0, 2]]
  )
  assert not whole.supports_jit
  layer = ptf.layers.Perturbed(whole, num_samples=4)
  assert not layer.supports_jit  # Keras then leaves jit_compile='auto' off.


def test_errors_name_the_example_and_xla():
  solver = ptf.solvers.numpy_solver(fails_on_negative, num_workers=2)
  bad = tf.constant([[1.0, 2.0], [3.0, 4.0], [-1.0, 0.0]])
  with pytest.raises(ArithmeticError, match="negative entry") as info:
    solver(bad)
  assert "example 2 of the batch" in str(info.value.__notes__)
  with pytest.raises(
    tf.errors.OpError, match=r"(?s)negative entry.*example 2 of the batch"
  ):
    tf.function(solver)(bad)
  with pytest.raises(ValueError, match="cannot be XLA-compiled"):
    tf.function(solver, jit_compile=True)(bad)
  with pytest.raises(ValueError, match="num_workers"):
    ptf.solvers.numpy_solver(fails_on_negative, num_workers=0)
  with pytest.raises(ValueError, match="executor"):
    ptf.solvers.numpy_solver(fails_on_negative, executor="gpu")
  with pytest.raises(ValueError, match="output_shape"):
    ptf.solvers.numpy_solver(lambda x: x[:1])(tf.ones([3, 2]))


def test_processes_match_the_tf_solver_everywhere(rng, process_solver):
  costs = rng.uniform(0.1, 3.0, size=(40, 6, 6)).astype(np.float32)
  expected = solvers.shortest_path(costs)
  np.testing.assert_array_equal(process_solver(costs), expected)
  np.testing.assert_array_equal(tf.function(process_solver)(costs), expected)
  kwargs = dict(num_samples=5, sigma=0.3, seed=1)
  floored = functools.partial(solvers.shortest_path, min_cost=0.0)
  np.testing.assert_array_equal(
    ptf.ops.perturbed(process_solver, **kwargs)(costs[:4]),
    ptf.ops.perturbed(floored, **kwargs)(costs[:4]),
  )
  pool = process_solver._pool
  process_solver(costs)
  assert process_solver._pool is pool  # Created once, reused.


def test_processes_train_a_model_as_the_tf_solver_does(rng, process_solver):
  costs = rng.uniform(0.5, 2.0, size=(60, 6, 6)).astype(np.float32)
  paths = solvers.shortest_path(costs).numpy()

  def fit(solver):
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
      [
        keras.Input((36,)),
        keras.layers.Dense(36, "softplus"),
        # Costs of at least 0.5 under noise of scale 0.1: none is floored
        # at 0, where paths tie and each solver may pick another of them.
        keras.layers.Rescaling(1.0, offset=0.5),
        keras.layers.Reshape((6, 6)),
      ]
    )
    model.compile(
      keras.optimizers.Adam(1e-2),
      jit_compile=False,
      loss=ptf.losses.FenchelYoungLoss(solver, 3, 0.1, maximize=False, seed=0),
    )
    return model.fit(
      costs.reshape(60, 36),
      paths,
      epochs=3,
      batch_size=20,
      verbose=0,
      shuffle=False,
    ).history["loss"]

  losses = fit(process_solver)
  np.testing.assert_allclose(
    losses,
    fit(functools.partial(solvers.shortest_path, min_cost=0.0)),
    rtol=1e-5,
  )
  assert losses[-1] < losses[0]


def test_processes_reraise_the_solver_error_with_its_example():
  solver = ptf.solvers.numpy_solver(
    fails_on_negative, executor="processes", num_workers=2
  )
  bad = np.ones((9, 2), np.float32)
  bad[6, 1] = -1.0
  with pytest.raises(ArithmeticError, match="negative entry") as info:
    solver(bad)
  assert "example 6 of the batch" in str(info.value.__notes__)
  np.testing.assert_array_equal(solver(-bad[6:7] + 2), [[1.0, 3.0]])
  solver.close()


def test_a_crashing_worker_names_its_example_and_the_pool_restarts():
  solver = ptf.solvers.numpy_solver(
    dies_on_negative, executor="processes", num_workers=2
  )
  bad = np.ones((10, 3), np.float32)
  bad[7, 2] = -1.0
  with pytest.raises(
    ptf.solvers.WorkerCrashError, match="example 7 of the batch"
  ):
    solver(bad)
  np.testing.assert_array_equal(solver(np.abs(bad)), np.abs(bad))
  solver.close()


@pytest.mark.slow
def test_workers_dying_at_start_up_name_the_missing_main_guard(tmp_path):
  # A script without `if __name__ == "__main__":` makes every spawned
  # worker run it again while importing it, and die there.
  script = tmp_path / "unguarded.py"
  script.write_text(
    "import numpy as np\n"
    "import perturbations_tf as ptf\n"
    "def solve(x):\n"
    "  return x\n"
    "solver = ptf.solvers.numpy_solver(\n"
    "  solve, executor='processes', num_workers=1)\n"
    "try:\n"
    "  solver(np.ones((4, 2), np.float32))\n"
    "except ptf.solvers.WorkerCrashError as error:\n"
    "  print('CRASH:', error)\n",
    encoding="utf-8",
  )
  result = subprocess.run(
    [sys.executable, str(script)],
    cwd=tmp_path,
    capture_output=True,
    text=True,
    timeout=600,
    check=False,
  )
  assert "CRASH:" in result.stdout, result.stderr[-3000:]
  assert "die at start-up" in result.stdout
  assert 'if __name__ == "__main__":' in result.stdout
  assert str(script) in result.stdout


def test_unpicklable_solver_gets_a_clear_error():
  with pytest.raises(ValueError, match="module-level function"):
    ptf.solvers.numpy_solver(lambda x: x, executor="processes")

  def local(x):
    return x

  with pytest.raises(ValueError, match="executor='threads'"):
    ptf.solvers.numpy_solver(local, executor="processes")


@pytest.mark.slow
def test_dask_cluster_runs_solves_and_training_steps(rng):
  from dask import distributed

  costs = rng.uniform(0.5, 2.0, size=(30, 6, 6)).astype(np.float32)
  paths = solvers.shortest_path(costs).numpy()
  with (
    distributed.LocalCluster(
      n_workers=2,
      threads_per_worker=1,
      host="127.0.0.1",
      dashboard_address=None,
      processes=True,
    ) as cluster,
    distributed.Client(cluster) as client,
  ):
    solver = ptf.solvers.numpy_solver(
      python_shortest_path, num_workers=2, executor=client.get_executor()
    )
    np.testing.assert_array_equal(solver(costs), paths)
    kwargs = dict(num_samples=4, sigma=0.2, seed=0)
    floored = functools.partial(solvers.shortest_path, min_cost=0.0)
    np.testing.assert_array_equal(
      tf.function(ptf.ops.perturbed(solver, **kwargs))(costs),
      ptf.ops.perturbed(floored, **kwargs)(costs),
    )
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
      [keras.Input((36,)), keras.layers.Dense(36), keras.layers.Reshape((6, 6))]
    )
    model.compile(
      keras.optimizers.Adam(1e-2),
      jit_compile=False,
      loss=ptf.losses.FenchelYoungLoss(solver, 3, 0.1, maximize=False),
    )
    history = model.fit(
      costs.reshape(30, 36), paths, epochs=2, batch_size=10, verbose=0
    )
    assert np.isfinite(history.history["loss"]).all()
    # Errors come back from the cluster with the example named.
    bad = np.ones((4, 2), np.float32)
    bad[3, 0] = -1.0
    with pytest.raises(ArithmeticError, match="negative entry") as info:
      ptf.solvers.numpy_solver(
        fails_on_negative, num_workers=2, executor=client.get_executor()
      )(bad)
    assert "example 3 of the batch" in str(info.value.__notes__)


class TestOneExampleCompositions:
  """`numpy_solver` already maps one-example solves over rows: composing it
  with `batched=False` pieces calls `fn` on one example, never on scalars."""

  THETA = np.array([[0.3, 1.2, -0.4, 0.9]], np.float32)

  @pytest.mark.parametrize("executor", ["threads", "processes"])
  def test_perturbed(self, executor):
    solver = ptf.solvers.numpy_solver(one_hot_argmax, executor=executor)
    kwargs = dict(num_samples=50, sigma=0.5, batched=False, seed=2)
    with tf.GradientTape(persistent=True) as tape:
      theta = tf.constant(self.THETA)
      tape.watch(theta)
      ours = ptf.ops.perturbed(solver, **kwargs)(theta)
      reference = ptf.ops.perturbed(solvers.argmax, **kwargs)(theta)
      ours_1, reference_1 = ours[0, 1], reference[0, 1]
    np.testing.assert_allclose(ours, reference)
    gradient = tape.gradient(ours_1, theta)
    assert np.abs(gradient).max() > 0
    np.testing.assert_allclose(
      gradient, tape.gradient(reference_1, theta), rtol=1e-5
    )
    solver.close()

  def test_fenchel_young_and_layer(self):
    solver = ptf.solvers.numpy_solver(one_hot_argmax)
    y = tf.constant([[0.0, 1.0, 0.0, 0.0]])
    kwargs = dict(num_samples=20, sigma=0.5, batched=False, seed=0)
    np.testing.assert_allclose(
      ptf.losses.fenchel_young_loss(y, self.THETA, solver, **kwargs),
      ptf.losses.fenchel_young_loss(y, self.THETA, solvers.argmax, **kwargs),
      rtol=1e-6,
    )
    layer = ptf.layers.Perturbed(
      solver, num_samples=20, sigma=0.5, batched=False, seed=0
    )
    reference = ptf.layers.Perturbed(
      solvers.argmax, num_samples=20, sigma=0.5, batched=False, seed=0
    )
    np.testing.assert_allclose(layer(self.THETA), reference(self.THETA))


def test_serialises_with_a_registered_solver():
  fn = keras.saving.register_keras_serializable("tests")(one_hot_argmax)
  solver = ptf.solvers.numpy_solver(
    functools.partial(fn), output_dtype="float32", num_workers=2
  )
  layer = ptf.layers.Perturbed(solver, num_samples=4, sigma=0.5)
  restored = serialization.round_trip(layer).solver
  assert isinstance(restored, ptf.solvers.NumpySolver)
  assert (restored.executor, restored.num_workers) == ("threads", 2)
  x = np.array([[0.1, 0.5, 0.2]], np.float32)
  np.testing.assert_array_equal(restored(x), [[0.0, 1.0, 0.0]])


def run_python(code):
  """Runs `code` in a fresh interpreter at the repository's root."""
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  return subprocess.run(
    [sys.executable, "-c", code],
    cwd=root,
    capture_output=True,
    text=True,
    check=False,
  )


def test_process_pool_ends_cleanly_at_exit():
  result = run_python(
    "import numpy as np, perturbations_tf as ptf\n"
    "from experiments import dijkstra\n"
    "if __name__ == '__main__':\n"
    "  solver = ptf.solvers.numpy_solver(\n"
    "    dijkstra.path_mask, executor='processes', num_workers=2)\n"
    "  print(solver(np.ones((4, 3, 3), np.float32)).numpy().sum())\n"
  )
  assert result.returncode == 0, result.stderr
  assert result.stdout.strip().endswith("12.0")


def test_default_import_path_needs_no_extras():
  # TensorFlow itself imports scipy where it is installed: what counts is
  # what this package adds to it.
  result = run_python(
    "import sys, tensorflow, keras\n"
    "before = set(sys.modules)\n"
    "import perturbations_tf as ptf\n"
    "ptf.ops.perturbed(ptf.solvers.ranks, 4, 0.1)([[0.3, 0.1]])\n"
    "print(sorted(m for m in set(sys.modules) - before"
    " if m.split('.')[0] in ('dask', 'distributed', 'scipy')))\n"
  )
  assert result.returncode == 0, result.stderr
  assert result.stdout.strip().endswith("[]")


def running(pid: int) -> bool:
  """Whether a process runs (a zombie, waiting to be reaped, does not)."""
  try:
    with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
      return f.read().rsplit(")", 1)[1].split()[0] != "Z"
  except FileNotFoundError:
    return False


def test_worker_processes_end_when_their_parent_is_killed(tmp_path):
  # A pre-empted job (SIGKILL) must not leave workers solving on as orphans.
  code = (
    "import os, signal, multiprocessing\n"
    "import numpy as np, perturbations_tf as ptf\n"
    "from experiments import dijkstra\n"
    "if __name__ == '__main__':\n"
    "  solver = ptf.solvers.numpy_solver(\n"
    "    dijkstra.path_mask, executor='processes', num_workers=2)\n"
    "  solver(np.ones((4, 3, 3), np.float32))\n"
    "  print(' '.join(str(p.pid) for p in multiprocessing.active_children()),"
    " flush=True)\n"
    "  os.kill(os.getpid(), signal.SIGKILL)\n"
  )
  # Output to a file, not a pipe: orphans would hold a pipe open.
  with open(tmp_path / "out", "w", encoding="utf-8") as out:
    result = subprocess.run(
      [sys.executable, "-c", code],
      stdout=out,
      stderr=subprocess.STDOUT,
      cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
      timeout=300,
      check=False,
    )
  output = (tmp_path / "out").read_text(encoding="utf-8")
  assert result.returncode == -signal.SIGKILL, output
  workers = [int(pid) for pid in output.split()[-2:]]
  deadline = time.monotonic() + 30
  while any(map(running, workers)) and time.monotonic() < deadline:
    time.sleep(0.2)
  alive = [pid for pid in workers if running(pid)]
  for pid in alive:  # Do not leave them to the next tests.
    os.kill(pid, signal.SIGKILL)
  assert not alive, f"orphaned workers still running: {alive}"
