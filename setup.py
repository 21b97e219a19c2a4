"""Installs perturbations_tf: `pip install -e ".[test]"`."""

from setuptools import find_packages, setup

# What the experiment binaries need beyond the library: CIFAR-10 through
# tensorflow-datasets, whose download path imports importlib_resources
# without declaring it, and matplotlib for the figures.
EXPERIMENTS = ["tensorflow-datasets", "importlib_resources", "matplotlib"]

setup(
    name="perturbations-tf",
    version="0.1.0",
    description=("Differentiable perturbed optimizers and Fenchel-Young losses "
                 "for TensorFlow / Keras 3 (Berthet et al., NeurIPS 2020)."),
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    license_files=["LICENSE"],
    classifiers=[
        "License :: OSI Approved :: Apache Software License",
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
        "Typing :: Typed",
    ],
    # Only the library: experiments/, benchmarks/ and examples/ run from the
    # repository (`python -m experiments.shortest_path`), and would collide
    # with other projects' top-level packages of those names if installed.
    packages=find_packages(include=["perturbations_tf", "perturbations_tf.*"]),
    package_data={"perturbations_tf": ["py.typed"]},  # PEP 561: typed.
    python_requires=">=3.11",  # Exception notes (PEP 678).
    install_requires=[
        # The oldest pair tested (.ci/run, .ci/oldest-constraints.txt).
        "tensorflow>=2.16.2",
        "keras>=3.3.3",
        "numpy",
        "absl-py",
        "tensorboard",
    ],
    extras_require={
        "experiments": EXPERIMENTS,
        "test": ["pytest", "scipy", "dask[distributed]", *EXPERIMENTS],
        "plot": ["matplotlib"],
        "examples": ["scipy"],
        "lp": ["scipy"],  # LinearProgram: HiGHS through scipy.optimize.
        "distributed": ["dask[distributed]"],
    },
)
