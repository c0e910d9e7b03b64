"""Tasks: reward and termination as functions of observations and actions only.

Because nothing here needs simulator state, a real robot log gives exactly the rewards the
simulator gives (``obs`` carries the command and the previous action).

Reward of a transition ``(obs, action, next_obs)``, with v the forward speed and w the yaw rate
of ``next_obs``, (v_c, w_c) its command, and tilt the base tilt [rad]::

    r = alive + track_vel * exp(-(v - v_c)^2 / vel_sigma^2)
              + track_yaw * exp(-(w - w_c)^2 / yaw_sigma^2)
              - tilt * tilt^2 - leg_pose * |leg_pos|^2
              - action_rate * mean((action - obs.prev_action)^2)

Termination (a fall): tilt > ``fall_tilt`` or a non-finite observation. Time limits are
truncations, never terminations.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from h2o_robot_bridge.contract.observation import OBS_SLICES, tilt_from_projected_gravity
from h2o_robot_bridge.errors import ConfigError

_FORWARD_VEL = OBS_SLICES["forward_vel"].start
_YAW_RATE = OBS_SLICES["base_ang_vel"].start + 2
_GRAVITY = OBS_SLICES["projected_gravity"].start
_COMMAND = OBS_SLICES["command"].start
_LEG_POS = OBS_SLICES["leg_pos"]


@dataclass(frozen=True)
class RewardWeights:
    """Weights of the reward terms (see the module docstring)."""

    alive: float = 1.0
    track_vel: float = 0.5
    track_yaw: float = 0.25
    tilt: float = 1.0
    leg_pose: float = 0.2
    action_rate: float = 0.05
    vel_sigma: float = 0.25  # [m/s]
    yaw_sigma: float = 0.5  # [rad/s]


@dataclass(frozen=True)
class Task:
    """A task: its default command, reward weights, fall threshold and time limit.

    Attributes:
        name: task id (``stand``, ``move_straight``).
        command: default (forward speed [m/s], yaw rate [rad/s]).
        weights: reward weights.
        fall_tilt: tilt beyond which the episode terminates [rad].
        time_limit: episode length before truncation [s].
        max_command: largest |forward speed| [m/s] and |yaw rate| [rad/s] a command may ask
            for; the deploy runner clamps ``/cmd_vel`` to it (and counts every clamp). The
            default is the range the classical controller is tested to track without leaning
            past the fallback's soft tilt limit (at 1 m/s it leans 0.33-0.43 rad).
    """

    name: str
    command: tuple[float, float]
    weights: RewardWeights
    fall_tilt: float = 0.6
    time_limit: float = 10.0
    max_command: tuple[float, float] = (0.5, 1.0)

    def reward(
        self, obs: ArrayLike, action: ArrayLike, next_obs: ArrayLike
    ) -> NDArray[np.float64] | np.float64:
        """Reward of transitions, (...,), from obs (..., OBS_DIM), action (..., ACTION_DIM);
        a numpy scalar for one transition (1-D inputs)."""
        o, a, n = (np.asarray(x, dtype=np.float64) for x in (obs, action, next_obs))
        if o.ndim == a.ndim == n.ndim == 1:
            return self._reward_one(o, a, n)
        w = self.weights
        v = n[..., _FORWARD_VEL]
        yaw = n[..., _YAW_RATE]
        cmd = n[..., OBS_SLICES["command"]]
        tilt = tilt_from_projected_gravity(n[..., OBS_SLICES["projected_gravity"]])
        leg = n[..., OBS_SLICES["leg_pos"]]
        rate = np.mean((a - o[..., OBS_SLICES["prev_action"]]) ** 2, axis=-1)
        track = np.exp(
            -(np.stack([(v - cmd[..., 0]) / w.vel_sigma, (yaw - cmd[..., 1]) / w.yaw_sigma]) ** 2)
        )
        return (
            w.alive
            + w.track_vel * track[0]
            + w.track_yaw * track[1]
            - w.tilt * (tilt * tilt)
            - w.leg_pose * np.sum(leg**2, axis=-1)
            - w.action_rate * rate
        )

    def _reward_one(self, o: NDArray, a: NDArray, n: NDArray) -> np.float64:
        """:meth:`reward` of one transition (1-D float64 arrays)."""
        nl = n.tolist()
        return self._reward_floats(o, a, nl, _tilt_one(nl))

    def _reward_floats(self, o: NDArray, a: NDArray, nl: list[float], tilt: float) -> np.float64:
        """:meth:`reward` of one transition, ``next_obs`` as a list and its tilt: the same
        operations in the same order on Python floats (IEEE doubles, so bitwise equal), with
        numpy for exp/arccos (same kernels)."""
        w = self.weights
        v, yaw, v_c, yaw_c = nl[_FORWARD_VEL], nl[_YAW_RATE], nl[_COMMAND], nl[_COMMAND + 1]
        track = np.exp(-(np.array([(v - v_c) / w.vel_sigma, (yaw - yaw_c) / w.yaw_sigma]) ** 2))
        # Sums in numpy's order for these short rows (sequential below 8 elements).
        leg = 0.0
        for x in nl[_LEG_POS]:
            leg += x * x
        rate = 0.0
        for x, y in zip(a.tolist(), o[OBS_SLICES["prev_action"]].tolist(), strict=True):
            rate += (x - y) * (x - y)
        rate /= a.shape[-1]
        return np.float64(
            w.alive
            + w.track_vel * float(track[0])
            + w.track_yaw * float(track[1])
            - w.tilt * (tilt * tilt)
            - w.leg_pose * leg
            - w.action_rate * rate
        )

    def terminated(self, next_obs: ArrayLike) -> NDArray[np.bool_] | np.bool_:
        """True where the robot has fallen (or the observation is not finite), (...,); a numpy
        scalar for one observation (1-D)."""
        n = np.asarray(next_obs, dtype=np.float64)
        if n.ndim == 1:
            nl = n.tolist()
            return np.bool_(self._terminated_floats(nl, _tilt_one(nl)))
        tilt = tilt_from_projected_gravity(n[..., OBS_SLICES["projected_gravity"]])
        return (tilt > self.fall_tilt) | ~np.isfinite(n).all(axis=-1)

    def _terminated_floats(self, nl: list[float], tilt: float) -> bool:
        return tilt > self.fall_tilt or not all(map(math.isfinite, nl))

    def outcome(self, obs: NDArray, action: NDArray, next_obs: NDArray) -> tuple[float, bool]:
        """``(reward, terminated)`` of one transition (1-D obs (OBS_DIM,), action
        (ACTION_DIM,)): :meth:`reward` and :meth:`terminated`, bitwise, sharing the work (the
        env's hot path)."""
        o, a, n = (np.asarray(x, dtype=np.float64) for x in (obs, action, next_obs))
        nl = n.tolist()
        tilt = _tilt_one(nl)
        return float(self._reward_floats(o, a, nl, tilt)), self._terminated_floats(nl, tilt)

    def max_episode_steps(self, control_hz: float) -> int:
        """Time limit in control ticks."""
        return int(round(self.time_limit * control_hz))


def _tilt_one(obs: list[float]) -> float:
    """:func:`tilt_from_projected_gravity` of one observation (as a list), same operations."""
    gx, gy, gz = obs[_GRAVITY : _GRAVITY + 3]
    cos_tilt = -gz / max(math.sqrt(gx * gx + gy * gy + gz * gz), 1e-12)
    return float(np.arccos(min(max(cos_tilt, -1.0), 1.0)))


TASKS: dict[str, Task] = {
    "stand": Task("stand", (0.0, 0.0), RewardWeights()),
    "move_straight": Task("move_straight", (0.5, 0.0), RewardWeights(track_vel=1.0)),
}


def get_task(name: str) -> Task:
    """The task called ``name``; a clear :class:`ConfigError` for an unknown one."""
    try:
        return TASKS[name]
    except KeyError as err:
        raise ConfigError(f"unknown task {name!r}; known: {sorted(TASKS)}") from err
