"""``dataset_recorder``: record robot (or sim) topics straight into a crash-safe dataset.

Subscribes ``joint_states``, ``imu/data``, ``joint_commands`` (the ticks), ``cmd_vel`` and
``h2o/reset`` (``std_msgs/Empty``: a robot reset, i.e. a new episode); all names are
parameters, relative ones move with the node's namespace. ``cmd_vel`` may be ``Twist`` or
``TwistStamped`` (parameter ``cmd_vel_type``, default ``auto``: the type of its publishers;
:mod:`h2o_robot_bridge.conversions.cmd_vel`). Services ``~/start`` and ``~/stop``
(``std_srvs/Trigger``) open and close the recording window. Rows are durable every
``flush_interval`` seconds (``output.partial/``); a clean shutdown (SIGINT/SIGTERM) writes
``output``; after a crash run ``h2o-dataset recover output.partial -o output``.

    ros2 run h2o_robot_bridge dataset_recorder --ros-args -p output:=real.h5 -p task:=stand
"""

from __future__ import annotations

import sys
from collections import Counter
from typing import Any

import numpy as np
import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rclpy.subscription import MessageInfo
from sensor_msgs.msg import Imu, JointState
from std_msgs.msg import Empty
from std_srvs.srv import Trigger

from h2o_robot_bridge.conversions.from_msg import (
    MessageError,
    cmd_vel_to_command,
    imu_to_reading,
    joint_command_from_msg,
    joint_state_to_reading,
    stamp_to_sec,
)
from h2o_robot_bridge.dataset.recorder import (
    PARAMETERS,
    Recorder,
    config_from_parameters,
    wall_time,
)
from h2o_robot_bridge.deploy.inputs import imu_reading_fault, joint_reading_fault
from h2o_robot_bridge.errors import H2OError
from h2o_robot_bridge.nodes.cmd_vel import (
    CmdVelSubscription,
    declare_cmd_vel_type,
    read_cmd_vel_type,
)


def received(info: MessageInfo) -> float:
    """Reception time [s] (wall clock, taken by the middleware on arrival, so a busy executor
    does not delay it); the current wall time where the middleware gives none."""
    ns = info.get("received_timestamp", 0) if info else 0
    return ns * 1e-9 if ns else wall_time()


class DatasetRecorder(Node):
    """Thin node: messages -> pure readers -> :class:`Recorder`."""

    def __init__(self) -> None:
        super().__init__("dataset_recorder")
        values = {k: self.declare_parameter(k, v).value for k, v in PARAMETERS.items()}
        self.config = config_from_parameters(values)  # raises before anything is wired
        declare_cmd_vel_type(self)
        cmd_vel_type = read_cmd_vel_type(self)
        self.recorder = Recorder(self.config)
        reliability = (
            ReliabilityPolicy.BEST_EFFORT
            if self.config.best_effort
            else ReliabilityPolicy.RELIABLE
        )
        qos = QoSProfile(depth=500, reliability=reliability)
        t = self.config.topics
        self.create_subscription(JointState, t.joint_states, self._on_joint_state, qos)
        self.create_subscription(Imu, t.imu, self._on_imu, qos)
        self.create_subscription(JointState, t.joint_commands, self._on_command, qos)
        self.cmd_vel = CmdVelSubscription(self, t.cmd_vel, cmd_vel_type, self._on_cmd_vel, 10)
        self.create_subscription(Empty, t.reset, self._on_reset, 10)
        self.create_service(Trigger, "~/start", self._on_start)
        self.create_service(Trigger, "~/stop", self._on_stop)
        self.create_timer(min(0.1, self.config.flush_interval / 2), self._on_timer)
        self._warned: set[str] = set()
        self.dropped: Counter[str] = Counter()
        """Bad messages dropped per topic (printed with the summary)."""
        self.get_logger().info(
            f"recording {t.joint_commands} ticks into {self.config.output} "
            f"(task {self.config.align.task}, {self.config.align.control_hz} Hz)"
        )

    def _on_joint_state(self, msg: JointState, info: MessageInfo) -> None:
        try:
            r = joint_state_to_reading(msg)
        except MessageError as err:
            return self._warn("joint_states", err)
        fault = joint_reading_fault(r)
        if fault:  # a sensor fault is not a state: never a dataset row
            return self._warn("joint_states", fault)
        self.recorder.on_joint_state(
            stamp_to_sec(msg.header.stamp), received(info), r.position, r.velocity
        )

    def _on_imu(self, msg: Imu, info: MessageInfo) -> None:
        r = imu_to_reading(msg)
        fault = imu_reading_fault(r)
        if fault:
            return self._warn("imu", fault)
        self.recorder.on_imu(
            stamp_to_sec(msg.header.stamp), received(info), r.quat_xyzw, r.ang_vel
        )

    def _on_command(self, msg: JointState, info: MessageInfo) -> None:
        try:
            command = joint_command_from_msg(msg)
        except MessageError as err:
            return self._warn("joint_commands", err)
        self.recorder.on_joint_command(stamp_to_sec(msg.header.stamp), received(info), command)

    def _on_cmd_vel(self, msg: Any, info: MessageInfo) -> None:
        command = cmd_vel_to_command(msg)  # Twist or TwistStamped: the same command
        if not np.isfinite(command).all():
            return self._warn("cmd_vel", "non-finite command")
        self.recorder.on_cmd_vel(received(info), command)

    def _on_reset(self, msg: Empty, info: MessageInfo) -> None:
        self.recorder.on_reset(received(info))

    def _on_timer(self) -> None:
        before = self.recorder.writer.rows_flushed
        self.recorder.step()
        if self.recorder.writer.rows_flushed != before:
            self.get_logger().debug(f"flushed {self.recorder.writer.rows_flushed} rows")

    def _on_start(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        response.message = self.recorder.start()
        response.success = True
        return response

    def _on_stop(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        response.message = self.recorder.stop()
        response.success = True
        return response

    def _warn(self, what: str, err: Exception | str) -> None:
        self.dropped[what] += 1
        if what not in self._warned:  # once per topic: a bad stream would flood the log
            self._warned.add(what)
            self.get_logger().warning(f"ignoring bad {what} messages (counted): {err}")

    def close(self) -> None:
        """Write the final dataset and print the summary."""
        path = self.recorder.close()
        stats = self.recorder.aligner.stats
        # print, not the ROS logger: after a signal the context (and /rosout) is already gone.
        empty = "" if stats.rows else " (EMPTY: no control tick had fresh sensors; see below)"
        print(f"dataset_recorder: wrote {path}{empty}\n{stats.summary()}", flush=True)
        if self.dropped:
            print(f"dataset_recorder: dropped bad messages {dict(self.dropped)}", flush=True)


def main(args: list[str] | None = None) -> int:
    rclpy.init(args=args)
    node = None
    code = 0
    try:
        node = DatasetRecorder()
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        while rclpy.ok():
            executor.spin_once(timeout_sec=0.1)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except RuntimeError:
        # A signal shuts the context down while spin_once takes a message; rclpy then raises a
        # bare RuntimeError from take_message. That is the shutdown itself: close normally.
        if rclpy.ok():
            raise
    except H2OError as err:
        print(f"dataset_recorder: error: {err}", file=sys.stderr)
        code = 2
    finally:
        if node is not None:
            try:
                node.close()
            except H2OError as err:
                print(f"dataset_recorder: error while closing: {err}", file=sys.stderr)
                code = 2
            node.destroy_node()
        rclpy.try_shutdown()
    return code


if __name__ == "__main__":
    sys.exit(main())
