"""``policy_runner``: run an ONNX policy (or the classical controller) at control rate, safely.

Subscribes ``/joint_states``, ``/imu/data``, ``/cmd_vel``, ``/h2o/estop`` and ``/h2o/reset``
(std_msgs/Empty: a new episode, the robot was put back: the policy restarts and fades in again,
as in evaluation; latches stay); publishes
``/joint_commands`` (or, in shadow mode, only ``/h2o/shadow/joint_commands``) and
``/diagnostics``; serves ``~/release`` (std_srvs/Trigger) to clear an e-stop or tilt latch.
Everything that decides a command lives in :class:`h2o_robot_bridge.deploy.runner.PolicyRunner`,
when to tick and how to stamp in :class:`h2o_robot_bridge.deploy.trigger.TickTrigger`; this node
only wires messages to them. The control timer, receive times, tick times and ages are
wall-clock monotonic (the watchdog must not depend on a simulated clock).

Ticks (``trigger``): ``sensors`` (default) ticks once per sensor sample, as soon as a joint
state and an IMU message newer than the last tick's are both in; ``joint_states`` / ``imu`` on
each message of that topic; ``timer`` on a wall-clock timer at the control rate. With a message
trigger the timer is the watchdog: it ticks (at the control rate) only while no message tick
happened for longer than the input max age, i.e. when the safe action is due anyway.

Command stamps: a command computed from fresh sensor readings is stamped with the header stamp
of the newest joint state / IMU sample it used (the dataset recorder then pairs it with exactly
that sample; a lockstep simulator steps when the answer to its sample is in); a safe action sent
because inputs are stale or missing is stamped with the node clock's now (``use_sim_time``
honoured; with ``use_sim_time`` before sim time starts, i.e. at node clock 0, nothing is
published).

Bad parameters or a missing/corrupt/mismatching policy: one clear log line, exit code 2,
nothing published.
"""

from __future__ import annotations

import gc
import sys
import time

import rclpy
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import Twist
from rclpy.clock import Clock, ClockType
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Imu, JointState
from std_msgs.msg import Bool, Empty
from std_srvs.srv import Trigger

from h2o_robot_bridge.conversions.from_msg import (
    MessageError,
    imu_to_reading,
    joint_state_to_reading,
    twist_to_command,
)
from h2o_robot_bridge.conversions.to_msg import joint_command_msg, stamp
from h2o_robot_bridge.deploy.config import DeployConfig, load_policy, parameter_defaults
from h2o_robot_bridge.deploy.diagnostics import LoopStats
from h2o_robot_bridge.deploy.runner import PolicyRunner
from h2o_robot_bridge.deploy.trigger import TickTrigger
from h2o_robot_bridge.errors import H2OError

NODE_NAME = "policy_runner"
SENSOR_QOS = QoSProfile(depth=5, reliability=ReliabilityPolicy.BEST_EFFORT)


