"""One topic definition: defaults, ``<name>_topic`` parameters, and every user derives from it."""

from __future__ import annotations

import dataclasses

import pytest

from h2o_robot_bridge.config_files import config_file, load_yaml_mapping
from h2o_robot_bridge.contract import TOPICS, RobotTopics
from h2o_robot_bridge.contract.topics import (
    ABSOLUTE_TOPICS,
    NAMESPACE_REMAPS,
    TOPIC_NAMES,
    parameter_name,
    resolve_topic,
    topic_parameters,
    topics_from_parameters,
)
from h2o_robot_bridge.dataset.bag.reader import BAG_TOPICS, BagTopics
from h2o_robot_bridge.dataset.recorder import PARAMETERS, config_from_parameters
from h2o_robot_bridge.deploy.config import DEPLOY_TOPICS, DeployConfig, parameter_defaults
from h2o_robot_bridge.errors import ConfigError


def test_defaults_are_the_documented_names() -> None:
    assert TOPICS.joint_states == "joint_states" and TOPICS.imu == "imu/data"
    assert TOPICS.joint_commands == "joint_commands" and TOPICS.cmd_vel == "cmd_vel"
    assert TOPICS.estop == "h2o/estop" and TOPICS.reset == "h2o/reset"
    assert TOPICS.ground_truth_odom == "ground_truth/odom"  # the sim's truth, not an estimate
    assert TOPICS.clock == "/clock" and TOPICS.diagnostics == "/diagnostics"
    assert len(set(dataclasses.astuple(TOPICS))) == len(TOPIC_NAMES)  # no two share a name


def test_every_topic_is_relative_but_the_documented_exceptions() -> None:
    # A namespace moves a relative name; an absolute one stays shared by every robot.
    absolute = {n for n in TOPIC_NAMES if getattr(TOPICS, n).startswith("/")}
    assert absolute == set(ABSOLUTE_TOPICS) == {"clock", "diagnostics"}
    assert NAMESPACE_REMAPS == (("/clock", "clock"),)  # a namespaced stack's own sim time


def test_resolution_puts_relative_names_under_the_namespace() -> None:
    assert resolve_topic("joint_states") == "/joint_states"
    for ns in ("/r1", "r1", "/r1/", " r1 "):
        assert resolve_topic("imu/data", ns) == "/r1/imu/data"
    assert resolve_topic("h2o/estop", "/fleet/r2") == "/fleet/r2/h2o/estop"
    assert resolve_topic("/clock", "/r1") == "/clock" and resolve_topic("x", "/") == "/x"
    at_r1 = TOPICS.resolved("/r1")
    assert at_r1.joint_commands == "/r1/joint_commands" and at_r1.reset == "/r1/h2o/reset"
    assert at_r1.clock == "/clock" and at_r1.diagnostics == "/diagnostics"
    assert TOPICS.resolved() == TOPICS.resolved("/")


@pytest.mark.parametrize(
    ("name", "namespace"),
    [("~/x", ""), ("{node}/x", ""), ("", "/r1"), ("joint states", ""), ("x", "/1r"), ("a//b", "")],
)
def test_unresolvable_names_are_refused(name: str, namespace: str) -> None:
    with pytest.raises(ConfigError):
        resolve_topic(name, namespace)


def test_parameters_round_trip() -> None:
    params = topic_parameters(["imu", "joint_commands"])
    assert params == {"imu_topic": "imu/data", "joint_commands_topic": "joint_commands"}
    given = {"imu_topic": " /r1/imu ", "ground_truth_odom_topic": "/x"}
    topics = topics_from_parameters(given, ["imu"])
    assert topics == dataclasses.replace(TOPICS, imu="/r1/imu")  # the odometry is not asked for
    assert parameter_name("reset") == "reset_topic"


