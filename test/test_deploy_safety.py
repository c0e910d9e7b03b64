"""The runner's safety over real DDS: bad inputs on every topic, floods, e-stop before start,
heartbeat loss, lifecycle transitions and SIGTERM (policy_runner and a synthetic robot in
separate processes).

The policy is a synthetic ONNX network whose action is clearly not a stop (wheel torque about
3 N m), so every received command row tells who commanded it. Every command must be finite and
within the joint limits.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import numpy as np
import pytest

from h2o_robot_bridge.contract import robot
from h2o_robot_bridge.nodes.fake_robot_node import FAULTS
from h2o_robot_bridge.testing.fake_robot import (
    FakeRobotReport,
    fake_robot_process,
    invalid_rows,
    stop_rows,
)
from h2o_robot_bridge.testing.processes import NodeProcess, policy_runner_process
from h2o_robot_bridge.testing.synthetic import mlp_weights, write_mlp_policy

WHEELS, LEGS = list(robot.WHEEL_JOINT_IDS), list(robot.LEG_JOINT_IDS)
BIAS = np.array([0.6, -0.6, 0.8, 0.6, -0.6, 0.8])
MARGIN = 0.05  # DDS delivery and scheduling on a loaded 2-core VM [s]
WINDOW = 0.3  # length of one fault window [s]
BLACKOUTS = (0.1, 1.0)  # sensor blackouts [s]
MAX_AGE = 0.05  # the shipped joint_state_max_age and imu_max_age [s]
# A stall (a pause > max age of either process, in_a_stall) rightly stops the robot; the soft
# start (0.2 s), one period and delivery bring the policy back.
RECOVER = 0.2 + 0.01 + MARGIN


def runner_process(policy: Path, log_dir: Path, domain_id: int, **params) -> NodeProcess:
    """policy_runner with the shipped parameter file, a short soft start, and ``params``."""
    return policy_runner_process(
        policy, log_dir, domain_id, **({"soft_start": 0.2, "diagnostics_period": 0.1} | params)
    )


def _policy(tmp: Path) -> Path:
    return write_mlp_policy(tmp / "biased.onnx", mlp_weights(seed=1, bias=BIAS))


def policy_rows(rows: np.ndarray) -> np.ndarray:
    """(N,) True where the biased policy commanded (its wheel torque, > 1.5 N m)."""
    return np.all(rows[:, 1 + 6 :][:, WHEELS] > 1.5, axis=1)


def all_policy(report: FakeRobotReport, rows: np.ndarray) -> bool:
    """Every row outside the loop's stalls (``FakeRobotReport.fresh``) is the policy's."""
    return bool(np.all(policy_rows(report.fresh(rows, MAX_AGE, RECOVER))))


def _fault_timeline() -> list[dict]:
    """Every bad message kind on every topic, 5 per sensor tick (1 kHz) after each good one,
    one window each; then bad messages *instead of* the good ones (the input goes stale);
    then a soft tilt (fallback) and the hand back."""
    events, t = [], 1.0  # after the start-up e-stop wait (0.5 s) and the fade-in
    for topic, kinds in FAULTS.items():
        for kind in kinds:
            events.append({"t": t, "do": "fault", "topic": topic, "kind": kind, "per_tick": 5})
            events.append({"t": t + WINDOW, "do": "fault_stop"})
            t += WINDOW + 0.1
    replace = {"t": t, "do": "fault", "topic": "joint_states", "kind": "nan", "mode": "replace"}
    events += [replace, {"t": t + WINDOW, "do": "fault_stop"}]
    t += WINDOW + 0.6
    for seconds in BLACKOUTS:
        events.append({"t": t, "do": "blackout", "value": seconds})
        t += seconds + 0.6
    events += [
        {"t": t, "do": "tilt", "value": 0.4},
        {"t": t + 0.2, "do": "tilt", "value": 0.0},
        {"t": t + 0.6, "do": "resume_policy"},
    ]
    return events


TIMELINE = _fault_timeline()
DURATION = TIMELINE[-1]["t"] + 0.8


@pytest.fixture(scope="module")
def fault_run(tmp_path_factory, module_domain_id: int) -> FakeRobotReport:
    tmp = tmp_path_factory.mktemp("deploy_safety")
    domain = module_domain_id
    out = tmp / "report.json"
    with runner_process(_policy(tmp), tmp, domain) as runner:
        peer = fake_robot_process(out, tmp, domain, duration=DURATION, events=TIMELINE, rate=200.0)
        with peer:
            peer.wait(timeout=DURATION + 40)
        assert runner.alive(), runner.log()
    report = FakeRobotReport.load(out)
    assert len(report.commands) > 0.5 * DURATION * 100, (runner.log(), peer.log())
    return report


def _window(report: FakeRobotReport, index: int) -> tuple[float, float]:
    start = report.events[index]
    assert start["do"] == TIMELINE[index]["do"]
    return start["at"], report.events[index + 1]["at"]


def test_every_command_is_finite_and_within_limits(fault_run) -> None:
    assert not np.any(invalid_rows(fault_run.commands))


@pytest.mark.parametrize(
    "index",
    [i for i, e in enumerate(TIMELINE) if e["do"] == "fault" and e.get("mode") != "replace"],
    ids=[
        f"{e['topic']}-{e['kind']}"
        for e in TIMELINE
        if e["do"] == "fault" and e.get("mode") != "replace"
    ],
)
def test_bad_messages_between_good_ones_are_dropped_and_the_policy_keeps_commanding(
    fault_run, index: int
) -> None:
    start, end = _window(fault_run, index)
    rows = fault_run.window(start, end + MARGIN)
    # At least half the control rate (100 Hz): a runner that spent ~0.2 ms logging each bad
    # message fell behind the flood and sent 5-12 commands in some windows (measured).
    assert len(rows) >= 0.5 * WINDOW * 100, len(rows)
    assert all_policy(fault_run, rows), rows[~policy_rows(rows)][:3]


def test_every_drop_is_counted_per_topic_and_cause(fault_run) -> None:
    diag = fault_run.diagnostics
    ticks = WINDOW * 200 * 5 * 0.2  # a fifth of the messages of one window, at least
    expected = {
        "dropped.joint_states.malformed": 4 * ticks,  # missing, unknown names, length, empty
        "dropped.joint_states.invalid": 2 * ticks,  # NaN, huge (plus the replace window)
        "dropped.imu.invalid": 4 * ticks,
        "dropped.cmd_vel.nonfinite": 2 * ticks,
        "clamped.cmd_vel": ticks,
    }
    for key, least in expected.items():
        assert float(diag.get(key, 0)) >= least, (key, diag)


def test_bad_messages_instead_of_good_ones_give_the_stop_then_the_policy(fault_run) -> None:
    index = next(i for i, e in enumerate(TIMELINE) if e.get("mode") == "replace")
    start, end = _window(fault_run, index)
    held = fault_run.window(start + 0.05 + MARGIN, end)  # joint_state_max_age 0.05 s
    assert len(held) > 0 and np.all(stop_rows(held))
    assert all_policy(fault_run, fault_run.window(end + 0.35, end + 0.6))


@pytest.mark.parametrize("seconds", BLACKOUTS)
def test_a_sensor_blackout_gives_the_stop_then_the_policy(fault_run, seconds: float) -> None:
    index = next(
        i for i, e in enumerate(TIMELINE) if e["do"] == "blackout" and e["value"] == seconds
    )
    start = fault_run.events[index]["at"]
    end = start + seconds
    # The stop from max age (0.05 s) after the last sample until the sensors are back.
    around = fault_run.window(start, end + 0.1 + MARGIN)
    assert stop_rows(around).sum() >= 0.5 * (seconds - 0.05) * 100, stop_rows(around).sum()
    held = fault_run.window(start + 0.05 + 0.01 + MARGIN, end)  # max age + one period
    assert np.all(stop_rows(held)) and not np.any(policy_rows(held))
    assert all_policy(fault_run, fault_run.window(end + 0.35, end + 0.6))


def test_a_soft_tilt_hands_over_to_the_fallback_until_asked_back(fault_run) -> None:
    index = next(i for i, e in enumerate(TIMELINE) if e["do"] == "tilt")
    tilt, upright, resume = (fault_run.events[i]["at"] for i in (index, index + 1, index + 2))
    # The diagnostics (every 0.1 s) say who commands; upright again, the fallback's torque is
    # about zero (the policy's stays biased), still until the hand back.
    assert fault_run.levels(tilt + 0.2, resume) == {"fallback"}
    fallback = fault_run.window(upright + 0.2, resume)
    assert len(fallback) > 0 and not np.any(policy_rows(fallback))
    assert fault_run.events[index + 2]["success"] is True
    assert all_policy(fault_run, fault_run.window(resume + 0.35, DURATION))
    assert float(fault_run.diagnostics["trip.fallback.tilt_soft"]) == 1


def test_estop_asserted_before_the_runner_starts_is_seen(tmp_path: Path, domain_id: int) -> None:
    out = tmp_path / "report.json"
    peer = fake_robot_process(out, tmp_path, domain_id, duration=1.5, estop_latched=True)
    with peer:
        peer.wait_for_output("e-stop asserted", timeout=30)  # out before the runner exists
        with runner_process(_policy(tmp_path), tmp_path, domain_id) as runner:
            peer.wait(timeout=40)
            assert runner.alive(), runner.log()
    report = FakeRobotReport.load(out)
    rows = report.window(0.3, 1.5)
    assert len(rows) > 100 and not np.any(policy_rows(report.commands))
    assert np.all(stop_rows(rows))
    assert report.diagnostics["latched"] == "estop", report.diagnostics


def test_a_lost_heartbeat_latches_the_stop(tmp_path: Path, domain_id: int) -> None:
    out = tmp_path / "report.json"
    events = [
        {"t": 0.0, "do": "heartbeat", "value": True},
        {"t": 1.2, "do": "heartbeat", "value": False},
        {"t": 1.6, "do": "heartbeat", "value": True},
        {"t": 2.0, "do": "release"},
    ]
    with runner_process(_policy(tmp_path), tmp_path, domain_id, estop_heartbeat=0.1) as runner:
        with fake_robot_process(out, tmp_path, domain_id, duration=2.8, events=events) as peer:
            peer.wait(timeout=40)
        assert runner.alive(), runner.log()
    report = FakeRobotReport.load(out)
    lost, back, release = (report.events[i]["at"] for i in (1, 2, 3))
    assert all_policy(report, report.window(0.6, lost))
    assert np.all(stop_rows(report.window(lost + 0.1 + MARGIN, release)))
    assert report.events[3]["success"] is True, report.events[3]
    assert all_policy(report, report.window(release + 0.35, 2.8))
    assert back < release


def test_lifecycle_transitions_publish_what_they_promise(tmp_path: Path, domain_id: int) -> None:
    out = tmp_path / "report.json"
    events = [
        {"t": 1.0, "do": "transition", "value": "configure"},
        {"t": 1.5, "do": "transition", "value": "activate"},
        {"t": 2.5, "do": "transition", "value": "deactivate"},
        {"t": 3.3, "do": "transition", "value": "activate"},
        {"t": 4.2, "do": "transition", "value": "deactivate"},
        {"t": 4.6, "do": "transition", "value": "cleanup"},  # only from inactive
    ]
    runner = runner_process(_policy(tmp_path), tmp_path, domain_id, autostart=False)
    with runner:
        peer = fake_robot_process(
            out, tmp_path, domain_id, duration=5.0, events=events, from_start=True
        )
        with peer:
            peer.wait(timeout=40)
        assert runner.alive(), runner.log()
    report = FakeRobotReport.load(out)
    outcome = [(e["value"], e.get("success"), e.get("message")) for e in report.events]
    assert all(e.get("success") for e in report.events), outcome
    configure, activate, deactivate, reactivate, deactivate2, cleanup = (
        e["at"] for e in report.events
    )
    assert len(report.window(0.0, activate)) == 0  # nothing before the first activation
    # The first activation waits 0.5 s for the e-stop state, the next one does not.
    assert all_policy(report, report.window(activate + 0.6, deactivate))
    inactive = report.window(deactivate + MARGIN, reactivate)
    assert len(inactive) > 50 and not np.any(policy_rows(inactive))  # still published
    assert "fallback" in report.levels(deactivate + MARGIN, reactivate)
    assert all_policy(report, report.window(reactivate + 0.35, deactivate2))
    assert len(report.window(deactivate2 + MARGIN, cleanup)) > 10  # the fallback, published
    last = report.commands[-1]
    assert last[0] < cleanup + MARGIN and len(report.window(cleanup + MARGIN, 5.0)) == 0
    np.testing.assert_allclose(last[1 + 6 :][WHEELS], 0.0)  # the exit command: wheels 0 N m
    assert not np.any(invalid_rows(report.commands))


def test_sigterm_publishes_the_exit_command(tmp_path: Path, domain_id: int) -> None:
    out = tmp_path / "report.json"
    runner = runner_process(_policy(tmp_path), tmp_path, domain_id)
    with runner, fake_robot_process(out, tmp_path, domain_id, duration=6.0) as peer:
        # Wait for the policy to command, then for its fade-in (soft_start 1.0 s) with a
        # margin: a fixed sleep from process start lost the race on a loaded machine.
        runner.wait_for_output("policy commanding", timeout=30)
        time.sleep(1.5)
        assert runner.alive(), runner.log()
        runner.signal(signal.SIGTERM)
        code = runner.wait(timeout=10)
        peer.wait(timeout=40)
    assert code == 0, runner.log()
    report = FakeRobotReport.load(out)
    rows = report.commands
    assert all_policy(report, rows[-20:-1])  # the policy commanded up to the signal ...
    np.testing.assert_allclose(rows[-1, 1 + 6 :][WHEELS], 0.0)  # ... then the exit command
    np.testing.assert_allclose(rows[-1, 1:7][LEGS], rows[-2, 1:7][LEGS])  # legs hold
    assert "exit command" in runner.log()
