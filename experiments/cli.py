"""The entry point every binary shares: absl's `app.run`, with a `--help` that
exits with status 0 (absl's exits with 1)."""

from __future__ import annotations

from collections.abc import Callable
import sys

from absl import app

# Help flags, and whether each asks for the binary's own flags only.
HELP_FLAGS = {
  "--help": True,
  "-?": True,
  "--helpshort": True,
  "-h": True,
  "--helpfull": False,
}


def run_main(main: Callable) -> None:
  """`app.run(main)`, except that `--help` (the binary's description and
  its own flags) and `--helpfull` (all flags) print to stdout and exit 0."""
  asked = [HELP_FLAGS[a] for a in sys.argv[1:] if a in HELP_FLAGS]
  if asked:
    app.usage(shorthelp=all(asked), writeto_stdout=True, exitcode=0)
  app.run(main)
