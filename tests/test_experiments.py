"""End-to-end tests of the experiment binaries on tiny settings."""

import csv
import json
import os
import re
import socket
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from experiments import classification
from experiments import models
from experiments import plot
from experiments import predict_then_optimize
from experiments import ranking
from experiments import run_results
from experiments import shortest_path
from experiments import tables
from experiments import warcraft_data
import perturbations_tf as ptf
from tests import command_lines
from tests import mock_cifar

# The repository's binaries, benchmarks or documentation, beside the library.
pytestmark = pytest.mark.integration

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def tiny_path_config(tmp_path, **overrides):
  settings = dict(
    output_dir=str(tmp_path / "run"),
    synthetic_dir=str(tmp_path / "data"),
    num_train=40,
    num_val=10,
    num_test=10,
    grid_size=4,
    epochs=2,
    batch_size=10,
    verbose=0,
    learning_rate=1e-2,
  )
  settings.update(overrides)
  return shortest_path.Config(**settings)


def history_epochs(run_dir):
  with open(os.path.join(run_dir, "history.csv"), encoding="utf-8") as f:
    return [int(row["epoch"]) for row in csv.DictReader(f)]


@pytest.mark.parametrize(
  "loss,model",
  [
    ("fenchel_young", "small_cnn"),
    ("perturbed_squared", "small_cnn"),
    ("blackbox", "small_cnn"),
    ("cost_mse", "resnet18"),
  ],
)
def test_shortest_path_runs_end_to_end(tmp_path, loss, model):
  config = tiny_path_config(tmp_path, loss=loss, model=model)
  results = shortest_path.run(config)
  with open(
    os.path.join(config.output_dir, "results.json"), encoding="utf-8"
  ) as f:
    written = json.load(f)
  assert written["metrics"] == results["metrics"]
  assert written["config"]["loss"] == loss and written["wall_time_s"] > 0
  for split in ("val", "test"):
    metrics = written["metrics"][split]
    assert 0 <= metrics["perfect_path_accuracy"] <= 1
    assert metrics["cost_ratio"] >= 1 - 1e-6
  assert history_epochs(config.output_dir) == [0, 1]
  assert os.path.isdir(os.path.join(config.output_dir, "logs"))
  assert keras.models.load_model(
    os.path.join(config.output_dir, "checkpoint.keras")
  ).output_shape == (None, 4, 4)


def test_each_loss_keeps_its_own_cost_activation(tmp_path):
  # The blackbox recipe (Vlastelica et al.) feeds raw outputs to the solver,
  # floored at 0; a softplus would saturate under its scale-free loss.
  blackbox = tiny_path_config(tmp_path, loss="blackbox")
  assert shortest_path.cost_activation(blackbox) == "linear"
  fy = tiny_path_config(tmp_path)
  assert shortest_path.cost_activation(fy) == "softplus"
  forced = tiny_path_config(
    tmp_path, loss="blackbox", cost_activation="softplus"
  )
  assert shortest_path.cost_activation(forced) == "softplus"
  model = models.warcraft_small_cnn(4, "linear")
  assert model.get_layer(index=-2).get_config()["activation"] == "linear"
  # Negative raw costs are floored by the evaluation's solver, not rejected.
  paths = np.zeros((1, 2, 2), np.float32)
  paths[0, 0, 0] = paths[0, 1, 1] = 1.0
  metrics = shortest_path.path_metrics(
    -np.ones((1, 2, 2), np.float32), paths, np.ones((1, 2, 2), np.float32)
  )
  assert metrics["perfect_path_accuracy"] == 1.0
  assert metrics["floored_fraction"] == 1.0


def test_path_evaluation_stops_a_diverged_training():
  paths = np.zeros((3, 2, 2), np.float32)
  paths[:, 0, 0] = paths[:, 1, 1] = 1.0
  inputs = keras.Input((2, 2))
  model = keras.Model(
    inputs,
    keras.layers.Dense(
      2, kernel_initializer=keras.initializers.Constant(np.nan)
    )(inputs),
  )
  callback = shortest_path.PathEvaluation(
    {
      "maps": np.ones((3, 2, 2), np.float32),
      "shortest_paths": paths,
      "vertex_weights": np.ones_like(paths),
    },
    tolerance=1e-4,
    min_cost=0.0,
  )
  callback.set_model(model)
  logs = {}
  callback.on_epoch_end(0, logs)
  assert model.stop_training
  assert callback.divergence == {
    "epoch": 1,
    "reason": "100% of the validation maps get NaN or infinite costs",
  }
  assert logs["val_nonfinite_fraction"] == 1.0
  assert logs["val_perfect_path_accuracy"] == 0.0


