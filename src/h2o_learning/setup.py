"""Install h2o_learning: Python package, ament index marker, launch and config files."""

import os
from glob import glob

from setuptools import find_packages, setup

PACKAGE = "h2o_learning"
ROOT = os.path.join("..", "..")  # the colcon workspace root holds the shared launch/ and config/
LAUNCH_FILES: list[str] = ["train.launch.py"]  # file names in ROOT/launch that this package owns
CONFIG_DIRS = ["train", "demo", "experiment", "gap"]  # ROOT/config folders needed at run time


def data_files() -> list[tuple[str, list[str]]]:
    """Files installed under share/: the ament marker, package.xml, launch and config."""
    files = [
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", [os.path.join(ROOT, "launch", f) for f in LAUNCH_FILES]),
    ]
    for folder in CONFIG_DIRS:
        found = sorted(glob(os.path.join(ROOT, "config", folder, "*.yaml")))
        files.append((f"share/{PACKAGE}/config/{folder}", found))
    return files


setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    package_data={PACKAGE: ["py.typed"]},
    data_files=data_files(),
    # ROS client libraries come from the ROS install (or the dev-only PyPI wheels), never pip.
    install_requires=[
        "setuptools",
        "numpy",
        "pyyaml",
        "torch",
        "onnx",
        "onnxscript",
        "onnxruntime",
        "tensorboard",
        "tqdm",
        "matplotlib",
        "cma",
    ],
    zip_safe=True,
    maintainer="h2o maintainers",
    maintainer_email="maintainers@h2o.invalid",
    description="H2O (hybrid offline-and-online RL) and SAC/CQL/DARC baselines in PyTorch.",
    license="Apache-2.0",
    extras_require={"test": ["pytest"]},
    entry_points={
        "console_scripts": [
            "h2o-train = h2o_learning.training.cli:train_main",
            "h2o-eval = h2o_learning.training.cli:eval_main",
            "h2o-export = h2o_learning.training.cli:export_main",
            "h2o_trainer = h2o_learning.nodes.trainer_node:main",
            "h2o-demo = h2o_learning.demo.pipeline:main",
            "h2o-experiment = h2o_learning.experiment.runner:main",
            "h2o-gap = h2o_learning.gap.cli:main",
        ]
    },
)
