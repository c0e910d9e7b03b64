"""Static checks of every launch file (``ros2 launch`` cannot run on machines without ROS 2).

Conventions the checks rely on (see README, "Launch files"):
- each ``launch/*.launch.py`` is listed in exactly one package's ``LAUNCH_FILES`` (setup.py),
  which installs it into that package's ``share/<pkg>/launch``;
- ``Node(package="p", executable="e")`` with string literals, ``e`` a console script of ``p``;
- every ``LaunchConfiguration("x")`` has a ``DeclareLaunchArgument("x")`` in the same file;
- config files are referenced as literals ``"config/<folder>/<file>.yaml"``: the file must exist
  and ``<folder>`` must be in the owning package's ``CONFIG_DIRS`` (so it is installed);
- every file declares ``namespace`` (default ``""``: the root), ``params_file``, ``use_sim_time``
  (``"false"``) and ``log_level`` (``"info"``) and passes them to every ``Node`` it starts:
  ``namespace=LaunchConfiguration("namespace")``, ``parameters=[*_params_files(context), ...,
  {"use_sim_time": ...}]``, ``arguments=["--ros-args", "--log-level", LaunchConfiguration(
  "log_level")]``, and ``remappings`` with ``NAMESPACE_REMAPS`` (``/clock`` -> ``clock``: a
  namespaced stack's own sim time);
- a ``Node`` of a package outside the workspace (``robot_state_publisher``) is started only
  after ``get_package_share_directory`` found it (inside a ``try``).
Each description is also evaluated against stand-ins of ``launch``/``launch_ros``
(``launch_stub.py``): the nodes it would start, with the arguments applied. Where the real ROS 2
``launch`` package is importable, each description is also loaded.
"""

from __future__ import annotations

import ast
import importlib.util
import re
import runpy
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from launch_stub import WORKSPACE, LaunchError, StartedNode, evaluate  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("h2o_sim", "h2o_robot_bridge", "h2o_learning")
LAUNCH = sorted((ROOT / "launch").glob("*.launch.py"))
STACK_ARGUMENTS = {
    "namespace": "",
    "params_file": None,
    "use_sim_time": "false",
    "log_level": "info",
}
"""The arguments every launch file declares, with their defaults (None: per file)."""
EXTERNAL = {"robot_state_publisher": {"robot_state_publisher"}}
"""Packages outside the workspace a launch file may start (optional: guarded by a lookup)."""
PARAMS_FILES = {
    "deploy.launch.py": "config/bridge/deploy.yaml",
    "record.launch.py": "config/bridge/recorder.yaml",
    "wheel_legged.launch.py": "config/sim/wheel_legged_sim.yaml",
    "train.launch.py": "",  # h2o_learning installs no trainer parameter file (none by default)
}


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
        if pkg in EXTERNAL:
            assert exe in EXTERNAL[pkg], f"{path.name}: unexpected {pkg} executable {exe!r}"
            continue
        assert pkg in PACKAGES, f"{path.name}: Node package {pkg!r} is not a workspace package"
        assert exe in SETUP[pkg]["scripts"], f"{path.name}: {pkg} declares no script {exe!r}"


@pytest.mark.parametrize("path", LAUNCH, ids=lambda p: p.name)
def test_external_packages_are_looked_up_first(path: Path) -> None:
    tree = ast.parse(path.read_text())
    started = {_literal_arg(c, "package", 99) for c in _calls(tree, "Node")} & set(EXTERNAL)
    guarded = {
        _literal_arg(call, "package_name")
        for t in ast.walk(tree)
        if isinstance(t, ast.Try)
        for statement in t.body
        for call in _calls(statement, "get_package_share_directory")
    }
    assert started <= guarded, f"{path.name}: {sorted(started - guarded)} started unguarded"


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


def _is_configuration(node: ast.AST | None, name: str) -> bool:
    """``node`` is ``LaunchConfiguration("name")``."""
    return (
        isinstance(node, ast.Call)
        and node in _calls(node, "LaunchConfiguration")
        and _literal_arg(node, "variable_name") == name
    )


def _mentions(node: ast.AST | None, name: str) -> bool:
    """``LaunchConfiguration("name")`` occurs somewhere in ``node``."""
    return node is not None and any(
        _literal_arg(c, "variable_name") == name for c in _calls(node, "LaunchConfiguration")
    )


