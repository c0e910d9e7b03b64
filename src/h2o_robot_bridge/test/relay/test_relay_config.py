"""``command_relay`` parameters: defaults, the shipped YAML files agree with them, and every bad
value is a ConfigError naming the parameter."""

from __future__ import annotations

import math

import pytest

from h2o_robot_bridge.config_files import config_file, load_yaml_mapping
from h2o_robot_bridge.errors import ConfigError
from h2o_robot_bridge.relay.config import RelayConfig, parameter_defaults
from h2o_robot_bridge.testing.relay_names import ROBOT_JOINT_MAP

JOINT_MAP = ROBOT_JOINT_MAP
RENAMED = {
    "joint_map": JOINT_MAP,
    "leg_joints": ["hip_l", "knee_l", "hip_r", "knee_r"],
    "wheel_joints": ["wheel_l", "wheel_r"],
}


def _shipped(relative: str) -> dict:
    return load_yaml_mapping(config_file("h2o_robot_bridge", relative))


def test_defaults_round_trip() -> None:
    config = RelayConfig.from_params(parameter_defaults())
    assert config == RelayConfig()
    assert config.leg_topic == "leg_position_controller/commands"  # relative: namespaces work
    assert config.wheel_topic == "wheel_effort_controller/commands"
    assert config.topics.joint_commands == "joint_commands"  # relative: moves with the namespace
    assert config.warnings() == []


def test_shipped_relay_yaml_holds_the_defaults() -> None:
    params = _shipped("bridge/command_relay.yaml")["/**"]["ros__parameters"]
    assert set(params) <= set(parameter_defaults())  # no unknown (silently ignored) names
    assert RelayConfig.from_params(params) == RelayConfig()


def test_example_controllers_match_the_relay_defaults() -> None:
    """The example ros2_control file and the relay defaults name the same controllers, joints
    and joint orders (the relay's order is the controller's ``joints``)."""
    controllers = _shipped("bridge/ros2_controllers.example.yaml")
    relay = RelayConfig()
    manager = controllers["controller_manager"]["ros__parameters"]
    forward = "forward_command_controller/ForwardCommandController"
    assert manager["joint_state_broadcaster"]["type"] == (
        "joint_state_broadcaster/JointStateBroadcaster"
    )
    for name, joints, interface in (
        (relay.leg_controller, relay.joints.leg_joints, "position"),
        (relay.wheel_controller, relay.joints.wheel_joints, "effort"),
    ):
        assert manager[name]["type"] == forward
        params = controllers[name]["ros__parameters"]
        assert tuple(params["joints"]) == joints
        assert params["interface_name"] == interface


def test_integers_are_numbers() -> None:
    config = RelayConfig.from_params({"timeout": 1, "rate": 10, "stop_crouch": [1, 0]})
    assert config.timeout == 1.0 and config.rate == 10.0 and config.stop.crouch == (1.0, 0.0)


def test_renamed_robot_with_sensor_relay() -> None:
    params = {**RENAMED, "relay_joint_states": True, "joint_states_topic": "h2o/joint_states"}
    config = RelayConfig.from_params(params)
    assert config.joints.renames and config.topics.joint_states == "h2o/joint_states"
    assert config.robot_joint_states_topic == "joint_states" and config.warnings() == []


def test_warnings_for_settings_probably_not_meant() -> None:
    (renamed,) = RelayConfig.from_params(RENAMED).warnings()
    assert "relay_joint_states is false" in renamed
    params = {"relay_joint_states": True, "joint_states_topic": "/h2o/joint_states"}
    (unneeded,) = RelayConfig.from_params(params).warnings()
    assert "not needed" in unneeded


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"timeout": 0.0}, "timeout must be a positive number"),
        ({"timeout": -0.1}, "timeout must be a positive number"),
        ({"timeout": math.nan}, "timeout must be a positive number"),
        ({"timeout": "0.1"}, "timeout must be a number, got '0.1'"),
        ({"timeout": True}, "timeout must be a number"),
        ({"rate": 0.0}, "rate must be a positive number"),
        ({"rate": math.inf}, "rate must be a positive number"),
        ({"rate": 5.0}, "rate must be >= 1/timeout = 10 Hz"),
        ({"leg_controller": ""}, "leg_controller must be a non-empty name"),
        ({"wheel_controller": "wheel controller"}, "wheel_controller must be a controller name"),
        ({"leg_controller": 3}, "leg_controller must be a non-empty name"),
        ({"wheel_controller": "leg_position_controller"}, "leg_controller and wheel_controller"),
        ({"relay_joint_states": "yes"}, "relay_joint_states must be true or false"),
        ({"relay_joint_states": True}, "robot_joint_states_topic and joint_states_topic"),
        ({"stop_crouch": [2.0, 0.0]}, "stop_crouch: stop crouch must be two actions"),
        ({"stop_crouch": [1.0]}, "stop_crouch: stop crouch must be two actions"),
        ({"stop_crouch": 1.0}, "stop_crouch must be a list of numbers"),
        ({"stop_crouch_time": 0.0}, "stop_crouch_time must be a positive number"),
        ({"joint_commands_topic": ""}, "joint_commands_topic must be a non-empty topic name"),
        ({"robot_joint_states_topic": ""}, "robot_joint_states_topic must be a non-empty"),
        ({"joint_map": JOINT_MAP}, "leg_joints names joints ['left_hip', 'left_knee'"),
        ({"timout": 0.1}, "unknown command_relay parameters ['timout']"),
    ],
)
def test_bad_parameters_are_named(params: dict, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        RelayConfig.from_params(params)
    assert message in str(err.value)
