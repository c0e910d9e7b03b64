"""Closed-loop rollouts of a simulator with a policy (or fixed actions), recorded as arrays.

Used by tests, benchmarks and demos to ask physical questions ("how long until it falls?",
"what speed does it hold?") without a Gymnasium wrapper in between.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from h2o_robot_bridge.contract import (
    ACTION_DIM,
    observation_from_snapshot,
    pitch_from_projected_gravity,
    projected_gravity_from_quaternion,
    tilt_from_projected_gravity,
)
from h2o_sim.simulator import SensorReadings, WheelLeggedSim


class Trajectory(NamedTuple):
    """One rollout, T control ticks (row t: after the t-th step).

    Attributes:
        time: (T,) sim time [s].
        pitch: (T,) base pitch [rad], positive leaning forward.
        tilt: (T,) base tilt from vertical [rad].
        base_pos: (T, 3) world position [m].
        base_lin_vel: (T, 3) base-frame velocity [m/s].
        ang_vel: (T, 3) base-frame angular velocity [rad/s] (gyro).
        quat_xyzw: (T, 4) base orientation in world, ROS order.
        joint_pos, joint_vel, joint_effort: (T, 6) contract order.
        actions: (T, 6) clean actions sent.
        executed: (T, 6) executed actions (after joint noise).
        fell: whether the rollout stopped because tilt exceeded ``fall_tilt``.
    """

    time: NDArray[np.float64]
    pitch: NDArray[np.float64]
    tilt: NDArray[np.float64]
    base_pos: NDArray[np.float64]
    base_lin_vel: NDArray[np.float64]
    ang_vel: NDArray[np.float64]
    quat_xyzw: NDArray[np.float64]
    joint_pos: NDArray[np.float64]
    joint_vel: NDArray[np.float64]
    joint_effort: NDArray[np.float64]
    actions: NDArray[np.float64]
    executed: NDArray[np.float64]
    fell: bool

    @property
    def yaw(self) -> NDArray[np.float64]:
        """(T,) base heading [rad], unwrapped (continuous over full turns)."""
        x, y, z, w = self.quat_xyzw.T
        return np.unwrap(np.arctan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z)))

    @property
    def duration(self) -> float:
        """Sim time covered [s] (time of the last tick)."""
        return float(self.time[-1]) if len(self.time) else 0.0


PolicyFn = Callable[[NDArray[np.float32]], ArrayLike]


def rollout(
    sim: WheelLeggedSim,
    policy: PolicyFn | ArrayLike | None,
    seconds: float,
    command: ArrayLike = (0.0, 0.0),
    fall_tilt: float | None = None,
) -> Trajectory:
    """Run ``sim`` from its current state for ``seconds`` of sim time.

    Args:
        sim: a simulator (already reset).
        policy: ``obs -> action`` (e.g. ``ClassicalController().act``), a fixed action (6,),
            or ``None`` for zero actions.
        seconds: sim time to run [s].
        command: task command written into the observation (v [m/s], yaw rate [rad/s]).
        fall_tilt: stop after the first tick whose tilt exceeds this [rad] (``None``: never).
    """
    policy_fn = policy if callable(policy) else None
    fixed = np.zeros(ACTION_DIM)
    if policy_fn is None and policy is not None:
        fixed = np.asarray(policy, dtype=np.float64)
    cmd = np.asarray(command, dtype=np.float64)
    prev = np.zeros(ACTION_DIM)
    readings: SensorReadings = sim.readings
    rows: list[tuple] = []
    fell = False
    for _ in range(int(round(seconds * sim.timing.control_hz))):
        if policy_fn is not None:
            obs = observation_from_snapshot(readings.snapshot(), cmd, prev)
            action = np.asarray(policy_fn(obs), dtype=np.float64)
        else:
            action = fixed
        readings = sim.step(action)
        prev = sim.last_action
        g = projected_gravity_from_quaternion(readings.quat_xyzw)
        tilt = float(tilt_from_projected_gravity(g))
        pitch = float(pitch_from_projected_gravity(g))
        rows.append((readings, pitch, tilt, sim.last_action, sim.last_executed_action))
        if fall_tilt is not None and tilt > fall_tilt:
            fell = True
            break
    r = [row[0] for row in rows]
    return Trajectory(
        time=np.array([x.time for x in r]),
        pitch=np.array([row[1] for row in rows]),
        tilt=np.array([row[2] for row in rows]),
        base_pos=np.array([x.base_pos for x in r]).reshape(-1, 3),
        base_lin_vel=np.array([x.base_lin_vel for x in r]).reshape(-1, 3),
        ang_vel=np.array([x.ang_vel for x in r]).reshape(-1, 3),
        quat_xyzw=np.array([x.quat_xyzw for x in r]).reshape(-1, 4),
        joint_pos=np.array([x.joint_pos for x in r]).reshape(-1, ACTION_DIM),
        joint_vel=np.array([x.joint_vel for x in r]).reshape(-1, ACTION_DIM),
        joint_effort=np.array([x.joint_effort for x in r]).reshape(-1, ACTION_DIM),
        actions=np.array([row[3] for row in rows]).reshape(-1, ACTION_DIM),
        executed=np.array([row[4] for row in rows]).reshape(-1, ACTION_DIM),
        fell=fell,
    )
