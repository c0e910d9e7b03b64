"""The wheel-legged robot as the rest of the stack sees it: joints, their order, limits, gains.

Frames and conventions (fixed here, used everywhere):
- base frame: x forward, y left, z up (REP 103); quaternions are stored x, y, z, w (ROS order).
- every joint axis is +y of the base frame (pitch), for both legs, so a positive wheel velocity
  rolls the robot forward (+x) and the absolute wheel pitch rate is
  ``base pitch rate + hip velocity + knee velocity + wheel velocity``.
- leg joints (hip, knee) are position controlled: the robot (or simulator) tracks a target with a
  PD law at its own rate; wheels are torque controlled.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

CONTRACT_VERSION = "h2o-wheel-legged/1"
"""Bumped whenever anything in this package changes meaning; saved with every artifact."""

JointKind = Literal["position", "torque"]


@dataclass(frozen=True)
class JointSpec:
    """One actuated joint.

    Attributes:
        name: joint name, as in URDF and ``sensor_msgs/JointState``.
        kind: ``"position"`` (PD tracked target) or ``"torque"`` (direct effort).
        lower, upper: position limits [rad]; ``-inf``/``inf`` for continuous joints.
        default: nominal standing position [rad] (the zero of leg actions).
        max_effort: torque limit [N m].
        max_velocity: velocity limit [rad/s].
        stiffness: PD proportional gain [N m/rad] (position joints; 0 for torque joints).
        damping: PD derivative gain [N m s/rad] (position joints; 0 for torque joints).
    """

    name: str
    kind: JointKind
    lower: float
    upper: float
    default: float
    max_effort: float
    max_velocity: float
    stiffness: float = 0.0
    damping: float = 0.0


def _leg(side: str) -> tuple[JointSpec, JointSpec, JointSpec]:
    # Hip 0.5 rad and knee -1.0 rad put each wheel right under its hip with equal-length links.
    return (
        JointSpec(f"{side}_hip", "position", -1.0, 1.6, 0.5, 30.0, 20.0, 60.0, 1.5),
        JointSpec(f"{side}_knee", "position", -2.6, 0.0, -1.0, 30.0, 20.0, 60.0, 1.5),
        JointSpec(f"{side}_wheel", "torque", -np.inf, np.inf, 0.0, 4.0, 60.0),
    )


JOINTS: tuple[JointSpec, ...] = (*_leg("left"), *_leg("right"))
"""All actuated joints in contract order (this order is the order of actions and velocities)."""

JOINT_NAMES: tuple[str, ...] = tuple(j.name for j in JOINTS)
NUM_JOINTS = len(JOINTS)
LEG_JOINT_IDS: tuple[int, ...] = tuple(i for i, j in enumerate(JOINTS) if j.kind == "position")
WHEEL_JOINT_IDS: tuple[int, ...] = tuple(i for i, j in enumerate(JOINTS) if j.kind == "torque")
HIP_JOINT_IDS: tuple[int, ...] = tuple(i for i, j in enumerate(JOINTS) if j.name.endswith("_hip"))
KNEE_JOINT_IDS: tuple[int, ...] = tuple(
    i for i, j in enumerate(JOINTS) if j.name.endswith("_knee")
)

WHEEL_RADIUS = 0.065
"""Wheel radius [m]; turns wheel pitch rate into forward speed."""

WHEEL_TRACK = 0.32
"""Distance between the two wheels' contact points [m]; turns wheel speed difference into yaw."""

LOWER = np.array([j.lower for j in JOINTS])
UPPER = np.array([j.upper for j in JOINTS])
DEFAULT_POSITIONS = np.array([j.default for j in JOINTS])
MAX_EFFORT = np.array([j.max_effort for j in JOINTS])