class PolicyRunnerNode(Node):
    """Thin ROS wrapper around :class:`PolicyRunner` (raises H2OError on bad setup)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(NODE_NAME, **kwargs)
        params = {
            name: self.declare_parameter(name, default).value
            for name, default in parameter_defaults().items()
        }
        config = DeployConfig.from_params(params)
        policy = load_policy(config)  # raises before anything is published
        self.config = config = config.with_rate(config.control_hz or policy.control_hz)
        self.runner = PolicyRunner(policy, config.runner)
        if self.runner.shaping_warning:
            self.get_logger().warn(self.runner.shaping_warning)
        self.stats = LoopStats(config.control_hz, deadline_factor=config.deadline_factor)
        self.period = 1.0 / config.control_hz
        safety = config.runner.safety
        self.trigger = TickTrigger(
            config.trigger, config.control_hz, safety.joint_state_max_age, safety.imu_max_age
        )
        self._last_guard: str | None = None

        t = config.topics
        topic = t.shadow_joint_commands if config.shadow else t.joint_commands
        self.command_pub = self.create_publisher(JointState, topic, 10)
        self.diag_pub = self.create_publisher(DiagnosticArray, t.diagnostics, 10)
        self.create_subscription(JointState, t.joint_states, self._on_joint_state, SENSOR_QOS)
        self.create_subscription(Imu, t.imu, self._on_imu, SENSOR_QOS)
        self.create_subscription(Twist, t.cmd_vel, self._on_cmd_vel, 10)
        self.create_subscription(Bool, t.estop, self._on_estop, 10)
        self.create_subscription(Empty, t.reset, self._on_reset, 10)
        self.create_service(Trigger, "~/release", self._on_release)
        # Steady clock, not the node clock: with use_sim_time a ROS-time timer would follow
        # /clock, while the watchdog ages are wall time (a robot lives in wall time).
        steady = Clock(clock_type=ClockType.STEADY_TIME)
        self.create_timer(self.period, self._on_timer, clock=steady)
        self.create_timer(config.diagnostics_period, self._publish_diagnostics, clock=steady)
        self.get_logger().info(
            f"running {policy.name} (task {policy.task}) at {config.control_hz:g} Hz, "
            f"trigger {config.trigger}, {'SHADOW on ' if config.shadow else ''}{topic}"
        )

    def _on_joint_state(self, msg: JointState) -> None:
        now = time.monotonic()
        try:
            self.runner.on_joint_state(joint_state_to_reading(msg), now)
        except MessageError as err:
            self.get_logger().warn(f"ignored joint state: {err}", throttle_duration_sec=1.0)
            return
        if self.trigger.on_joint_state(now, _stamp_ns(msg.header.stamp)):
            self._tick(now)

    def _on_imu(self, msg: Imu) -> None:
        now = time.monotonic()
        self.runner.on_imu(imu_to_reading(msg), now)
        if self.trigger.on_imu(now, _stamp_ns(msg.header.stamp)):
            self._tick(now)

    def _on_cmd_vel(self, msg: Twist) -> None:
        self.runner.on_command(twist_to_command(msg), time.monotonic())

    def _on_estop(self, msg: Bool) -> None:
        self.runner.on_estop(bool(msg.data))

    def _on_reset(self, msg: Empty) -> None:
        # A new episode (the robot was put back): start as at start-up, as evaluation does.
        self.runner.restart()
        self.get_logger().info("reset announced: the policy fades in again")

    def _on_release(self, request: Trigger.Request, response: Trigger.Response):
        response.success, response.message = self.runner.release()
        self.get_logger().info(f"release: {response.message}")
        return response

    def _on_timer(self) -> None:
        now = time.monotonic()
        if self.trigger.timer(now):
            self._tick(now)

    def _tick(self, now: float) -> None:
        """One runner tick at ``now`` (monotonic [s], the trigger's time), published."""
        stamp_ns = self.trigger.command_stamp(now, self.get_clock().now().nanoseconds)
        if stamp_ns is None:  # use_sim_time and sim time not started: nothing to stamp with
            return
        result = self.runner.tick(now)
        msg = joint_command_msg(0.0, result.command)
        msg.header.stamp = Time(sec=stamp_ns // 10**9, nanosec=stamp_ns % 10**9)  # exact
        self.command_pub.publish(msg)
        self.stats.record(now, time.monotonic(), result.sensor_receipt)
        if result.guard != self._last_guard:  # log changes, not every tick
            log = self.get_logger()
            (log.warn if result.safe else log.info)(result.reason or "policy commanding")
            self._last_guard = result.guard

    def _publish_diagnostics(self) -> None:
        self.diag_pub.publish(self.diagnostics_msg())

    def diagnostics_msg(self) -> DiagnosticArray:
        """Loop timing, guard trips and state as one ``DiagnosticStatus``."""
        reason = self.runner.last_reason
        status = DiagnosticStatus()
        status.name = f"{NODE_NAME}: {self.runner.policy.name}"
        status.hardware_id = self.get_fully_qualified_name()
        if self.runner.latched:
            status.level = DiagnosticStatus.ERROR
        elif reason:
            status.level = DiagnosticStatus.WARN
        else:
            status.level = DiagnosticStatus.OK
        status.message = reason or ("shadow" if self.config.shadow else "commanding")
        values = self.stats.summary(self.runner.safety.trips)
        values["control_hz"] = self.config.control_hz
        status.values = [KeyValue(key=k, value=f"{v:.6g}") for k, v in values.items()]
        status.values.append(KeyValue(key="latched", value=str(self.runner.latched or "")))
        msg = DiagnosticArray()
        msg.header.stamp = stamp(self.get_clock().now().nanoseconds * 1e-9)
        msg.status = [status]
        return msg


def freeze_startup_objects() -> None:
    """Exempt everything allocated at start-up (imports, policy) from garbage collection.

    A full collection otherwise walks those hundreds of thousands of objects, stalling the
    loop for 10-20 ms (measured: a burst of late commands about 1 s after start); the loop's
    own garbage is still collected.
    """
    gc.collect()
    gc.freeze()


def _stamp_ns(t: Time) -> int:
    """``builtin_interfaces/Time`` -> integer nanoseconds (exact, unlike float seconds)."""
    return int(t.sec) * 10**9 + int(t.nanosec)


def make_executor(kind: str, context=None):
    """``events`` (rclpy EventsExecutor: measured best here) or ``single``."""
    if kind == "events":
        from rclpy.experimental import EventsExecutor  # noqa: PLC0415

        return EventsExecutor(context=context)
    return SingleThreadedExecutor(context=context)


def main(args: list[str] | None = None) -> None:
    """Console script ``policy_runner``."""
    rclpy.init(args=args)
    try:
        node = PolicyRunnerNode()
    except H2OError as err:
        rclpy.logging.get_logger(NODE_NAME).fatal(f"cannot start: {err}")
        rclpy.try_shutdown()
        sys.exit(2)
    executor = make_executor(node.config.executor)
    executor.add_node(node)
    freeze_startup_objects()
    try:
        while rclpy.ok():
            executor.spin_once(timeout_sec=0.1)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        executor.shutdown(timeout_sec=1.0)
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    main()
