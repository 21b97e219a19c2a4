"""The reproduction's documentation: each experiment's figures (drawn by
`plot.py`) and tables (`tables.py`) from the runs present, written to
`results.md` and into the `<!-- reproduce:NAME -->` sections of the results
page."""

from __future__ import annotations

import os
import re

from experiments import catalogue
from experiments import plot
from experiments import run_results
from experiments import scale_study
from experiments import tables


def _histories(run_dirs, labels) -> dict[str, dict]:
  return {
    label: run_results.read_history(d) for label, d in zip(labels, run_dirs)
  }


def warcraft_docs(output_root: str, docs_dir: str) -> dict[str, str]:
  """Figures of the four losses and of the studies; their tables."""
  four = [
    "shortest_path/fenchel_young",
    "shortest_path/cost_mse",
    run_results.best(output_root, "shortest_path/perturbed_squared_study"),
    run_results.best(output_root, "shortest_path/blackbox_lambda"),
  ]
  results = {name: run_results.read(output_root, name) for name in four if name}
  if None in four or None in results.values():
    return {}
  config = results[four[0]]["config"]
  setting = (
    f"{config['model']}, {config['grid_size']}×{config['grid_size']}"
    f" maps, {config['num_train']:,} train, {config['epochs']} "
    "epochs"
  )
  labels = [tables.warcraft_setting(r) for r in results.values()]
  plot.plot_learning_curves(
    _histories([os.path.join(output_root, n) for n in four], labels),
    os.path.join(docs_dir, "shortest_path_curves.png"),
    f"Warcraft shortest paths, the four losses ({setting}); each "
    "baseline's best setting on validation",
    ["val_perfect_path_accuracy", "val_hamming_accuracy", "val_cost_ratio"],
  )
  plot.plot_paths(
    *run_results.predicted_paths(os.path.join(output_root, four[0])),
    os.path.join(docs_dir, "shortest_path_maps.png"),
    title="Fenchel–Young loss: true (green) and predicted "
    "(red) paths on test maps",
  )
  docs = {
    "warcraft": tables.table(
      tables.WARCRAFT_HEADER,
      [
        tables.warcraft_row(
          label, os.path.join(output_root, name), results[name]
        )
        for label, name in zip(labels, four)
      ],
      list(results.values()),
    )
  }
  for family, title, figure in (
    (
      "perturbed_squared_study",
      "perturbed_squared: M, ε and the "
      "perturbation (dashed: Adam 2e-3, solid: 5e-4)",
      "perturbed_squared_study.png",
    ),
    ("blackbox_lambda", "blackbox: the interpolation strength λ", ""),
  ):
    folder = os.path.join(output_root, "shortest_path", family)
    found = {d: run_results.read(d) for d in run_results.sweep_runs(folder)}
    runs = sorted(
      (d for d, r in found.items() if r),
      key=lambda d: tables.warcraft_order(found[d]),
    )
    names = [tables.warcraft_setting(found[d]) for d in runs]
    docs[family] = tables.table(
      tables.WARCRAFT_HEADER,
      [tables.warcraft_row(n, d, found[d]) for n, d in zip(names, runs)],
      [found[d] for d in runs],
    )
    if figure:
      histories = _histories(runs, names)
      if family == "perturbed_squared_study":  # The figure's costs in numbers.
        docs["perturbed_squared_costs"] = tables.validation_cost_table(
          histories, [found[d] for d in runs]
        )
      plot.plot_learning_curves(
        histories,
        os.path.join(docs_dir, figure),
        f"Warcraft shortest paths, {title} ({setting})",
        ["val_perfect_path_accuracy", "val_mean_cost", "loss"],
        # Dashed: the main job's learning rate; solid: the paper's.
        [
          "--"
          if found[d]["config"]["learning_rate"] > catalogue.PAPER_LEARNING_RATE
          else "-"
          for d in runs
        ],
      )
  scale = scale_study.loss_against_scale(os.path.join(output_root, four[0]))
  docs["perturbed_squared_scale"] = tables.table(
    ["network (mean cost)"]
    + [f"costs × {k}" for k in scale["trained"] if k != "mean_cost"],
    [
      [f"{name} ({values.pop('mean_cost'):.2f})"]
      + [f"{v:.4f}" for v in values.values()]
      for name, values in scale.items()
    ],
    [results[four[0]]],
  )
  resnet = run_results.read(output_root, "shortest_path/resnet18")
  if resnet:
    docs["resnet18"] = tables.table(
      tables.WARCRAFT_HEADER,
      [
        tables.warcraft_row(
          f"resnet18, fenchel_young, {resnet['config']['epochs']} epochs",
          os.path.join(output_root, "shortest_path/resnet18"),
          resnet,
        )
      ],
      [resnet],
    )
  return docs


