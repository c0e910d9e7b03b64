"""Every import of a package maps to a dependency its ``package.xml`` declares (rosdep-clean).

For each package: the top-level module of every import (``ast``, also imports inside
functions) in its Python modules and in the launch files its ``setup.py`` installs. The
standard library (``sys.stdlib_module_names``) and the package itself are ignored; a sibling
``h2o_*`` package or a ROS package must be a ``<depend>`` / ``<exec_depend>`` of that name; a
Python library must be declared by its rosdep key (:data:`ROSDEP_KEYS`), or, where the public
rosdep database has no key (:data:`NO_ROSDEP_KEY`), be named in a comment of the package.xml.
An import that is in neither table fails: decide its key and add it here.
"""

from __future__ import annotations

import ast
import re
import shutil
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("h2o_sim", "h2o_robot_bridge", "h2o_learning")

ROS_PACKAGES = frozenset(
    {
        "rclpy",
        "rcl_interfaces",
        "builtin_interfaces",
        "lifecycle_msgs",
        "std_msgs",
        "sensor_msgs",
        "geometry_msgs",
        "nav_msgs",
        "std_srvs",
        "diagnostic_msgs",
        "rosgraph_msgs",
        "launch",
        "launch_ros",
        "ament_index_python",
    }
)
"""ROS packages imported under their package name."""
ROSDEP_KEYS = {
    "numpy": "python3-numpy",
    "yaml": "python3-yaml",
    "h5py": "python3-h5py",
    "matplotlib": "python3-matplotlib",
    "tqdm": "python3-tqdm",
    # Only pip rules exist in the rosdep database for these.
    "pybullet": "python3-pybullet-pip",
    "onnxruntime": "python3-onnxruntime-pip",
    "torch": "python3-pytorch-pip",
}
"""Import name -> rosdep key (rosdistro's rosdep/python.yaml)."""
NO_ROSDEP_KEY = frozenset(
    {
        "gymnasium",
        "onnx",
        "rosbags",
        "lz4",  # comes with rosbags
        "backports",  # backports.zstd, comes with rosbags (before Python 3.14)
        "compression",  # compression.zstd: the standard library from Python 3.14
        "minari",
        "d3rlpy",
        "ray",
        "cma",
    }
)
"""Imports with no rosdep key: the package.xml must say so in a comment naming them."""


