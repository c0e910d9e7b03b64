"""Message builders and readers round-trip (messages built directly, no rclpy)."""

from __future__ import annotations

import numpy as np

from h2o_robot_bridge.contract import action_to_command
from h2o_robot_bridge.conversions.from_msg import (
    imu_to_reading,
    joint_command_from_msg,
    joint_state_to_reading,
    stamp_to_sec,
    twist_to_command,
)
from h2o_robot_bridge.conversions.to_msg import (
    imu_msg,
    joint_command_msg,
    joint_state_msg,
    twist_msg,
)


def test_joint_state_round_trip() -> None:
    pos, vel, eff = np.arange(6.0), np.arange(6.0) * 2, np.arange(6.0) * 3
    msg = joint_state_msg(12.25, pos, vel, eff)
    reading = joint_state_to_reading(msg)
    np.testing.assert_array_equal(reading.position, pos)
    np.testing.assert_array_equal(reading.velocity, vel)
    np.testing.assert_array_equal(reading.effort, eff)
    assert stamp_to_sec(msg.header.stamp) == 12.25


def test_joint_command_round_trip_keeps_nan_convention() -> None:
    cmd = action_to_command(np.array([0.1, -0.2, 0.3, 0.4, -0.5, 0.6]))
    back = joint_command_from_msg(joint_command_msg(0.0, cmd))
    np.testing.assert_array_equal(back.position, cmd.position)  # NaN == NaN here
    np.testing.assert_array_equal(back.effort, cmd.effort)
    assert np.isnan(back.position[[2, 5]]).all() and np.isnan(back.effort[[0, 1, 3, 4]]).all()


def test_imu_and_twist_round_trip() -> None:
    reading = imu_to_reading(imu_msg(1.0, [0.0, 0.1, 0.0, 0.99], [0.5, -0.5, 0.25]))
    np.testing.assert_allclose(reading.quat_xyzw, [0.0, 0.1, 0.0, 0.99])
    np.testing.assert_allclose(reading.ang_vel, [0.5, -0.5, 0.25])
    np.testing.assert_array_equal(twist_to_command(twist_msg(0.5, -0.2)), [0.5, -0.2])