@pytest.mark.parametrize("bad", ["", "  ", 3, None])
def test_bad_names_are_refused_naming_the_parameter(bad: object) -> None:
    with pytest.raises(ConfigError, match="imu_topic"):
        topics_from_parameters({"imu_topic": bad}, ["imu"])


def test_unknown_topic_is_refused() -> None:
    with pytest.raises(ConfigError, match="unknown topics"):
        topic_parameters(["lidar"])


def test_bag_topics_are_the_contract_topics() -> None:
    bag = BagTopics()
    assert {n: getattr(bag, n) for n in BAG_TOPICS} == {n: getattr(TOPICS, n) for n in BAG_TOPICS}
    renamed = BagTopics.from_parameters({"reset_topic": "/r1/reset"})
    assert renamed == BagTopics(reset="/r1/reset")


def test_bag_topics_resolve_at_the_root_or_under_a_namespace() -> None:
    # A bag stores absolute names: the root's for a robot run at the root, /r1/... under /r1.
    root = BagTopics().resolved()
    assert (root.joint_states, root.imu, root.joint_commands) == (
        "/joint_states",
        "/imu/data",
        "/joint_commands",
    )
    assert (root.cmd_vel, root.reset) == ("/cmd_vel", "/h2o/reset")
    r1 = BagTopics.from_parameters({"imu_topic": "/shared/imu"}).resolved("r1")
    assert r1 == BagTopics(
        joint_states="/r1/joint_states",
        imu="/shared/imu",  # absolute: read as given
        joint_commands="/r1/joint_commands",
        cmd_vel="/r1/cmd_vel",
        reset="/r1/h2o/reset",
    )
    assert r1.resolved() == r1  # resolving twice changes nothing


def test_deploy_and_recorder_parameters_derive_from_the_topics() -> None:
    config = DeployConfig.from_params({"policy": "classical", "joint_commands_topic": "/r1/cmd"})
    assert config.topics == RobotTopics(joint_commands="/r1/cmd")
    assert set(topic_parameters(DEPLOY_TOPICS)) <= {f"{n}_topic" for n in TOPIC_NAMES}
    with pytest.raises(ConfigError, match="lidar_topic"):
        DeployConfig.from_params({"policy": "classical", "lidar_topic": "/x"})
    assert {k: v for k, v in PARAMETERS.items() if k.endswith("_topic")} == topic_parameters(
        BAG_TOPICS
    )
    recorder = config_from_parameters({**PARAMETERS, "output": "x.h5", "imu_topic": "/r1/imu"})
    assert recorder.topics == BagTopics(imu="/r1/imu")


@pytest.mark.parametrize(
    ("package", "relative"),
    [
        ("h2o_robot_bridge", "bridge/deploy.yaml"),
        ("h2o_robot_bridge", "bridge/recorder.yaml"),
        ("h2o_sim", "sim/wheel_legged_sim.yaml"),
    ],
)
def test_parameter_files_hold_only_topic_overrides(package: str, relative: str) -> None:
    data = load_yaml_mapping(config_file(package, relative))
    (params,) = (section["ros__parameters"] for section in data.values())
    restated = {k: v for k, v in params.items() if k.endswith("_topic")}
    defaults = topic_parameters(n.removesuffix("_topic") for n in restated)
    assert not {k for k in restated if restated[k] == defaults[k]}, "defaults restated"


@pytest.mark.parametrize(
    ("relative", "defaults"),
    [("bridge/deploy.yaml", parameter_defaults()), ("bridge/recorder.yaml", PARAMETERS)],
)
def test_parameter_files_restate_only_code_defaults(relative: str, defaults: dict) -> None:
    # The YAML documents the parameters; a value that differs from the code is drift.
    data = load_yaml_mapping(config_file("h2o_robot_bridge", relative))
    (params,) = (section["ros__parameters"] for section in data.values())
    assert set(params) <= set(defaults), set(params) - set(defaults)
    drift = {k: (v, defaults[k]) for k, v in params.items() if v != defaults[k]}
    assert not drift, drift
