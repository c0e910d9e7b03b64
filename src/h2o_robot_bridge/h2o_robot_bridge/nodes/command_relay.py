"""``command_relay``: ``/joint_commands`` to two ros2_control forward-command controllers.

Subscribes ``/joint_commands`` (contract names and order) and publishes
``std_msgs/Float64MultiArray`` on ``<leg_controller>/commands`` (leg positions [rad]) and
``<wheel_controller>/commands`` (wheel efforts [N m]), each in that controller's joint order;
sends the stack's controlled stop when no valid command came for ``timeout`` seconds and in
place of every malformed, non-finite or out-of-limit command. With ``relay_joint_states`` it
also republishes the robot's joint states (robot names) with contract names. Everything that
decides lives in :class:`h2o_robot_bridge.relay.command.CommandRelay` (behaviour, stop policy
and how to connect to ros2_control: its module docstring); this node only wires messages.

    ros2 run h2o_robot_bridge command_relay --ros-args \
        --params-file config/bridge/command_relay.yaml

Bad parameters: one clear log line, exit code 2, nothing published.
"""

from __future__ import annotations

import sys
import time

import rclpy
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.clock import Clock, ClockType
from rclpy.exceptions import InvalidTopicNameException
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rclpy.signals import SignalHandlerOptions
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray

from h2o_robot_bridge.contract import robot
from h2o_robot_bridge.errors import H2OError
from h2o_robot_bridge.log_throttle import LogThrottle
from h2o_robot_bridge.relay.command import DECODE_ERRORS, CommandRelay, ControllerCommands, Step
from h2o_robot_bridge.relay.config import RelayConfig, parameter_defaults
from h2o_robot_bridge.relay.names import contract_reading
from h2o_robot_bridge.signals import Signals

NODE_NAME = "command_relay"
INPUT_QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.BEST_EFFORT)
"""Commands and robot joint states in: best effort (matches reliable and best-effort
publishers; a late command is worthless)."""
OUTPUT_QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
"""Out: reliable, as the controllers subscribe (``SystemDefaultsQoS``): a best-effort
publisher would not match them."""
LOG_THROTTLE = 1.0  # s between two log lines of one kind: a bad stream must not flood the log


