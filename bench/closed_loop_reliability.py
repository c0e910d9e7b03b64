"""How often does the DDS closed loop of ``test/test_deploy_closed_loop.py`` fall, with and
without a CPU hog? The same processes and parameter files as the test, repeated N times.

    .venv/bin/python bench/closed_loop_reliability.py [--runs 50] [--duration 20] [--hog 2]
        [--hog-duty 1.0] [--csv runs.csv] [--record] [--set-sim KEY=VALUE]
        [--set-runner KEY=VALUE]

    # the load that reproduced the fall; the code before the fix, for an A/B run:
    ... --hog 4 --hog-duty 0.95 --set-sim wait_for_commander=false \
        --set-runner classical_config=<the old gains YAML>

Each run starts, in its own ROS domain, ``policy_runner`` (classical controller,
``config/bridge/deploy.yaml``, sensor max ages 0.15 s as in the test), the listen-only monitor
(``fake_robot_node --listen-only``: base tilt from ``/imu/data``, the runner's last
``/diagnostics``) and ``wheel_legged_sim`` (``config/sim/wheel_legged_sim.yaml``, ``real``
profile, seed 3, real time, ``wait_for_commander``), for ``--duration`` seconds after the
first command. ``--hog K`` keeps K CPU hogs running for the whole benchmark (default 2 pure
busy loops: as many as this machine's cores; ``--hog-duty`` < 1 makes them sleep briefly every
``--hog-period``, so that they compete with the loop's 100 Hz processes on equal terms).

Per run it prints: fell (worst tilt >= the task's ``fall_tilt``) and whether every assertion
of the test would pass, the worst tilt and when, the largest gap between IMU samples the monitor
received, the runner's trip counters (``trip.<guard>``; one ``stale_*`` trip is the start-up
wait for sensors) and guard changes once commanding (its log), deadline misses, loop period max and
latency p99/max, and the sim's pacing overruns and achieved real-time factor (from its log).
``--record`` adds a peer (``test/loop_peer.py``) recording ``/joint_states`` and
``/joint_commands``: then also how many control ticks late each command acted
(:func:`h2o_robot_bridge.testing.loop_delay.loop_delays`: 0 = from the physics step after the
sample it answers), the longest run of consecutive late or dropped commands, the longest gap
between the sim's samples and the number of "burst" ticks (published less than 0.75 period
after the previous one). The peer is one more process competing for the CPU.

Root cause of the fall under load (measured with this script, numbers in
``docs/results/closed_loop_reliability.md``): not a late command but a start-up race. With
``--hog 4 --hog-duty 0.95`` one run in six fell within 1.1 s of the start: DDS discovery matched
the runner's ``/joint_states`` subscription 3.2 s after the sim had started stepping, so the
runner sent its safe action (legs default, wheels 0 N m; it never logged "policy commanding")
and the robot fell on it; when the data came, the tilt cut-off latched (trips
``stale_joint_states: 1, tilt: 1``). The stalls the hogs cause (loop periods up to 156 ms, 0-11
sim overruns per run, ~1 % of the commands one tick late or overwritten, runs of at most 8)
never toppled the robot. Fixed by the sim's ``wait_for_commander`` (hold the robot until the
runner answers a sample; the "hold" column: how long the robot would otherwise have stood on
the safe action). Second, a margin: the old classical gains fell in-process with one period of
steady actuation delay (8/10 episodes, growing oscillation up to the tilt cut-off in 5-12 s);
the retuned gains stand with 10 and 20 ms.
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from h2o_robot_bridge.contract import get_task, robot
from h2o_robot_bridge.testing.fake_robot import FakeRobotReport, fake_robot_process, invalid_rows
from h2o_robot_bridge.testing.loop_delay import DROPPED, UNKNOWN, loop_delays
from h2o_robot_bridge.testing.processes import (
    NodeProcess,
    clean_shared_memory,
    policy_runner_process,
    ros_env,
    sim_node_process,
)

ROOT = Path(__file__).resolve().parents[1]
PEER = ROOT / "test" / "loop_peer.py"
DT = 0.01
"""Control period of the sim and the runner [s]."""
WHEEL_EFFORT = [1 + 2 * robot.NUM_JOINTS + w for w in robot.WHEEL_JOINT_IDS]
"""Columns of the wheel efforts in a loop_peer row (stamp, position, velocity, effort)."""
RUNNER_PARAMS: dict[str, object] = {
    "policy": "classical",
    "joint_state_max_age": 0.15,
    "imu_max_age": 0.15,
}
"""policy_runner parameters on top of deploy.yaml, as in the test."""
SIM_PARAMS: dict[str, object] = {"dynamics": "real", "seed": 3, "wait_for_commander": True}
"""wheel_legged_sim parameters on top of wheel_legged_sim.yaml, as in the test."""
DOMAIN_BASE = 120
"""Runs use domains DOMAIN_BASE + (run % 100): away from the tests' 1-100."""


