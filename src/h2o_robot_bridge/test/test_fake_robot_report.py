"""The fake robot report's helpers that system tests lean on."""

from __future__ import annotations

import numpy as np

from h2o_robot_bridge.contract import ACTION_DIM
from h2o_robot_bridge.testing.fake_robot import FakeRobotReport, in_a_stall


def _report(imu_times: np.ndarray, command_times: np.ndarray) -> FakeRobotReport:
    commands = np.zeros((len(command_times), 1 + 2 * ACTION_DIM))
    commands[:, 0] = command_times
    return FakeRobotReport(commands, [], {}, {}, 0, np.zeros((0, 2)), [], imu_times)


def test_in_a_stall_marks_the_rows_of_a_pause_of_either_process_and_its_recovery() -> None:
    ticks = np.arange(0.0, 0.5, 0.01)
    # The IMU paused 40 ms after t = 0.1; the commands paused 60 ms after t = 0.3.
    imu = ticks[(ticks <= 0.1 + 1e-9) | (ticks >= 0.14 - 1e-9)]
    cmds = ticks[(ticks <= 0.3 + 1e-9) | (ticks >= 0.36 - 1e-9)]
    rows = np.array([0.05, 0.12, 0.19, 0.21, 0.29, 0.33, 0.40, 0.45])
    marked = in_a_stall(_report(imu, cmds), rows, max_age=0.03, recover=0.05)
    # the IMU pause [0.1, 0.14 + 0.05], the command pause [0.3, 0.36 + 0.05]
    np.testing.assert_array_equal(marked, [False, True, True, False, False, True, True, False])
    # Pauses shorter than the max age excuse nothing.
    assert not np.any(in_a_stall(_report(imu, cmds), rows, max_age=0.07, recover=0.05))
    assert not np.any(in_a_stall(_report(np.zeros(0), np.zeros(0)), rows, 0.03, 0.05))


def test_fresh_leaves_out_stalled_rows_unless_all_are() -> None:
    ticks = np.arange(0.0, 0.5, 0.01)
    cmds = ticks[(ticks <= 0.3 + 1e-9) | (ticks >= 0.36 - 1e-9)]  # the runner 60 ms late
    report = _report(ticks, cmds)
    kept = report.fresh(report.commands, max_age=0.03, recover=0.045)  # stall [0.3, 0.405]
    np.testing.assert_allclose(kept[:, 0], cmds[(cmds < 0.3 - 1e-9) | (cmds > 0.405)])
    # A window inside the stall: nothing fresh to judge, so every row is judged.
    inside = report.window(0.36, 0.4)
    assert len(inside) == 4 and len(report.fresh(inside, 0.03, 0.045)) == 4