def _keyword(call: ast.Call, name: str) -> ast.AST | None:
    return next((kw.value for kw in call.keywords if kw.arg == name), None)


@pytest.mark.parametrize("path", LAUNCH, ids=lambda p: p.name)
def test_stack_arguments_are_declared_with_their_defaults(path: Path) -> None:
    tree = ast.parse(path.read_text())
    declared = {
        _literal_arg(c, "name"): _literal_arg(c, "default_value", 1)
        for c in _calls(tree, "DeclareLaunchArgument")
    }
    missing = set(STACK_ARGUMENTS) - set(declared)
    assert not missing, f"{path.name} does not declare {sorted(missing)}"
    for name, default in STACK_ARGUMENTS.items():
        if default is not None:
            assert declared[name] == default, f"{path.name}: {name} defaults to {declared[name]!r}"


@pytest.mark.parametrize("path", LAUNCH, ids=lambda p: p.name)
def test_every_node_gets_the_stack_arguments(path: Path) -> None:
    tree = ast.parse(path.read_text())
    helpers = {f.name: f for f in ast.walk(tree) if isinstance(f, ast.FunctionDef)}
    for call in _calls(tree, "Node"):
        what = f"{path.name}: Node {_literal_arg(call, 'executable', 99)!r}"
        assert _is_configuration(_keyword(call, "namespace"), "namespace"), (
            f"{what}: namespace=LaunchConfiguration('namespace') missing"
        )
        arguments = _keyword(call, "arguments")
        assert isinstance(arguments, ast.List), f"{what}: no arguments=[...]"
        items = arguments.elts
        texts = [e.value if isinstance(e, ast.Constant) else None for e in items]
        assert texts[:2] == ["--ros-args", "--log-level"] and _is_configuration(
            items[2] if len(items) > 2 else None, "log_level"
        ), f"{what}: arguments must start --ros-args --log-level LaunchConfiguration('log_level')"
        remappings = _keyword(call, "remappings")
        names = (
            {n.id for n in ast.walk(remappings) if isinstance(n, ast.Name)} if remappings else ()
        )
        assert "NAMESPACE_REMAPS" in names, f"{what}: remappings without NAMESPACE_REMAPS"
        parameters = _keyword(call, "parameters")
        assert isinstance(parameters, ast.List), f"{what}: no parameters=[...]"
        files = [
            e
            for e in parameters.elts
            if _is_configuration(e, "params_file")
            or (
                isinstance(e, ast.Starred)
                and isinstance(e.value, ast.Call)
                and isinstance(e.value.func, ast.Name)
                and _mentions(helpers.get(e.value.func.id), "params_file")
            )
        ]
        assert files and parameters.elts[0] is files[0], f"{what}: params_file not first"
        sim_time = [
            v
            for d in parameters.elts
            if isinstance(d, ast.Dict)
            for k, v in zip(d.keys, d.values, strict=True)
            if isinstance(k, ast.Constant) and k.value == "use_sim_time"
        ]
        assert sim_time and _mentions(sim_time[0], "use_sim_time"), (
            f"{what}: no use_sim_time from LaunchConfiguration('use_sim_time')"
        )


def _check_stack(
    node: StartedNode, namespace: str, files: list[str], sim: bool, level: str
) -> None:
    what = f"{node.executable}"
    assert node.namespace == namespace, what
    assert node.params_files == files, what
    assert node.params["use_sim_time"] is sim, what
    assert node.arguments == ["--ros-args", "--log-level", level], what
    assert ("/clock", "clock") in node.remappings, what


@pytest.mark.parametrize("path", LAUNCH, ids=lambda p: p.name)
def test_evaluated_defaults_start_at_the_root_with_the_installed_file(path: Path) -> None:
    result = evaluate(path, {"policy": "classical"} if path.name == "deploy.launch.py" else {})
    assert result.nodes, f"{path.name} starts nothing by default"
    default = PARAMS_FILES[path.name]
    files = [str(ROOT / default)] if default else []
    for node in result.nodes:
        _check_stack(node, "", files, False, "info")
        for file in node.params_files:
            assert Path(file).is_file(), file