HOG_CODE = """
import time
busy, idle = {busy}, {idle}
while True:
    end = time.perf_counter() + busy
    while time.perf_counter() < end:
        pass
    if idle > 0:
        time.sleep(idle)
"""
"""A hog process: spin ``busy`` seconds, sleep ``idle`` seconds, forever."""


def start_hog(k: int, duty: float = 1.0, period: float = 0.005) -> list[subprocess.Popen[bytes]]:
    """K CPU hogs (plain Python, nice 0): each busy ``duty`` of every ``period`` [s] (duty 1:
    a pure busy loop; below 1 it sleeps in between, so the scheduler treats it like the loop's
    own processes, which wake at 100 Hz: a waking hog then competes for the CPU on equal
    terms instead of yielding to every waking node)."""
    code = HOG_CODE.format(busy=duty * period if duty < 1 else 3600.0, idle=(1 - duty) * period)
    return [
        subprocess.Popen(
            [sys.executable, "-c", code],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(k)
    ]


def stop_hog(procs: list[subprocess.Popen[bytes]]) -> None:
    """End the busy loops this script started (by pid)."""
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=5)


@dataclass
class RunResult:
    """One closed-loop run.

    Attributes:
        run, domain: run index and its ROS domain id.
        fell: worst tilt >= the task's fall tilt.
        test_ok: every assertion of the closed-loop test holds.
        worst_tilt: largest base tilt recorded [rad]; t_worst: when [s since first command].
        t_limit: first time the tilt exceeded the runner's tilt limit [s] (NaN: never).
        tilt_rows: IMU samples the monitor recorded; imu_gap_ms: largest gap between them.
        message, latched: the runner's last diagnostics status message and latch.
        events: the runner's guard changes during the run (from its log; the start-up wait
            for sensors, which also counts one ``stale_*`` trip, left out), with the time
            since it started commanding.
        diag: the runner's numeric diagnostics (trip counters, deadline misses, ...).
        sim_overruns, sim_rtf: the sim's pacing overruns and achieved real-time factor.
        commander_wait: how long the sim held the robot until the runner answered [s].
        record: with ``--record``: delay counts and sample spacing figures.
        folder: logs of the run.
    """

    run: int
    domain: int
    fell: bool
    test_ok: bool
    worst_tilt: float
    t_worst: float
    t_limit: float
    tilt_rows: int
    imu_gap_ms: float
    message: str
    latched: str
    events: str
    diag: dict[str, float]
    sim_overruns: float
    sim_rtf: float
    commander_wait: float
    record: dict[str, float] = field(default_factory=dict)
    folder: str = ""

    def row(self) -> dict[str, object]:
        """Flat mapping for the CSV."""
        out: dict[str, object] = {
            k: getattr(self, k)
            for k in (
                "run", "domain", "fell", "test_ok", "worst_tilt", "t_worst", "t_limit",
                "tilt_rows", "imu_gap_ms", "message", "latched", "events", "sim_overruns",
                "sim_rtf", "commander_wait",
            )
        }  # fmt: skip
        out.update(self.diag)
        out.update(self.record)
        return out


def sim_log_figures(log: str) -> tuple[float, float, float]:
    """(overruns, achieved real-time factor) of the sim's last progress report, and how long
    it held the robot until the runner answered a sample [s] (``wait_for_commander``; without
    the hold the robot would have stood that long on the runner's safe action) (NaN: none)."""
    found = re.findall(r"achieved real-time factor ([0-9.]+), overruns (\d+)", log)
    waited = re.findall(r"a commander answered after ([0-9.]+) s", log)
    wait = float(waited[0]) if waited else float("nan")
    if not found:
        return float("nan"), float("nan"), wait
    rtf, overruns = found[-1]
    return float(overruns), float(rtf), wait


