"""The deployed loop's delay over real DDS: sim node (``real`` profile) + policy_runner running
the classical controller, in separate processes, a peer recording ``/joint_states`` and
``/joint_commands``; :func:`h2o_robot_bridge.testing.loop_delay.loop_delays` tells for each
command how many control ticks late it acted (0 = during the period right after the sample it
answers, the env's model).

The sim stamps in sim time (``use_sim_time``: samples on the control grid, so a lost sample is
noticed) and the runner follows its clock (its commands carry their sample's stamp anyway).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from h2o_robot_bridge.config_files import config_file
from h2o_robot_bridge.contract import robot
from h2o_robot_bridge.testing.loop_delay import DROPPED, UNKNOWN, LoopDelays, loop_delays
from h2o_robot_bridge.testing.processes import (
    NodeProcess,
    node_process,
    policy_runner_process,
    ros_env,
)

PEER = Path(__file__).with_name("loop_peer.py")
DT = 0.01
PEER_TOPICS = ("/joint_states", "/joint_commands")
DURATION = 5.0  # wall seconds of recorded loop
WHEEL_EFFORT = [1 + 2 * robot.NUM_JOINTS + w for w in robot.WHEEL_JOINT_IDS]  # record columns
# Sensor max ages as in the closed-loop test: 50+ ms scheduler stalls happen on the shared
# 2-core machine; the watchdog is not what these tests are about.
AGES = {"joint_state_max_age": 0.15, "imu_max_age": 0.15}


@dataclass(frozen=True)
class LoopRecord:
    """What the peer recorded: rows [stamp ns, position(6), velocity(6), effort(6)]."""

    samples: np.ndarray
    commands: np.ndarray
    receipts: dict[str, np.ndarray]

    @classmethod
    def load(cls, path: Path) -> LoopRecord:
        raw = json.loads(path.read_text())
        shape = (-1, 1 + 3 * robot.NUM_JOINTS)
        as_array = {k: np.array(raw[k], dtype=float).reshape(shape) for k in PEER_TOPICS}
        receipts = {k: np.array(v, dtype=float) for k, v in raw["receipts"].items()}
        return cls(as_array["/joint_states"], as_array["/joint_commands"], receipts)

    def delays(self) -> LoopDelays:
        s, c = self.samples, self.commands
        stamps = s[:, 0] * 1e-9, c[:, 0] * 1e-9
        return loop_delays(stamps[0], s[:, WHEEL_EFFORT], stamps[1], c[:, WHEEL_EFFORT], DT)


def peer_process(out: Path, log_dir: Path, domain_id: int, samples: int = 0) -> NodeProcess:
    argv = [sys.executable, str(PEER), str(out), str(DURATION)]
    argv += [str(samples)] if samples else []
    return NodeProcess("loop_peer", argv, ros_env(domain_id), log_dir / "loop_peer.log")


def runner_process(log_dir: Path, domain_id: int, **params: object) -> NodeProcess:
    # No e-stop in this graph: no start-up wait for its state (a wall-clock wait would hand
    # over from the fallback at a tick that depends on the machine, and lockstep runs must be
    # bitwise identical).
    defaults = {"policy": "classical", "use_sim_time": True, "estop_wait": 0.0}
    return policy_runner_process(
        defaults.pop("policy"), log_dir, domain_id, **defaults, **AGES, **params
    )


def sim_process(log_dir: Path, domain_id: int, **params: object) -> NodeProcess:
    return node_process(
        "wheel_legged_sim",
        log_dir,
        domain_id,
        params_files=[config_file("h2o_sim", "sim/wheel_legged_sim.yaml")],
        params={"dynamics": "real", "seed": 3, "use_sim_time": True, **params},
    )


def run_real_time(
    tmp_path: Path, domain_id: int, trigger: str, rtf: float = 1.0
) -> tuple[LoopRecord, str]:
    """Runner first (it holds the safe action until sensors come), then the peer, then the
    sim paced at real-time factor ``rtf``; the delays and the processes' log tails."""
    out = tmp_path / "loop.json"
    runner = runner_process(tmp_path, domain_id, trigger=trigger)
    peer = peer_process(out, tmp_path, domain_id)
    sim = sim_process(tmp_path, domain_id, real_time_factor=rtf)
    with runner, peer, sim:
        peer.wait(timeout=DURATION + 90)
        alive = runner.alive(), sim.alive()
    logs = f"{runner.log()[-1500:]}\n{sim.log()[-1500:]}\n{peer.log()[-500:]}"
    assert alive == (True, True), logs
    return LoopRecord.load(out), logs