class CollapseCosts(keras.callbacks.Callback):
  """As the second epoch begins (after the first's checkpoint), sets the
  cost layer to output `bias` everywhere: -1e4, so low that softplus
  underflows to exactly 0 (which a multiplicative perturbation rejects: it
  needs θ > 0), or NaN (which every solver rejects)."""

  def __init__(self, bias: float = -1e4):
    super().__init__()
    self.bias = bias

  def on_epoch_begin(self, epoch, logs=None):
    if epoch == 1:
      conv = [x for x in self.model.layers if "conv" in x.name][-1]
      kernel, bias = conv.get_weights()
      conv.set_weights([np.zeros_like(kernel), np.full_like(bias, self.bias)])


def test_a_network_outside_the_solvers_domain_ends_training(tmp_path):
  # The check raises mid-epoch; the binary stops there, scores the last
  # weights and records the divergence, as it does for NaN costs.
  config = tiny_path_config(
    tmp_path,
    loss="perturbed_squared",
    perturbation="multiplicative",
    sigma=0.3,
    epochs=3,
  )
  results = shortest_path.run(config, callbacks=[CollapseCosts()])
  assert history_epochs(config.output_dir) == [0]
  divergence = results["divergences"][""]
  assert set(results["divergences"]) == {""} and divergence["epoch"] == 2
  assert "perturbation='multiplicative' needs" in divergence["reason"]
  assert results["metrics"]["test"]["mean_cost"] == 0.0
  # The checkpoint is what was scored: the last weights, not the last epoch's.
  scored = shortest_path.evaluate_run(config.output_dir, "test")
  assert scored == results["metrics"]["test"]
  label = tables.warcraft_setting(results)
  assert label.endswith("diverged at epoch 2"), label


def test_a_network_with_nan_costs_ends_training(tmp_path):
  # The solver's finite-input check, the other divergence the binary records.
  config = tiny_path_config(tmp_path, epochs=3)
  results = shortest_path.run(config, callbacks=[CollapseCosts(np.nan)])
  assert history_epochs(config.output_dir) == [0]
  divergence = results["divergences"][""]
  assert divergence["epoch"] == 2
  assert "needs finite inputs" in divergence["reason"]
  assert results["metrics"]["test"]["nonfinite_fraction"] == 1.0


def test_a_nan_loss_ends_training_with_its_record(tmp_path):
  # Under XLA the solver's checks are compiled out: NaN costs show as a NaN
  # loss, which stops training at its first batch and is recorded too.
  config = tiny_path_config(tmp_path, epochs=3, jit_compile=True)
  results = shortest_path.run(config, callbacks=[CollapseCosts(np.nan)])
  assert results["divergences"] == {
    "": {"epoch": 2, "reason": "the training loss is nan at batch 1"}
  }
  assert tables.warcraft_setting(results).endswith("diverged at epoch 2")


def test_other_training_errors_still_raise(tmp_path):
  class Failing(keras.callbacks.Callback):
    def on_train_batch_begin(self, batch, logs=None):
      raise tf.errors.InvalidArgumentError(None, None, "shapes differ")

  config = tiny_path_config(tmp_path)
  with pytest.raises(tf.errors.InvalidArgumentError, match="shapes differ"):
    shortest_path.run(config, callbacks=[Failing()])


def test_path_metrics_count_diverged_maps_as_wrong():
  paths = np.zeros((2, 2, 2), np.float32)
  paths[:, 0, 0] = paths[:, 1, 1] = 1.0
  costs = np.ones((2, 2, 2), np.float32)
  costs[1, 0, 1] = np.nan
  metrics = shortest_path.path_metrics(costs, paths, np.ones_like(costs))
  assert metrics["perfect_path_accuracy"] == 0.5
  assert metrics["nonfinite_fraction"] == 0.5
  assert metrics["cost_ratio"] == 1.0 and metrics["mean_cost"] == 1.0