def _ranking_sweep_figure(results: dict, path: str, setting: str) -> None:
  """A ranking sweep's figure, its caption the setting and the training."""
  c = results["config"]
  plot.plot_ranking_sweep(
    results,
    path,
    f"{setting}; Adam ({c['lr_schedule']} schedule, {c['epochs']} epochs, "
    f"initial rate selected per loss on validation); mean ± std over "
    f"{c['num_seeds']} seeds",
  )


def ranking_docs(output_root: str, docs_dir: str) -> dict[str, str]:
  """The ranking studies' figures and tables: every loss against the label
  noise level; the Fenchel–Young loss's ε and M; the soft-rank losses."""
  docs = {}
  noise = run_results.read(output_root, "ranking/noise")
  if noise:
    c = noise["config"]
    _ranking_sweep_figure(
      noise,
      os.path.join(docs_dir, "ranking_sweep.png"),
      f"Learning to rank {c['num_items']} items (d = {c['dim']}, "
      f"{c['num_instances']:,} instances, {c['test_fraction']:.0%} held "
      f"out), linear model, M = {c['num_samples']}, ε = {c['sigma']:g}",
    )
    docs["ranking"] = tables.ranking_table(noise, ("loss", "noise"))
    docs["ranking_least_squares"] = tables.ranking_least_squares_table(noise)
  epsilon = run_results.read(output_root, "ranking/epsilon")
  samples = run_results.read(output_root, "ranking/samples")
  if epsilon and samples:
    c = epsilon["config"]
    plot.plot_ranking_scale(
      epsilon,
      samples,
      os.path.join(docs_dir, "ranking_epsilon.png"),
      f"Learning to rank, Fenchel–Young loss: ε against the label noise σ "
      f"(top, M = {c['num_samples']}) and the number of samples M (bottom, "
      f"ε = {samples['config']['sigma']:g}); {c['num_instances']:,} "
      f"instances, linear model, Adam {c['learning_rate']:g} "
      f"({c['lr_schedule']}, {c['epochs']} epochs); mean ± std over "
      f"{c['num_seeds']} seeds",
    )
    docs["ranking_epsilon"] = tables.ranking_table(epsilon, ("noise", "sigma"))
    docs["ranking_samples"] = tables.ranking_table(samples, ("noise", "M"))
  soft = run_results.read(output_root, "ranking/soft")
  if soft:
    c = soft["config"]
    _ranking_sweep_figure(
      soft,
      os.path.join(docs_dir, "ranking_soft.png"),
      f"Learning to rank: the soft-rank losses (closed form, ε = "
      f"{c['regularization_strength']:g}) beside the Fenchel–Young loss of "
      f"the perturbed ranks (M = {c['num_samples']}, ε = {c['sigma']:g}); "
      f"{c['num_instances']:,} instances, linear model",
    )
    docs["ranking_soft"] = tables.ranking_table(soft, ("loss", "noise"))
  return docs


def warcraft_10k_docs(output_root: str) -> dict[str, str]:
  """The Fenchel–Young and blackbox runs on 10,000 maps, if present."""
  rows, sources = [], []
  for loss in ("fenchel_young", "blackbox"):
    name = f"shortest_path/maps10k/{loss}"
    results = run_results.read(output_root, name)
    if results:
      c = results["config"]
      rows.append(
        tables.warcraft_row(
          f"{tables.warcraft_setting(results)}, {c['num_train']:,} maps, "
          f"{c['epochs']} epochs",
          os.path.join(output_root, name),
          results,
        )
      )
      sources.append(results)
  if not rows:
    return {}
  return {"warcraft_10k": tables.table(tables.WARCRAFT_HEADER, rows, sources)}


