"""LogThrottle: one line per key per period, the suppressed ones counted."""

from __future__ import annotations

import pytest

from h2o_robot_bridge.log_throttle import LogThrottle


def test_one_line_per_key_per_period_and_the_held_back_ones_are_counted() -> None:
    throttle = LogThrottle(1.0)
    assert throttle.due("imu.invalid", 10.0) == 0
    assert [throttle.due("imu.invalid", t) for t in (10.1, 10.5, 10.99)] == [None] * 3
    assert throttle.due("joint_states.malformed", 10.5) == 0  # keys are independent
    assert throttle.due("imu.invalid", 11.0) == 3
    assert throttle.due("imu.invalid", 12.5) == 0  # the count starts again


def test_note_appends_the_count_only_when_lines_were_held_back() -> None:
    throttle = LogThrottle(0.5)
    assert throttle.note("k", 0.0, "bad") == "bad"
    assert throttle.note("k", 0.1, "bad") is None
    assert throttle.note("k", 0.6, "worse") == "worse (+1 more since the last such line)"


@pytest.mark.parametrize("period", [0.0, -1.0, float("nan")])
def test_a_period_that_is_not_positive_is_refused(period: float) -> None:
    with pytest.raises(ValueError, match="period"):
        LogThrottle(period)
