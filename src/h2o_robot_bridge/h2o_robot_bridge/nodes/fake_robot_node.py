"""A synthetic robot for deploy tests and benchmarks: scripted sensors, recorded commands.

Publishes ``/joint_states`` (default pose, at rest) and ``/imu/data`` (upright) at ``--rate``,
records every ``/joint_commands`` message with its receive time, keeps the latest
``/diagnostics`` values, and plays a timeline of faults. Time 0 of the timeline is the first
command received (so start-up time does not matter). At the end it writes a JSON report.

    python -m h2o_robot_bridge.nodes.fake_robot_node --rate 200 --duration 8 \
        --events '[{"t": 1.0, "do": "imu_stop"}, {"t": 1.5, "do": "imu_resume"}]' \
        --out report.json --ros-args ...

With ``--listen-only`` it publishes no sensors and records the base tilt from ``/imu/data``
instead (a monitor for closed-loop runs with the simulator); its ``fault`` events still inject
bad messages next to the simulator's good ones.

Events (``do``): ``imu_stop``/``imu_resume`` (stop/restart IMU messages), ``imu_nan``/
``imu_ok`` (NaN angular velocity), ``tilt`` (``value``: pitch [rad], 0 = upright),
``estop`` (``value``: bool, on ``/h2o/estop``), ``release`` / ``resume_policy`` (call
``/policy_runner/<name>``; the response is recorded), ``transition`` (``value``: a lifecycle
transition label, e.g. ``activate``, via ``/policy_runner/change_state``), ``heartbeat``
(``value``: bool: publish ``false`` on the e-stop topic every tick, or stop), ``blackout``
(``value``: seconds without any sensor message), ``cmd_vel``
(``value``: [v, w], NaN allowed), ``fault`` / ``fault_stop`` (bad messages: ``topic``
``joint_states`` | ``imu`` | ``cmd_vel``, ``kind`` from :data:`FAULTS`, ``mode``
``interleave`` (``per_tick`` bad messages after each good one; a flood at ``per_tick`` x rate)
or ``replace`` (bad messages instead of the good ones)), ``mark`` (logs ``mark: <value>``: a
test waits for that line to act at a point of this timeline, not after a sleep).

With ``--estop-latched`` it publishes ``true`` on the e-stop topic with transient-local QoS at
start (an e-stop asserted before the runner starts); ``--from-start`` starts the timeline at
start instead of at the first command (for a runner that waits for its lifecycle transitions).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import Twist
from lifecycle_msgs.srv import ChangeState
from rclpy.client import Client
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from rclpy.task import Future
from rclpy.utilities import remove_ros_args
from sensor_msgs.msg import Imu, JointState
from std_msgs.msg import Bool
from std_srvs.srv import Trigger

from h2o_robot_bridge.contract import (
    TOPICS,
    projected_gravity_from_quaternion,
    robot,
    tilt_from_projected_gravity,
)
from h2o_robot_bridge.conversions.from_msg import imu_to_reading, joint_command_from_msg
from h2o_robot_bridge.conversions.to_msg import imu_msg, joint_state_msg
from h2o_robot_bridge.deploy.inputs import imu_reading_fault

EVENTS = (
    "imu_stop",
    "imu_resume",
    "imu_nan",
    "imu_ok",
    "tilt",
    "estop",
    "release",
    "resume_policy",
    "transition",
    "heartbeat",
    "cmd_vel",
    "fault",
    "fault_stop",
    "blackout",
    "mark",
)
FAULTS = {
    "joint_states": ("missing_joint", "unknown_names", "wrong_length", "nan", "huge", "empty"),
    "imu": ("nan", "inf", "zero_quaternion", "huge_gyro"),
    "cmd_vel": ("nan", "inf", "huge"),
}
"""Bad message kinds per topic (what a broken driver or a fuzzer sends)."""


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Command line (ROS arguments removed first)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=200.0, help="sensor rate [Hz]")
    parser.add_argument("--duration", type=float, default=5.0, help="timeline length [s]")
    parser.add_argument("--events", default="[]", help="JSON list of {t, do, value}")
    parser.add_argument("--out", required=True, help="JSON report path")
    parser.add_argument("--max-wait", type=float, default=20.0, help="wait for 1st command [s]")
    parser.add_argument("--command-topic", default=TOPICS.joint_commands)
    parser.add_argument("--release-service", default="/policy_runner/release")
    parser.add_argument("--count-topic", action="append", default=[], help="also count msgs")
    parser.add_argument("--estop-latched", action="store_true", help="e-stop true at start")
    parser.add_argument("--from-start", action="store_true", help="timeline from start")
    parser.add_argument(
        "--listen-only",
        action="store_true",
        help="publish nothing; record the base tilt from /imu/data (a monitor for a real robot "
        "or the simulator)",
    )
    args = parser.parse_args(argv)
    args.events = sorted(json.loads(args.events), key=lambda e: e["t"])
    for event in args.events:
        if event.get("do") not in EVENTS:
            parser.error(f"unknown event {event!r}; known: {EVENTS}")
        if event["do"] == "fault" and event.get("kind") not in FAULTS.get(event.get("topic"), ()):
            parser.error(f"unknown fault {event!r}; known: {FAULTS}")
    return args


def _stamp_ns(stamp: Any) -> int:
    """A header stamp as integer nanoseconds (exact: no float round trip)."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


