"""Loop delay from recorded samples and commands (h2o_robot_bridge.testing.loop_delay)."""

from __future__ import annotations

import numpy as np

from h2o_robot_bridge.contract import robot
from h2o_robot_bridge.testing.loop_delay import (
    DROPPED,
    UNKNOWN,
    WHEELS,
    applied_wheel_effort,
    loop_delays,
)

DT = 0.01


def closed_loop(arrivals: list[float], strength: float = 1.0):
    """A robot publishing sample k at time k [ticks] and command k (answering it) arriving at
    ``arrivals[k]`` [ticks]: the step at time k + 1 (the period from sample k to sample k + 1)
    applies the newest command in by then (on time: arrival < k + 1).

    Returns (sample stamps, sample wheel efforts, command stamps, command wheel efforts).
    """
    n = len(arrivals)
    rng = np.random.default_rng(0)
    efforts = rng.uniform(-3.0, 3.0, size=(n, 2))
    applied = np.zeros(2)
    reported = [applied]
    for step in range(1, n + 4):  # the step at time `step`, giving sample `step`
        arrived = [k for k in range(n) if arrivals[k] <= step]
        if arrived:
            applied = applied_wheel_effort(efforts[max(arrived)], strength)
        reported.append(applied)
    stamps = np.arange(len(reported)) * DT
    return stamps, np.array(reported), np.arange(n) * DT, efforts


def test_on_time_late_and_dropped_commands() -> None:
    # 2 and 6 miss their step and act one period late; 3 and 4 arrive before the same step:
    # 4 overwrites 3, which never acts.
    arrivals = [0.3, 1.2, 3.5, 4.1, 4.5, 5.2, 7.5]
    samples, efforts, stamps, commanded = closed_loop(arrivals)
    delays = loop_delays(samples, efforts, stamps, commanded, DT)
    assert delays.delays.tolist() == [0, 0, 1, DROPPED, 0, 0, 1]
    assert delays.count(0) == 4 and delays.count(DROPPED) == 1 and delays.known == 7
    assert delays.fraction(0) == 4 / 7
    assert delays.distribution() == {"0": 4, "1": 2, "dropped": 1}


def test_strength_and_clipping_are_modelled() -> None:
    samples, efforts, stamps, commanded = closed_loop([0.5, 1.5, 2.5], strength=0.8)
    delays = loop_delays(samples, efforts, stamps, commanded, DT, motor_strength=0.8)
    assert delays.delays.tolist() == [0, 0, 0]
    # With the wrong strength nothing matches: every command looks dropped.
    assert loop_delays(samples, efforts, stamps, commanded, DT, max_delay=2).count(DROPPED) == 3
    limit = 0.8 * robot.MAX_EFFORT[WHEELS]
    np.testing.assert_allclose(applied_wheel_effort([1e3, -1e3], 0.8), [limit[0], -limit[1]])


def test_unknown_commands() -> None:
    samples, efforts, stamps, commanded = closed_loop([0.5, 1.5, 2.5, 3.5])
    stamps = stamps.copy()
    stamps[1] += 0.003  # not a sample's stamp (a safe action stamped with the clock)
    commanded[3] = commanded[2]  # no visible change from the command before
    keep = np.arange(len(samples)) != 2  # sample 2 (showing command 1) lost from the record
    delays = loop_delays(samples[keep], efforts[keep], stamps, commanded, DT)
    assert delays.delays.tolist() == [0, UNKNOWN, UNKNOWN, UNKNOWN]
    assert delays.known == 1 and delays.distribution() == {"0": 1, "unknown": 3}
