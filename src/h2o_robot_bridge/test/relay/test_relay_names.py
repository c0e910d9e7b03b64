"""Robot joint names <-> contract names, controller orders, and the sensor-side remap (real
``sensor_msgs/JointState`` messages, no rclpy)."""

from __future__ import annotations

import numpy as np
import pytest
from sensor_msgs.msg import JointState

from h2o_robot_bridge.contract import JOINT_NAMES
from h2o_robot_bridge.conversions.from_msg import MessageError
from h2o_robot_bridge.errors import ConfigError
from h2o_robot_bridge.relay.names import (
    CONTRACT_LEGS,
    CONTRACT_WHEELS,
    IDENTITY_MAP,
    contract_reading,
    joint_map_from_parameters,
    parse_joint_map,
)

# A robot whose names all differ, controllers listing them in an order unlike the contract's.
ROBOT = {
    "left_hip": "hip_l",
    "left_knee": "knee_l",
    "left_wheel": "wheel_l",
    "right_hip": "hip_r",
    "right_knee": "knee_r",
    "right_wheel": "wheel_r",
}
JOINT_MAP = [f"{r}:{c}" for c, r in ROBOT.items()]
LEGS = ["knee_r", "hip_l", "hip_r", "knee_l"]
WHEELS = ["wheel_r", "wheel_l"]


def test_identity_default_picks_contract_legs_and_wheels() -> None:
    joints = joint_map_from_parameters(CONTRACT_LEGS, CONTRACT_WHEELS, IDENTITY_MAP)
    assert joints.robot_names == JOINT_NAMES and not joints.renames
    assert joints.leg_index == [0, 1, 3, 4] and joints.wheel_index == [2, 5]


def test_renamed_and_reordered_controllers() -> None:
    joints = joint_map_from_parameters(LEGS, WHEELS, JOINT_MAP)
    assert joints.renames
    assert joints.robot_names == tuple(ROBOT[c] for c in JOINT_NAMES)
    # knee_r is right_knee (contract 4), hip_l left_hip (0), hip_r right_hip (3), ...
    assert joints.leg_index == [4, 0, 3, 1] and joints.wheel_index == [5, 2]


def test_robot_names_may_contain_the_separator() -> None:
    entries = [f"robot:{c}:{c}" for c in JOINT_NAMES]  # split at the last ":"
    assert parse_joint_map(entries) == {f"robot:{c}": c for c in JOINT_NAMES}


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ("left_hip:left_hip", "joint_map must be a list of joint names"),
        ([*IDENTITY_MAP[:5], 7], "joint_map must hold non-empty strings"),
        ([*IDENTITY_MAP[:5], "right_wheel"], "'right_wheel' is not 'robot_name:contract_name'"),
        ([*IDENTITY_MAP[:5], ":right_wheel"], "is not 'robot_name:contract_name'"),
        ([*IDENTITY_MAP[:5], "right_wheel:"], "is not 'robot_name:contract_name'"),
        ([*IDENTITY_MAP[:5], "w:right_whel"], "unknown contract joints ['right_whel']"),
        ([*IDENTITY_MAP, "x:left_hip"], "maps contract joints more than once: ['left_hip']"),
        (IDENTITY_MAP[:4], "does not map contract joints ['right_knee', 'right_wheel']"),
        ([*IDENTITY_MAP[:5], "left_hip:right_wheel"], "robot joints more than once"),
    ],
    ids=[
        "string",
        "non-string",
        "no-separator",
        "empty-robot",
        "empty-contract",
        "unknown",
        "twice",
        "missing",
        "robot-twice",
    ],
)
def test_bad_joint_map_is_named(entries, message: str) -> None:
    with pytest.raises(ConfigError, match="joint_map") as err:
        parse_joint_map(entries)
    assert message in str(err.value)


@pytest.mark.parametrize(
    ("legs", "wheels", "message"),
    [
        (["knee_r", "hip_l", "hip_r", "knee"], WHEELS, "leg_joints names joints ['knee']"),
        (LEGS, ["wheel_r", "wheel_x"], "wheel_joints names joints ['wheel_x']"),
        (LEGS, ["wheel_r"], "maps robot joints ['wheel_l'] that are in neither"),
        (LEGS, ["wheel_r", "wheel_l", "hip_l"], "['hip_l'] are in both"),
        (LEGS, [*WHEELS, "wheel_r"], "wheel_joints names joints more than once: ['wheel_r']"),
        (
            ["knee_r", "hip_l", "hip_r", "wheel_l"],
            ["wheel_r", "knee_l"],
            "leg_joints must hold the robot's position (hip, knee) joints",
        ),
        ("hip_l", WHEELS, "leg_joints must be a list"),
        (LEGS, ["wheel_r", ""], "wheel_joints must hold non-empty strings"),
    ],
    ids=[
        "unknown-leg",
        "unknown-wheel",
        "uncontrolled",
        "both",
        "twice",
        "kind",
        "string",
        "empty",
    ],
)
def test_bad_controller_joints_are_named(legs, wheels, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        joint_map_from_parameters(legs, wheels, JOINT_MAP)
    assert message in str(err.value)


def _robot_state(names: list[str], position: list[float], effort: list[float]) -> JointState:
    msg = JointState(name=names, position=position, velocity=[], effort=effort)
    msg.header.stamp.sec, msg.header.frame_id = 42, "base"
    return msg


def test_contract_reading_reorders_renames_and_ignores_extras() -> None:
    joints = joint_map_from_parameters(LEGS, WHEELS, JOINT_MAP)
    # Robot order, plus joints the stack does not know (an arm, a caster).
    names = ["arm_1", "wheel_r", "knee_l", "hip_r", "caster", "hip_l", "wheel_l", "knee_r"]
    value = {n: float(i) for i, n in enumerate(names)}
    msg = _robot_state(names, [value[n] for n in names], [10 * value[n] for n in names])
    reading = contract_reading(msg, joints)
    expected = np.array([value[ROBOT[c]] for c in JOINT_NAMES])
    np.testing.assert_array_equal(reading.position, expected)
    np.testing.assert_array_equal(reading.effort, 10 * expected)
    assert np.isnan(reading.velocity).all()  # not reported: NaN, as the stack's reader does


def test_contract_reading_refuses_a_state_without_a_mapped_joint() -> None:
    joints = joint_map_from_parameters(LEGS, WHEELS, JOINT_MAP)
    names = ["wheel_r", "knee_l", "hip_r", "hip_l", "wheel_l"]  # knee_r missing
    with pytest.raises(MessageError, match="knee_r"):
        contract_reading(_robot_state(names, [0.0] * 5, []), joints)
