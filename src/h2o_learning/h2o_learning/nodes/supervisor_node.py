"""The demo's operator on the robot's ROS graph: resets after falls, counts, scores episodes.

Subscribes ``/joint_states``, ``/imu/data`` (one tick per IMU message whose stamp equals the
newest joint state's, as the simulator publishes them), ``/joint_commands`` (the newest action
sent is the observation's ``prev_action``) and ``/diagnostics`` (the runner's loop statistics).
Publishes ``/h2o/reset`` (``std_msgs/Empty``, for ``dataset_recorder``) and calls the simulator's
``/wheel_legged_sim/reset`` and the runner's ``/policy_runner/release`` services. The decisions
are :class:`~h2o_learning.demo.episodes.EpisodeSupervisor`'s; the scores
:class:`~h2o_learning.demo.episodes.EpisodeMonitor`'s. At the end it writes a JSON report.

The first episode starts only once the runner's ``/diagnostics`` say it commands the policy
(``--ready-level``): on a loaded machine DDS discovery can leave the runner without its sensors
for seconds after the robot started, and an episode scored while it holds the safe action would
measure start-up (the robot falls with wheels off), not the policy.

    python -m h2o_learning.nodes.supervisor_node --mode evaluate --episodes 3 --out eval.json
    python -m h2o_learning.nodes.supervisor_node --mode collect --transitions 5000 --out c.json

Exit code 0 when the target was reached, 1 on timeout (the report says how far it got).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.client import Client
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from rclpy.utilities import remove_ros_args
from sensor_msgs.msg import Imu, JointState
from std_msgs.msg import Empty
from std_srvs.srv import Trigger

from h2o_learning.demo.episodes import (
    DONE,
    FINISH,
    RELEASE,
    RESET,
    WAITING,
    EpisodeMonitor,
    EpisodeSupervisor,
)
from h2o_robot_bridge.contract import (
    ACTION_DIM,
    TOPICS,
    SensorSnapshot,
    clip_action,
    command_to_action,
    get_task,
    observation_from_snapshot,
)
from h2o_robot_bridge.conversions.from_msg import (
    MessageError,
    imu_to_reading,
    joint_command_from_msg,
    joint_state_to_reading,
    stamp_to_sec,
)

PROGRESS_EVERY = 50
"""Ticks between two ``PROGRESS <transitions> <episodes> <phase>`` lines on stdout."""


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Command line (ROS arguments removed first)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--mode", choices=("collect", "evaluate"), required=True)
    p.add_argument("--transitions", type=int, default=5000, help="collect: scored transitions")
    p.add_argument("--episodes", type=int, default=3, help="evaluate: episodes")
    p.add_argument("--task", default="stand", help="contract task")
    p.add_argument("--control-hz", type=float, default=100.0)
    p.add_argument(
        "--time-limit",
        type=int,
        default=-1,
        help="transitions per episode (-1: the task's limit in evaluate mode, none in collect "
        "mode, where the recorder truncates at the task's limit itself)",
    )
    p.add_argument("--stuck-tilt", type=float, default=0.5, help="runner's tilt cut-off [rad]")
    p.add_argument("--stuck-seconds", type=float, default=2.0)
    p.add_argument("--timeout", type=float, default=600.0, help="give up after [s] (wall)")
    p.add_argument("--out", required=True, help="JSON report")
    p.add_argument("--sim-reset-service", default="/wheel_legged_sim/reset")
    p.add_argument("--release-service", default="/policy_runner/release")
    p.add_argument("--reset-topic", default=TOPICS.reset)
    p.add_argument(
        "--ready-level",
        default="policy",
        help="start the first episode only once the runner's /diagnostics report this level "
        "(the policy in command) or a latched fault (a fall, cleared by the reset and "
        "release), and warm-up commands arrived: a runner still waiting for its sensors "
        "publishes the safe action, and an episode scored then measures start-up, not the "
        "policy. '' waits for commands only (a runner without diagnostics)",
    )
    args = p.parse_args(argv)
    if args.time_limit < 0:
        hz = args.control_hz
        args.time_limit = (
            get_task(args.task).max_episode_steps(hz) if args.mode == "evaluate" else 0
        )
    return args


class DemoSupervisor(Node):
    """Messages -> observation -> :class:`EpisodeSupervisor`; its requests -> services."""

    def __init__(self, args: argparse.Namespace) -> None:
        super().__init__("demo_supervisor")
        self.args = args
        monitor = EpisodeMonitor(
            args.task,
            args.control_hz,
            args.time_limit or None,
            args.stuck_tilt,
            max(1, round(args.stuck_seconds * args.control_hz)),
        )
        target = {"transitions": args.transitions} if args.mode == "collect" else {}
        self.sup = EpisodeSupervisor(monitor, episodes=None if target else args.episodes, **target)
        self.command = np.asarray(get_task(args.task).command, dtype=np.float64)
        self.action = np.zeros(ACTION_DIM)
        self.commanded = False  # a command arrived since the last tick
        self.joints: Any = None
        self.counts = {
            "ticks": 0,
            "unpaired": 0,
            "commands": 0,
            "resets": 0,
            "releases": 0,
            "malformed": 0,
        }
        self.diagnostics: dict[str, str] = {}
        self.runner_level: str | None = None  # newest /diagnostics "level" of the runner
        self.pending: Any = None
        self.reset_pub = self.create_publisher(Empty, args.reset_topic, 10)
        self.sim_reset: Client = self.create_client(Trigger, args.sim_reset_service)
        self.release: Client = self.create_client(Trigger, args.release_service)
        qos = qos_profile_sensor_data
        t = TOPICS
        self.create_subscription(JointState, t.joint_states, self._on_joint_state, qos)
        self.create_subscription(Imu, t.imu, self._on_imu, qos)
        self.create_subscription(JointState, t.joint_commands, self._on_command, qos)
        self.create_subscription(DiagnosticArray, t.diagnostics, self._on_diagnostics, 10)

    def _on_joint_state(self, msg: JointState) -> None:
        try:  # a malformed message must not replace a good one (nor crash the supervisor)
            joint_state_to_reading(msg)
        except MessageError:
            self.counts["malformed"] += 1
            return
        self.joints = msg

    def _on_command(self, msg: JointState) -> None:
        try:
            self.action = clip_action(command_to_action(joint_command_from_msg(msg)))
        except MessageError:
            return
        self.commanded = True
        self.counts["commands"] += 1

    def _on_imu(self, msg: Imu) -> None:
        js = self.joints
        if js is None or stamp_to_sec(js.header.stamp) != stamp_to_sec(msg.header.stamp):
            self.counts["unpaired"] += 1
            return
        snapshot = SensorSnapshot(imu_to_reading(msg), joint_state_to_reading(js))
        obs = observation_from_snapshot(snapshot, self.command, self.action)
        self.counts["ticks"] += 1
        request = self.sup.on_tick(obs, self.commanded and self._runner_ready())
        self.commanded = False
        self._do(request)
        if self.counts["ticks"] % PROGRESS_EVERY == 0 or request == FINISH:
            m = self.sup.monitor  # read by the demo for its progress bar
            print(f"PROGRESS {m.total_steps} {len(m.episodes)} {self.sup.phase}", flush=True)

    def _runner_ready(self) -> bool:
        """The runner commands the policy (its newest diagnostics say ``--ready-level``), or it
        did and latched a fault (a fall: the reset and release that follow clear it)."""
        want = self.args.ready_level
        if not want or self.runner_level == want or self.diagnostics.get("latched"):
            return True
        if self.sup.phase == WAITING:
            self.get_logger().info(
                f"waiting for the runner to command the policy (its level: {self.runner_level}"
                f", {self.diagnostics.get('message', 'no /diagnostics yet')})",
                throttle_duration_sec=2.0,
            )
        return False

    def _do(self, request: str | None) -> None:
        if request == RESET:
            self.reset_pub.publish(Empty())  # first: the recorder skips the fallen ticks
            self._call(self.sim_reset, self._on_reset_done, "resets")
        elif request == RELEASE:
            self._call(self.release, self._on_release_done, "releases")
        elif request == FINISH:
            self.get_logger().info(f"done: {self.sup.monitor.summary()['n_episodes']} episodes")

    def _call(self, client: Any, done: Any, counter: str) -> None:
        if self.pending is not None and not self.pending.done():
            return  # one request at a time; the state machine asks again
        if not client.service_is_ready():  # asked again a few ticks later
            self.get_logger().warning(f"{client.srv_name} not available yet",
                                   throttle_duration_sec=2.0)  # fmt: skip
            return
        self.counts[counter] += 1
        self.pending = client.call_async(Trigger.Request())
        self.pending.add_done_callback(done)

    def _on_reset_done(self, future: Any) -> None:
        self._do(self.sup.on_reset_done())

    def _on_release_done(self, future: Any) -> None:
        result = future.result()
        self.sup.on_release(bool(result.success))

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            if status.name.startswith("policy_runner"):
                self.diagnostics = {kv.key: kv.value for kv in status.values}
                self.diagnostics["message"] = status.message
                self.runner_level = self.diagnostics.get("level")

    def report(self, status: str, wall: float) -> dict[str, Any]:
        """Everything the demo reads back (JSON-ready)."""
        monitor = self.sup.monitor
        return {
            "status": status,
            "mode": self.args.mode,
            "wall_seconds": wall,
            "summary": monitor.summary(),
            "trace": monitor.trace,
            "counts": self.counts,
            "diagnostics": self.diagnostics,
        }


def main(argv: list[str] | None = None) -> int:
    """Entry point: ``python -m h2o_learning.nodes.supervisor_node``."""
    argv = sys.argv if argv is None else argv
    args = parse_args(remove_ros_args(argv)[1:])
    rclpy.init(args=argv)
    node = DemoSupervisor(args)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    start = time.monotonic()
    status = "timeout"
    try:
        while rclpy.ok() and time.monotonic() - start < args.timeout:
            executor.spin_once(timeout_sec=0.05)
            if node.sup.phase == DONE:
                status = "ok"
                break
        end = time.monotonic() + 1.5  # one more diagnostics message of the runner
        while status == "ok" and rclpy.ok() and time.monotonic() < end:
            executor.spin_once(timeout_sec=0.05)
    except (KeyboardInterrupt, ExternalShutdownException):
        status = "interrupted"
    finally:
        report = node.report(status, time.monotonic() - start)
        Path(args.out).write_text(json.dumps(report))
        node.destroy_node()
        rclpy.try_shutdown()
    return 0 if status == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
