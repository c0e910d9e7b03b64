"""Fault injection over real DDS: policy_runner and a synthetic robot in separate processes.

One run plays a timeline of faults (IMU stops, NaN, tilt, e-stop, releases) against the node
running a synthetic ONNX policy whose action is clearly not a stop; each test checks one guard
on the commands the fake robot received: the controlled stop (wheels 0 N m for a robot at
rest, legs between the default pose and the crouch). Every received command must be finite
and within the joint limits. More faults: ``test_deploy_safety.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from h2o_robot_bridge.contract import robot
from h2o_robot_bridge.testing.fake_robot import (
    FakeRobotReport,
    fake_robot_process,
    invalid_rows,
    stop_rows,
)
from h2o_robot_bridge.testing.processes import NodeProcess, policy_runner_process
from h2o_robot_bridge.testing.synthetic import mlp_weights, write_mlp_policy

WHEELS = list(robot.WHEEL_JOINT_IDS)
PERIOD = 0.01  # 100 Hz
IMU_MAX_AGE = 0.05
MARGIN = 0.04  # DDS delivery and scheduling on a loaded 2-core VM [s]
# A stall (a pause > max age of either process, in_a_stall) rightly stops the robot; the soft
# start (0.2 s), one period and delivery bring the policy back.
RECOVER = 0.2 + PERIOD + MARGIN
BIAS = np.array([0.6, -0.6, 0.8, 0.6, -0.6, 0.8])

TIMELINE = [
    {"t": 1.5, "do": "imu_stop"},
    {"t": 2.0, "do": "imu_resume"},
    {"t": 3.0, "do": "imu_nan"},
    {"t": 3.3, "do": "imu_ok"},
    {"t": 4.3, "do": "tilt", "value": 0.8},
    {"t": 4.6, "do": "tilt", "value": 0.0},
    {"t": 5.3, "do": "release"},
    {"t": 6.3, "do": "estop", "value": True},
    {"t": 6.5, "do": "release"},  # refused: e-stop still asserted
    {"t": 6.7, "do": "estop", "value": False},
    {"t": 7.3, "do": "release"},
]
DURATION = 8.3


def runner_process(policy: Path, log_dir: Path, domain_id: int, **params) -> NodeProcess:
    """policy_runner with the shipped parameter file, a short soft start, and ``params``."""
    return policy_runner_process(
        policy, log_dir, domain_id, **({"soft_start": 0.2, "imu_max_age": IMU_MAX_AGE} | params)
    )


@pytest.fixture(scope="module")
def fault_run(tmp_path_factory, module_domain_id: int) -> FakeRobotReport:
    tmp = tmp_path_factory.mktemp("deploy_faults")
    domain = module_domain_id
    policy = write_mlp_policy(tmp / "biased.onnx", mlp_weights(seed=1, bias=BIAS))
    out = tmp / "report.json"
    with runner_process(policy, tmp, domain) as runner:
        peer = fake_robot_process(out, tmp, domain, duration=DURATION, events=TIMELINE, rate=200.0)
        with peer:
            peer.wait(timeout=DURATION + 40)
        assert runner.alive(), runner.log()
    report = FakeRobotReport.load(out)
    assert len(report.commands) > 0.5 * DURATION / PERIOD, (runner.log(), peer.log())
    return report


def stops_on_fresh_inputs(report: FakeRobotReport, start: float, end: float) -> bool:
    """Whether a command in [start, end) outside the loop's stalls is the controlled stop."""
    return bool(np.any(stop_rows(report.fresh(report.window(start, end), IMU_MAX_AGE, RECOVER))))


def event_time(report: FakeRobotReport, index: int) -> float:
    event = report.events[index]
    assert event["do"] == TIMELINE[index]["do"]
    return event["at"]


def test_every_command_is_finite_and_within_limits(fault_run) -> None:
    rows = fault_run.commands
    assert len(rows) > 0
    assert not np.any(invalid_rows(rows)), rows[invalid_rows(rows)][:5]


def test_policy_commands_after_soft_start(fault_run) -> None:
    nominal = fault_run.window(0.9, 1.45)  # after the 0.5 s e-stop wait and the fade
    assert len(nominal) > 30
    nominal = fault_run.fresh(nominal, IMU_MAX_AGE, RECOVER)
    assert not np.any(stop_rows(nominal))
    # The wheels get the policy's biased torque (about tanh(0.8) * 4 N m).
    assert np.all(nominal[:, 7 + WHEELS[0]] > 1.5)


def test_stale_imu_gives_the_stop_within_max_age_one_period_and_delivery(fault_run) -> None:
    report = fault_run
    stop, resume = event_time(report, 0), event_time(report, 1)
    after = report.window(stop, resume)
    first_safe = after[stop_rows(after)][0, 0]
    delay = first_safe - stop
    assert delay <= IMU_MAX_AGE + PERIOD + MARGIN, delay
    # ... and it stays safe until the IMU resumes, and the policy comes back after it.
    assert np.all(stop_rows(report.window(first_safe, resume)))
    assert not stops_on_fresh_inputs(report, resume + 0.3, resume + 0.9)


def test_nan_imu_is_dropped_and_gives_the_stop(fault_run) -> None:
    report = fault_run
    nan, ok = event_time(report, 2), event_time(report, 3)
    assert np.all(stop_rows(report.window(nan + IMU_MAX_AGE + PERIOD + MARGIN, ok)))
    assert not stops_on_fresh_inputs(report, ok + 0.3, ok + 0.9)


def test_tilt_latches_until_released(fault_run) -> None:
    report = fault_run
    tilt, upright, release = (event_time(report, i) for i in (4, 5, 6))
    assert np.all(stop_rows(report.window(tilt + PERIOD + MARGIN, release)))
    assert upright + 0.5 < release  # upright for a while and still latched
    assert report.events[6]["success"] is True, report.events[6]
    assert not stops_on_fresh_inputs(report, release + 0.35, release + 0.9)


def test_estop_latches_until_deasserted_and_released(fault_run) -> None:
    report = fault_run
    estop, early_release, deassert, release = (event_time(report, i) for i in (7, 8, 9, 10))
    assert np.all(stop_rows(report.window(estop + PERIOD + MARGIN, release)))
    assert report.events[8]["success"] is False
    assert "still asserted" in report.events[8]["message"]
    assert report.events[10]["success"] is True
    assert not stops_on_fresh_inputs(report, release + 0.35, DURATION)
    assert deassert < release


def test_diagnostics_report_loop_and_trips(fault_run) -> None:
    diag = fault_run.diagnostics
    assert float(diag["control_hz"]) == 100.0
    assert 80.0 < float(diag["rate_hz"]) < 120.0
    # NaN IMU samples are dropped at the input (never stored): the IMU then goes stale.
    assert float(diag["trip.stale_imu"]) >= 2, diag  # the IMU stop and the NaN window
    assert float(diag["trip.tilt"]) >= 1 and float(diag["trip.estop"]) >= 1, diag
    assert float(diag["dropped.imu.invalid"]) > 0.5 * 0.3 * 200, diag
    assert float(diag["latency_p50_us"]) > 0
