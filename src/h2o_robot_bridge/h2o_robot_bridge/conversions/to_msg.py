"""Build ROS messages from numpy arrays (the inverse of :mod:`.from_msg`).

Imports message packages but never rclpy, so it is testable by building messages directly
(like ``sensor_msgs_py``). Every array field is filled (never left empty): rclpy pads an empty
trailing array in a way rosbags rejects when such messages are recorded.
"""

from __future__ import annotations

import numpy as np
from builtin_interfaces.msg import Time
from geometry_msgs.msg import Twist, TwistStamped
from nav_msgs.msg import Odometry
from numpy.typing import ArrayLike
from sensor_msgs.msg import Imu, JointState

from h2o_robot_bridge.contract import robot
from h2o_robot_bridge.contract.action import JointCommand
from h2o_robot_bridge.conversions.from_msg import sec_to_stamp_fields


def stamp(t: float) -> Time:
    """Seconds -> ``builtin_interfaces/Time``."""
    sec, nanosec = sec_to_stamp_fields(t)
    return Time(sec=sec, nanosec=nanosec)


def _floats(values: ArrayLike) -> list[float]:
    return [float(v) for v in np.asarray(values, dtype=np.float64).ravel()]


def joint_state_msg(
    t: float,
    position: ArrayLike,
    velocity: ArrayLike,
    effort: ArrayLike,
    names: tuple[str, ...] = robot.JOINT_NAMES,
) -> JointState:
    """``sensor_msgs/JointState`` stamped ``t`` [s]; arrays (NUM_JOINTS,) in ``names`` order."""
    msg = JointState()
    msg.header.stamp = stamp(t)
    msg.name = list(names)
    msg.position = _floats(position)
    msg.velocity = _floats(velocity)
    msg.effort = _floats(effort)
    return msg


def joint_command_msg(t: float, command: JointCommand) -> JointState:
    """``/joint_commands``: position targets for legs, efforts for wheels, NaN elsewhere."""
    velocity = np.full(robot.NUM_JOINTS, np.nan)
    return joint_state_msg(t, command.position, velocity, command.effort)


def imu_msg(
    t: float,
    quat_xyzw: ArrayLike,
    ang_vel: ArrayLike,
    lin_acc: ArrayLike = (0.0, 0.0, 0.0),
    frame_id: str = "base_link",
) -> Imu:
    """``sensor_msgs/Imu``: orientation (x, y, z, w), angular velocity [rad/s] and linear
    acceleration [m/s^2], both in the base frame."""
    msg = Imu()
    msg.header.stamp = stamp(t)
    msg.header.frame_id = frame_id
    q, w, a = _floats(quat_xyzw), _floats(ang_vel), _floats(lin_acc)
    msg.orientation.x, msg.orientation.y, msg.orientation.z, msg.orientation.w = q
    msg.angular_velocity.x, msg.angular_velocity.y, msg.angular_velocity.z = w
    msg.linear_acceleration.x, msg.linear_acceleration.y, msg.linear_acceleration.z = a
    return msg


def odometry_msg(
    t: float,
    position: ArrayLike,
    quat_xyzw: ArrayLike,
    lin_vel_base: ArrayLike,
    ang_vel_base: ArrayLike,
    frame_id: str = "odom",
    child_frame_id: str = "base_link",
) -> Odometry:
    """``nav_msgs/Odometry``: pose in ``frame_id`` [m], twist in the base frame [m/s, rad/s]."""
    msg = Odometry()
    msg.header.stamp = stamp(t)
    msg.header.frame_id = frame_id
    msg.child_frame_id = child_frame_id
    p, q = _floats(position), _floats(quat_xyzw)
    v, w = _floats(lin_vel_base), _floats(ang_vel_base)
    pose, twist = msg.pose.pose, msg.twist.twist
    pose.position.x, pose.position.y, pose.position.z = p
    pose.orientation.x, pose.orientation.y, pose.orientation.z, pose.orientation.w = q
    twist.linear.x, twist.linear.y, twist.linear.z = v
    twist.angular.x, twist.angular.y, twist.angular.z = w
    return msg


def twist_msg(forward_vel: float, yaw_rate: float) -> Twist:
    """``geometry_msgs/Twist`` task command: forward speed [m/s], yaw rate [rad/s]."""
    msg = Twist()
    msg.linear.x = float(forward_vel)
    msg.angular.z = float(yaw_rate)
    return msg


def twist_stamped_msg(
    t: float, forward_vel: float, yaw_rate: float, frame_id: str
) -> TwistStamped:
    """``geometry_msgs/TwistStamped`` task command stamped ``t`` [s] in ``frame_id``."""
    msg = TwistStamped()
    msg.header.stamp = stamp(t)
    msg.header.frame_id = frame_id
    msg.twist = twist_msg(forward_vel, yaw_rate)
    return msg
