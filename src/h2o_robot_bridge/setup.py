"""Install h2o_robot_bridge: Python package, ament index marker, launch and config files."""

import os
from glob import glob

from setuptools import find_packages, setup

PACKAGE = "h2o_robot_bridge"
ROOT = os.path.join("..", "..")  # the colcon workspace root holds the shared launch/ and config/
# file names in ROOT/launch that this package owns
LAUNCH_FILES: list[str] = ["deploy.launch.py", "record.launch.py"]
CONFIG_DIRS = ["bridge"]  # ROOT/config folders needed at run time


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
        "h5py",
        "onnxruntime",
        "rosbags",
        "tqdm",
        "matplotlib",
    ],
    zip_safe=True,
    maintainer="h2o maintainers",
    maintainer_email="maintainers@h2o.invalid",
    description="Robot contract, datasets from topics and bags, safe ONNX deployment.",
    license="Apache-2.0",
    extras_require={"test": ["pytest"]},
    entry_points={
        "console_scripts": [
            "policy_runner = h2o_robot_bridge.nodes.policy_runner:main",
            "h2o-dataset = h2o_robot_bridge.dataset.cli:main",
            "dataset_recorder = h2o_robot_bridge.nodes.dataset_recorder:main",
            "command_relay = h2o_robot_bridge.nodes.command_relay:main",
        ]
    },
)
