"""Benchmark: the policy_runner node against a synthetic robot at 100, 200 and 500 Hz.

For each rate (and trigger mode) the node runs a 256-256 tanh-MLP ONNX policy while the fake
robot (``h2o_robot_bridge.nodes.fake_robot_node``) publishes joint states and IMU at the same
rate, in separate processes over DDS. Printed per run, from the node's own ``/diagnostics``:
achieved rate, loop period p50/p99/max, deadline misses (periods > 1.5 nominal), latency from
sensor receipt to command publish p50/p99, and that latency as a multiple of the bare ONNX
inference time measured in this process in the same run (the baseline).

Trigger ``timer`` ticks on a wall-clock timer: its latency includes waiting for the tick (up to
one period). Trigger ``imu`` ticks on each IMU message (the fake robot publishes it right after
the joint state): latency is the work alone. ``--executors`` also runs the top rate with
rclpy's SingleThreadedExecutor for comparison (default: EventsExecutor).
Goal: 500 Hz held with p99 latency < 1 ms.

    .venv/bin/python bench/deploy_loop.py [--seconds 5] [--rates 100 200 500]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from h2o_robot_bridge.config_files import config_file
from h2o_robot_bridge.contract import OBS_DIM, robot
from h2o_robot_bridge.contract.sensors import ImuReading, JointReading
from h2o_robot_bridge.deploy.onnx_policy import OnnxPolicy, probe_observations
from h2o_robot_bridge.deploy.runner import PolicyRunner
from h2o_robot_bridge.testing.fake_robot import FakeRobotReport, fake_robot_process, invalid_rows
from h2o_robot_bridge.testing.processes import clean_shared_memory, free_domain_id, node_process
from h2o_robot_bridge.testing.synthetic import mlp_weights, write_mlp_policy


def bare_costs(policy_path: Path, n: int = 20000) -> tuple[float, float]:
    """(ONNX act p50, runner tick p50) [s] in this process: the baselines."""
    policy = OnnxPolicy(policy_path)
    obs = probe_observations(16, seed=1)
    times = np.empty(n)
    for i in range(n):
        start = time.perf_counter()
        policy.act(obs[i % 16])
        times[i] = time.perf_counter() - start
    runner = PolicyRunner(policy)
    zeros = np.zeros(robot.NUM_JOINTS)
    ticks = np.empty(n // 4)
    for i in range(ticks.size):
        t = i * 0.002
        runner.on_joint_state(JointReading(robot.DEFAULT_POSITIONS, zeros, zeros), t)
        runner.on_imu(ImuReading(np.array([0.0, 0.0, 0.0, 1.0]), np.zeros(3)), t)
        start = time.perf_counter()
        runner.tick(t)
        ticks[i] = time.perf_counter() - start
    return float(np.median(times)), float(np.median(ticks))


def run_once(
    folder: Path, rate: float, trigger: str, executor: str, seconds: float, domain: int
) -> dict[str, float]:
    """One node + fake robot run; the node's last diagnostics as floats."""
    policy = write_mlp_policy(
        folder / f"mlp_{rate:g}.onnx", mlp_weights((256, 256), seed=0), control_hz=rate
    )
    tag = f"{trigger}_{executor}_{rate:g}"
    out = folder / f"{tag}.json"
    node = node_process(
        "policy_runner",
        folder,
        domain,
        params_files=[config_file("h2o_robot_bridge", "bridge/deploy.yaml")],
        params={
            "policy": str(policy),
            "trigger": trigger,
            "executor": executor,
            "diagnostics_period": 0.5,
            "soft_start": 0.0,
        },
        name=f"policy_runner_{tag}",
    )
    peer = fake_robot_process(
        out, folder, domain, name=f"fake_robot_{tag}", rate=rate, duration=seconds
    )
    with node, peer:
        peer.wait(timeout=seconds + 60)
    report = FakeRobotReport.load(out)
    if not report.diagnostics:
        raise RuntimeError(f"no diagnostics received; node log:\n{node.log()[-3000:]}")
    values = {k: float(v) for k, v in report.diagnostics.items() if _is_number(v)}
    values["received"] = float(len(report.commands))
    values["invalid"] = float(np.sum(invalid_rows(report.commands)))
    return values


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="run length per case [s]")
    parser.add_argument("--rates", type=float, nargs="+", default=[100.0, 200.0, 500.0])
    parser.add_argument(
        "--triggers", nargs="+", default=["sensors", "timer", "imu"], help="trigger modes"
    )
    parser.add_argument(
        "--executors", nargs="+", default=["events", "single"], help="executors (at the top rate)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="deploy_bench_") as tmp:
        folder = Path(tmp)
        base = write_mlp_policy(folder / "base.onnx", mlp_weights((256, 256), seed=0))
        onnx_p50, tick_p50 = bare_costs(base)
        print(
            f"baseline (this process): ONNX act p50 {onnx_p50 * 1e6:.1f} us, runner core tick "
            f"p50 {tick_p50 * 1e6:.1f} us (obs {OBS_DIM} -> 256-256 -> 6)"
        )
        cases = [(r, t, "events") for t in args.triggers for r in args.rates]
        top = max(args.rates)
        cases += [(top, t, e) for e in args.executors if e != "events" for t in args.triggers]
        header = (
            f"{'trigger':<13}{'exec':<7}{'target':>7}{'achieved':>9}{'per p50':>9}"
            f"{'p99':>8}{'max':>8}{'miss':>6}{'lat p50':>9}{'p99':>8}{'p99/onnx':>9}{'bad':>5}"
        )
        print(header)
        domain = free_domain_id()
        for rate, trigger, executor in cases:
            v = run_once(folder, rate, trigger, executor, args.seconds, domain)
            print(
                f"{trigger:<13}{executor:<7}{rate:>7.0f}{v['rate_hz']:>9.1f}"
                f"{v['period_p50_us'] / 1e3:>8.2f}m{v['period_p99_us'] / 1e3:>7.2f}m"
                f"{v['period_max_us'] / 1e3:>7.1f}m{v['deadline_misses']:>6.0f}"
                f"{v['latency_p50_us']:>8.0f}u{v['latency_p99_us']:>7.0f}u"
                f"{v['latency_p99_us'] * 1e-6 / onnx_p50:>9.1f}{v['invalid']:>5.0f}",
                flush=True,
            )
        clean_shared_memory()
    print(
        "period/latency in ms (m) and us (u); miss = periods > 1.5x nominal; bad = invalid "
        "commands received"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
