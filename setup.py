"""A shim for tools that look for setup.py: everything is in pyproject.toml.

`pip install -e .` reads pyproject.toml; `python setup.py --version` prints
the version it declares (perturbations_tf.__version__).
"""

from setuptools import setup

setup()
