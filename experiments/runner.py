"""Training the reproduction's runs: each run's config parsed as on its
command line, finished runs skipped (never overwritten by other settings),
interrupted ones resumed by their binary, failures collected."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence
import dataclasses
import importlib
import json
import os
import traceback

from absl import flags
from absl import logging
import keras

from experiments import common
from experiments.catalogue import Run


def make_config(run: Run, output_root: str, extra: Sequence[str] = ()):
  """The run's binary module and its config, parsed as on its command line
  (`extra` flags last, then the output folder)."""
  module = importlib.import_module(f"experiments.{run.binary}")
  flag_values = flags.FlagValues()
  common.define_flags(module.Config, flag_values)
  flag_values(
    [
      "reproduce",
      *run.flags,
      *extra,
      f"--output_dir={os.path.join(output_root, run.name)}",
    ]
  )
  config = common.config_from_flags(module.Config, flag_values)
  config.validate()
  return module, config


def finished(config) -> bool:
  """Whether `config.output_dir` holds a finished run of these settings.

  Raises:
    ValueError: it holds a run of other settings (never overwritten).
  """
  path = os.path.join(config.output_dir, "results.json")
  if not os.path.exists(path):
    return False
  with open(path, encoding="utf-8") as f:
    stored = json.load(f)["config"]
  # Settings added after a run was made keep their defaults' behaviour.
  defaults = {
    f.name: f.default
    for f in dataclasses.fields(config)
    if f.default is not dataclasses.MISSING
  }
  differ = sorted(
    name
    for name, value in dataclasses.asdict(config).items()
    if name not in ("output_dir", "verbose")
    and stored.get(name, defaults.get(name)) != value
  )
  if differ:
    raise ValueError(
      f"{config.output_dir} holds a run with other settings "
      f"({', '.join(differ)}); move it away or delete it."
    )
  return True


def train_all(
  runs: Sequence[Run],
  output_root: str,
  extra: Callable[[str], Sequence[str]] = lambda binary: (),
) -> dict[str, str]:
  """Trains every unfinished run in turn; returns the failed ones' errors."""
  failures = {}
  for run in runs:
    try:
      module, config = make_config(run, output_root, extra(run.binary))
      if finished(config):
        logging.info("%s: finished, skipped.", run.name)
        continue
      logging.info("%s: training.", run.name)
      keras.backend.clear_session()
      module.run(config)
    except common.MissingDataError as error:  # Says all: no traceback.
      logging.error("%s not run: %s", run.name, error)
      failures[run.name] = f"not run: {error}"
    except Exception as error:
      # One failing run should not stop the other experiments.
      logging.error("%s failed:\n%s", run.name, traceback.format_exc())
      failures[run.name] = f"{type(error).__name__}: {error}"
  return failures