LOG_LINE = re.compile(r"^\[(\w+)\] \[([0-9.]+)\] \[policy_runner\]: (.*)$", re.M)


def runner_events(log: str, until: float) -> str:
    """Guard changes the runner logged before wall time ``until`` [s], e.g.
    ``5.31s joint_states stale (157.2 ms > 150.0 ms)``, joined with ``; `` (``-``: none)."""
    start: float | None = None
    events = []
    for _level, stamp, text in LOG_LINE.findall(log):
        t = float(stamp)
        if t > until:
            break
        if text == "policy commanding" and start is None:
            start = t
            continue
        if start is None:
            continue  # the start-up wait for sensors
        events.append(f"{t - start:.2f}s {text}")
    return "; ".join(events) or "-"


def numbers(diagnostics: dict[str, str]) -> dict[str, float]:
    """The numeric values of the runner's diagnostics."""
    out = {}
    for key, value in diagnostics.items():
        try:
            out[key] = float(value)
        except ValueError:
            continue
    return out


def longest_run(mask: NDArray[np.bool_]) -> int:
    """Longest run of consecutive True values."""
    best = cur = 0
    for m in mask:
        cur = cur + 1 if m else 0
        best = max(best, cur)
    return best


def analyse_record(path: Path, t_limit: float) -> dict[str, float]:
    """Delay counts and sample spacing from a loop_peer record (wall-clock stamps).

    The sim stamps in wall time here (as in the test), so the samples are put on a grid by
    their order (k * DT) and each command on the grid of the sample whose stamp it carries.
    """
    import json

    raw = json.loads(path.read_text())
    shape = (-1, 1 + 3 * robot.NUM_JOINTS)
    samples = np.array(raw["/joint_states"], dtype=float).reshape(shape)
    commands = np.array(raw["/joint_commands"], dtype=float).reshape(shape)
    if len(samples) < 2 or len(commands) == 0:
        return {}
    s_stamp = samples[:, 0].astype(np.int64)
    index = {int(s): k for k, s in enumerate(s_stamp)}
    c_grid = np.array([index.get(int(c), -1000) * DT for c in commands[:, 0]])
    delays = loop_delays(
        np.arange(len(samples)) * DT,
        samples[:, WHEEL_EFFORT],
        c_grid,
        commands[:, WHEEL_EFFORT],
        DT,
    ).delays
    gaps = np.diff(s_stamp) * 1e-9
    late = (delays >= 1) | (delays == DROPPED)
    known = delays[delays != UNKNOWN]
    out = {
        "delay_0": float(np.sum(delays == 0)),
        "delay_1": float(np.sum(delays == 1)),
        "delay_2plus": float(np.sum(delays >= 2)),
        "dropped": float(np.sum(delays == DROPPED)),
        "unknown": float(np.sum(delays == UNKNOWN)),
        "late_run_max": float(longest_run(late[delays != UNKNOWN])),
        "known": float(len(known)),
        "sample_gap_max_ms": float(gaps.max() * 1e3),
        "burst_ticks": float(np.sum(gaps < 0.75 * DT)),
        "samples": float(len(samples)),
    }
    if np.isfinite(t_limit):
        # The commands of the second before the tilt limit (peer clock ~ monitor clock).
        receipts = np.array(raw["receipts"]["/joint_commands"])
        t = receipts - receipts[0]
        order = np.argsort(commands[:, 0], kind="stable")
        window = (t[order] > t_limit - 1.0) & (t[order] <= t_limit)
        d = delays[window]
        out["late_before_limit"] = float(np.sum((d >= 1) | (d == DROPPED)))
    return out