class FakeRobot(Node):
    """Publishes synthetic sensors, plays the fault timeline, records commands."""

    def __init__(self, args: argparse.Namespace) -> None:
        super().__init__("fake_robot")
        self.args = args
        self.imu_on, self.imu_nan, self.pitch = True, False, 0.0
        self.blackout_until = -math.inf  # no sensor message at all before this time
        self.commands: list[list[float]] = []
        self.played: list[dict[str, Any]] = []
        self.pending = list(args.events)
        self.diagnostics: dict[str, str] = {}
        self.counts = {topic: 0 for topic in args.count_topic}
        self.sent = 0
        # IMU messages published (listen-only: valid ones received), since the first command [s]
        self.imu_times: list[float] = []
        self.imu_stamps: list[int] = []  # their header stamps [ns]
        self.command_stamps: list[int] = []  # header stamps of the commands received [ns]
        self.tilts: list[list[float]] = []
        self.diag_history: list[list[Any]] = []
        self.faults: dict[str, dict[str, Any]] = {}  # topic -> the active fault event
        self.heartbeat = False
        self.t0: float | None = time.monotonic() if args.from_start else None
        if args.listen_only:
            self.create_subscription(Imu, TOPICS.imu, self._on_imu, qos_profile_sensor_data)
        self.js_pub = self.create_publisher(JointState, TOPICS.joint_states, 10)
        self.imu_pub = self.create_publisher(Imu, TOPICS.imu, 10)
        latched = QoSProfile(
            depth=1,
            reliability=ReliabilityPolicy.RELIABLE,
            durability=DurabilityPolicy.TRANSIENT_LOCAL,
        )
        self.estop_pub = self.create_publisher(Bool, TOPICS.estop, latched)
        self.cmd_pub = self.create_publisher(Twist, TOPICS.cmd_vel, 10)
        if args.estop_latched:
            self.estop_pub.publish(Bool(data=True))
            self.get_logger().info("e-stop asserted (latched)")  # tests wait for this line
        # Trigger request/response: the message packages are untyped.
        self.release: Client[Any, Any] = self.create_client(Trigger, args.release_service)
        runner = args.release_service.rsplit("/", 1)[0]
        self.resume: Client[Any, Any] = self.create_client(Trigger, f"{runner}/resume_policy")
        self.change_state: Client[Any, Any] = self.create_client(
            ChangeState, f"{runner}/change_state"
        )
        self.create_subscription(JointState, args.command_topic, self._on_command, 100)
        self.create_subscription(DiagnosticArray, TOPICS.diagnostics, self._on_diag, 10)
        for topic in args.count_topic:
            self.create_subscription(JointState, topic, self._counter(topic), 100)
        self.create_timer(1.0 / args.rate, self._publish)

    def _counter(self, topic: str):
        def count(_msg: JointState) -> None:
            self.counts[topic] += 1

        return count

    def _on_imu(self, msg: Imu) -> None:
        reading = imu_to_reading(msg)
        if imu_reading_fault(reading):  # e.g. the bad messages this node injects itself
            return
        if self.t0 is not None:
            gravity = projected_gravity_from_quaternion(reading.quat_xyzw)
            tilt = float(tilt_from_projected_gravity(gravity))
            now = time.monotonic() - self.t0
            self.tilts.append([now, tilt])
            self.imu_times.append(now)  # listen-only: the valid messages heard, not published
            self.imu_stamps.append(_stamp_ns(msg.header.stamp))

    def _publish(self) -> None:
        now = time.monotonic()
        self._play(now)
        stamp = self.get_clock().now().nanoseconds * 1e-9
        if self.args.listen_only:  # a monitor (and fault injector) next to a real publisher
            self._publish_faults(stamp)
            return
        if now < self.blackout_until:  # no sensor message at all
            return
        pos = robot.DEFAULT_POSITIONS
        if self._good("joint_states"):
            self.js_pub.publish(joint_state_msg(stamp, pos, np.zeros(6), np.zeros(6)))
        if self.imu_on and self._good("imu"):
            quat = [0.0, math.sin(self.pitch / 2), 0.0, math.cos(self.pitch / 2)]
            gyro = [0.0, float("nan") if self.imu_nan else 0.0, 0.0]
            imu = imu_msg(stamp, quat, gyro, (0.0, 0.0, 9.81))
            self.imu_pub.publish(imu)
            if self.t0 is not None:
                self.imu_times.append(now - self.t0)
                self.imu_stamps.append(_stamp_ns(imu.header.stamp))
        self._publish_faults(stamp)
        if self.heartbeat:
            self.estop_pub.publish(Bool(data=False))
        self.sent += 1

    def _publish_faults(self, stamp: float) -> None:
        for topic, fault in self.faults.items():
            for _ in range(int(fault.get("per_tick", 1))):
                self._publish_bad(topic, fault["kind"], stamp)

    def _good(self, topic: str) -> bool:
        """Whether the good message of ``topic`` goes out this tick (not replaced)."""
        fault = self.faults.get(topic)
        return fault is None or fault.get("mode", "interleave") != "replace"

    def _publish_bad(self, topic: str, kind: str, stamp: float) -> None:
        """One bad message of ``kind`` on ``topic``."""
        if topic == "joint_states":
            self.js_pub.publish(bad_joint_state(kind, stamp))
        elif topic == "imu":
            self.imu_pub.publish(bad_imu(kind, stamp))
        else:
            value = {"nan": math.nan, "inf": math.inf, "huge": 1e30}[kind]
            msg = Twist()
            msg.linear.x, msg.angular.z = value, -value
            self.cmd_pub.publish(msg)

    def _client(self, do: str) -> Client[Any, Any] | None:
        """The service client an event calls (None: not a service event)."""
        return {
            "release": self.release,
            "resume_policy": self.resume,
            "transition": self.change_state,
        }.get(do)

    def _play(self, now: float) -> None:
        while self.t0 is not None and self.pending and now - self.t0 >= self.pending[0]["t"]:
            client = self._client(self.pending[0]["do"])
            if client is not None and not client.service_is_ready():
                break  # not discovered yet (a loaded machine): call it as soon as it is
            event = self.pending.pop(0)
            record = {**event, "at": now - self.t0}
            do = event["do"]
            if do in ("imu_stop", "imu_resume"):
                self.imu_on = do == "imu_resume"
            elif do in ("imu_nan", "imu_ok"):
                self.imu_nan = do == "imu_nan"
            elif do == "tilt":
                self.pitch = float(event["value"])
            elif do == "estop":
                self.estop_pub.publish(Bool(data=bool(event["value"])))
            elif do in ("release", "resume_policy"):
                future = (self.release if do == "release" else self.resume).call_async(
                    Trigger.Request()
                )
                future.add_done_callback(self._record_response(record))
            elif do == "transition":
                request = ChangeState.Request()
                request.transition.label = str(event["value"])
                future = self.change_state.call_async(request)
                future.add_done_callback(self._record_response(record))
            elif do == "blackout":
                self.blackout_until = now + float(event["value"])
            elif do == "heartbeat":
                self.heartbeat = bool(event["value"])
            elif do == "cmd_vel":
                msg = Twist()
                msg.linear.x, msg.angular.z = (float(v) for v in event["value"])
                self.cmd_pub.publish(msg)
            elif do == "fault":
                self.faults[event["topic"]] = event
            elif do == "fault_stop":
                self.faults.clear()
            elif do == "mark":
                self.get_logger().info(f"mark: {event.get('value', '')}")
            self.played.append(record)

    def _record_response(self, record: dict[str, Any]) -> Callable[[Future[Any]], None]:
        """A done callback that adds the service response to ``record``."""

        def done(future: Future[Any]) -> None:
            record.update(self._response(future))

        return done

    def _response(self, future: Future[Any]) -> dict[str, Any]:
        result = future.result()
        assert result is not None  # done callback of a call nobody cancels: the response is set
        return {"success": bool(result.success), "message": getattr(result, "message", "")}

    def _on_command(self, msg: JointState) -> None:
        now = time.monotonic()
        if self.t0 is None:
            self.t0 = now
        cmd = joint_command_from_msg(msg)
        self.commands.append([now - self.t0, *cmd.position.tolist(), *cmd.effort.tolist()])
        self.command_stamps.append(_stamp_ns(msg.header.stamp))

    def _on_diag(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            if status.name.startswith("policy_runner"):
                self.diagnostics = {kv.key: kv.value for kv in status.values}
                self.diagnostics["message"] = status.message
                at = None if self.t0 is None else time.monotonic() - self.t0
                self.diag_history.append([at, self.diagnostics.get("level"), status.message])

    def done(self, started: float) -> bool:
        """Timeline over (or no command within max-wait)."""
        now = time.monotonic()
        if self.t0 is None:
            return now - started > self.args.max_wait
        return now - self.t0 > self.args.duration

    def report(self) -> dict[str, Any]:
        """Everything the tests assert on (JSON-serialisable; NaN written as null)."""
        return {
            "commands": [[None if math.isnan(v) else v for v in row] for row in self.commands],
            "events": self.played,
            "diagnostics": self.diagnostics,
            "counts": self.counts,
            "sensor_messages": self.sent,
            "imu_times": self.imu_times,
            "imu_stamps": self.imu_stamps,
            "command_stamps": self.command_stamps,
            "tilts": self.tilts,
            "diag_history": self.diag_history,
        }


def bad_joint_state(kind: str, stamp: float) -> JointState:
    """A malformed or implausible ``/joint_states`` message (kinds: :data:`FAULTS`)."""
    n = len(robot.JOINT_NAMES)
    msg = joint_state_msg(stamp, robot.DEFAULT_POSITIONS, np.zeros(n), np.zeros(n))
    if kind == "missing_joint":
        msg.name, msg.position = msg.name[1:], list(msg.position)[1:]
        msg.velocity, msg.effort = list(msg.velocity)[1:], list(msg.effort)[1:]
    elif kind == "unknown_names":
        msg.name = [f"joint_{i}" for i in range(n)]
    elif kind == "wrong_length":
        msg.position = list(msg.position)[:3]
    elif kind == "nan":
        msg.position = [math.nan] * n
    elif kind == "huge":
        msg.velocity = [1e30] * n
    elif kind == "empty":
        msg.name, msg.position, msg.velocity, msg.effort = [], [], [], []
    return msg


def bad_imu(kind: str, stamp: float) -> Imu:
    """A malformed or implausible ``/imu/data`` message (kinds: :data:`FAULTS`)."""
    quat, gyro = [0.0, 0.0, 0.0, 1.0], [0.0, 0.0, 0.0]
    if kind == "nan":
        gyro = [math.nan] * 3
    elif kind == "inf":
        quat = [math.inf, 0.0, 0.0, 1.0]
    elif kind == "zero_quaternion":
        quat = [0.0, 0.0, 0.0, 0.0]
    elif kind == "huge_gyro":
        gyro = [0.0, 1e30, 0.0]
    return imu_msg(stamp, quat, gyro, (0.0, 0.0, 9.81))


def main(argv: list[str] | None = None) -> None:
    """Entry point: ``python -m h2o_robot_bridge.nodes.fake_robot_node``."""
    argv = sys.argv if argv is None else argv
    args = parse_args(remove_ros_args(argv)[1:])
    rclpy.init(args=argv)
    node = FakeRobot(args)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    started = time.monotonic()
    try:
        while rclpy.ok() and not node.done(started):
            executor.spin_once(timeout_sec=0.05)
        end = time.monotonic() + 0.3  # let in-flight service responses and diagnostics land
        while rclpy.ok() and time.monotonic() < end:
            executor.spin_once(timeout_sec=0.05)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        Path(args.out).write_text(json.dumps(node.report()))
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    main()
