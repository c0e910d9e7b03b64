"""Static checks of every launch file (``ros2 launch`` cannot run on machines without ROS 2).

Conventions the checks rely on (see README, "Launch files"):
- each ``launch/*.launch.py`` is listed in exactly one package's ``LAUNCH_FILES`` (setup.py),
  which installs it into that package's ``share/<pkg>/launch``;
- ``Node(package="p", executable="e")`` with string literals, ``e`` a console script of ``p``;
- every ``LaunchConfiguration("x")`` has a ``DeclareLaunchArgument("x")`` in the same file;
- config files are referenced as literals ``"config/<folder>/<file>.yaml"``: the file must exist
  and ``<folder>`` must be in the owning package's ``CONFIG_DIRS`` (so it is installed).
Where the real ROS 2 ``launch`` package is importable, each description is also loaded.
"""

from __future__ import annotations

import ast
import importlib.util
import re
import runpy
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("h2o_sim", "h2o_robot_bridge", "h2o_learning")
LAUNCH = sorted((ROOT / "launch").glob("*.launch.py"))


def _setup_info(pkg: str) -> dict[str, object]:
    """LAUNCH_FILES, CONFIG_DIRS and console script names read from a setup.py's syntax tree."""
    tree = ast.parse((ROOT / "src" / pkg / "setup.py").read_text())
    info: dict[str, object] = {"LAUNCH_FILES": [], "CONFIG_DIRS": [], "scripts": set()}
    for node in ast.walk(tree):
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            target = node.targets[0] if isinstance(node, ast.Assign) else node.target
            if isinstance(target, ast.Name) and target.id in ("LAUNCH_FILES", "CONFIG_DIRS"):
                info[target.id] = ast.literal_eval(node.value)
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if isinstance(key, ast.Constant) and key.value == "console_scripts":
                    specs = ast.literal_eval(value)
                    info["scripts"] = {s.split("=")[0].strip() for s in specs}
    return info


SETUP = {pkg: _setup_info(pkg) for pkg in PACKAGES}


def _owner(launch_file: Path) -> str:
    owners = [p for p in PACKAGES if launch_file.name in SETUP[p]["LAUNCH_FILES"]]
    assert len(owners) == 1, f"{launch_file.name} is installed by {owners or 'no package'}"
    return owners[0]


def _calls(tree: ast.AST, name: str) -> list[ast.Call]:
    def called(node: ast.Call) -> str | None:
        f = node.func
        if isinstance(f, ast.Name):
            return f.id
        return f.attr if isinstance(f, ast.Attribute) else None

    return [n for n in ast.walk(tree) if isinstance(n, ast.Call) and called(n) == name]


def _literal_arg(call: ast.Call, keyword: str, position: int = 0) -> str | None:
    for kw in call.keywords:
        if kw.arg == keyword and isinstance(kw.value, ast.Constant):
            return kw.value.value
    if len(call.args) > position and isinstance(call.args[position], ast.Constant):
        return call.args[position].value
    return None


def test_declared_launch_files_exist() -> None:
    for pkg in PACKAGES:
        for name in SETUP[pkg]["LAUNCH_FILES"]:
            assert (ROOT / "launch" / name).is_file(), f"{pkg} installs missing launch/{name}"


@pytest.mark.parametrize("path", LAUNCH, ids=lambda p: p.name)
def test_nodes_name_declared_console_scripts(path: Path) -> None:
    _owner(path)
    nodes = _calls(ast.parse(path.read_text()), "Node")
    assert nodes, f"{path.name} starts no Node"
    for call in nodes:
        pkg, exe = _literal_arg(call, "package", 99), _literal_arg(call, "executable", 99)
        assert pkg in PACKAGES, f"{path.name}: Node package {pkg!r} is not a workspace package"
        assert exe in SETUP[pkg]["scripts"], f"{path.name}: {pkg} declares no script {exe!r}"


@pytest.mark.parametrize("path", LAUNCH, ids=lambda p: p.name)
def test_launch_arguments_are_declared(path: Path) -> None:
    tree = ast.parse(path.read_text())
    declared = {_literal_arg(c, "name") for c in _calls(tree, "DeclareLaunchArgument")}
    used = {_literal_arg(c, "variable_name") for c in _calls(tree, "LaunchConfiguration")}
    assert None not in used, f"{path.name}: LaunchConfiguration with a non-literal name"
    assert used <= declared, f"{path.name}: undeclared arguments {sorted(used - declared)}"


@pytest.mark.parametrize("path", LAUNCH, ids=lambda p: p.name)
def test_referenced_configs_exist_and_are_installed(path: Path) -> None:
    owner = _owner(path)
    refs = re.findall(r"""["'](config/[\w./-]+\.ya?ml)["']""", path.read_text())
    for ref in refs:
        assert (ROOT / ref).is_file(), f"{path.name} references missing {ref}"
        folder = ref.split("/")[1]
        assert folder in SETUP[owner]["CONFIG_DIRS"], f"{ref} is not installed by {owner}"


def _ros_launch_available() -> bool:
    if importlib.util.find_spec("launch") is None:
        return False
    import launch  # noqa: PLC0415 - only the real ROS 2 package has LaunchDescription

    return hasattr(launch, "LaunchDescription")


@pytest.mark.skipif(
    not _ros_launch_available(),
    reason="ROS 2 'launch' is not installed here (no PyPI wheel exists); checked statically only",
)
@pytest.mark.parametrize("path", LAUNCH, ids=lambda p: p.name)
def test_launch_description_loads(path: Path) -> None:
    import launch  # noqa: PLC0415

    description = runpy.run_path(str(path))["generate_launch_description"]()
    assert isinstance(description, launch.LaunchDescription)
