"""Benchmark: what one bad sensor message costs ``policy_runner`` (in-process, no DDS).

A configured ``PolicyRunnerNode`` gets messages straight into its IMU callback: a good IMU
message (decoded, validated, stored: the baseline), a bad one (an infinite quaternion: decoded,
rejected, counted, its log line throttled by ``LogThrottle``), and the same plus what each bad
message cost before: its fault text with numpy array reprs (~60 us) and a call of rclpy's own
``throttle_duration_sec`` logger on an already-throttled line (~230 us). Prints microseconds
per message, each as a multiple of the good message, and the flood the callback could absorb
on one core. The flood test sends 1000 bad IMU messages per second
(``test/test_deploy_safety.py``).

    .venv/bin/python bench/input_drop.py [--n 5000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import rclpy
from rclpy.parameter import Parameter

from h2o_robot_bridge.conversions.to_msg import imu_msg
from h2o_robot_bridge.nodes.policy_runner import PolicyRunnerNode
from h2o_robot_bridge.testing.synthetic import mlp_weights, write_mlp_policy


def per_call(fn: Callable[[], None], n: int) -> float:
    """Mean wall time of one ``fn()`` over ``n`` calls [s]."""
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=5000, help="messages per measurement")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (median)")
    args = parser.parse_args()
    rclpy.init()
    with tempfile.TemporaryDirectory() as tmp:
        policy = write_mlp_policy(Path(tmp) / "p.onnx", mlp_weights(seed=0))
        node = PolicyRunnerNode(parameter_overrides=[Parameter("policy", value=str(policy))])
        node.trigger_configure()
        assert node.runner is not None, node.setup_error
        good = imu_msg(1.0, (0.0, 0.0, 0.0, 1.0), (0.0, 0.0, 0.0), (0.0, 0.0, 9.81))
        bad = imu_msg(1.0, (float("inf"), 0.0, 0.0, 1.0), (0.0, 0.0, 0.0), (0.0, 0.0, 9.81))
        log = node.get_logger()
        quat, gyro = np.array([np.inf, 0.0, 0.0, 1.0]), np.zeros(3)

        def before() -> None:
            """Today's callback plus what each bad message cost until this bench was written:
            the fault text with numpy reprs and a call of rclpy's throttled logger."""
            node._on_imu(bad)
            text = f"non-finite IMU sample (orientation {quat}, angular velocity {gyro})"
            log.warning(f"dropped imu message (invalid): {text}", throttle_duration_sec=1.0)

        cases: dict[str, Callable[[], None]] = {
            "good IMU message (baseline)": lambda: node._on_imu(good),
            "bad IMU message": lambda: node._on_imu(bad),
            "bad IMU message, earlier code": before,
        }
        times: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(args.rounds):
            for name, fn in cases.items():
                times[name].append(per_call(fn, args.n))
        dropped = node.runner.inputs.summary().get("dropped.imu.invalid", 0)
        node.destroy_node()
    rclpy.shutdown()
    base = statistics.median(times["good IMU message (baseline)"])
    print(f"{args.rounds} interleaved rounds of {args.n} calls; medians")
    for name, ts in times.items():
        t = statistics.median(ts)
        print(f"{name:34s} {t * 1e6:8.1f} us  {t / base:5.2f}x good  {1 / t:9.0f} /s per core")
    print(f"bad messages counted: {dropped:.0f}")


if __name__ == "__main__":
    main()