def run_once(
    run: int,
    folder: Path,
    duration: float,
    record: bool,
    runner_params: dict[str, object] | None = None,
    sim_params: dict[str, object] | None = None,
) -> RunResult:
    """One closed-loop run, as the test does it (plus the optional peer); ``runner_params`` /
    ``sim_params`` override the test's node parameters (A/B comparisons)."""
    domain = DOMAIN_BASE + run % 100
    out = folder / "monitor.json"
    params = {**RUNNER_PARAMS, **(runner_params or {})}
    policy = str(params.pop("policy"))
    runner = policy_runner_process(policy, folder, domain, "", **params)
    sim = sim_node_process(folder, domain, "", **{**SIM_PARAMS, **(sim_params or {})})
    monitor = fake_robot_process(out, folder, domain, listen_only=True, duration=duration)
    peer_out = folder / "loop.json"
    procs: list[NodeProcess] = [runner, monitor]
    if record:
        argv = [sys.executable, str(PEER), str(peer_out), str(duration)]
        procs.append(NodeProcess("loop_peer", argv, ros_env(domain), folder / "loop_peer.log"))
    procs.append(sim)
    try:
        for p in procs:
            p.start()
        monitor.wait(timeout=duration + 60)
        until = time.time()
        if record:
            procs[2].wait(timeout=30)
        alive = runner.alive() and sim.alive()
    finally:
        for p in reversed(procs):
            p.stop()
    report = FakeRobotReport.load(out)
    tilts = report.tilts
    fall = get_task("stand").fall_tilt
    if len(tilts):
        worst = int(np.argmax(tilts[:, 1]))
        worst_tilt, t_worst = float(tilts[worst, 1]), float(tilts[worst, 0])
        over = np.flatnonzero(tilts[:, 1] > 0.5)
        t_limit = float(tilts[over[0], 0]) if len(over) else float("nan")
        imu_gap = float(np.diff(tilts[:, 0]).max() * 1e3) if len(tilts) > 1 else float("nan")
    else:
        worst_tilt = t_worst = t_limit = imu_gap = float("nan")
    test_ok = bool(
        alive
        and len(tilts) > 0.5 * duration * 100
        and tilts[-1, 0] >= duration - 0.5
        and worst_tilt < fall
        and not np.any(invalid_rows(report.commands))
        and report.diagnostics.get("message") == "commanding"
    )
    overruns, rtf, wait = sim_log_figures(sim.log())
    extra = analyse_record(peer_out, t_limit) if record and peer_out.exists() else {}
    return RunResult(
        run,
        domain,
        bool(worst_tilt >= fall),
        test_ok,
        worst_tilt,
        t_worst,
        t_limit,
        len(tilts),
        imu_gap,
        report.diagnostics.get("message", ""),
        report.diagnostics.get("latched", ""),
        runner_events(runner.log(), until),
        numbers(report.diagnostics),
        overruns,
        rtf,
        wait,
        extra,
        str(folder),
    )


def trips(r: RunResult) -> str:
    """Non-zero trip counters, e.g. ``tilt:1 stale_imu:3``."""
    found = [
        f"{k.removeprefix('trip.')}:{int(v)}" for k, v in r.diag.items() if k.startswith("trip.")
    ]
    return " ".join(t for t in found if not t.endswith(":0")) or "-"


def print_row(r: RunResult) -> None:
    """One line per run."""
    d = r.diag
    line = (
        f"{r.run:4d} {'FELL' if r.fell else 'ok':>4s} {'pass' if r.test_ok else 'FAIL':>4s} "
        f"{r.worst_tilt:6.3f} {r.t_worst:6.2f} {r.imu_gap_ms:7.1f} "
        f"{d.get('deadline_misses', float('nan')):6.0f} "
        f"{d.get('period_max_us', float('nan')) / 1e3:7.1f} "
        f"{d.get('latency_p99_us', float('nan')) / 1e3:6.2f} "
        f"{d.get('latency_max_us', float('nan')) / 1e3:7.1f} "
        f"{r.sim_overruns:4.0f} {r.sim_rtf:5.2f} {r.commander_wait:5.2f}  {trips(r)}"
    )
    if r.record:
        rec = r.record
        line += (
            f"  delays 0:{rec['delay_0']:.0f} 1:{rec['delay_1']:.0f} "
            f"2+:{rec['delay_2plus']:.0f} drop:{rec['dropped']:.0f} "
            f"run:{rec['late_run_max']:.0f} gap:{rec['sample_gap_max_ms']:.0f}ms "
            f"burst:{rec['burst_ticks']:.0f}"
        )
        if "late_before_limit" in rec:
            line += f" late<1s-before-limit:{rec['late_before_limit']:.0f}"
    print(line, flush=True)
    if r.events != "-":
        print(f"       runner: {r.events}", flush=True)


HEADER = (
    " run fell test  tilt   t[s]  imugap  dlmiss  permax  lat99  latmax  ovr   rtf  hold  trips\n"
    "                [rad]          [ms]           [ms]    [ms]    [ms]              [s]"
)