@pytest.mark.parametrize("executor", ["threads", "processes"])
def test_shortest_path_with_the_python_solver_and_a_cache(tmp_path, executor):
  config = tiny_path_config(
    tmp_path,
    solver="python",
    executor=executor,
    num_workers=2,
    jit_compile=False,
    solve_fraction=0.5,
  )
  results = shortest_path.run(config)
  calls = results["metrics"]["train_solver"]
  # 40 maps · M = 3 rows an epoch, in batches of 30 rows: 15 exact each.
  assert calls["total_rows"] == 2 * 40 * 3
  assert calls["exact_rows"] == 2 * 4 * 15
  model = keras.models.load_model(
    os.path.join(config.output_dir, "checkpoint.keras")
  )
  loss = model.loss.solver
  assert isinstance(loss, ptf.solvers.SolutionCache)
  assert isinstance(loss.solver, ptf.solvers.NumpySolver)


def test_same_seed_same_metrics(tmp_path):
  first = shortest_path.run(tiny_path_config(tmp_path / "a"))["metrics"]
  second = shortest_path.run(tiny_path_config(tmp_path / "b"))["metrics"]
  assert first == second


class Interrupt(keras.callbacks.Callback):
  """Simulates a crash at the end of an epoch, before it is backed up."""

  def __init__(self, epoch):
    super().__init__()
    self.epoch = epoch

  def on_epoch_end(self, epoch, logs=None):
    if epoch == self.epoch:
      raise KeyboardInterrupt("simulated preemption")


def test_rerun_after_interruption_resumes_at_next_epoch(tmp_path):
  config = tiny_path_config(tmp_path, epochs=3)
  with pytest.raises(KeyboardInterrupt):
    shortest_path.run(config, callbacks=[Interrupt(1)])
  assert not os.path.exists(os.path.join(config.output_dir, "results.json"))
  shortest_path.run(config)
  assert history_epochs(config.output_dir) == [0, 1, 2]  # Epoch 0 not redone.
  model = keras.models.load_model(
    os.path.join(config.output_dir, "checkpoint.keras")
  )
  steps = 3 * 40 // 10  # The optimizer's state was restored, not reset.
  assert int(model.optimizer.iterations.numpy()) == steps


def test_warcraft_loader_checks_files_and_shapes(tmp_path):
  folder = warcraft_data.synthetic_dir(str(tmp_path), 4, (6, 2, 2), seed=0)
  data = warcraft_data.load_split(folder, "train", 4)
  assert data["maps"].shape == (6, 32, 32, 3) and data["maps"].dtype == np.uint8
  # Labels are exact shortest paths of the vertex weights.
  from experiments import dijkstra

  for weights, path in zip(data["vertex_weights"], data["shortest_paths"]):
    assert np.isclose(
      np.sum(weights * path),
      dijkstra.shortest_path(weights.astype(np.float64))[1],
    )
  with pytest.raises(
    ValueError,
    match=r"has shape \(6, 32, 32, 3\), "
    r"expected \(6, 48, 48, 3\) for --grid_size=6",
  ):
    warcraft_data.load_split(folder, "train", 6)
  os.remove(os.path.join(folder, "val_maps.npy"))
  with pytest.raises(FileNotFoundError, match="val_maps.npy"):
    warcraft_data.load_split(folder, "val", 4)


@pytest.mark.parametrize("loss", ranking.LOSSES)
def test_ranking_runs_end_to_end(tmp_path, loss):
  config = ranking.Config(
    output_dir=str(tmp_path),
    num_instances=60,
    num_items=8,
    dim=3,
    noise_levels=[0.0, 1.0],
    loss=loss,
    num_samples=10,
    epochs=3,
    batch_size=16,
    learning_rate=0.05,
    verbose=0,
  )
  results = ranking.run(config)["metrics"]
  metrics = results["runs"]
  runs = {f"{loss}/noise_{level}": level for level in (0, 1)}
  assert set(metrics) == set(runs) == set(results["summary"])
  for run in runs:
    assert set(metrics[run]) == {"train", "test", "test_clean", "model"}
    assert history_epochs(tmp_path / run) == [0, 1, 2]
    assert metrics[run]["model"]["learning_rate"] == 0.05
    assert 0 < metrics[run]["model"]["relative_gradient_norm"]
  clean, noisy = metrics[f"{loss}/noise_0"], metrics[f"{loss}/noise_1"]
  assert clean["test"]["spearman"] > 0.5
  assert clean["model"]["one_minus_cosine"] < 0.5
  # The Fenchel–Young theory's norm ε/σ, where σ > 0; the squared loss's
  # distance to its exact minimiser.
  assert ("norm_theory" in noisy["model"]) == (loss == "fenchel_young")
  assert "norm_theory" not in clean["model"]
  assert ("least_squares_gap" in noisy["model"]) == (
    loss in ("squared", "centred_squared")
  )
  # Without noise the two test scorings coincide; with it, the noise-free
  # ranking is what the model can recover, the noisy labels are not.
  for name, value in clean["test"].items():
    if name != "loss":  # The perturbed losses draw fresh noise each time.
      assert clean["test_clean"][name] == value
  assert noisy["test_clean"]["spearman"] > noisy["test"]["spearman"]
  assert 0 < noisy["test_clean"]["projection_accuracy"] <= 1


