"""Validation of every input the runner takes, before it can replace a good one.

A message is decoded by :mod:`h2o_robot_bridge.conversions.from_msg` (wrong names or array
lengths raise there) and then checked here against the contract: finite values, physically
plausible ranges. A rejected reading is dropped and counted; the last good reading stays in
use (and ages: the watchdog decides when it is too old). A ``/cmd_vel`` outside the task's
command limits is clamped to them and counted, a non-finite one is dropped.

Ranges (why these): joint positions within the joint limits widened by
:data:`POSITION_MARGIN` (a PD joint overshoots its limit a little under load), joint speeds up
to :data:`SPEED_FACTOR` times the contract's velocity limit, the IMU quaternion of unit norm
within :data:`QUAT_NORM_TOL` (a zero or unnormalised quaternion is no orientation) and the
gyro under :data:`MAX_GYRO` (the range of common MEMS gyros, 2000 deg/s, is 35 rad/s). Values
beyond them are sensor faults, not states a policy was trained on.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
from numpy.typing import ArrayLike, NDArray

from h2o_robot_bridge.contract import robot
from h2o_robot_bridge.contract.sensors import ImuReading, JointReading

POSITION_MARGIN = 0.5
"""Joint positions may exceed the contract's limits by this much [rad] (not the wheels)."""
SPEED_FACTOR = 2.0
"""Joint speeds up to this many times the contract's velocity limit are plausible."""
QUAT_NORM_TOL = 0.1
"""Largest deviation of the IMU quaternion's norm from 1."""
MAX_GYRO = 50.0
"""Largest plausible angular velocity [rad/s]."""

_LOWER = np.where(np.isfinite(robot.LOWER), robot.LOWER - POSITION_MARGIN, -np.inf)
_UPPER = np.where(np.isfinite(robot.UPPER), robot.UPPER + POSITION_MARGIN, np.inf)
_MAX_SPEED = SPEED_FACTOR * np.array([j.max_velocity for j in robot.JOINTS])


def joint_reading_fault(reading: JointReading) -> str | None:
    """Why a decoded joint state is unusable (None: usable).

    Position and velocity must be finite for every contract joint and in range; effort is not
    used by the observation and may be absent (NaN) but not infinite.
    """
    pos, vel, eff = reading
    if not (np.isfinite(pos).all() and np.isfinite(vel).all()):
        bad = [robot.JOINT_NAMES[i] for i in np.flatnonzero(~np.isfinite(pos + vel))]
        return f"non-finite position/velocity of {bad}"
    if np.isinf(eff).any():
        return "infinite effort"
    out = np.flatnonzero((pos < _LOWER) | (pos > _UPPER))  # wheels: no limits
    if out.size:
        return (
            f"position out of range for {[robot.JOINT_NAMES[i] for i in out]}: {pos[out].tolist()}"
        )
    fast = np.flatnonzero(np.abs(vel) > _MAX_SPEED)
    if fast.size:
        names = [robot.JOINT_NAMES[i] for i in fast]
        return f"velocity out of range for {names}: {vel[fast].tolist()}"
    return None


def imu_reading_fault(reading: ImuReading) -> str | None:
    """Why a decoded IMU sample is unusable (None: usable)."""
    # Values as lists, not numpy reprs: numpy's array printing costs ~60 us a message, and a
    # flood of bad messages goes through here at 1 kHz (bench/input_drop.py).
    quat, gyro = reading
    if not (np.isfinite(quat).all() and np.isfinite(gyro).all()):
        return (
            f"non-finite IMU sample (orientation {quat.tolist()}, "
            f"angular velocity {gyro.tolist()})"
        )
    norm = float(np.linalg.norm(quat))
    if abs(norm - 1.0) > QUAT_NORM_TOL:
        return f"orientation quaternion of norm {norm:.3g} (must be 1)"
    if np.abs(gyro).max() > MAX_GYRO:
        return f"angular velocity {gyro.tolist()} above {MAX_GYRO} rad/s"
    return None


def clamp_command(
    command: ArrayLike, max_command: tuple[float, float]
) -> tuple[NDArray[np.float64] | None, bool]:
    """A ``/cmd_vel`` task command (forward speed [m/s], yaw rate [rad/s]) within the limits.

    Returns:
        (command, clamped): the command clipped to ``+-max_command`` and whether it had to be;
        (None, False) when it is not finite (dropped).
    """
    cmd = np.asarray(command, dtype=np.float64).reshape(2)
    if not np.isfinite(cmd).all():
        return None, False
    limit = np.asarray(max_command, dtype=np.float64)
    clipped = np.clip(cmd, -limit, limit)
    return clipped, bool((clipped != cmd).any())


class InputLog:
    """Counts of dropped and clamped inputs, per topic and cause (for ``/diagnostics``)."""

    def __init__(self) -> None:
        self.dropped: Counter[str] = Counter()
        """``<topic>.<cause>`` -> messages dropped."""
        self.clamped: Counter[str] = Counter()
        """topic -> messages clamped to the limits and used."""
        self.untrained: Counter[str] = Counter()
        """topic -> commands used as sent although the policy was not trained on them."""
        self.last_fault = ""
        """The latest rejection, as a sentence (for the log)."""

    def drop(self, topic: str, cause: str, detail: str) -> None:
        """Count a dropped message of ``topic`` (``cause``: a short key, e.g. ``malformed``)."""
        self.dropped[f"{topic}.{cause}"] += 1
        self.last_fault = f"dropped {topic} message ({cause}): {detail}"

    def summary(self) -> dict[str, float]:
        """Flat counters: ``dropped.<topic>.<cause>``, ``clamped.<topic>``,
        ``untrained.<topic>``."""
        out = {f"dropped.{k}": float(v) for k, v in sorted(self.dropped.items())}
        out.update({f"clamped.{k}": float(v) for k, v in sorted(self.clamped.items())})
        out.update({f"untrained.{k}": float(v) for k, v in sorted(self.untrained.items())})
        return out