class CommandRelayNode(Node):
    """Thin node: messages -> :class:`CommandRelay` -> the two controllers' topics."""

    def __init__(self) -> None:
        super().__init__(NODE_NAME)
        # Typed by the core, not by rclpy: "-p timeout:=1" is 1 s, a wrong type a clear error.
        any_type = ParameterDescriptor(dynamic_typing=True)
        values = {
            k: self.declare_parameter(k, v, any_type).value
            for k, v in parameter_defaults().items()
        }
        self.config = config = RelayConfig.from_params(values)  # raises before any wiring
        self.relay = CommandRelay(config)
        self._log_throttle = LogThrottle(LOG_THROTTLE)
        self.leg_pub = self.create_publisher(Float64MultiArray, config.leg_topic, OUTPUT_QOS)
        self.wheel_pub = self.create_publisher(Float64MultiArray, config.wheel_topic, OUTPUT_QOS)
        t = config.topics
        self.create_subscription(JointState, t.joint_commands, self._on_command, INPUT_QOS)
        # Steady clock: the watchdog must not stop (or race) with a simulated clock.
        steady = Clock(clock_type=ClockType.STEADY_TIME)
        self.create_timer(1.0 / config.rate, self._on_timer, clock=steady)
        self.dropped_joint_states = 0
        self.state_pub = None
        if config.relay_joint_states:
            self.state_pub = self.create_publisher(JointState, t.joint_states, OUTPUT_QOS)
            self.create_subscription(
                JointState, config.robot_joint_states_topic, self._on_joint_state, INPUT_QOS
            )
        for warning in config.warnings():
            self.get_logger().warning(warning)
        self.get_logger().info(self._summary())

    def _summary(self) -> str:
        c, j = self.config, self.config.joints
        sensors = (
            f"; joint states {c.robot_joint_states_topic} -> {c.topics.joint_states} "
            "(contract names)"
            if c.relay_joint_states
            else ""
        )
        return (
            f"relaying {c.topics.joint_commands} -> {self.leg_pub.topic_name} "
            f"{list(j.leg_joints)}, {self.wheel_pub.topic_name} {list(j.wheel_joints)}; "
            f"stop after {c.timeout * 1e3:.0f} ms without a valid command (checked at "
            f"{c.rate:g} Hz){sensors}"
        )

    # --- callbacks ------------------------------------------------------------------------
    def _on_command(self, msg: JointState) -> None:
        self._apply(self.relay.on_command(msg, time.monotonic()))

    def _on_timer(self) -> None:
        self._apply(self.relay.on_timer(time.monotonic()))

    def _on_joint_state(self, msg: JointState) -> None:
        assert self.state_pub is not None
        try:
            reading = contract_reading(msg, self.config.joints)
        except DECODE_ERRORS as err:
            self.dropped_joint_states += 1
            self._log("joint_states", f"dropping robot joint states "
                      f"({self.dropped_joint_states} so far): {err}")  # fmt: skip
            return
        out = JointState()
        out.header = msg.header  # the robot's stamp and frame: the stack's timing relies on it
        out.name = list(robot.JOINT_NAMES)
        # Every array filled (NaN where the robot reported none), as conversions.to_msg does.
        out.position = reading.position.tolist()
        out.velocity = reading.velocity.tolist()
        out.effort = reading.effort.tolist()
        self.state_pub.publish(out)

    # --- output ---------------------------------------------------------------------------
    def _apply(self, step: Step) -> None:
        if step.commands is not None:
            self.publish(step.commands)
        if step.event == "stop":
            self._log("stop", f"{step.message} (counts {dict(self.relay.counts)})")
        elif step.event == "resume":
            self._log("resume", step.message, warning=False)
        elif step.event == "bad":
            self._log("bad", f"still stopped, {step.message} (counts {dict(self.relay.counts)})")

    def _log(self, kind: str, text: str, warning: bool = True) -> None:
        """At most one line per ``kind`` per :data:`LOG_THROTTLE` (decided before rclpy's
        logger is called: see :mod:`h2o_robot_bridge.log_throttle`)."""
        line = self._log_throttle.note(kind, time.monotonic(), text)
        if line is None:
            return
        if warning:
            self.get_logger().warning(line)
        else:
            self.get_logger().info(line)

    def publish(self, commands: ControllerCommands) -> None:
        """One message to each controller."""
        self.leg_pub.publish(Float64MultiArray(data=commands.leg.tolist()))
        self.wheel_pub.publish(Float64MultiArray(data=commands.wheel.tolist()))

    def publish_exit(self) -> None:
        """The stop, once, before the node goes away (the controllers would hold the last
        command for ever)."""
        commands = self.relay.exit_commands()
        if commands is not None:
            self.publish(commands)
            self.get_logger().info("published the stop before exit (wheels 0 N m)")

    def close_summary(self) -> str:
        """What the relay did (printed at exit)."""
        dropped = self.dropped_joint_states
        extra = f", dropped robot joint states {dropped}" if dropped else ""
        return f"{NODE_NAME}: counts {dict(self.relay.counts)}{extra}"


def main(args: list[str] | None = None) -> None:
    """Console script ``command_relay``."""
    signals = Signals()
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    try:
        node = CommandRelayNode()
    except (H2OError, InvalidTopicNameException) as err:
        rclpy.logging.get_logger(NODE_NAME).fatal(f"cannot start: {err}")
        rclpy.try_shutdown()
        sys.exit(2)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    try:
        while rclpy.ok() and signals.received is None:
            executor.spin_once(timeout_sec=0.1)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if rclpy.ok():
            node.publish_exit()
            time.sleep(0.05)  # let the stop leave before the participant goes
        print(node.close_summary(), flush=True)
        executor.shutdown(timeout_sec=1.0)
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    main()