def test_ranking_sweeps_name_every_run():
  config = ranking.Config(
    sweep_losses=["fenchel_young", "squared", "soft_rank_kl"],
    noise_levels=[0.0, 2.0],
    sweep_sigma_ratios=[0.5, 2],
    sweep_num_samples=[10, 1000],
    regularization_strength=0.03,
    num_seeds=2,
    seed=5,
  )
  runs = config.runs()
  # ε = ratio · max(σ, 0.25); the squared loss has no ε or M.
  assert runs["fenchel_young/noise_0/sigma_0.125/M_10/seed_5"] == (
    ranking.RunSpec("fenchel_young", 0.0, 0.125, 10, 5)
  )
  assert runs["fenchel_young/noise_2/sigma_4/M_1000/seed_6"] == (
    ranking.RunSpec("fenchel_young", 2.0, 4.0, 1000, 6)
  )
  assert runs["squared/noise_2/seed_6"] == ranking.RunSpec(
    "squared", 2.0, 1.0, 100, 6
  )
  # The soft-rank losses: their own ε, neither swept nor sampled.
  assert runs["soft_rank_kl/noise_2/seed_6"] == ranking.RunSpec(
    "soft_rank_kl", 2.0, 0.03, 100, 6
  )
  assert len(runs) == 2 * 2 * 2 * 2 + 2 * 2 * 2  # FY: levels·ε·M·seeds.
  assert ranking.setting("fenchel_young/noise_2/sigma_4/M_10/seed_6") == (
    "fenchel_young/noise_2/sigma_4/M_10"
  )


def test_least_squares_direction_error_is_brillingers_prediction():
  # Least squares on the ranks of noisy projections, as in the ranking
  # study: over many draws, the mean 1 − cos(w, w0) is the prediction's.
  rng = np.random.default_rng(0)
  num_train, num_items, dim, draws = 20, 50, 9, 400
  w0 = rng.normal(size=dim)
  w0 /= np.linalg.norm(w0)
  measured, predicted = [], []
  for _ in range(draws):
    x = rng.normal(size=(num_train, num_items, dim))
    noisy = x @ w0 + rng.normal(size=(num_train, num_items))
    y = np.argsort(np.argsort(noisy, axis=-1), axis=-1).astype(float)
    features, targets = x.reshape(-1, dim), y.reshape(-1)
    w = np.linalg.lstsq(features, targets, rcond=None)[0]
    mse = np.mean((features @ w - targets) ** 2)
    norm = np.linalg.norm(w)
    measured.append(1 - w @ w0 / norm)
    predicted.append(
      run_results.least_squares_one_minus_cosine(
        mse, norm, num_train, num_items, dim
      )
    )
  # 1 − cos is a scaled χ² with d − 1 degrees of freedom per draw: its
  # mean over the draws is within four standard errors of the prediction.
  standard_error = np.std(measured) / np.sqrt(draws)
  assert abs(np.mean(measured) - np.mean(predicted)) < 4 * standard_error
  assert standard_error < 0.05 * np.mean(predicted)


