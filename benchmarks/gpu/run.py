r"""Compiles and times the programs `benchmarks/gpu/export.py` wrote, with
the XLA inside JAX, on its default device (or the platform named).

  python benchmarks/gpu/run.py DIR [cpu|cuda]

Needs JAX alone (no TensorFlow, no perturbations_tf). Prints one JSON line
per program: the device, compile seconds, the median and best milliseconds
per call over 50 calls after 5 warm-ups (inputs copied on the device first,
so programs that donate buffers are timed alike), and the largest absolute
difference from TensorFlow's outputs.
"""

from __future__ import annotations

import glob
import json
import os
import sys
import time

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)  # int64 step counters stay int64.


def _ordered(data, prefix: str) -> list:
  keys = [k for k in data.files if k.startswith(prefix)]
  return [data[k] for k in sorted(keys, key=lambda k: int(k[len(prefix) :]))]


def _compile(path: str, backend, device):
  """The HLO module as StableHLO, compiled for the device."""
  from jax._src.lib import xla_client

  with open(path, "rb") as f:
    module = xla_client._xla.mlir.hlo_to_stablehlo(f.read())
  return backend.compile_and_load(module, [device])


def main(directory: str, platform: str | None = None) -> dict:
  from jax._src import xla_bridge

  backend = xla_bridge.get_backend(platform)
  device = backend.local_devices()[0]
  print(
    json.dumps({"device": str(device), "platform": backend.platform}),
    flush=True,
  )
  records = {}
  for path in sorted(glob.glob(os.path.join(directory, "*.hlo.pb"))):
    name = os.path.basename(path)[: -len(".hlo.pb")]
    data = np.load(os.path.join(directory, f"{name}.npz"))
    inputs, expected = _ordered(data, "arg"), _ordered(data, "out")
    record = {"case": name}
    try:
      start = time.perf_counter()
      executable = _compile(path, backend, device)
      record["compile_s"] = round(time.perf_counter() - start, 2)
      on_device = [jax.device_put(a, device) for a in inputs]

      def call(executable=executable, on_device=on_device):
        fresh = [jax.numpy.copy(a) for a in on_device]
        for a in fresh:
          a.block_until_ready()
        start = time.perf_counter()
        results = executable.execute(fresh)
        for r in results:
          r.block_until_ready()
        return results, time.perf_counter() - start

      results, _ = call()
      record["max_abs_diff"] = [
        float(np.max(np.abs(np.asarray(r) - e)))
        for r, e in zip(results, expected)
      ]
      for _ in range(5):
        call()
      seconds = [call()[1] for _ in range(50)]
      record["ms"] = round(1e3 * float(np.median(seconds)), 4)
      record["ms_min"] = round(1e3 * float(np.min(seconds)), 4)
    except Exception as error:  # Report it and go on to the next program.
      record["error"] = f"{type(error).__name__}: {str(error)[:400]}"
    records[name] = record
    print(json.dumps(record), flush=True)
  return records


if __name__ == "__main__":
  main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None)
