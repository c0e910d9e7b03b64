"""The simulator state behind a contract observation: what it holds and what it cannot.

A contract observation (``h2o_robot_bridge.contract.observation``) holds the base's tilt
(projected gravity) and angular velocity, the leg joint positions, all joint velocities, the
odometry forward speed, the task command and the previous action. Setting a simulator to "the
state of an observation" needs a full rigid-body state; the rest is set from assumptions under
which the next control tick's dynamics do not depend on it:

========================  ==========================================================
not in the observation     how it is set, and why the dynamics do not depend on it
========================  ==========================================================
world x, y position        0: the ground is a flat, unbounded plane
yaw (heading)              0: gravity is vertical and the wheels' friction isotropic
base height                lowest wheel just touching the ground (leg kinematics, roll
                           and pitch); a standing robot has both wheels on the ground
base linear velocity       the wheels roll without slip (forward, lateral and
(incl. vertical)           vertical): ``forward_vel`` is itself computed from the
                           joint velocities under that assumption, so it adds nothing;
                           a real robot that *slips* at s is not recoverable
wheel angles               0: the wheels' collision shapes are spheres
actuation delay queue      the command acting at the tick is ``prev_action`` (what
                           the robot received at the previous tick), nothing in
                           flight: exact for ``latency_steps`` <= one control period
noise, jitter, pushes      off in replay (random, not dynamics): see ``replay.py``
========================  ==========================================================

Roll and pitch come from projected gravity: with yaw 0 the base orientation is
``R = R_y(pitch) R_x(roll)`` and projected gravity ``R^T (0, 0, -1) = (sin p, -cos p sin r,
-cos p cos r)``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from h2o_robot_bridge.contract import OBS_DIM, field, robot
from h2o_robot_bridge.errors import ContractMismatchError


class SimState(NamedTuple):
    """The arguments of ``WheelLeggedSim.set_state`` recovered from one observation.

    Attributes:
        quat_xyzw: (4,) base orientation in world, ROS order, yaw 0.
        ang_vel: (3,) base angular velocity in the base frame [rad/s].
        joint_pos: (6,) joint positions [rad], contract order (wheels 0).
        joint_vel: (6,) joint velocities [rad/s], contract order.
        applied_action: (6,) the action acting at the motors (the observation's
            ``prev_action``), in [-1, 1].
    """

    quat_xyzw: NDArray[np.float64]
    ang_vel: NDArray[np.float64]
    joint_pos: NDArray[np.float64]
    joint_vel: NDArray[np.float64]
    applied_action: NDArray[np.float64]


def quaternion_from_projected_gravity(gravity: NDArray) -> NDArray[np.float64]:
    """The yaw-0 base orientation (4,) x, y, z, w with this projected gravity (3,).

    Projected gravity need not be exactly unit length (float32 rounding): roll and pitch are
    taken from its direction.
    """
    g = np.asarray(gravity, dtype=np.float64)
    pitch = np.arctan2(g[0], np.hypot(g[1], g[2]))
    roll = np.arctan2(-g[1], -g[2])
    # q = q_y(pitch) * q_x(roll), Hamilton product written out (R = R_y R_x).
    cp, sp = np.cos(pitch / 2), np.sin(pitch / 2)
    cr, sr = np.cos(roll / 2), np.sin(roll / 2)
    return np.array([cp * sr, sp * cr, -sp * sr, cp * cr])


def state_from_observation(obs: NDArray) -> SimState:
    """The simulator state of one contract observation (OBS_DIM,) (see the module docstring).

    Raises:
        ContractMismatchError: ``obs`` is not (OBS_DIM,).
    """
    o = np.asarray(obs, dtype=np.float64)
    if o.shape != (OBS_DIM,):
        raise ContractMismatchError(f"observation must be ({OBS_DIM},), got {o.shape}")
    joint_pos = np.zeros(robot.NUM_JOINTS)
    legs = list(robot.LEG_JOINT_IDS)
    joint_pos[legs] = field(o, "leg_pos") + robot.DEFAULT_POSITIONS[legs]
    return SimState(
        quaternion_from_projected_gravity(field(o, "projected_gravity")),
        field(o, "base_ang_vel").copy(),
        joint_pos,
        field(o, "joint_vel").copy(),
        field(o, "prev_action").copy(),
    )