@pytest.mark.slow
def test_ranking_recovers_w0_with_the_fenchel_young_theorys_norm(tmp_path):
  """Labels are ranks of <w0, x> + σZ: the Fenchel–Young loss of scale ε is
  well specified, its minimiser is w0·ε/σ. Learning rates are selected on
  validation (1e-4 barely moves), and the squared loss ends at its exact
  least-squares minimiser (optimisation error below statistical error)."""
  config = ranking.Config(
    output_dir=str(tmp_path),
    num_instances=1500,
    num_items=10,
    dim=3,
    noise_levels=[1.0],
    sweep_losses=["fenchel_young", "squared"],
    num_samples=20,
    sigma=0.5,
    num_seeds=2,
    epochs=12,
    batch_size=32,
    select_learning_rates=[1e-4, 0.1, 1.0],
    verbose=0,
  )
  results = ranking.run(config)["metrics"]
  for loss in config.losses:
    validation = results["selection"][loss]
    assert set(validation) == {"0.0001", "0.1", "1"}
    chosen = results["learning_rates"][loss]
    assert validation[f"{chosen:g}"] == min(validation.values())
    assert chosen != 1e-4
  runs, summary = results["runs"], results["summary"]
  fy = summary["fenchel_young/noise_1"]["model"]
  assert fy["norm"]["values"] == [
    runs[f"fenchel_young/noise_1/seed_{s}"]["model"]["norm"] for s in (0, 1)
  ]
  assert fy["norm_theory"]["mean"] == 0.5
  # 1,200 training instances of 10 items: the norm within 10% of ε/σ.
  assert abs(fy["norm"]["mean"] - 0.5) < 0.05
  assert fy["one_minus_cosine"]["mean"] < 2e-3
  assert fy["relative_gradient_norm"]["mean"] < 0.1
  squared = summary["squared/noise_1"]["model"]
  assert squared["one_minus_cosine"]["mean"] < 2e-3
  assert squared["least_squares_gap"]["mean"] < (
    0.5 * squared["one_minus_cosine"]["mean"]
  )
  # The ranks' scale: the regression of ranks 0…9 on <w, x> is far from 1.
  assert squared["norm"]["mean"] > 1.5


def test_ranking_sweep_over_losses_resumes(tmp_path):
  config = ranking.Config(
    output_dir=str(tmp_path),
    num_instances=40,
    num_items=6,
    dim=3,
    noise_levels=[0.0, 0.5],
    sweep_losses=["squared", "fenchel_young"],
    num_samples=5,
    epochs=1,
    batch_size=16,
    verbose=0,
  )
  first = ranking.run(config)["metrics"]
  assert set(first["runs"]) == {
    f"{loss}/noise_{level:g}"
    for level in (0, 0.5)
    for loss in ("squared", "fenchel_young")
  }
  # A finished run is read back, not trained again (same numbers, no
  # second epoch in its history).
  assert ranking.run(config)["metrics"] == first
  assert history_epochs(tmp_path / "squared" / "noise_0.5") == [0]


def test_classification_runs_on_mock_cifar(tmp_path):
  config = classification.Config(
    output_dir=str(tmp_path),
    num_samples=8,
    epochs=1,
    batch_size=8,
    verbose=0,
    max_train_examples=16,
    max_test_examples=8,
  )
  with mock_cifar.mock_cifar(num_examples=24):
    metrics = classification.run(config)["metrics"]
  assert 0 <= metrics["test"]["categorical_accuracy"] <= 1
  config.loss = "cross_entropy"
  with mock_cifar.mock_cifar(num_examples=24):
    assert np.isfinite(classification.run(config)["metrics"]["test"]["loss"])


def test_classification_sweep_of_m_and_sigma_on_mock_cifar(tmp_path):
  config = classification.Config(
    output_dir=str(tmp_path / "sweep"),
    epochs=2,
    batch_size=8,
    verbose=0,
    max_train_examples=16,
    max_test_examples=8,
    sweep_num_samples=[1.0, 4.0],
    sweep_sigmas=[0.5],
  )
  with mock_cifar.mock_cifar(num_examples=24):
    metrics = classification.run(config)["metrics"]
  assert sorted(metrics) == ["M1_sigma0.5", "M4_sigma0.5", "cross_entropy"]
  for run in metrics.values():
    assert 0 <= run["test"]["categorical_accuracy"] <= 1
  runs = run_results.sweep_runs(config.output_dir)
  assert [history_epochs(r) for r in runs] == [[0, 1]] * 3
  output = plot.plot_learning_curves(
    {os.path.basename(r): run_results.read_history(r) for r in runs},
    str(tmp_path / "sweep.png"),
    "sweep",
    ["val_categorical_accuracy"],
  )
  with open(output, "rb") as f:
    assert f.read(8) == b"\x89PNG\r\n\x1a\n"
  # A rerun skips the finished runs: the same metrics, no new epochs.
  with mock_cifar.mock_cifar(num_examples=24):
    assert classification.run(config)["metrics"] == metrics
  assert [history_epochs(r) for r in runs] == [[0, 1]] * 3
  with pytest.raises(ValueError, match="--sweep_sigmas"):
    classification.Config(sweep_num_samples=[10.0]).validate()
  with pytest.raises(ValueError, match="integers"):
    classification.Config(
      sweep_num_samples=[1.5], sweep_sigmas=[1.0]
    ).validate()


