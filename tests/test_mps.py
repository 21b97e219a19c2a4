"""LinearProgram.from_mps reads what HiGHS reads from the same files: a
netlib file in fixed MPS, a file with every section and bound type, gzip;
and names the line of a malformed file."""

import gzip
import os

import highspy
import numpy as np
import pytest
import tensorflow as tf

import perturbations_tf as ptf
from perturbations_tf._src import mps

HERE = os.path.dirname(__file__)
FEATURES = os.path.join(HERE, "data", "mps_features.mps")
NETLIB = os.path.join(HERE, os.pardir, "benchmarks", "netlib")


def highs_model(path: str) -> highspy.Highs:
  h = highspy.Highs()
  h.setOptionValue("output_flag", False)
  assert h.readModel(path) == highspy.HighsStatus.kOk
  return h


def highs_optimum(h: highspy.Highs, costs: np.ndarray) -> float:
  n = len(costs)
  h.changeColsCost(n, np.arange(n, dtype=np.int32), costs)
  h.run()
  assert h.getModelStatus() == highspy.HighsModelStatus.kOptimal
  return h.getInfo().objective_function_value


@pytest.mark.parametrize(
  "path", [FEATURES, os.path.join(NETLIB, "afiro.mps")], ids=os.path.basename
)
def test_reads_what_highs_reads(path, rng):
  lp = ptf.solvers.LinearProgram.from_mps(path)
  h = highs_model(path)
  model = h.getLp()
  # Costs, constant, sense, bounds and integrality as HiGHS has them.
  np.testing.assert_array_equal(lp.costs, model.col_cost_)
  assert lp.objective_offset == model.offset_
  assert lp.maximize == (model.sense_ == highspy.ObjSense.kMaximize)
  box = lp.constraints()
  np.testing.assert_array_equal(box.lower, model.col_lower_)
  np.testing.assert_array_equal(box.upper, model.col_upper_)
  integrality = [int(i) for i in model.integrality_] or [0] * lp.num_variables
  assert box.relaxed == any(integrality)
  # The same optimum for the file's costs and for random ones (rows:
  # equal optima over the same variables and bounds for every cost vector
  # tested means the same feasible set, as far as these costs can tell).
  costs = np.concatenate([lp.costs[None], rng.normal(size=(5, len(lp.costs)))])
  x = lp(tf.constant(costs)).numpy()
  for c, xc in zip(costs, x):
    assert np.isclose(
      c @ xc + lp.objective_offset, highs_optimum(h, c), rtol=1e-9, atol=1e-9
    )
  lp.close()


def test_every_bound_type_and_range():
  model = mps.read_mps(FEATURES)
  bounds = dict(zip(model.variables, model.arguments["bounds"]))
  assert bounds == {
    "X1": (0.5, 4.0),  # LO, UP.
    "X2": (-6.0, -1.0),  # UP below 0, then LO.
    "X3": (1.0, 5.0),  # LI, UI.
    "X4": (0.0, 1.0),  # BV.
    "X5": (None, None),  # FR.
    "X6": (None, 2.0),  # MI, UP.
    "X7": (1.5, 1.5),  # FX.
    "X8": (None, -2.0),  # MI, UP below 0.
    "X9": (0.0, None),  # PL.
  }
  assert model.arguments["integrality"].tolist() == [0, 0, 1, 1, 0, 0, 0, 0, 0]
  assert (model.maximize, model.offset) == (True, 5.0)
  # Ranges: L with R → [b − |R|, b]; G → [b, b + |R|]; E with R > 0 →
  # [b, b + R], with R < 0 → [b + R, b]; each a pair of ≤ rows.
  lp = ptf.solvers.LinearProgram.from_mps(FEATURES)
  p = lp.constraints()
  rows = {tuple(a): b for a, b in zip(p.A_ub, p.b_ub)}
  cap1 = np.array([1, 2, 0, 0, 0, 1, 0, 1, 0.0])
  assert rows[tuple(cap1)] == -4.0 and rows[tuple(-cap1)] == 8.0
  balance = np.array([0, 1, -1, 0, 0, 0, 0, 0, 0.0])
  assert rows[tuple(balance)] == -2.0 and rows[tuple(-balance)] == 5.0
  bal2 = np.array([0, 0, 0, 1, -1, 0, 0, 0, 0.0])
  assert rows[tuple(bal2)] == 1.0 and rows[tuple(-bal2)] == 1.0
  assert len(p.b_eq) == 0


def test_a_lone_negative_upper_bound_frees_the_lower_one():
  # The convention of CPLEX and most readers (HiGHS 1.16 keeps 0, an empty
  # box): UP below 0 on a variable whose lower bound was not given.
  text = """NAME NEG
ROWS
 N  OBJ
 L  R
COLUMNS
    X  OBJ  1.0  R  1.0
RHS
    RHS  R  0.0
BOUNDS
 UP BND  X  -2.0
ENDATA
"""
  assert mps.read_mps(text).arguments["bounds"] == [(None, -2.0)]


def test_fixed_format_names_with_spaces_and_gzip(tmp_path):
  def line(*fields):  # Fields at columns 5, 15, 25–36, 40, 50–61.
    name, row, value, *rest = fields
    text = f"    {name:<10}{row:<10}{value:>12}"
    return text + (f"   {rest[0]:<10}{rest[1]:>12}" if rest else "") + "\n"

  text = (
    "NAME          SPACED\n"
    "ROWS\n"
    " N  COST\n"
    " L  MY ROW\n"
    "COLUMNS\n"
    + line("MY VAR", "COST", "-1.0", "MY ROW", "1.0")
    + "RHS\n"
    + line("RHS", "MY ROW", "2.5")
    + "ENDATA\n"
  )
  model = mps.read_mps(text, fixed=True)
  assert model.variables == ("MY VAR",)
  assert model.arguments["b_ub"].tolist() == [2.5]
  path = tmp_path / "spaced.mps.gz"
  with gzip.open(path, "wt") as f:
    f.write(text)
  assert mps.read_mps(str(path), fixed=True).costs.tolist() == [-1.0]


@pytest.mark.parametrize(
  "line, error",
  [
    ("COLUMNS\n    X  NOPE  1.0\n", "line 5: unknown row 'NOPE'"),
    ("BOUNDS\n SC BND  X  1.0\n", "line 5: unknown column 'X'"),
    ("SOS\n", "line 4: unknown section 'SOS'"),
    (
      "COLUMNS\n    X  OBJ  1.0\nBOUNDS\n SC BND  X  1.0\n",
      "line 7: bound type 'SC' is not supported",
    ),
  ],
)
def test_malformed_files_name_the_line(line, error):
  text = "NAME BAD\nROWS\n N  OBJ\n" + line + "ENDATA\n"
  with pytest.raises(ValueError, match=error):
    mps.read_mps(text)