def run_lockstep(tmp_path: Path, domain_id: int, samples: int = 0) -> tuple[LoopRecord, str]:
    """Sim (lockstep) and peer first: the sim waits at its first sample until the runner
    answers, so the record is complete from the first step on."""
    out = tmp_path / "loop.json"
    sim = sim_process(tmp_path, domain_id, lockstep=True)
    peer = peer_process(out, tmp_path, domain_id, samples)
    # The deploy shaping stays on: it counts control ticks, not wall seconds, so a lockstep sim
    # running faster than real time is shaped exactly as in real time (and reproducibly).
    runner = runner_process(tmp_path, domain_id)
    with sim, peer:
        peer.wait_for_output("READY")
        with runner:
            peer.wait(timeout=DURATION + 90)
            alive = runner.alive(), sim.alive()
    logs = f"{runner.log()[-1500:]}\n{sim.log()[-1500:]}\n{peer.log()[-500:]}"
    assert alive == (True, True), logs
    return LoopRecord.load(out), logs


def report(name: str, delays: LoopDelays) -> str:
    line = f"{name}: {len(delays.delays)} commands, delays {delays.distribution()}"
    print(line)
    return line


SENSORS_RTF = 0.5
"""The sensors-trigger test paces the sim at half real time (20 ms of wall time per 10 ms
tick, as test_sim_node does): at real time a runner stall over one period, on this shared
2-core machine, dropped 13 of 495 commands in about 1 run of 8 (measured); the claim under
test is the trigger's timing, not the machine's scheduling."""


def test_sensors_trigger_acts_without_extra_delay(tmp_path: Path, domain_id: int) -> None:
    record, logs = run_real_time(tmp_path, domain_id, "sensors", SENSORS_RTF)
    delays = record.delays()
    line = report("sensors", delays)
    # measured, not all unknown
    assert delays.known > 0.8 * DURATION * SENSORS_RTF / DT, (line, logs)
    # Not 100 %: a stall of the runner (or of DDS delivery) longer than the rest of the period
    # on this shared 2-core machine makes its command miss the next step: it acts a period
    # late, or, when the runner then answers the next sample before that step too, it is
    # overwritten (dropped; measured: most stalls end that way, so "no drop at all" cannot be
    # promised in real time either, only in lockstep). The sim does not add such misses: it
    # leaves a commander at least half a period after each sample (pacing.Pacer.min_gap).
    assert delays.fraction(0) >= 0.98, (line, logs)
    assert delays.fraction(DROPPED) <= 0.02, (line, logs)


def test_lockstep_acts_without_extra_delay(tmp_path: Path, domain_id: int) -> None:
    record, logs = run_lockstep(tmp_path, domain_id)
    delays = record.delays()
    line = report("lockstep", delays)
    assert delays.count(UNKNOWN) <= 2, (line, logs)  # first command(s): peer not yet matched
    assert delays.known > 0.8 * DURATION / DT, (line, logs)
    assert delays.fraction(0) == 1.0, (line, logs)
    assert "lockstep misses 0" in logs or "lockstep miss" not in logs, logs


def test_timer_trigger_distribution_is_recorded(tmp_path: Path, domain_id: int) -> None:
    record, logs = run_real_time(tmp_path, domain_id, "timer")
    delays = record.delays()
    line = report("timer", delays)
    assert delays.known > 0.5 * DURATION / DT, (line, logs)


PARITY_TICKS = 300


def test_lockstep_runs_are_bitwise_identical(tmp_path: Path, domain_id: int) -> None:
    """Two lockstep runs with the same sim seed give the same /joint_states, bit for bit, over
    the first PARITY_TICKS ticks (stamps, positions, velocities, efforts)."""
    runs = []
    for run in range(2):
        folder = tmp_path / f"run{run}"
        record, logs = run_lockstep(folder, domain_id)  # one after the other: same domain
        ticks = np.rint(record.samples[:, 0] * 1e-9 / DT).astype(int)
        # The first sample may be there twice (republished before the first answer).
        _, first = np.unique(ticks, return_index=True)
        samples = record.samples[first]
        wanted = samples[(ticks[first] >= 1) & (ticks[first] <= PARITY_TICKS)]
        assert len(wanted) == PARITY_TICKS, (len(wanted), logs)  # ticks 1..N, none lost
        runs.append(wanted)
    assert np.array_equal(runs[0], runs[1], equal_nan=True), np.argwhere(runs[0] != runs[1])[:5]
    assert np.ptp(runs[0][:, WHEEL_EFFORT]) > 0.01  # the controller did drive the wheels