def test_classification_says_when_cifar_is_missing(tmp_path, monkeypatch):
  def offline(self, *args, **kwargs):
    raise ConnectionError("no network")

  # The host answers but the download fails.
  monkeypatch.setattr(classification, "reachable", lambda address: True)
  monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare", offline)
  config = classification.Config(
    output_dir=str(tmp_path / "run"),
    data_dir=str(tmp_path / "tfds"),
    epochs=1,
    verbose=0,
  )
  with pytest.raises(
    FileNotFoundError,
    match=r"(?s)CIFAR-10 is not in .*tfds.*could not be "
    r"downloaded \(ConnectionError: no network\).*"
    r"--data_dir=DIR",
  ):
    classification.run(config)
  assert not os.path.exists(os.path.join(config.output_dir, "history.csv"))


# Runs a binary with every outgoing connection refused, as on a machine
# without network, whatever the machine running the tests has.
OFFLINE = (
  "import runpy, socket, sys\n"
  "def refuse(*args, **kwargs):\n"
  "  raise OSError('network is unreachable')\n"
  "socket.create_connection = refuse\n"
  "sys.argv = sys.argv[1:]\n"
  "runpy.run_module(sys.argv[0], run_name='__main__')\n"
)


def test_offline_classification_stops_at_once_with_the_message_alone(tmp_path):
  start = time.monotonic()
  result = subprocess.run(
    [
      sys.executable,
      "-c",
      OFFLINE,
      "experiments.classification",
      "--flagfile=configs/classification_quick.cfg",
      f"--data_dir={tmp_path / 'tfds'}",
      f"--output_dir={tmp_path / 'run'}",
    ],
    cwd=ROOT,
    capture_output=True,
    text=True,
    timeout=600,
    check=False,
  )
  elapsed = time.monotonic() - start
  assert result.returncode == 1
  assert "Traceback" not in result.stderr
  assert (
    "could not be downloaded (www.cs.toronto.edu cannot be reached)"
    in result.stderr
  )
  assert "--data_dir=DIR" in result.stderr
  assert not os.path.exists(tmp_path / "run" / "history.csv")
  print(f"offline CIFAR-10 binary stopped after {elapsed:.1f} s")


BAD_FLAGS = [  # (binary, flags, what its error says)
  ("experiments.shortest_path", ["--loss=hinge"], "value should be one of"),
  (
    "experiments.shortest_path",
    ["--data_dir=/nonexistent"],
    "Missing Warcraft file /nonexistent/train_maps.npy",
  ),
  (
    "experiments.ranking",
    ["--noise_levels=-1"],
    "--noise_levels must be non-negative",
  ),
  ("experiments.classification", ["--sigma=0"], "--sigma must be > 0"),
  (
    "experiments.shortest_path",
    ["--solver=python", "--jit_compile"],
    "drop --jit_compile",
  ),
  (
    "experiments.shortest_path",
    ["--solve_fraction=1.5"],
    "--solve_fraction must be in (0, 1]",
  ),
  (
    "experiments.ranking",
    ["--strategy=multi_worker"],
    "TF_CONFIG environment variable",
  ),
  (
    "experiments.ranking",
    ["--sweep_losses=squared,hinge"],
    "--sweep_losses='hinge' is not one of",
  ),
  (
    "experiments.ranking",
    ["--sweep_sigma_ratios=0,1"],
    "--sweep_sigma_ratios must be positive numbers",
  ),
  (
    "experiments.ranking",
    ["--sweep_num_samples=0"],
    "--sweep_num_samples must be >= 1",
  ),
  (
    "experiments.shortest_path",
    ["--perturbation=multiplicative"],
    "--perturbation=multiplicative is for --loss=perturbed_squared",
  ),
  ("experiments.reproduce", [], "needs the real data: --warcraft_data_dir"),
  (
    "experiments.reproduce",
    ["--quick", "--only=ranking,sorting"],
    "--only: no experiment or run ['sorting']",
  ),
]


def free_port():
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


