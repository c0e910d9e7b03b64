"""Every ROS parameter file under ``config/`` applies to its node under any namespace and name.

A file keyed by the node's name (``policy_runner:``) is silently ignored by a node started in a
namespace (``/r1/policy_runner``) or renamed: it then runs on code defaults with no warning.
Keyed ``/**`` (every node), the file applies wherever a launch file or ``--params-file`` puts
the node. A YAML is a ROS parameter file when any mapping in it has a ``ros__parameters`` key
(the other YAMLs under ``config/`` are the stack's own configs: dynamics, training, ...).
Checked twice: the file's keys, and rcl's own parser (a node in a namespace gets every value).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from h2o_robot_bridge.testing.processes import ros_env

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted((ROOT / "config").rglob("*.yaml"))
KNOWN = {
    "bridge/deploy.yaml",
    "bridge/recorder.yaml",
    "bridge/command_relay.yaml",
    "sim/wheel_legged_sim.yaml",
}
"""The parameter files the nodes ship with (the detection below must find at least these)."""
NODE_NAMES = {
    "bridge/deploy.yaml": "policy_runner",
    "bridge/recorder.yaml": "dataset_recorder",
    "bridge/command_relay.yaml": "command_relay",
    "sim/wheel_legged_sim.yaml": "wheel_legged_sim",
}
"""The node each file is written for (others: any name)."""
NOT_OURS = {"bridge/ros2_controllers.example.yaml"}
"""Files for other nodes: the robot's ros2_control controller manager loads this one, keyed by
its own node names (controller_manager and each controller), as ros2_control requires."""


def _has_ros_parameters(node: Any) -> bool:
    if isinstance(node, dict):
        return "ros__parameters" in node or any(_has_ros_parameters(v) for v in node.values())
    return False


def _param_files() -> list[Path]:
    return [
        p
        for p in CONFIGS
        if _has_ros_parameters(yaml.safe_load(p.read_text()))
        and p.relative_to(ROOT / "config").as_posix() not in NOT_OURS
    ]


PARAM_FILES = _param_files()


def _relative(path: Path) -> str:
    return path.relative_to(ROOT / "config").as_posix()


def test_the_node_parameter_files_are_found() -> None:
    assert {_relative(p) for p in PARAM_FILES} >= KNOWN


@pytest.mark.parametrize("path", PARAM_FILES, ids=_relative)
def test_parameter_file_is_keyed_for_every_node(path: Path) -> None:
    data = yaml.safe_load(path.read_text())
    assert list(data) == ["/**"], (
        f"{_relative(path)}: top-level keys {list(data)}; key it '/**' so it applies to the "
        "node under any namespace and node name"
    )
    section = data["/**"]
    assert isinstance(section, dict) and list(section) == ["ros__parameters"], (
        f"{_relative(path)}: '/**' must hold exactly 'ros__parameters', got {list(section)}"
    )
    params = section["ros__parameters"]
    assert isinstance(params, dict) and params, f"{_relative(path)}: no parameters"
    nested = [k for k, v in params.items() if isinstance(v, dict)]
    assert not nested, f"{_relative(path)}: a node key nested inside ros__parameters: {nested}"


@pytest.mark.parametrize("namespace", ["/", "/r1", "/fleet/r2"])
@pytest.mark.parametrize("path", PARAM_FILES, ids=_relative)
def test_a_node_in_any_namespace_gets_every_value(
    path: Path, namespace: str, domain_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As a launch file starts it: --params-file and a namespace; rcl matches the file's keys.
    import rclpy  # noqa: PLC0415 - only this test needs rclpy
    from rclpy.context import Context  # noqa: PLC0415
    from rclpy.node import Node  # noqa: PLC0415

    for key, value in ros_env(domain_id, {}).items():
        monkeypatch.setenv(key, value)
    (section,) = yaml.safe_load(path.read_text()).values()  # whatever its key
    want = section["ros__parameters"]
    context = Context()
    args = ["--ros-args", "-r", f"__ns:={namespace}", "--params-file", str(path)]
    rclpy.init(context=context, args=args)
    try:
        node = Node(
            NODE_NAMES.get(_relative(path), "any_node"),
            context=context,
            automatically_declare_parameters_from_overrides=True,
        )
        got = {name: node.get_parameter(name).value for name in want if node.has_parameter(name)}
        node.destroy_node()
    finally:
        rclpy.try_shutdown(context=context)
    assert got.keys() == want.keys(), f"{_relative(path)} under {namespace}: missing " + str(
        sorted(want.keys() - got.keys())
    )
    assert got == want
