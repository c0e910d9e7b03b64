"""Start the synthetic robot (:mod:`.fake_robot_node`) as a process and read its report.

Pure helpers (no rclpy) shared by the system tests and ``bench/deploy_loop.py``.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from h2o_robot_bridge.contract import ACTION_DIM, action_to_command, robot
from h2o_robot_bridge.deploy.levels import ControlledStop, StopConfig
from h2o_robot_bridge.deploy.safety import SAFE_COMMAND
from h2o_robot_bridge.testing.processes import NodeProcess, ros_env

LEGS, WHEELS = list(robot.LEG_JOINT_IDS), list(robot.WHEEL_JOINT_IDS)


def fake_robot_process(
    out: Path, log_dir: Path, domain_id: int, name: str = "fake_robot", **options: Any
) -> NodeProcess:
    """A not-yet-started fake robot writing its report to ``out``.

    Args:
        options: command-line options of the node by Python name (``duration=8.0``,
            ``events=[...]``, ``count_topic=["/joint_commands"]``, ...).
    """
    argv = [sys.executable, "-m", "h2o_robot_bridge.nodes.fake_robot_node", "--out", str(out)]
    for key, value in options.items():
        flag = "--" + key.replace("_", "-")
        if isinstance(value, bool):  # a switch
            argv += [flag] if value else []
        elif key == "count_topic":  # repeatable option
            for topic in value:
                argv += [flag, topic]
        else:
            argv += [flag, json.dumps(value) if isinstance(value, list) else str(value)]
    return NodeProcess(name, argv, ros_env(domain_id), Path(log_dir) / f"{name}.log")


@dataclass(frozen=True)
class FakeRobotReport:
    """What the fake robot saw.

    Attributes:
        commands: (N, 1 + 2 * ACTION_DIM): receive time since the first command [s], positions
            (ACTION_DIM,), efforts (ACTION_DIM,), NaN where a field does not apply.
        events: the played timeline, each with ``at`` [s] (and ``success``/``message`` for
            releases).
        diagnostics: the last ``/diagnostics`` values of the runner (strings).
        counts: messages seen on each ``--count-topic``.
        sensor_messages: joint-state messages published.
        tilts: (M, 2) receive time [s], base tilt [rad] from ``/imu/data`` (listen-only mode).
        diag_history: every runner ``/diagnostics`` status as (receive time [s] or None
            before the timeline started, level, message).
        imu_times: (K,) when each IMU message was published [s, same clock as ``commands``]
            (listen-only mode: when each valid one was received).
        imu_stamps: (K,) their header stamps [ns].
        command_stamps: (N,) the header stamp of each command row [ns] (the sensor sample a
            command answered, or the runner's clock for a safe action on stale inputs).
    """

    commands: NDArray[np.float64]
    events: list[dict[str, Any]]
    diagnostics: dict[str, str]
    counts: dict[str, int]
    sensor_messages: int
    tilts: NDArray[np.float64]
    diag_history: list[tuple[float | None, str, str]] = ()  # type: ignore[assignment]
    imu_times: NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))
    imu_stamps: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    command_stamps: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))

    @classmethod
    def load(cls, path: Path) -> FakeRobotReport:
        """Read a report JSON file."""
        raw = json.loads(Path(path).read_text())
        rows = np.array(raw["commands"], dtype=float).reshape(-1, 1 + 2 * ACTION_DIM)
        tilts = np.array(raw.get("tilts", []), dtype=float).reshape(-1, 2)
        history = [tuple(h) for h in raw.get("diag_history", [])]
        return cls(
            rows,
            raw["events"],
            raw["diagnostics"],
            raw["counts"],
            raw["sensor_messages"],
            tilts,
            history,
            np.array(raw.get("imu_times", []), dtype=float),
            np.array(raw.get("imu_stamps", []), dtype=np.int64),
            np.array(raw.get("command_stamps", []), dtype=np.int64),
        )

    def levels(self, start: float, end: float) -> set[str]:
        """The runner levels its diagnostics reported with receive time in [start, end)."""
        return {lvl for t, lvl, _ in self.diag_history if t is not None and start <= t < end}

    def window(self, start: float, end: float) -> NDArray[np.float64]:
        """Command rows received in [start, end) [s]."""
        t = self.commands[:, 0]
        return self.commands[(t >= start) & (t < end)]

    def fresh(self, rows: NDArray[np.float64], max_age: float, recover: float) -> NDArray:
        """``rows`` outside the loop's stalls (:func:`in_a_stall`): the commands the runner sent
        on fresh inputs. All of ``rows`` when the loop stalled through every one of them (a
        check on none would pass whatever the runner did: it then judges them all)."""
        out = rows[~in_a_stall(self, rows[:, 0], max_age, recover)]
        return out if len(out) else rows


def safe_rows(rows: NDArray[np.float64]) -> NDArray[np.bool_]:
    """(N,) True where a command row is the safe action (legs at default, wheels 0 N m)."""
    pos, eff = rows[:, 1 : 1 + ACTION_DIM], rows[:, 1 + ACTION_DIM :]
    legs_ok = np.all(np.isclose(pos[:, LEGS], SAFE_COMMAND.position[LEGS]), axis=1)
    return legs_ok & np.all(np.isclose(eff[:, WHEELS], 0.0), axis=1)


def in_a_stall(
    report: FakeRobotReport, times: NDArray[np.float64], max_age: float, recover: float
) -> NDArray[np.bool_]:
    """(N,) True where a row received at ``times`` [s] lies in a stall of the loop: from the
    start of a gap longer than ``max_age`` [s] in the fake robot's own IMU publishing or in the
    commands it received (the runner late), to ``recover`` [s] after the gap ended. A loaded
    machine can pause either process; the runner's inputs are then stale and the controlled
    stop (then the soft start back) is the right answer, not a fault."""
    out = np.zeros(len(times), dtype=bool)
    for series in (report.imu_times, report.commands[:, 0]):
        gaps = np.flatnonzero(np.diff(series) > max_age)
        for start, end in zip(series[gaps], series[gaps + 1], strict=True):
            out |= (times >= start) & (times <= end + recover)
    return out


def stop_rows(rows: NDArray[np.float64]) -> NDArray[np.bool_]:
    """(N,) True where a command row is the controlled stop of a robot at rest (the fake
    robot's wheels do not turn, so the damping torque is 0 N m): wheels 0 N m, the legs
    between the default pose and the stop's crouch (:class:`~h2o_robot_bridge.deploy.levels.
    StopConfig` defaults). The safe action (before any sensors) is one of them."""
    pos, eff = rows[:, 1 : 1 + ACTION_DIM], rows[:, 1 + ACTION_DIM :]
    target = action_to_command(ControlledStop(StopConfig(), 100.0).target).position
    lo = np.minimum(SAFE_COMMAND.position, target)[LEGS] - 1e-9
    hi = np.maximum(SAFE_COMMAND.position, target)[LEGS] + 1e-9
    legs = pos[:, LEGS]
    legs_ok = np.all((legs >= lo) & (legs <= hi), axis=1)
    return legs_ok & np.all(np.isclose(eff[:, WHEELS], 0.0), axis=1)


def invalid_rows(rows: NDArray[np.float64]) -> NDArray[np.bool_]:
    """(N,) True where a command row is non-finite, outside the limits, or has a value in a
    field that does not apply (wheel position, leg effort must be NaN)."""
    pos, eff = rows[:, 1 : 1 + ACTION_DIM], rows[:, 1 + ACTION_DIM :]
    leg, wheel = pos[:, LEGS], eff[:, WHEELS]
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(leg).all(axis=1) | ~np.isfinite(wheel).all(axis=1)
        bad |= np.any(leg < robot.LOWER[LEGS], axis=1) | np.any(leg > robot.UPPER[LEGS], axis=1)
        bad |= np.any(np.abs(wheel) > robot.MAX_EFFORT[WHEELS], axis=1)
    bad |= ~np.isnan(pos[:, WHEELS]).all(axis=1) | ~np.isnan(eff[:, LEGS]).all(axis=1)
    return bad
