"""Runs one binary on several command lines in a single process: each as
`python -m MODULE ARGS` would, its stdout and stderr captured at the file
descriptors (absl's and TensorFlow's output included). Tests of flags and
`--help` thereby import TensorFlow once per binary instead of once per
command line.

    python -m tests.command_lines MODULE < argvs.json > results.json
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
import runpy
import subprocess
import sys
import tempfile
import traceback

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclasses.dataclass(frozen=True)
class Result:
  """What one command line printed, and its exit status."""

  returncode: int
  stdout: str
  stderr: str


def run(module: str, argvs: list[list[str]]) -> list[Result]:
  """Runs `python -m module *argv` for each argv, in one child process."""
  env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
  child = subprocess.run(
    [sys.executable, "-m", "tests.command_lines", module],
    input=json.dumps(argvs),
    cwd=ROOT,
    capture_output=True,
    text=True,
    timeout=600,
    env=env,
    check=False,
  )
  if child.returncode != 0:
    raise AssertionError(child.stderr[-3000:])
  return [Result(**r) for r in json.loads(child.stdout.splitlines()[-1])]


def _exit_code(code: object) -> int:
  if code is None:
    return 0
  return code if isinstance(code, int) else 1  # sys.exit("message") is 1.


def _run_captured(module: str, argv: list[str], folder: str) -> dict:
  """One command line, stdout and stderr redirected to files in `folder`."""
  from absl import flags  # pylint: disable=import-outside-toplevel

  paths = [os.path.join(folder, name) for name in ("stdout", "stderr")]
  sys.stdout.flush()
  sys.stderr.flush()
  saved = [os.dup(1), os.dup(2)]
  files = [open(p, "w", encoding="utf-8") for p in paths]
  for fd, f in zip((1, 2), files):
    os.dup2(f.fileno(), fd)
  known = set(flags.FLAGS)
  try:
    flags.FLAGS.unparse_flags()  # Each command line from the defaults.
    sys.argv = [module, *argv]
    runpy.run_module(module, run_name="__main__", alter_sys=True)
    code = 0
  except SystemExit as e:
    code = _exit_code(e.code)
  except BaseException:  # As the interpreter would: print it, exit 1.
    traceback.print_exc()
    code = 1
  finally:
    for name in set(flags.FLAGS) - known:  # The binary defines them again.
      delattr(flags.FLAGS, name)
    sys.stdout.flush()
    sys.stderr.flush()
    for fd, copy in zip((1, 2), saved):
      os.dup2(copy, fd)
      os.close(copy)
    for f in files:
      f.close()
  texts = []
  for p in paths:
    with open(p, encoding="utf-8", errors="replace") as f:
      texts.append(f.read())
  return {"returncode": code, "stdout": texts[0], "stderr": texts[1]}


def main() -> None:
  module = sys.argv[1]
  # Its imports, and the flags they define, once; each run then defines the
  # binary's own flags, which `_run_captured` removes after it.
  importlib.import_module(module)
  argvs = json.loads(sys.stdin.read())
  results = []
  for argv in argvs:
    with tempfile.TemporaryDirectory() as folder:
      results.append(_run_captured(module, argv, folder))
  print(json.dumps(results))


if __name__ == "__main__":
  main()