def summary(results: list[RunResult], hog: int) -> str:
    """The totals."""
    n = len(results)
    falls = sum(r.fell for r in results)
    fails = sum(not r.test_ok for r in results)
    tilts = np.array([r.worst_tilt for r in results])
    ok = tilts[~np.array([r.fell for r in results])]
    tripped = sum(r.events != "-" for r in results)
    waits = np.array([r.commander_wait for r in results])
    lines = [
        f"hog {hog}: falls {falls}/{n}, test failures {fails}/{n}, runs with a guard change "
        f"after the runner started commanding {tripped}/{n} (the trip counters also count "
        "the start-up wait for sensors)",
        f"worst tilt of the runs that stood: median {np.median(ok) if len(ok) else np.nan:.3f}"
        f" rad, max {ok.max() if len(ok) else np.nan:.3f} rad",
        f"sim held the robot until the runner answered (wait_for_commander): median "
        f"{np.nanmedian(waits) if np.isfinite(waits).any() else np.nan:.2f} s, max "
        f"{np.nanmax(waits) if np.isfinite(waits).any() else np.nan:.2f} s, over 0.5 s in "
        f"{int(np.sum(waits > 0.5))}/{n} runs",
        f"sim overruns: total {np.nansum([r.sim_overruns for r in results]):.0f}; "
        f"runner deadline misses: total "
        f"{sum(r.diag.get('deadline_misses', 0.0) for r in results):.0f}",
    ]
    return "\n".join(lines)


def parse_sets(items: list[str]) -> dict[str, object]:
    """``KEY=VALUE`` strings -> parameters (YAML scalars: ``false``, ``0.2``, paths)."""
    import yaml

    out: dict[str, object] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"expected KEY=VALUE, got {item!r}")
        out[key] = yaml.safe_load(value)
    return out


def main() -> int:
    """Run the benchmark; exit code 1 if any run fell."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=50, help="closed-loop runs")
    p.add_argument("--duration", type=float, default=20.0, help="seconds per run [s]")
    p.add_argument("--hog", type=int, default=2, help="CPU hog processes (0: none)")
    p.add_argument(
        "--hog-duty", type=float, default=1.0, help="busy share of each hog (1: never sleeps)"
    )
    p.add_argument("--hog-period", type=float, default=0.005, help="hog busy+sleep cycle [s]")
    p.add_argument("--csv", type=Path, help="write one row per run here")
    p.add_argument("--record", action="store_true", help="also record and analyse the loop")
    p.add_argument("--keep", type=Path, help="keep each run's logs under this folder")
    p.add_argument(
        "--set-runner",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a policy_runner parameter (e.g. classical_config=old_gains.yaml)",
    )
    p.add_argument(
        "--set-sim",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a wheel_legged_sim parameter (e.g. wait_for_commander=false)",
    )
    args = p.parse_args()
    runner_params, sim_params = parse_sets(args.set_runner), parse_sets(args.set_sim)
    hog = start_hog(args.hog, args.hog_duty, args.hog_period)
    results: list[RunResult] = []
    overrides = {**runner_params, **sim_params}
    print(
        f"{args.runs} runs of {args.duration:g} s, overrides {overrides or 'none'}, "
        f"hog {args.hog} (duty {args.hog_duty:g}, period {args.hog_period * 1e3:g} ms), "
        f"cores {os.cpu_count()}"
    )
    print(HEADER, flush=True)
    started = time.monotonic()
    try:
        with tempfile.TemporaryDirectory(prefix="closed_loop_") as tmp:
            base = args.keep or Path(tmp)
            for run in range(args.runs):
                folder = base / f"run{run:03d}"
                r = run_once(run, folder, args.duration, args.record, runner_params, sim_params)
                results.append(r)
                print_row(r)
                clean_shared_memory()
    except KeyboardInterrupt:
        print("interrupted", flush=True)
    finally:
        stop_hog(hog)
    if not results:
        return 1
    print(summary(results, args.hog))
    print(f"wall time {time.monotonic() - started:.0f} s")
    if args.csv:
        rows = [r.row() for r in results]
        keys = list(dict.fromkeys(k for row in rows for k in row))
        with open(args.csv, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=keys)
            writer.writeheader()
            writer.writerows(rows)
    return 1 if any(r.fell for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
