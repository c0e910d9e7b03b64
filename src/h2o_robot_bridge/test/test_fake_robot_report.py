"""The fake robot report's helpers that system tests lean on."""

from __future__ import annotations

import numpy as np

from h2o_robot_bridge.testing.fake_robot import after_a_sensor_gap


def test_after_a_sensor_gap_marks_only_rows_that_follow_a_long_pause() -> None:
    # Published every 10 ms, then a 40 ms pause after t = 0.05, then every 10 ms again.
    imu = np.concatenate([np.arange(0.0, 0.051, 0.01), np.arange(0.09, 0.3, 0.01)])
    rows = np.array([0.04, 0.06, 0.12, 0.15, 0.16, 0.25])
    marked = after_a_sensor_gap(rows, imu, max_age=0.03, within=0.1)
    # before the pause, up to 0.1 s after its start (0.05), then no longer
    np.testing.assert_array_equal(marked, [False, True, True, True, False, False])
    # A pause shorter than the max age excuses nothing.
    assert not np.any(after_a_sensor_gap(rows, imu, max_age=0.045))
    assert not np.any(after_a_sensor_gap(rows, np.zeros(0), max_age=0.03))