def classification_docs(output_root: str, docs_dir: str) -> dict[str, str]:
  """The M/ε study's curves and final test accuracies, if it ran."""
  folder = os.path.join(output_root, "classification_sweep")
  results = run_results.read(folder)
  if not results:
    return {}
  runs = run_results.sweep_runs(folder)
  plot.plot_learning_curves(
    _histories(runs, [os.path.basename(os.path.normpath(d)) for d in runs]),
    os.path.join(docs_dir, "classification_sweep.png"),
    "CIFAR-10, vanilla CNN: perturbed argmax (M, ε) against cross-entropy",
    ["val_categorical_accuracy", "categorical_accuracy"],
  )
  rows = [
    [
      name,
      f"{m['test']['categorical_accuracy']:.3f}",
      f"{m['train']['categorical_accuracy']:.3f}",
    ]
    for name, m in sorted(results["metrics"].items())
  ]
  return {
    "classification": tables.table(
      ("run", "test accuracy", "train accuracy"), rows, [results]
    )
  }


PTO_STUDIES = (
  "shortest_path",
  "shortest_path_grid",
  "knapsack",
  "tsp",
  "tsp_grid",
  "portfolio",
  "portfolio_grid",
)


def pto_docs(output_root: str, docs_dir: str) -> dict[str, str]:
  """PyEPO's figure and tables (mean ± std over seeds) per study: a table
  of methods against degrees for each training size and noise width; the
  flow LP, the rest of the catalogue and the defaults' studies."""
  docs = {}
  for study in PTO_STUDIES:
    results = run_results.read(output_root, "predict_then_optimize", study)
    if not results:
      continue
    c = results["config"]
    problem = {"tsp": "TSP"}.get(c["problem"], c["problem"].replace("_", " "))
    plot.plot_pto(
      results,
      os.path.join(docs_dir, f"predict_then_optimize_{study}.png"),
      f"PyEPO's {problem}: test normalised regret of a linear model "
      f"trained {c['epochs']} epochs (Adam {c['learning_rate']:g}, batch "
      f"{c['batch_size']}) by each method; mean ± std over "
      f"{c['num_seeds']} seeds",
    )
    docs[f"pto_{study}"] = tables.pto_study_table(results)
  for name, table in (
    ("pto_flow_lp", tables.flow_lp_table(output_root)),
    ("pto_catalogue", tables.catalogue_table(output_root)),
    *(
      (f"pto_{study}", tables.defaults_table(output_root, variants))
      for study, variants in catalogue.DEFAULTS_STUDIES.items()
    ),
  ):
    if table:
      docs[name] = table
  return docs


def update_page(page: str, docs: dict[str, str]) -> None:
  """Replaces each `<!-- reproduce:NAME -->` section of a page."""
  with open(page, encoding="utf-8") as f:
    text = f.read()
  for name, table in docs.items():
    text = re.sub(
      rf"(<!-- reproduce:{name} -->\n).*?(<!-- /reproduce:{name} -->)",
      lambda m, table=table: m.group(1) + table + m.group(2),
      text,
      flags=re.S,
    )
  with open(page, "w", encoding="utf-8") as f:
    f.write(text)


def _sections(path: str) -> dict[str, str]:
  """The tables of an existing results.md, by section name."""
  if not os.path.exists(path):
    return {}
  with open(path, encoding="utf-8") as f:
    text = f.read()
  return {
    name: table.rstrip("\n") + "\n"
    for name, table in re.findall(
      r"^## (\S+)\n\n(.*?)(?=^## |\Z)", text, flags=re.S | re.M
    )
  }


def make_docs(output_root: str, docs_dir: str, page: str = "") -> dict:
  """Redraws every figure and table of the runs present; returns the
  tables by name."""
  os.makedirs(docs_dir, exist_ok=True)
  docs = {
    **warcraft_docs(output_root, docs_dir),
    **warcraft_10k_docs(output_root),
    **ranking_docs(output_root, docs_dir),
    **classification_docs(output_root, docs_dir),
    **pto_docs(output_root, docs_dir),
  }
  path = os.path.join(docs_dir, "results.md")
  # Sections of runs not present here (another machine's) are kept.
  sections = {**_sections(path), **docs}
  with open(path, "w", encoding="utf-8") as f:
    f.write(
      "# Results of `python -m experiments.reproduce`\n\n"
      + "\n".join(f"## {name}\n\n{table}" for name, table in sections.items())
    )
  if page:
    update_page(page, docs)
  return docs
