"""CIFAR-10 as the tests see it: tensorflow-datasets' mock data, and its
download host reachable (the binary checks it before downloading)."""

import contextlib
from unittest import mock

import tensorflow_datasets as tfds

from experiments import classification


@contextlib.contextmanager
def mock_cifar(num_examples: int = 24):
  with (
    tfds.testing.mock_data(num_examples=num_examples),
    mock.patch.object(classification, "reachable", lambda address: True),
  ):
    yield
