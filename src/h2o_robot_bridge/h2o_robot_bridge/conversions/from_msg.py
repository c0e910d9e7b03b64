"""ROS message <-> numpy conversions as pure functions.

The readers are duck-typed: they accept rclpy message objects and the dataclasses ``rosbags``
deserialises alike (same field names), so live nodes and bag conversion share them. Nothing
here imports rclpy or message packages.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from h2o_robot_bridge.contract import robot
from h2o_robot_bridge.contract.action import JointCommand
from h2o_robot_bridge.contract.sensors import ImuReading, JointReading
from h2o_robot_bridge.errors import H2OError


class MessageError(H2OError):
    """A message is malformed for the contract (a joint missing, arrays of the wrong length)."""


def stamp_to_sec(stamp: Any) -> float:
    """``builtin_interfaces/Time`` -> seconds."""
    return float(stamp.sec) + 1e-9 * float(stamp.nanosec)


def sec_to_stamp_fields(t: float) -> tuple[int, int]:
    """Seconds -> (sec, nanosec) for a ``builtin_interfaces/Time``."""
    sec = int(np.floor(t))
    nanosec = min(int(round((t - sec) * 1e9)), 999_999_999)
    return sec, nanosec


def _ordered(values: Any, index: list[int], n_names: int, field: str) -> NDArray[np.float64]:
    try:
        arr = np.asarray(values, dtype=np.float64).ravel()
    except (TypeError, ValueError) as err:
        raise MessageError(f"JointState {field} is not numeric: {err}") from err
    if arr.size == 0:  # not reported (JointState allows empty arrays)
        return np.full(len(index), np.nan)
    if arr.size != n_names:
        raise MessageError(
            f"JointState {field} has {arr.size} values for {n_names} names (must match or be "
            "empty)"
        )
    return arr[index]


def joint_state_to_reading(msg: Any, names: tuple[str, ...] = robot.JOINT_NAMES) -> JointReading:
    """Reorder a ``sensor_msgs/JointState`` into contract order.

    Extra joints are ignored; an empty ``position``/``velocity``/``effort`` decodes as NaN
    (JointState allows a field to be left out).

    Raises:
        MessageError: a contract joint is absent from ``msg.name`` (the missing ones are
            named), a name appears twice, or an array is neither empty nor one value per name.
    """
    msg_names = [str(n) for n in msg.name]
    missing = [n for n in names if n not in msg_names]
    if missing:
        raise MessageError(f"JointState lacks joints {missing} (has {msg_names})")
    twice = sorted({n for n in msg_names if msg_names.count(n) > 1})
    if twice:
        raise MessageError(f"JointState names joints more than once: {twice}")
    index = [msg_names.index(n) for n in names]
    n = len(msg_names)
    return JointReading(
        _ordered(msg.position, index, n, "position"),
        _ordered(msg.velocity, index, n, "velocity"),
        _ordered(msg.effort, index, n, "effort"),
    )


def imu_to_reading(msg: Any) -> ImuReading:
    """``sensor_msgs/Imu`` -> orientation (x, y, z, w) and angular velocity."""
    q, w = msg.orientation, msg.angular_velocity
    return ImuReading(
        np.array([q.x, q.y, q.z, q.w], dtype=np.float64),
        np.array([w.x, w.y, w.z], dtype=np.float64),
    )


def twist_to_command(msg: Any) -> NDArray[np.float64]:
    """``geometry_msgs/Twist`` -> task command (forward speed [m/s], yaw rate [rad/s])."""
    return np.array([msg.linear.x, msg.angular.z], dtype=np.float64)


def twist_stamped_to_command(msg: Any) -> NDArray[np.float64]:
    """``geometry_msgs/TwistStamped`` -> the same task command as its ``twist`` field.

    The header is not read: commands are aged by their receive time, whatever their type.
    """
    return twist_to_command(msg.twist)


def cmd_vel_to_command(msg: Any) -> NDArray[np.float64]:
    """A ``cmd_vel`` message of either type (``Twist`` or ``TwistStamped``) -> task command."""
    return twist_stamped_to_command(msg) if hasattr(msg, "twist") else twist_to_command(msg)


def joint_command_from_msg(msg: Any, names: tuple[str, ...] = robot.JOINT_NAMES) -> JointCommand:
    """Decode ``/joint_commands`` (a ``sensor_msgs/JointState``) into contract order.

    Fields that do not apply are NaN (position for wheels, effort for legs); an empty array
    decodes as all-NaN.
    """
    reading = joint_state_to_reading(msg, names)
    return JointCommand(reading.position, reading.effort)
