r"""Runs every experiment the documentation reports, then redraws its
figures and tables: one command for the whole reproduction.

  python -m experiments.reproduce --quick  # the CPU versions (hours, 2 cores)
  python -m experiments.reproduce \
      --warcraft_data_dir=/data/warcraft_shortest_path/12x12 \
      --cifar_data_dir=/data/tensorflow_datasets   # the paper's settings (GPU)

Each run trains in its own folder under `--output_root`; a finished run
(its results.json, with the same settings) is skipped and an interrupted one
resumes at its last epoch, so rerunning the command after a stop goes on
where it stopped. A run that fails (e.g. CIFAR-10 neither present nor
downloadable) is reported and the others go on; the command then exits 1.
Figures go to `--docs_dir`, tables to `<docs_dir>/results.md` and into the
results page (`--page`, `docs/experiments.md`) between
`<!-- reproduce:NAME -->` and `<!-- /reproduce:NAME -->`, each table followed
by what its runs were measured with.

The pieces: `catalogue.py` (the runs), `runner.py` (training and resuming
them), `run_results.py` (reading them), `tables.py` and `plot.py` (their
tables and figures), `pages.py` (writing the documentation).
"""

from __future__ import annotations

import functools

from absl import app
from absl import flags

from experiments import catalogue
from experiments import cli
from experiments import pages
from experiments import runner


def main(argv):
  del argv
  f = flags.FLAGS
  runs = catalogue.all_runs(f.quick, f.warcraft_data_dir, f.cifar_data_dir)
  if f.only:
    unknown = [
      p for p in f.only if not any(catalogue.selects(p, r) for r in runs)
    ]
    if unknown:
      raise app.UsageError(f"--only: no experiment or run {unknown}.")
    runs = [r for r in runs if any(catalogue.selects(p, r) for p in f.only)]
  if (
    not f.quick
    and not f.smoke
    and not f.warcraft_data_dir
    and any(r.binary == "shortest_path" for r in runs)
  ):
    raise app.UsageError(
      "The paper's Warcraft setting needs the real data: "
      "--warcraft_data_dir (or --quick for the CPU "
      "versions on synthetic maps)."
    )
  failures = runner.train_all(
    runs,
    f.output_root,
    functools.partial(catalogue.smoke_flags, f.output_root)
    if f.smoke
    else lambda binary: (),
  )
  pages.make_docs(f.output_root, f.docs_dir, f.page)
  if failures:
    for name, error in failures.items():
      print(f"FAILED {name}: {error}")
    raise SystemExit(1)


if __name__ == "__main__":
  flags.DEFINE_bool(
    "quick",
    False,
    "The CPU versions (synthetic Warcraft "
    "maps, the small CNN, a short CIFAR-10 sweep) instead "
    "of the paper's settings.",
  )
  flags.DEFINE_bool(
    "smoke",
    False,
    "Tiny sizes, one epoch: checks the "
    "pipeline in minutes (numbers meaningless).",
  )
  flags.DEFINE_list(
    "only",
    [],
    "Only these experiments (shortest_path, ranking, classification_sweep, "
    "predict_then_optimize) or runs, by folder (e.g. "
    "predict_then_optimize/flow_lp_pdlp).",
  )
  flags.DEFINE_string("output_root", "runs/reproduce", "Where the runs go.")
  flags.DEFINE_string(
    "docs_dir", "docs", "Where the figures and results.md go."
  )
  flags.DEFINE_string(
    "page",
    "docs/experiments.md",
    "The results page whose reproduce sections to update (empty: none).",
  )
  flags.DEFINE_string(
    "warcraft_data_dir",
    "",
    "The Warcraft 12×12 .npy folder (the paper's setting).",
  )
  flags.DEFINE_string(
    "cifar_data_dir", "", "The tensorflow-datasets folder holding cifar10."
  )
  cli.run_main(main)