@pytest.mark.parametrize("path", LAUNCH, ids=lambda p: p.name)
def test_evaluated_stack_arguments_reach_every_node(path: Path, tmp_path: Path) -> None:
    params = tmp_path / "mine.yaml"
    params.write_text("/**:\n  ros__parameters: {}\n")
    urdf = tmp_path / "robot.urdf"
    urdf.write_text("<robot name='r'/>")
    args = {"namespace": "r1", "params_file": str(params), "use_sim_time": "true"}
    args["log_level"] = "debug"
    if path.name == "wheel_legged.launch.py":
        args["urdf"] = str(urdf)  # every node: the sim and robot_state_publisher
    result = evaluate(path, args, installed=WORKSPACE | set(EXTERNAL))
    for node in result.nodes:
        _check_stack(node, "r1", [str(params)], True, "debug")
    none = evaluate(path, {**args, "params_file": ""}, installed=WORKSPACE | set(EXTERNAL))
    assert all(node.params_files == [] for node in none.nodes)  # the code defaults apply
    with pytest.raises(LaunchError, match="undeclared"):
        evaluate(path, {"namespaces": "r1"})


def test_deploy_arguments_override_only_when_given() -> None:
    path = ROOT / "launch" / "deploy.launch.py"
    node = evaluate(path).node("policy_runner")
    assert set(node.params) == {"use_sim_time"}  # everything else: the parameter file's
    given = {"policy": "classical", "rate": "200", "shadow": "true", "joint_states": "/robot/js"}
    node = evaluate(path, {**given, "command": "true"}).node("policy_runner")
    assert node.params == {
        "policy": "classical",
        "control_hz": 200.0,  # a double parameter: rate:=200 must not set an integer
        "shadow": True,
        "joint_states_topic": "/robot/js",
        "joint_commands_topic": "true",  # a topic name is text, whatever it looks like
        "use_sim_time": False,
    }
    assert isinstance(node.params["control_hz"], float)


def test_record_and_sim_arguments_override_only_when_given() -> None:
    rec = evaluate(ROOT / "launch" / "record.launch.py", {"output": "1.h5", "control_hz": "50"})
    assert rec.node("dataset_recorder").params == {
        "output": "1.h5",  # text, not the number 1.h5 would never be
        "control_hz": 50.0,
        "use_sim_time": False,
    }
    sim = evaluate(ROOT / "launch" / "wheel_legged.launch.py", {"dynamics": "gravity_x2"})
    assert sim.node("wheel_legged_sim").params == {
        "dynamics": "gravity_x2",
        "publish_robot_description": True,  # no robot_state_publisher here: the sim does
        "use_sim_time": False,
    }
    train = evaluate(ROOT / "launch" / "train.launch.py", {"resume": "true", "run_dir": "runs/a"})
    assert train.node("h2o_trainer").params == {
        "resume": True,
        "run_dir": "runs/a",
        "use_sim_time": False,
    }


def test_robot_state_publisher_where_installed_and_one_description_publisher(
    tmp_path: Path,
) -> None:
    path = ROOT / "launch" / "wheel_legged.launch.py"
    urdf = tmp_path / "robot.urdf"
    urdf.write_text("<robot name='wheel_legged'/>")
    with_rsp = WORKSPACE | set(EXTERNAL)

    def publishes(result: Any) -> bool:
        return bool(result.node("wheel_legged_sim").params["publish_robot_description"])

    plain = evaluate(path)  # robot_state_publisher is not installed: the sim publishes
    assert [n.executable for n in plain.nodes] == ["wheel_legged_sim"] and publishes(plain)
    assert any("not installed" in line for line in plain.logs)
    off = evaluate(path, {"urdf": "none"}, with_rsp)
    assert [n.executable for n in off.nodes] == ["wheel_legged_sim"] and publishes(off)
    assert any("urdf:=none" in line for line in off.logs)
    full = evaluate(path, {"urdf": str(urdf), "namespace": "r2"}, with_rsp)
    rsp = full.node("robot_state_publisher")
    assert rsp.params["robot_description"] == "<robot name='wheel_legged'/>"
    assert not publishes(full)  # one robot_description publisher: robot_state_publisher
    assert rsp.namespace == "r2" and ("/tf", "tf") in rsp.remappings
    assert ("/tf_static", "tf_static") in rsp.remappings
    with pytest.raises(RuntimeError, match="no such file"):
        evaluate(path, {"urdf": str(tmp_path / "none.urdf")}, with_rsp)
    # By default the installed copy (share/h2o_sim/urdf/; the stand-in's share is this checkout)
    with pytest.raises(RuntimeError, match=r"urdf/wheel_legged.urdf: no such file"):
        evaluate(path, {}, with_rsp)


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
