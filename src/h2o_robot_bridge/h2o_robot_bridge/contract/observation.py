"""The observation vector: its layout and the one function that builds it from sensor readings.

The simulator calls :func:`build_observation` with simulated readings, the bridge with readings
decoded from ROS messages, so a policy sees the same numbers in both worlds.

Layout (``OBS_DIM`` = 25, float32)::

    projected_gravity   3  unit gravity direction in the base frame ((0, 0, -1) when upright)
    base_ang_vel        3  IMU angular velocity in the base frame [rad/s]
    leg_pos             4  hip/knee positions minus their defaults [rad], contract order
    joint_vel           6  all joint velocities [rad/s], contract order
    forward_vel         1  base forward speed estimated from wheel odometry [m/s]
    command             2  target forward speed [m/s], target yaw rate [rad/s]
    prev_action         6  the previous action in [-1, 1]
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

from h2o_robot_bridge.contract import robot
from h2o_robot_bridge.errors import ContractMismatchError

OBS_FIELDS: tuple[tuple[str, int], ...] = (
    ("projected_gravity", 3),
    ("base_ang_vel", 3),
    ("leg_pos", len(robot.LEG_JOINT_IDS)),
    ("joint_vel", robot.NUM_JOINTS),
    ("forward_vel", 1),
    ("command", 2),
    ("prev_action", robot.NUM_JOINTS),
)


def _slices() -> dict[str, slice]:
    out, start = {}, 0
    for name, size in OBS_FIELDS:
        out[name] = slice(start, start + size)
        start += size
    return out


OBS_SLICES: dict[str, slice] = _slices()
_LEGS = np.array(robot.LEG_JOINT_IDS)
_LEG_DEFAULTS = robot.DEFAULT_POSITIONS[_LEGS]
_LEG_DEFAULTS_LIST = _LEG_DEFAULTS.tolist()
OBS_DIM: int = sum(size for _, size in OBS_FIELDS)


def _element_names() -> tuple[str, ...]:
    axes = ("x", "y", "z")
    legs = [robot.JOINT_NAMES[i] for i in robot.LEG_JOINT_IDS]
    names = [f"projected_gravity.{a}" for a in axes] + [f"base_ang_vel.{a}" for a in axes]
    names += [f"leg_pos.{n}" for n in legs] + [f"joint_vel.{n}" for n in robot.JOINT_NAMES]
    names += ["forward_vel", "command.forward_vel", "command.yaw_rate"]
    names += [f"prev_action.{n}" for n in robot.JOINT_NAMES]
    return tuple(names)


OBS_NAMES: tuple[str, ...] = _element_names()
"""One name per observation element, saved in dataset and policy metadata."""


def projected_gravity_from_quaternion(quat_xyzw: ArrayLike) -> NDArray[np.float64]:
    """Gravity direction expressed in the base frame.

    Args:
        quat_xyzw: base orientation in the world frame, (..., 4), ROS order x, y, z, w. Need not
            be normalised.

    Returns:
        (..., 3) unit vector ``R^T (0, 0, -1)``; (0, 0, -1) when the base is level.
    """
    q = np.asarray(quat_xyzw, dtype=np.float64)
    if q.ndim == 1:  # one sample: Python floats are ~10x faster than numpy on 4 numbers
        return np.array(_gravity(*(float(v) for v in q), sqrt=math.sqrt))
    return np.stack(_gravity(q[..., 0], q[..., 1], q[..., 2], q[..., 3], sqrt=np.sqrt), axis=-1)


def _gravity(x, y, z, w, *, sqrt):  # noqa: ANN001, ANN202 - floats or arrays, same formula
    n = sqrt(x * x + y * y + z * z + w * w)
    x, y, z, w = x / n, y / n, z / n, w / n
    # Third row of R (world z axis in base coordinates), negated.
    return -2.0 * (x * z - w * y), -2.0 * (y * z + w * x), -(1.0 - 2.0 * (x * x + y * y))


def tilt_from_projected_gravity(projected_gravity: ArrayLike) -> NDArray[np.float64]:
    """Angle between the base z axis and the world vertical [rad], (...,)."""
    g = np.asarray(projected_gravity, dtype=np.float64)
    gx, gy, gz = g[..., 0], g[..., 1], g[..., 2]
    norm = np.sqrt(gx * gx + gy * gy + gz * gz)
    return np.arccos(np.clip(-gz / np.maximum(norm, 1e-12), -1.0, 1.0))


def pitch_from_projected_gravity(projected_gravity: ArrayLike) -> NDArray[np.float64]:
    """Signed pitch [rad], positive when the base leans forward (nose down), (...,)."""
    g = np.asarray(projected_gravity, dtype=np.float64)
    # Leaning forward (rotation +pitch about y) moves gravity toward +x in the base frame.
    return np.arctan2(g[..., 0], -g[..., 2])


def forward_velocity_from_joints(
    joint_vel: ArrayLike, base_pitch_rate: ArrayLike
) -> NDArray[np.float64]:
    """Forward speed of the base from wheel odometry [m/s], assuming no slip.

    Args:
        joint_vel: (..., NUM_JOINTS) joint velocities [rad/s], contract order.
        base_pitch_rate: (...,) base angular velocity about its y axis [rad/s].
    """
    v = np.asarray(joint_vel, dtype=np.float64)
    # All joint axes are +y, so each wheel's absolute pitch rate is the sum along its leg.
    (lh, rh), (lk, rk), (lw, rw) = robot.HIP_JOINT_IDS, robot.KNEE_JOINT_IDS, robot.WHEEL_JOINT_IDS
    left = v[..., lh] + v[..., lk] + v[..., lw]
    right = v[..., rh] + v[..., rk] + v[..., rw]
    pitch_rate = np.asarray(base_pitch_rate, dtype=np.float64)
    return robot.WHEEL_RADIUS * ((left + right) / 2.0 + pitch_rate)


def build_observation(
    quat_xyzw: ArrayLike,
    ang_vel: ArrayLike,
    joint_pos: ArrayLike,
    joint_vel: ArrayLike,
    command: ArrayLike,
    prev_action: ArrayLike,
) -> NDArray[np.float32]:
    """Assemble the observation from raw readings (single sample or a batch).

    Args:
        quat_xyzw: (..., 4) base orientation in world, ROS order (IMU ``orientation``).
        ang_vel: (..., 3) base angular velocity in the base frame [rad/s] (IMU gyro).
        joint_pos: (..., NUM_JOINTS) joint positions [rad], contract order.
        joint_vel: (..., NUM_JOINTS) joint velocities [rad/s], contract order.
        command: (..., 2) target forward speed [m/s] and yaw rate [rad/s].
        prev_action: (..., NUM_JOINTS) previous action in [-1, 1].

    Returns:
        (..., OBS_DIM) float32 observation laid out as ``OBS_FIELDS``.
    """
    ang = np.asarray(ang_vel, dtype=np.float64)
    qpos = np.asarray(joint_pos, dtype=np.float64)
    qvel = np.asarray(joint_vel, dtype=np.float64)
    inputs = (quat_xyzw, command, prev_action)
    if ang.ndim == qpos.ndim == qvel.ndim == 1 and all(np.ndim(x) == 1 for x in inputs):
        return _build_one(quat_xyzw, ang, qpos, qvel, command, prev_action)
    legs = _LEGS
    parts = [
        projected_gravity_from_quaternion(quat_xyzw),
        ang,
        qpos[..., legs] - _LEG_DEFAULTS,
        qvel,
        forward_velocity_from_joints(qvel, ang[..., 1])[..., None],
        np.asarray(command, dtype=np.float64),
        np.asarray(prev_action, dtype=np.float64),
    ]
    batch = np.broadcast_shapes(*(p.shape[:-1] for p in parts))
    parts = [np.broadcast_to(p, (*batch, p.shape[-1])) for p in parts]
    return np.concatenate(parts, axis=-1).astype(np.float32)


def _build_one(
    quat_xyzw: ArrayLike,
    ang: NDArray,
    qpos: NDArray,
    qvel: NDArray,
    command: ArrayLike,
    prev_action: ArrayLike,
) -> NDArray[np.float32]:
    """:func:`build_observation` of one sample on Python floats (the env's and the runner's
    hot path): the same IEEE operations in the same order, so bitwise equal to the batch."""
    q = np.asarray(quat_xyzw, dtype=np.float64).tolist()
    w, p, v = ang.tolist(), qpos.tolist(), qvel.tolist()
    (lh, rh), (lk, rk), (lw, rw) = robot.HIP_JOINT_IDS, robot.KNEE_JOINT_IDS, robot.WHEEL_JOINT_IDS
    left, right = v[lh] + v[lk] + v[lw], v[rh] + v[rk] + v[rw]
    values = [
        *_gravity(*q, sqrt=math.sqrt),
        *w,
        *(p[i] - d for i, d in zip(robot.LEG_JOINT_IDS, _LEG_DEFAULTS_LIST, strict=True)),
        *v,
        robot.WHEEL_RADIUS * ((left + right) / 2.0 + w[1]),
        *np.asarray(command, dtype=np.float64).tolist(),
        *np.asarray(prev_action, dtype=np.float64).tolist(),
    ]
    return np.array(values, dtype=np.float32)


def field(obs: ArrayLike, name: str) -> NDArray:
    """The slice of ``obs`` (..., OBS_DIM) that holds field ``name`` (a view)."""
    return np.asarray(obs)[..., OBS_SLICES[name]]


def check_obs_names(names: ArrayLike, what: str) -> None:
    """Raise :class:`ContractMismatchError` unless ``names`` equal :data:`OBS_NAMES`."""
    got = tuple(str(n) for n in np.asarray(names).ravel())
    if got != OBS_NAMES:
        diff = [(i, a, b) for i, (a, b) in enumerate(zip(got, OBS_NAMES, strict=False)) if a != b][
            :3
        ]
        raise ContractMismatchError(
            f"{what}: observation layout differs from this contract "
            f"({len(got)} vs {OBS_DIM} elements; first differences {diff})"
        )
