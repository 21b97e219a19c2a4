"""Tests of the Keras layers: values, seeds, serialisation, fit, XLA, mixed
precision and MirroredStrategy."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import perturbations_tf as ptf
from perturbations_tf import solvers
from tests import serialization

LOGITS = np.array([[1.0, 2.0, 0.5, -0.3], [0.2, 0.1, 0.0, 0.4]], np.float32)

LAYERS = [
  ptf.layers.PerturbedArgmax(num_samples=20, sigma=0.5, seed=1),
  ptf.layers.PerturbedTopK(k=2, num_samples=20, sigma=0.5, seed=1),
  ptf.layers.PerturbedRanks(num_samples=20, sigma=0.5, seed=1, antithetic=True),
  ptf.layers.PerturbedSort("DESCENDING", num_samples=20, sigma=0.5, seed=1),
  ptf.layers.Perturbed(
    "ranks",
    num_samples=20,
    sigma=0.5,
    noise="gumbel",
    control_variate=False,
    seed=1,
  ),
  ptf.layers.Perturbed(
    solvers.argmax, num_samples=20, sigma=0.5, batched=False, seed=1
  ),
]


def test_perturbed_argmax_layer_is_softmax_with_gumbel_noise():
  layer = ptf.layers.PerturbedArgmax(
    num_samples=20000, sigma=0.5, noise="gumbel", seed=0
  )
  np.testing.assert_allclose(
    layer(LOGITS), tf.nn.softmax(LOGITS / 0.5), atol=5 * 0.5 / np.sqrt(20000)
  )


@pytest.mark.parametrize("layer", LAYERS, ids=lambda layer: layer.name)
def test_config_round_trip_seeds_and_gradients(layer):
  clone = serialization.round_trip(layer)
  np.testing.assert_array_equal(
    clone(LOGITS, training=True), layer(LOGITS, training=True)
  )
  # Seeded: the clone draws the same sequence; each training call draws new
  # noise; inference is the same on every call.
  first, second = layer(LOGITS, training=True), layer(LOGITS, training=True)
  assert not np.array_equal(first, second)
  np.testing.assert_array_equal(layer(LOGITS), layer(LOGITS))
  np.testing.assert_array_equal(clone(LOGITS), layer(LOGITS))
  theta = tf.constant(LOGITS)
  with tf.GradientTape() as tape:
    tape.watch(theta)
    out = tf.reduce_sum(layer(theta, training=True) * tf.range(4.0))
  assert np.any(tape.gradient(out, theta).numpy() != 0)


def test_seeded_layers_reproduce_and_unseeded_differ_in_training():
  a = ptf.layers.PerturbedRanks(num_samples=8, sigma=0.5, seed=3)
  b = ptf.layers.PerturbedRanks(num_samples=8, sigma=0.5, seed=3)
  for _ in range(3):
    np.testing.assert_array_equal(
      a(LOGITS, training=True), b(LOGITS, training=True)
    )
  c = ptf.layers.PerturbedRanks(num_samples=8, sigma=0.5)
  d = ptf.layers.PerturbedRanks(num_samples=8, sigma=0.5)
  assert not np.array_equal(c(LOGITS, training=True), d(LOGITS, training=True))


def test_inference_is_deterministic_smoothed_or_exact():
  layer = ptf.layers.PerturbedRanks(num_samples=8, sigma=0.5, seed=0)
  smoothed = layer(LOGITS, training=False)
  for _ in range(3):
    layer(LOGITS, training=True)  # Training moves the seed generator...
    np.testing.assert_array_equal(layer(LOGITS), smoothed)  # ...not this.
  # The same perturbed mean as in training, with noise fixed by the seed.
  np.testing.assert_array_equal(
    smoothed, ptf.ops.perturbed(solvers.ranks, 8, 0.5, seed=0)(LOGITS)
  )
  assert not np.array_equal(smoothed, solvers.ranks(LOGITS))
  exact = ptf.layers.PerturbedRanks(
    num_samples=8, sigma=0.5, seed=0, inference="exact"
  )
  np.testing.assert_array_equal(
    exact(LOGITS, training=False), solvers.ranks(LOGITS)
  )
  assert not np.array_equal(exact(LOGITS, training=True), solvers.ranks(LOGITS))
  with pytest.raises(ValueError, match="inference must be one of"):
    ptf.layers.PerturbedRanks(inference="random")


def test_shortest_path_layer_defaults_to_multiplicative_and_floors():
  costs = np.random.default_rng(0).uniform(0.5, 2.0, (3, 6, 6))
  layer = ptf.layers.PerturbedShortestPath(num_samples=50, sigma=0.2, seed=0)
  assert layer.get_config()["perturbation"] == "multiplicative"
  paths = layer(costs.astype(np.float32)).numpy()
  assert np.all((paths >= 0) & (paths <= 1))
  np.testing.assert_allclose(paths[:, 0, 0], 1.0)
  additive = ptf.layers.PerturbedShortestPath(
    4, num_samples=50, sigma=5.0, seed=0, perturbation="additive"
  )
  assert np.all(np.isfinite(additive(costs)))  # min_cost=0 floors noise.
  strict = ptf.layers.PerturbedShortestPath(
    num_samples=50, sigma=5.0, seed=0, perturbation="additive", min_cost=None
  )
  with pytest.raises(tf.errors.InvalidArgumentError, match="non-negative"):
    strict(costs)
  with pytest.raises(ValueError, match="connectivity"):
    ptf.layers.PerturbedShortestPath(connectivity=3)
  with pytest.raises(tf.errors.InvalidArgumentError, match="needs theta > 0"):
    ptf.layers.PerturbedShortestPath(num_samples=4)(-costs)


def test_linear_maximiser_layers_symmetrize_by_default():
  assert ptf.layers.PerturbedArgmax().get_config()["symmetrize"]
  assert ptf.layers.PerturbedRanks(noise="gumbel").get_config()["symmetrize"]
  assert not ptf.layers.PerturbedSort().get_config()["symmetrize"]
  assert not ptf.layers.PerturbedShortestPath().get_config()["symmetrize"]
  assert ptf.layers.PerturbedShortestPath(perturbation="additive").get_config()[
    "symmetrize"
  ]
  assert not ptf.layers.Perturbed("argmax").get_config()["symmetrize"]


def test_layer_validates_options_at_construction():
  with pytest.raises(ValueError, match="num_samples"):
    ptf.layers.PerturbedArgmax(num_samples=0)
  with pytest.raises(ValueError, match="Unknown solver"):
    ptf.layers.Perturbed("hungarian")
  with pytest.raises(ValueError, match="direction"):
    ptf.layers.PerturbedSort("UP")


def _ranking_model(seed=0):
  """Scores and their perturbed ranks; FY loss on scores, MSE on ranks."""
  inputs = keras.Input((6,))
  scores = keras.layers.Dense(4, name="scores")(inputs)
  soft_ranks = ptf.layers.PerturbedRanks(
    num_samples=16, sigma=0.5, seed=seed, name="ranks"
  )(scores)
  model = keras.Model(inputs, {"scores": scores, "ranks": soft_ranks})
  return model


def _ranking_data(n=64):
  rng = np.random.default_rng(0)
  x = rng.normal(size=(n, 6)).astype(np.float32)
  w = rng.normal(size=(6, 4)).astype(np.float32)
  ranks = solvers.ranks(tf.constant(x @ w)).numpy()
  return x, {"scores": ranks, "ranks": ranks}


def _compile(model, **kwargs):
  model.compile(
    keras.optimizers.Adam(0.05),
    loss={
      "scores": ptf.losses.FenchelYoungLoss("ranks", 8, 0.5, seed=0),
      "ranks": "mse",
    },
    metrics={"scores": [ptf.metrics.SpearmanCorrelation()]},
    **kwargs,
  )


def test_model_with_layers_saves_loads_and_predicts_the_same(tmp_path):
  keras.utils.set_random_seed(0)
  model = _ranking_model()
  _compile(model, jit_compile=False)
  x, y = _ranking_data()
  model.fit(x, y, epochs=1, batch_size=16, verbose=0)
  path = str(tmp_path / "model.keras")
  model.save(path)
  loaded = keras.models.load_model(path)
  assert isinstance(loaded.loss["scores"], ptf.losses.FenchelYoungLoss)
  expected, restored = model.predict(x, verbose=0), loaded.predict(x, verbose=0)
  # Inference is deterministic: the same predictions on every call and
  # after loading, bit for bit.
  np.testing.assert_array_equal(
    model.predict(x, verbose=0)["ranks"], expected["ranks"]
  )
  np.testing.assert_array_equal(restored["ranks"], expected["ranks"])
  np.testing.assert_array_equal(restored["scores"], expected["scores"])


@pytest.mark.parametrize(
  "policy", ["float32", "mixed_float16", "mixed_bfloat16"]
)
def test_fit_evaluate_predict_under_xla_and_mixed_precision(policy):
  keras.utils.set_random_seed(0)
  keras.mixed_precision.set_global_policy(policy)
  try:
    model = _ranking_model()
    _compile(model, jit_compile=True)
    x, y = _ranking_data()
    history = model.fit(x, y, epochs=3, batch_size=16, verbose=0)
    results = model.evaluate(x, y, verbose=0, return_dict=True)
    predictions = model.predict(x, verbose=0)
  finally:
    keras.mixed_precision.set_global_policy("float32")
  assert np.isfinite(results["loss"])
  assert history.history["loss"][-1] < history.history["loss"][0]
  assert predictions["ranks"].shape == (64, 4)


def test_mirrored_strategy_on_two_cpus():
  devices = [d.name for d in tf.config.list_logical_devices("CPU")][:2]
  assert len(devices) == 2
  strategy = tf.distribute.MirroredStrategy(devices)
  keras.utils.set_random_seed(0)
  with strategy.scope():
    model = _ranking_model()
    _compile(model)
  x, y = _ranking_data()
  history = model.fit(x, y, epochs=3, batch_size=16, verbose=0)
  assert history.history["loss"][-1] < history.history["loss"][0]
  assert model.predict(x, verbose=0)["ranks"].shape == (64, 4)
