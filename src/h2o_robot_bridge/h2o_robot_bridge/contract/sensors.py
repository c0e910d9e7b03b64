"""Sensor readings as the core sees them: one snapshot type on every way into the observation.

The simulator (:meth:`h2o_sim.simulator.SensorReadings.snapshot`), the message conversions
(:mod:`h2o_robot_bridge.conversions.from_msg`), the policy runner and the demo's supervisor all
hand a :class:`SensorSnapshot` to :func:`observation_from_snapshot`, the one place that maps
readings to the contract observation.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from h2o_robot_bridge.contract.observation import build_observation
from h2o_robot_bridge.contract.robot import NUM_JOINTS


class JointReading(NamedTuple):
    """Joint state in contract order, each (NUM_JOINTS,) float64; NaN where not reported.

    Attributes:
        position: [rad].
        velocity: [rad/s].
        effort: [N m].
    """

    position: NDArray[np.float64]
    velocity: NDArray[np.float64]
    effort: NDArray[np.float64]


class ImuReading(NamedTuple):
    """IMU sample.

    Attributes:
        quat_xyzw: (4,) base orientation in world, ROS order x, y, z, w.
        ang_vel: (3,) base angular velocity in the base frame [rad/s] (gyro).
    """

    quat_xyzw: NDArray[np.float64]
    ang_vel: NDArray[np.float64]


class SensorSnapshot(NamedTuple):
    """What one control tick's observation is built from: the latest IMU and joint readings."""

    imu: ImuReading
    joints: JointReading


NAN_JOINTS = JointReading(*(np.full(NUM_JOINTS, np.nan) for _ in range(3)))
"""A joint state never received: every value NaN (the observation is then non-finite)."""
NAN_IMU = ImuReading(np.full(4, np.nan), np.full(3, np.nan))
"""An IMU sample never received."""


def observation_from_snapshot(
    snapshot: SensorSnapshot, command: ArrayLike, prev_action: ArrayLike
) -> NDArray[np.float32]:
    """The contract observation (OBS_DIM,) float32.

    Args:
        snapshot: the tick's readings.
        command: (2,) task command (forward speed [m/s], yaw rate [rad/s]).
        prev_action: (NUM_JOINTS,) the previous action in [-1, 1].
    """
    imu, joints = snapshot
    return build_observation(
        imu.quat_xyzw, imu.ang_vel, joints.position, joints.velocity, command, prev_action
    )
