"""A scripted robot log for alignment and bag tests: deterministic values per tick."""

from __future__ import annotations

import numpy as np

from h2o_robot_bridge.contract import (
    ACTION_DIM,
    NUM_JOINTS,
    action_to_command,
    build_observation,
    get_task,
)
from h2o_robot_bridge.dataset.align import Aligner

DT = 0.01
TASK = get_task("stand")


class Script:
    """A scripted log: sensor samples at tick times, deterministic values per tick."""

    def __init__(self, n: int, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.t = 1.0 + DT * np.arange(n)
        tilt = rng.uniform(-0.1, 0.1, size=n)  # small pitch: upright
        self.quat = np.stack([np.zeros(n), np.sin(tilt / 2), np.zeros(n), np.cos(tilt / 2)], 1)
        self.gyro = rng.normal(0, 0.3, size=(n, 3))
        self.pos = rng.normal(0, 0.2, size=(n, NUM_JOINTS))
        self.vel = rng.normal(0, 1.0, size=(n, NUM_JOINTS))
        self.act = rng.uniform(-1, 1, size=(n, ACTION_DIM))

    def fall_at(self, k: int, until: int) -> None:
        """Tilt 1.2 rad (beyond fall_tilt) for ticks k..until-1."""
        self.quat[k:until] = [0.0, np.sin(0.6), 0.0, np.cos(0.6)]

    def obs(self, k: int, prev_action: np.ndarray | None, command=(0.0, 0.0)) -> np.ndarray:
        prev = np.zeros(ACTION_DIM) if prev_action is None else prev_action
        return build_observation(
            self.quat[k], self.gyro[k], self.pos[k], self.vel[k], command, prev
        )

    def feed(self, al: Aligner, ticks=None, sensors=None) -> None:
        ticks = range(len(self.t)) if ticks is None else ticks
        sensors = range(len(self.t)) if sensors is None else sensors
        s, k = list(sensors), list(ticks)
        al.add_joint_states(self.t[s], self.pos[s], self.vel[s])
        al.add_imu(self.t[s], self.quat[s], self.gyro[s])
        al.add_ticks(self.t[k], self.act[k])

    def write_bag(self, writer, ticks=None, sensors=None, log_offset: float = 0.0) -> None:
        """Write the log into a :class:`RobotBagWriter` (receive time = stamp + offset)."""
        ticks = set(range(len(self.t)) if ticks is None else ticks)
        sensors = set(range(len(self.t)) if sensors is None else sensors)
        for k, t in enumerate(self.t):
            if k in sensors:
                writer.write_joint_states(t, self.pos[k], self.vel[k], log_t=t + log_offset)
                writer.write_imu(t, self.quat[k], self.gyro[k], log_t=t + log_offset)
            if k in ticks:
                cmd = action_to_command(self.act[k])
                writer.write_joint_commands(t, cmd, log_t=t + log_offset + 1e-4)


def expected_row(
    sc: Script, k: int, first: bool
) -> tuple[np.ndarray, np.ndarray, np.float64 | np.ndarray, np.ndarray]:
    """(obs, action, reward (a numpy scalar), next_obs) of the transition from tick k to k+1."""
    o = sc.obs(k, None if first else sc.act[k - 1])
    n = sc.obs(k + 1, sc.act[k])
    a = sc.act[k].astype(np.float32)
    return o, a, TASK.reward(o, a, n), n