@pytest.mark.slow
def test_two_workers_complete_and_chief_writes_results(tmp_path):
  cluster = {"worker": [f"127.0.0.1:{free_port()}" for _ in range(2)]}
  args = [
    "--strategy=multi_worker",
    f"--output_dir={tmp_path}",
    "--num_instances=64",
    "--num_items=8",
    "--dim=3",
    "--epochs=2",
    "--batch_size=16",
    "--num_samples=8",
    "--verbose=0",
  ]
  workers = [
    subprocess.Popen(
      [sys.executable, "-m", "experiments.ranking", *args],
      cwd=ROOT,
      stdout=subprocess.PIPE,
      stderr=subprocess.STDOUT,
      text=True,
      env={
        **os.environ,
        "TF_CONFIG": json.dumps(
          {"cluster": cluster, "task": {"type": "worker", "index": i}}
        ),
      },
    )
    for i in range(2)
  ]
  outputs = [w.communicate(timeout=600)[0] for w in workers]
  assert [w.returncode for w in workers] == [0, 0], outputs
  with open(tmp_path / "results.json", encoding="utf-8") as f:
    results = json.load(f)
  assert results["config"]["strategy"] == "multi_worker"
  assert os.path.isdir(tmp_path / "workers" / "worker_1")
  assert not os.path.exists(tmp_path / "workers" / "worker_1" / "results.json")


def test_plots(tmp_path):
  config = tiny_path_config(tmp_path, epochs=1)
  shortest_path.run(config)
  other = tiny_path_config(tmp_path / "b", epochs=1, loss="blackbox")
  shortest_path.run(other)
  curves = plot.plot_learning_curves(
    {
      loss: run_results.read_history(run.output_dir)
      for loss, run in (("fenchel_young", config), ("blackbox", other))
    },
    str(tmp_path / "curves.png"),
  )
  paths = plot.plot_paths(
    *run_results.predicted_paths(config.output_dir),
    str(tmp_path / "paths.png"),
  )
  for png in (curves, paths):
    with open(png, "rb") as f:
      assert f.read(8) == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
  "name",
  sorted(
    f for f in os.listdir(os.path.join(ROOT, "configs")) if f.endswith(".cfg")
  ),
)
def test_flagfiles_parse_and_validate(name):
  from absl import flags

  from experiments import common

  binaries = {
    "classification": classification,
    "ranking": ranking,
    "shortest_path": shortest_path,
    "predict_then_optimize": predict_then_optimize,
  }
  module = next(m for prefix, m in binaries.items() if name.startswith(prefix))
  flag_values = flags.FlagValues()
  common.define_flags(module.Config, flag_values)
  flag_values(["prog", f"--flagfile={os.path.join(ROOT, 'configs', name)}"])
  config = common.config_from_flags(module.Config, flag_values)
  config.validate()
  assert config.output_dir.startswith("runs/")
  if module is predict_then_optimize:
    with open(os.path.join(ROOT, "configs", name), encoding="utf-8") as f:
      text = f.read()
    # Pinned, so the documented command trains the documented methods
    # when the binary gains more; and the runs it announces are its runs.
    assert "--methods=" in text, name
    announced = re.search(r"\((\d+) runs", text)
    if announced:
      runs = (
        len(config.num_train)
        * len(config.degrees)
        * len(config.noise_widths)
        * config.num_seeds
        * len(config.methods)
      )
      assert int(announced.group(1)) == runs, name


# A run killed by SIGKILL in the middle of its second epoch (no clean-up, as
# a pre-empted job), then the same run again: it must end with the numbers of
# the uninterrupted run, bit for bit.
KILLED_RUN = """
import json, os, signal, sys
import keras
from tests import mock_cifar
from experiments import {binary} as binary

# Kills a run that started fresh, in its second epoch; a resumed run goes
# on (with several runs, each is killed once, then resumed).
class Kill(keras.callbacks.Callback):
  def on_train_begin(self, logs=None):
    self.first = None
  def on_epoch_begin(self, epoch, logs=None):
    self.epoch = epoch
    self.first = epoch if self.first is None else self.first
  def on_train_batch_end(self, batch, logs=None):
    if (self.first == 0 and self.epoch == 1 and batch == 1
        and sys.argv[1] == 'kill'):
      os.kill(os.getpid(), signal.SIGKILL)

config = binary.Config(**json.loads(sys.argv[2]))
with mock_cifar.mock_cifar(num_examples=24):
  binary.run(config, callbacks=[Kill()])
"""


def without_wall_times(metrics):
  """The metrics less their `seconds_per_epoch` (at any depth)."""
  if isinstance(metrics, dict):
    return {
      k: without_wall_times(v)
      for k, v in metrics.items()
      if k != "seconds_per_epoch"
    }
  return metrics


