"""One topic definition: defaults, ``<name>_topic`` parameters, and every user derives from it."""

from __future__ import annotations

import dataclasses

import pytest

from h2o_robot_bridge.config_files import config_file, load_yaml_mapping
from h2o_robot_bridge.contract import TOPICS, RobotTopics
from h2o_robot_bridge.contract.topics import (
    TOPIC_NAMES,
    parameter_name,
    topic_parameters,
    topics_from_parameters,
)
from h2o_robot_bridge.dataset.bag.reader import BAG_TOPICS, BagTopics
from h2o_robot_bridge.dataset.recorder import PARAMETERS, config_from_parameters
from h2o_robot_bridge.deploy.config import DEPLOY_TOPICS, DeployConfig, parameter_defaults
from h2o_robot_bridge.errors import ConfigError


def test_defaults_are_the_documented_names() -> None:
    assert TOPICS.joint_states == "/joint_states" and TOPICS.imu == "/imu/data"
    assert TOPICS.joint_commands == "/joint_commands" and TOPICS.cmd_vel == "/cmd_vel"
    assert TOPICS.estop == "/h2o/estop" and TOPICS.reset == "/h2o/reset"
    assert len(set(dataclasses.astuple(TOPICS))) == len(TOPIC_NAMES)  # no two share a name


def test_parameters_round_trip() -> None:
    params = topic_parameters(["imu", "joint_commands"])
    assert params == {"imu_topic": "/imu/data", "joint_commands_topic": "/joint_commands"}
    topics = topics_from_parameters({"imu_topic": " /r1/imu ", "odom_topic": "/x"}, ["imu"])
    assert topics == dataclasses.replace(TOPICS, imu="/r1/imu")  # odom is not asked for
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
