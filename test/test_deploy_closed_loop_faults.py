"""The deployed learned policy stands through bad inputs, and a dead simulator gives the stop.

Over real DDS in separate processes: the simulator (``real`` profile), ``policy_runner``
running the project's trained stand policy (``fixtures/stand_policy.onnx``) behind the
classical fallback, and a monitor that injects bad messages on every subscribed topic next to
the simulator's good ones (a flood: 2 bad messages per 5 ms per topic). The robot must stay
upright for the whole fault timeline with every command finite; then the simulator is killed
and the runner must stay alive and send the controlled stop.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from h2o_robot_bridge.contract import get_task, robot
from h2o_robot_bridge.nodes.fake_robot_node import FAULTS
from h2o_robot_bridge.testing.fake_robot import FakeRobotReport, fake_robot_process, invalid_rows
from h2o_robot_bridge.testing.processes import policy_runner_process, sim_node_process

FIXTURE = Path(__file__).parent / "fixtures" / "stand_policy.onnx"
WINDOW = 0.6  # one fault kind [s]
WHEELS = list(robot.WHEEL_JOINT_IDS)


def _timeline() -> list[dict]:
    events, t = [], 4.0  # the simulator is up and the policy balancing by then
    for topic, kinds in FAULTS.items():
        for kind in kinds:
            events.append({"t": t, "do": "fault", "topic": topic, "kind": kind, "per_tick": 2})
            events.append({"t": t + WINDOW, "do": "fault_stop"})
            t += WINDOW + 0.2
    return events


TIMELINE = _timeline()
DURATION = TIMELINE[-1]["t"] + 1.5


def test_learned_policy_stands_through_bad_inputs_and_stops_when_the_sim_dies(
    tmp_path: Path, domain_id: int
) -> None:
    out = tmp_path / "monitor.json"
    runner = policy_runner_process(FIXTURE, tmp_path, domain_id, diagnostics_period=0.2)
    # Held at its first sample until the runner answers it: DDS discovery can leave the runner
    # deaf to the sim for seconds (seen: 3.5 s), and an ungated robot falls meanwhile.
    sim = sim_node_process(tmp_path, domain_id, dynamics="real", seed=3, wait_for_commander=True)
    kill_at = DURATION + 1.0
    mark = {"t": kill_at, "do": "mark", "value": "kill the sim"}
    monitor = fake_robot_process(
        out, tmp_path, domain_id, listen_only=True, duration=kill_at + 2.5,
        events=[*TIMELINE, mark],
    )  # fmt: skip
    # The monitor's clock starts at the runner's first command, which a loaded machine delays
    # by seconds: the sim dies at that point of the monitor's timeline, not after a sleep.
    with runner, monitor:
        # The robot powers up only once its controller runs: a sim started first on a loaded
        # machine ran 0.3 s uncommanded and the runner's first tick found it at 0.52 rad, past
        # the tilt cut-off (make stress).
        runner.wait_for_output("configured", timeout=90)
        with sim:
            monitor.wait_for_output("mark: kill the sim", timeout=kill_at + 90)
            sim.kill()
        monitor.wait(timeout=60)
        alive = runner.alive()
    logs = f"{runner.log()[-3000:]}\n{sim.log()[-1500:]}"
    assert alive, logs
    report = FakeRobotReport.load(out)
    assert not np.any(invalid_rows(report.commands)), logs
    tilts = report.tilts
    faults = tilts[tilts[:, 0] <= DURATION]
    assert faults[-1, 0] >= DURATION - 0.5, logs
    worst = int(np.argmax(faults[:, 1]))
    assert faults[worst, 1] < get_task("stand").fall_tilt, (faults[worst], logs)
    diag = report.diagnostics
    drops = ("dropped.joint_states.malformed", "dropped.imu.invalid", "dropped.cmd_vel.nonfinite")
    for key in drops:
        assert float(diag.get(key, 0)) > 0, (key, diag)
    # The sim is dead: no sensors, the controlled stop (no wheel torque without a fresh joint
    # state to damp), published at the control rate by the watchdog. Told apart by stamps,
    # not by when the monitor heard them (a monitor stalled for 0.2 s once heard the answer to
    # the sim's last sample after that long: CI): a command computed from a sample carries its
    # stamp, a safe action on stale inputs the runner's wall clock at least the max age
    # (50 ms) after the newest sample. The monitor's IMU subscription is best effort: up to 3
    # of the sim's last samples (10 ms apart) may be unheard.
    newest = report.imu_stamps.max()
    answers = report.command_stamps < newest + 40_000_000
    first_stop = np.flatnonzero(answers)[-1] + 1
    stops, stop_stamps = report.commands[first_stop:], report.command_stamps[first_stop:]
    window = stops[:, 0] < kill_at + 1.5
    stops, stop_stamps = stops[window], stop_stamps[window]
    # The IMU and the joint states go stale one by one (their last messages arrive ~1 ms apart):
    # a stop on a stale IMU while the last joint state is still within the max age damps the
    # wheels with it (seen: one tick at IMU age 50.6 ms, joint-state age 49.6 ms). Without a
    # fresh joint state there is no wheel torque: certain from max age + the 3 unheard samples
    # + one period after the newest heard sample.
    both_stale = stop_stamps >= newest + (50 + 30 + 10) * 1_000_000
    assert len(stops) > 30 and both_stale.sum() > 30, (len(stops), both_stale.sum(), logs)
    np.testing.assert_array_equal(stops[both_stale][:, 1 + 6 :][:, WHEELS], 0.0)
    assert diag["level"] == "stop" and "stale" in diag["message"], diag