def imports(path: Path) -> Iterator[tuple[str, int]]:
    """(top-level module, line) of every absolute import in ``path``."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name.split(".")[0], node.lineno
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module.split(".")[0], node.lineno


def launch_files(pkg_dir: Path, launch_dir: Path) -> list[Path]:
    """The launch files ``setup.py`` installs (its ``LAUNCH_FILES`` list)."""
    for node in ast.parse((pkg_dir / "setup.py").read_text()).body:
        target = node.target if isinstance(node, ast.AnnAssign) else None
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
        if isinstance(target, ast.Name) and target.id == "LAUNCH_FILES" and node.value:
            return [launch_dir / name for name in ast.literal_eval(node.value)]
    raise AssertionError(f"{pkg_dir / 'setup.py'} has no LAUNCH_FILES list")


def package_files(pkg_dir: Path, launch_dir: Path) -> list[Path]:
    return sorted((pkg_dir / pkg_dir.name).rglob("*.py")) + launch_files(pkg_dir, launch_dir)


def run_dependencies(package_xml: Path) -> set[str]:
    """``<depend>`` and ``<exec_depend>`` names; asserts package format 3."""
    root = ET.parse(package_xml).getroot()
    assert root.tag == "package" and root.get("format") == "3", f"{package_xml}: not format 3"
    return {e.text.strip() for e in root if e.tag in ("depend", "exec_depend") and e.text}


def comment_words(package_xml: Path) -> set[str]:
    """Words in the XML comments of ``package_xml``."""
    text = " ".join(re.findall(r"<!--(.*?)-->", package_xml.read_text(), flags=re.S))
    return set(re.findall(r"[A-Za-z0-9_.\-]+", text)) | set(re.findall(r"[A-Za-z0-9_]+", text))


def dependency_problems(pkg_dir: Path, launch_dir: Path) -> list[str]:
    """Every import of the package that its package.xml does not cover, with where it is."""
    declared = run_dependencies(pkg_dir / "package.xml")
    noted = comment_words(pkg_dir / "package.xml")
    problems: dict[str, str] = {}
    for path in package_files(pkg_dir, launch_dir):
        for name, line in imports(path):
            if name in sys.stdlib_module_names or name == pkg_dir.name or name in problems:
                continue
            where = f"{path.relative_to(pkg_dir.parents[1])}:{line}"
            problem = _problem(name, declared, noted)
            if problem:
                problems[name] = f"{where}: {problem}"
    return sorted(problems.values())


def _problem(name: str, declared: set[str], noted: set[str]) -> str | None:
    if name.startswith("h2o_") or name in ROS_PACKAGES:
        return None if name in declared else f"import {name}: no <exec_depend>{name}"
    if name in ROSDEP_KEYS:
        key = ROSDEP_KEYS[name]
        return None if key in declared else f"import {name}: no <exec_depend>{key}"
    if name in NO_ROSDEP_KEY:
        return None if name in noted else f"import {name}: no rosdep key, say so in a comment"
    return f"import {name}: not in this test's tables; find its rosdep key and add it"


@pytest.mark.parametrize("package", PACKAGES)
def test_every_import_is_a_declared_dependency(package: str) -> None:
    assert dependency_problems(REPO / "src" / package, REPO / "launch") == []


def test_the_sim_runs_robot_state_publisher_and_all_use_std_msgs() -> None:
    assert "robot_state_publisher" in run_dependencies(REPO / "src/h2o_sim/package.xml")
    for package in PACKAGES:
        assert "std_msgs" in run_dependencies(REPO / "src" / package / "package.xml")


@pytest.fixture
def sim_copy(tmp_path: Path) -> Path:
    """A copy of ``src/h2o_sim`` (sources, setup.py, package.xml) and ``launch/``."""
    pkg = tmp_path / "src" / "h2o_sim"
    shutil.copytree(REPO / "src/h2o_sim/h2o_sim", pkg / "h2o_sim")
    for name in ("setup.py", "package.xml"):
        shutil.copy(REPO / "src/h2o_sim" / name, pkg / name)
    shutil.copytree(REPO / "launch", tmp_path / "launch")
    assert dependency_problems(pkg, tmp_path / "launch") == []
    return pkg


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def test_a_removed_dependency_is_found(sim_copy: Path) -> None:
    _edit(sim_copy / "package.xml", "<exec_depend>python3-numpy</exec_depend>", "")
    problems = dependency_problems(sim_copy, sim_copy.parents[1] / "launch")
    assert len(problems) == 1 and "no <exec_depend>python3-numpy" in problems[0], problems


@pytest.mark.parametrize(
    ("module", "expected"),
    [
        ("import pandas\n", "import pandas: not in this test's tables"),
        ("from h2o_learning.training import trainer\n", "no <exec_depend>h2o_learning"),
        ("def f():\n    import torch\n", "no <exec_depend>python3-pytorch-pip"),
        ("from tf2_ros import Buffer\n", "import tf2_ros: not in this test's tables"),
        ("import diagnostic_msgs.msg\n", "no <exec_depend>diagnostic_msgs"),
    ],
    ids=["unknown-library", "sibling", "inside-a-function", "unknown-ros", "ros-message"],
)
def test_a_new_import_without_its_dependency_is_found(
    sim_copy: Path, module: str, expected: str
) -> None:
    (sim_copy / "h2o_sim" / "new_module.py").write_text(module)
    problems = dependency_problems(sim_copy, sim_copy.parents[1] / "launch")
    assert len(problems) == 1 and expected in problems[0] and "new_module.py:" in problems[0]


def test_a_keyless_import_needs_its_comment(sim_copy: Path) -> None:
    _edit(sim_copy / "package.xml", "No rosdep key: gymnasium", "No rosdep key: (none)")
    problems = dependency_problems(sim_copy, sim_copy.parents[1] / "launch")
    assert problems and all("gymnasium: no rosdep key" in p for p in problems), problems


def test_launch_file_imports_count(sim_copy: Path) -> None:
    _edit(sim_copy / "package.xml", "<exec_depend>launch_ros</exec_depend>", "")
    problems = dependency_problems(sim_copy, sim_copy.parents[1] / "launch")
    assert len(problems) == 1 and "launch/wheel_legged.launch.py" in problems[0], problems
