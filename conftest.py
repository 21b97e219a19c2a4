"""Doctest set-up: the names every docstring example may use, and the same
printing on every supported NumPy."""

import functools

import numpy as np
import pytest


@pytest.fixture(autouse=True)
def _doctest_names(doctest_namespace):
  import keras
  import tensorflow as tf

  import perturbations_tf as ptf

  doctest_namespace.update(
    functools=functools, keras=keras, np=np, ptf=ptf, tf=tf
  )
  if np.lib.NumpyVersion(np.__version__) >= "2.0.0":
    np.set_printoptions(legacy="1.25")  # NumPy 1's scalar reprs.
