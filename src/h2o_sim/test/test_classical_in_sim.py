"""The classical controller keeps the simulated robot up and tracks commanded speeds."""

from __future__ import annotations

import numpy as np
import pytest

from h2o_robot_bridge.contract import get_task
from h2o_robot_bridge.controllers import ClassicalController
from h2o_sim.rollout import rollout
from h2o_sim.simulator import WheelLeggedSim

FALL_TILT = get_task("stand").fall_tilt
SPEED_TOLERANCE = 1e-3
"""Allowed error of the mean forward speed over the late window [m/s]. Measured (2026-12-01,
seeds 0-2): at most 6e-6 going straight, 3e-4 while turning; a controller holding 0.499 m/s
fails."""


@pytest.mark.parametrize("seed", [0, 1])
def test_balances_for_20_s_under_real_and_stays_in_place(seed: int) -> None:
    with WheelLeggedSim("real", seed=seed) as sim:
        traj = rollout(sim, ClassicalController().act, 20.0, fall_tilt=FALL_TILT)
    assert not traj.fell and traj.duration == pytest.approx(20.0)
    assert np.max(traj.tilt[100:]) < 0.15  # comfortably upright after settling
    assert np.max(np.abs(traj.base_pos[:, :2])) < 0.5  # "stand": stays near its start


def test_tracks_half_a_metre_per_second() -> None:
    command = get_task("move_straight").command
    assert command[0] == 0.5
    with WheelLeggedSim("real", seed=0) as sim:
        controller = ClassicalController(task="move_straight")
        traj = rollout(sim, controller.act, 20.0, command=command, fall_tilt=FALL_TILT)
    assert not traj.fell
    late = traj.time > 10.0
    speed = traj.base_lin_vel[late, 0]
    assert abs(np.mean(speed) - 0.5) < SPEED_TOLERANCE
    assert np.max(np.abs(speed - 0.5)) < 1e-3  # measured 8e-5 at worst
    start = int(np.argmax(late))
    distance = traj.base_pos[-1, 0] - traj.base_pos[start, 0]
    assert distance == pytest.approx(0.5 * (traj.time[-1] - traj.time[start]), rel=1e-3)
    assert abs(traj.base_pos[-1, 1]) < 0.3  # holds its heading


@pytest.mark.parametrize("speed", [0.0, 0.5])
def test_turns_at_the_commanded_yaw_rate(speed: float) -> None:
    with WheelLeggedSim("real", seed=0) as sim:
        controller = ClassicalController()
        traj = rollout(sim, controller.act, 8.0, command=(speed, 0.5), fall_tilt=FALL_TILT)
    assert not traj.fell
    late = traj.time > 4.0
    yaw_rate = (traj.yaw[-1] - traj.yaw[np.argmax(late)]) / 4.0
    assert yaw_rate == pytest.approx(0.5, abs=0.05)
    assert np.mean(traj.base_lin_vel[late, 0]) == pytest.approx(speed, abs=SPEED_TOLERANCE)


def test_without_the_controller_it_falls() -> None:
    # The controller is what keeps it up (guards against a sim that cannot fall).
    with WheelLeggedSim("real", seed=0) as sim:
        assert rollout(sim, None, 20.0, fall_tilt=FALL_TILT).fell
