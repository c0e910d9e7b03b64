"""Achieved real-time factor of the ``wheel_legged_sim`` node in as-fast mode.

Measured in one run:
1. baseline: ``WheelLeggedSim.step`` in this process, no ROS (the limit of the node);
2. the node (separate process, ``real_time_factor:=0.0``) with no subscriber: its own report
   at shutdown (sim seconds advanced per wall second);
3. the node with a subscriber (this process) on ``/clock``, ``/joint_states``, ``/imu/data`` and
   ``/ground_truth/odom``: sim time advanced per wall second, read from ``/clock``.
Prints each real-time factor and its ratio to the baseline (the node's ROS overhead).

    .venv/bin/python bench/sim_node_rtf.py --seconds 5
"""

from __future__ import annotations

import argparse
import os
import re
import tempfile
import time
from pathlib import Path

from h2o_robot_bridge.config_files import config_file
from h2o_robot_bridge.contract import SAFE_ACTION, TOPICS
from h2o_robot_bridge.testing.processes import free_domain_id, node_process, ros_env
from h2o_sim.simulator import WheelLeggedSim

PARAMS = config_file("h2o_sim", "sim/wheel_legged_sim.yaml")


def baseline_rtf(seconds: float) -> float:
    """Sim seconds per wall second of plain ``sim.step`` (zero-torque action, robot falls)."""
    sim = WheelLeggedSim("real", seed=0)
    action = SAFE_ACTION.copy()
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        sim.step(action)
        steps += 1
        if steps % 500 == 0:
            sim.reset()  # keep the robot in motion, as in the node's run
    wall = time.perf_counter() - start
    sim.close()
    return steps * sim.timing.control_dt / wall


def node_rtf_unobserved(seconds: float, log_dir: Path, domain_id: int) -> float:
    """The node's own report (no subscribers) after running ``seconds``."""
    proc = node_process(
        "wheel_legged_sim", log_dir, domain_id, [PARAMS], {"real_time_factor": 0.0}
    ).start()
    try:
        deadline = time.monotonic() + 30.0
        while "as fast as possible" not in proc.log() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(seconds)
    finally:
        proc.stop(timeout=10.0)
    found = re.findall(r"achieved real-time factor ([0-9.]+)", proc.log())
    if not found:
        raise RuntimeError(f"no report in the node's log:\n{proc.log()[-2000:]}")
    return float(found[-1])


def node_rtf_observed(seconds: float, log_dir: Path, domain_id: int) -> float:
    """Sim time per wall time seen on ``/clock`` by a subscriber to every output topic."""
    import rclpy  # noqa: PLC0415 - only this measurement needs rclpy in this process
    from nav_msgs.msg import Odometry  # noqa: PLC0415
    from rclpy.executors import SingleThreadedExecutor  # noqa: PLC0415
    from rosgraph_msgs.msg import Clock  # noqa: PLC0415
    from sensor_msgs.msg import Imu, JointState  # noqa: PLC0415

    os.environ.update(ros_env(domain_id, {}))
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=domain_id)
    node = rclpy.create_node("rtf_probe", context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    clocks: list[tuple[float, float]] = []
    node.create_subscription(
        Clock,
        TOPICS.clock,
        lambda m: clocks.append((time.monotonic(), m.clock.sec + 1e-9 * m.clock.nanosec)),
        100,
    )
    for msg_type, topic in (
        (JointState, TOPICS.joint_states),
        (Imu, TOPICS.imu),
        (Odometry, TOPICS.ground_truth_odom),
    ):
        node.create_subscription(msg_type, topic, lambda m: None, 100)
    proc = node_process(
        "wheel_legged_sim", log_dir, domain_id, [PARAMS], {"real_time_factor": 0.0}, name="obs"
    ).start()
    try:
        deadline = time.monotonic() + 30.0
        while not clocks and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.05)
        start = time.monotonic()
        while time.monotonic() - start < seconds:
            executor.spin_once(timeout_sec=0.05)
    finally:
        proc.stop(timeout=10.0)
        node.destroy_node()
        rclpy.try_shutdown(context=context)
    window = [(w, s) for w, s in clocks if w >= start]
    if len(window) < 2:
        raise RuntimeError(f"too few /clock messages:\n{proc.log()[-2000:]}")
    return (window[-1][1] - window[0][1]) / (window[-1][0] - window[0][0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each run [s]")
    args = parser.parse_args()
    domain_id = free_domain_id()
    with tempfile.TemporaryDirectory() as tmp:
        base = baseline_rtf(args.seconds)
        alone = node_rtf_unobserved(args.seconds, Path(tmp), domain_id)
        observed = node_rtf_observed(args.seconds, Path(tmp), domain_id)
    print(f"baseline sim.step in-process   real-time factor {base:8.1f}")
    print(
        f"node as-fast, no subscriber    real-time factor {alone:8.1f}  ratio {alone / base:.2f}"
    )
    print(
        f"node as-fast, 4 topics watched real-time factor {observed:8.1f}  "
        f"ratio {observed / base:.2f}"
    )


if __name__ == "__main__":
    main()
