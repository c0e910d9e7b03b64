"""Actions: a vector in [-1, 1]^NUM_JOINTS, contract order, and its scaling to joint commands.

- leg joints: ``target = default + LEG_ACTION_SCALE * a`` [rad], clipped to the joint limits;
- wheels: ``effort = max_effort * a`` [N m].

A joint command carries NaN where a field does not apply (position for wheels, effort for legs),
as in ``/joint_commands`` (``sensor_msgs/JointState``).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from h2o_robot_bridge.contract import robot

ACTION_DIM = robot.NUM_JOINTS
LEG_ACTION_SCALE = 0.5
"""Leg target offset [rad] per unit action."""

ACTION_NAMES: tuple[str, ...] = robot.JOINT_NAMES


def _scale_and_offset() -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    scale = np.zeros(ACTION_DIM)
    offset = np.zeros(ACTION_DIM)
    legs, wheels = list(robot.LEG_JOINT_IDS), list(robot.WHEEL_JOINT_IDS)
    scale[legs] = LEG_ACTION_SCALE
    offset[legs] = robot.DEFAULT_POSITIONS[legs]
    scale[wheels] = robot.MAX_EFFORT[wheels]
    return scale, offset


ACTION_SCALE, ACTION_OFFSET = _scale_and_offset()
_IS_LEG = np.array([j.kind == "position" for j in robot.JOINTS])
_LOWER = np.where(_IS_LEG, robot.LOWER, -np.inf)
_UPPER = np.where(_IS_LEG, robot.UPPER, np.inf)
"""Per-joint affine map ``value = offset + scale * a`` (leg positions [rad], wheel efforts [N m]).

Exported policies apply the same map inside the graph; keep the two in step through these
arrays, never by copying numbers."""


class JointCommand(NamedTuple):
    """Targets for one control tick, each (..., NUM_JOINTS), contract order.

    Attributes:
        position: leg position targets [rad]; NaN for wheels.
        effort: wheel torques [N m]; NaN for legs.
    """

    position: NDArray[np.float64]
    effort: NDArray[np.float64]


def clip_action(action: ArrayLike) -> NDArray[np.float64]:
    """Clip to [-1, 1]; NaN stays NaN (the caller's safety layer must catch it)."""
    # minimum/maximum: same result as np.clip, a fraction of its call overhead.
    return np.minimum(np.maximum(np.asarray(action, dtype=np.float64), -1.0), 1.0)


def action_targets(action: ArrayLike) -> NDArray[np.float64]:
    """Each joint's target of an action (..., ACTION_DIM): leg position [rad] clipped to the
    joint limits, wheel torque [N m]; :func:`action_to_command`'s values in one array (the
    simulator's hot path)."""
    value = ACTION_OFFSET + ACTION_SCALE * clip_action(action)
    # The wheels' limits are +-inf, so one clip leaves their torques as they are.
    return np.minimum(np.maximum(value, _LOWER), _UPPER)


def action_to_command(action: ArrayLike) -> JointCommand:
    """Scale an action (..., ACTION_DIM) to joint targets, clipped to limits."""
    value = action_targets(action)
    return JointCommand(np.where(_IS_LEG, value, np.nan), np.where(_IS_LEG, np.nan, value))


def command_to_action(command: JointCommand) -> NDArray[np.float64]:
    """Inverse of :func:`action_to_command` (exact inside the limits), (..., ACTION_DIM)."""
    wheels = list(robot.WHEEL_JOINT_IDS)
    value = np.array(command.position, dtype=np.float64)
    value[..., wheels] = np.asarray(command.effort, dtype=np.float64)[..., wheels]
    return (value - ACTION_OFFSET) / ACTION_SCALE


SAFE_ACTION = np.zeros(ACTION_DIM)
"""Legs at the default pose, zero wheel torque. A runner that cannot trust its inputs sends this
(wheel damping, if the robot supports it, is the driver's job)."""