KILL_SETTINGS = {
  "shortest_path": dict(
    synthetic_dir="{tmp}/data",
    num_train=40,
    num_val=10,
    num_test=10,
    grid_size=4,
    epochs=3,
    batch_size=10,
    learning_rate=1e-2,
    lr_decay_epochs=[2],
  ),
  "ranking": dict(
    num_instances=60, num_items=6, dim=3, epochs=3, batch_size=8, num_samples=4
  ),
  "classification": dict(
    data_dir="{tmp}/tfds",
    epochs=3,
    batch_size=8,
    num_samples=4,
    max_train_examples=24,
    max_test_examples=8,
  ),
  "predict_then_optimize": dict(
    methods=["pfyl"],
    num_train=[48],
    num_test=16,
    degrees=[4],
    num_seeds=1,
    epochs=3,
    batch_size=8,
    num_samples=3,
  ),
  # The losses with state outside the model's layers: a solution cache's
  # pool and counters (solve_ratio < 1), AIMLE's α; Keras saves them with
  # the model's weights (a lost pool moves NCE's test regret from
  # 0.516 to 0.525 here).
  "predict_then_optimize:state": dict(
    methods=[
      "nce",
      "cmap",
      "pointwise_ltr",
      "pairwise_ltr",
      "listwise_ltr",
      "aimle",
    ],
    # An 8×8 grid (3,432 paths) and few instances: the pool grows during
    # the first epoch, so a run that lost it would score other solutions.
    grid_size=8,
    num_train=[16],
    num_test=16,
    degrees=[4],
    num_seeds=1,
    epochs=3,
    batch_size=4,
    num_samples=3,
    solve_ratio=0.5,
  ),
}


@pytest.mark.slow
@pytest.mark.parametrize("binary", sorted(KILL_SETTINGS))
def test_a_killed_and_resumed_run_ends_with_the_uninterrupted_numbers(
  tmp_path, binary
):
  def run(mode, folder):
    settings = {
      k: v.format(tmp=tmp_path) if isinstance(v, str) else v
      for k, v in KILL_SETTINGS[binary].items()
    }
    settings.update(output_dir=str(tmp_path / folder), verbose=0)
    return subprocess.run(
      [
        sys.executable,
        "-c",
        KILLED_RUN.format(binary=binary.split(":")[0]),
        mode,
        json.dumps(settings),
      ],
      cwd=ROOT,
      capture_output=True,
      text=True,
      timeout=600,
      check=False,
    )

  whole = run("whole", "whole")
  assert whole.returncode == 0, whole.stderr[-3000:]
  killed = run("kill", "killed")
  assert killed.returncode == -9, killed.stderr[-3000:]
  assert not os.path.exists(tmp_path / "killed" / "results.json")
  # Each run of the binary is killed once in its second epoch, then resumed.
  for _ in range(len(KILL_SETTINGS[binary].get("methods", [None]))):
    resumed = run("kill", "killed")
    if resumed.returncode != -9:
      break
  assert resumed.returncode == 0, resumed.stderr[-3000:]
  results = {}
  for folder in ("whole", "killed"):
    with open(tmp_path / folder / "results.json", encoding="utf-8") as f:
      metrics = json.load(f)["metrics"]
    results[folder] = without_wall_times(metrics)
  assert results["killed"] == results["whole"]


# Each binary and one of its own flags, which its --help must list.
OWN_FLAGS = {
  "experiments.shortest_path": "loss",
  "experiments.ranking": "noise_levels",
  "experiments.classification": "loss",
  "experiments.predict_then_optimize": "methods",
  "experiments.reproduce": "quick",
  "experiments.plot": "runs",
  "experiments.scale_study": "trained_run",
}


@pytest.mark.parametrize("module", sorted(OWN_FLAGS))
def test_help_exits_0_and_bad_flags_fail_fast(tmp_path, module):
  """--help lists the binary's own flags and exits 0; each bad flag stops
  the binary before training, saying what is wrong (one process per
  binary: `tests.command_lines`)."""
  output = "output_root" if module == "experiments.reproduce" else "output_dir"
  cases = [(args, message) for m, args, message in BAD_FLAGS if m == module]
  argvs = [["--help"]] + [
    [f"--{output}={tmp_path / str(i)}", *args]
    for i, (args, _) in enumerate(cases)
  ]
  shown, *results = command_lines.run(module, argvs)
  assert shown.returncode == 0, shown.stderr[-2000:]
  flag = OWN_FLAGS[module]
  assert re.search(rf"\n  --(\[no\])?{flag}:", shown.stdout), shown.stdout
  assert "flags:" in shown.stdout
  for (args, message), result in zip(cases, results):
    printed = result.stderr + result.stdout
    assert result.returncode != 0, (args, printed[-2000:])
    assert message in printed, (args, printed[-2000:])
    assert "Epoch 1" not in result.stdout, args
