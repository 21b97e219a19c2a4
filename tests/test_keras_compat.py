"""With a GPU visible, Keras's default `jit_compile='auto'` must leave a model
whose loss or metrics hold a host solver out of XLA (and still choose XLA
when every solver is TF-native). TensorFlow is made to report a GPU."""

import warnings

import keras
from keras.src.trainers import trainer as keras_trainer
import numpy as np
import pytest
import tensorflow as tf

import perturbations_tf as ptf

# A production plan: max profitᵀx s.t. resources·x ≤ capacity, 0 ≤ x ≤ 1.
PLAN = dict(
  A_ub=[[3.0, 4.0, 5.0], [1.0, 1.0, 1.0]],
  b_ub=[10.0, 2.5],
  bounds=(0, 1),
  maximize=True,
)


@pytest.fixture
def visible_gpu(monkeypatch):
  """TensorFlow lists a GPU (Keras asks it when resolving 'auto')."""
  real = tf.config.list_physical_devices
  gpu = tf.config.PhysicalDevice("/physical_device:GPU:0", "GPU")

  def list_physical_devices(device_type=None):
    devices = real(device_type) if device_type != "GPU" else []
    return devices + ([gpu] if device_type in (None, "GPU") else [])

  monkeypatch.setattr(tf.config, "list_physical_devices", list_physical_devices)


def _data(rng):
  x = rng.normal(size=(64, 4)).astype(np.float32)
  profits = np.abs(x @ rng.normal(size=(4, 3))).astype(np.float32) + 0.1
  return x, profits


def _model():
  return keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])


def test_a_host_solver_in_the_loss_or_a_metric_keeps_fit_out_of_xla(
  visible_gpu, rng
):
  del visible_gpu
  plan = ptf.solvers.LinearProgram(**PLAN)
  x, profits = _data(rng)
  for loss, metrics in (
    (ptf.losses.SPOPlusLoss(plan), []),
    ("mse", [ptf.metrics.NormalizedRegret(plan)]),
  ):
    model = _model()
    model.compile("adam", loss=loss, metrics=metrics)  # jit_compile="auto".
    assert model.jit_compile is False
    history = model.fit(x, profits, epochs=2, batch_size=16, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
  # Asked for explicitly, XLA is refused with Keras's warning, not a crash.
  model = _model()
  with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    model.compile("adam", loss=ptf.losses.SPOPlusLoss(plan), jit_compile=True)
  assert model.jit_compile is False
  assert any("jit_compile" in str(w.message) for w in caught)
  model.fit(x, profits, epochs=1, batch_size=16, verbose=0)
  plan.close()


def test_tf_native_solvers_still_get_xla(visible_gpu, rng):
  del visible_gpu
  x, _ = _data(rng)
  knapsack = ptf.solvers.Knapsack([[3.0, 4.0, 5.0]], [8.0])
  values = np.abs(x @ rng.normal(size=(4, 3))).astype(np.float32)
  model = _model()
  model.compile(
    "adam",
    loss=ptf.losses.SPOPlusLoss(knapsack),
    metrics=[ptf.metrics.NormalizedRegret(knapsack)],
  )
  assert model.jit_compile is True
  history = model.fit(x, values, epochs=2, batch_size=16, verbose=0)
  assert np.isfinite(history.history["loss"]).all()


def test_keras_alone_still_ignores_losses():
  # When this fails, Keras consults losses and metrics itself: remove
  # perturbations_tf._src.keras_compat and this test.
  original = keras_trainer.model_supports_jit.original
  plan = ptf.solvers.LinearProgram(**PLAN)
  model = _model()
  model.compile("adam", loss=ptf.losses.SPOPlusLoss(plan), jit_compile=False)
  assert not ptf.losses.SPOPlusLoss(plan).supports_jit
  assert original(model) is True  # Keras would compile the step.
  assert keras_trainer.model_supports_jit(model) is False
  plan.close()


def test_models_without_the_library_are_left_to_keras():
  class HostLoss(keras.losses.Loss):  # Not the library's: not consulted.
    supports_jit = False

    def call(self, y_true, y_pred):
      return tf.reduce_mean(tf.square(y_true - y_pred), -1)

  model = _model()
  model.compile("adam", loss=HostLoss(), jit_compile=False)
  original = keras_trainer.model_supports_jit.original
  assert keras_trainer.model_supports_jit(model) is original(model) is True


def test_subclasses_of_the_librarys_losses_are_consulted():
  class MySPOPlus(ptf.losses.SPOPlusLoss):
    pass

  plan = ptf.solvers.LinearProgram(**PLAN)
  model = _model()
  model.compile("adam", loss=MySPOPlus(plan), jit_compile=False)
  assert keras_trainer.model_supports_jit(model) is False
  plan.close()
