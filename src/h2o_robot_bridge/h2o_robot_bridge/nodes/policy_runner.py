"""``policy_runner``: run an ONNX policy (or the classical controller) at control rate, safely.

A managed (lifecycle) node:

- ``configure``: read and check the parameters, load and verify the policy (contract, task,
  rate), create the topics; nothing is published yet;
- ``activate``: arm: the policy commands, fading in (the first activation starts publishing);
- ``deactivate``: disarm: the fallback controller keeps the robot up (``fallback: none``: the
  controlled stop), still publishing;
- ``cleanup`` / ``shutdown``, SIGINT, SIGTERM: publish the exit command (legs hold their last
  targets, wheels 0 N m) and stop publishing.

With ``autostart`` (default) the node configures and activates itself at start, so it is
usable without a lifecycle manager; ``autostart:=false`` waits for the transitions
(``ros2 lifecycle set /policy_runner configure`` ...). A failed configure at autostart (bad
parameters, a missing/corrupt/mismatching policy) is one clear log line and exit code 2,
nothing published.

Subscribes ``joint_states``, ``imu/data``, ``cmd_vel``, ``h2o/estop`` (twice: reliable
transient-local, so an e-stop latched by its publisher before this node started is seen, and
volatile for plain publishers) and ``h2o/reset`` (std_msgs/Empty: a new episode, the robot
was put back: the policy restarts and fades in again, as in evaluation; latches stay);
publishes ``joint_commands`` (or, in shadow mode, only ``h2o/shadow/joint_commands``) and
``/diagnostics`` (its status named with the node's fully qualified name). Relative names move
with the node's namespace (``/r1/joint_states`` under ``/r1``). Serves ``~/release``
(std_srvs/Trigger: clear an e-stop or tilt latch) and ``~/resume_policy`` (hand back from the
fallback controller to the policy).
Every message is decoded and validated before it can replace a good one
(:mod:`h2o_robot_bridge.deploy.inputs`): a bad one is dropped, counted on ``/diagnostics``
(``dropped.<topic>.<cause>``) and logged at most once a second; ``/cmd_vel`` beyond the task's
limits is clamped (``clamped.cmd_vel``). ``/cmd_vel`` may be ``geometry_msgs/Twist`` or
``geometry_msgs/TwistStamped``: parameter ``cmd_vel_type`` (``auto`` (default): follows the
type of the topic's publishers, also of one that appears later; ``twist``; ``twist_stamped``;
see :mod:`h2o_robot_bridge.conversions.cmd_vel`); both give the same task command.
Everything that decides a command lives in :class:`h2o_robot_bridge.deploy.runner.PolicyRunner`
(levels: :mod:`h2o_robot_bridge.deploy.levels`), when to tick and how to stamp in
:class:`h2o_robot_bridge.deploy.trigger.TickTrigger`; this node only wires messages to them.
The control timer, receive times, tick times and ages are wall-clock monotonic (the watchdog
must not depend on a simulated clock).

Ticks (``trigger``): ``sensors`` (default) ticks once per sensor sample, as soon as a joint
state and an IMU message newer than the last tick's are both in; ``joint_states`` / ``imu`` on
each message of that topic; ``timer`` on a wall-clock timer at the control rate. With a message
trigger the timer is the watchdog: it ticks (at the control rate) only while no message tick
happened for longer than the input max age, i.e. when a stop is due anyway; a timer callback
that comes two periods late (this process was starved, fresh messages may be queued behind it)
passes that decision to the next callback (``starved_timer_calls`` in the diagnostics).

Command stamps: a command computed from fresh sensor readings is stamped with the header stamp
of the newest joint state / IMU sample it used (the dataset recorder then pairs it with exactly
that sample; a lockstep simulator steps when the answer to its sample is in); a command sent
because inputs are stale or missing is stamped with the node clock's now (``use_sim_time``
honoured; with ``use_sim_time`` before sim time starts, i.e. at node clock 0, nothing is
published); so is the safe action of the ``waiting`` level (start-up), which answers no sample
(a simulator holding the robot until a commander answers, ``wait_for_commander``, keeps
holding it).
"""

from __future__ import annotations

import gc
import sys
import time
from collections.abc import Callable
from typing import Any

import rclpy
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.clock import Clock, ClockType
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.publisher import Publisher
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from rclpy.service import Service
from rclpy.signals import SignalHandlerOptions
from rclpy.subscription import Subscription
from sensor_msgs.msg import Imu, JointState
from std_msgs.msg import Bool, Empty
from std_srvs.srv import Trigger

from h2o_robot_bridge.contract import action_to_command
from h2o_robot_bridge.conversions.from_msg import (
    MessageError,
    cmd_vel_to_command,
    imu_to_reading,
    joint_state_to_reading,
)
from h2o_robot_bridge.conversions.to_msg import joint_command_msg, stamp
from h2o_robot_bridge.deploy.config import DeployConfig, load_policy, parameter_defaults
from h2o_robot_bridge.deploy.diagnostics import LoopStats
from h2o_robot_bridge.deploy.runner import PolicyRunner
from h2o_robot_bridge.deploy.safety import EstopWait
from h2o_robot_bridge.deploy.trigger import TickTrigger
from h2o_robot_bridge.errors import H2OError
from h2o_robot_bridge.log_throttle import LogThrottle
from h2o_robot_bridge.nodes.cmd_vel import (
    CmdVelSubscription,
    declare_cmd_vel_type,
    read_cmd_vel_type,
)
from h2o_robot_bridge.signals import Signals

NODE_NAME = "policy_runner"
SENSOR_QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.BEST_EFFORT)
"""Sensor subscriptions: best effort (a late sample is worthless), and deep enough that a
flood of bad messages (each dropped in ~0.1 ms: its log line is throttled before rclpy's
logger is called) does not evict the good sample between two ticks: at 1 kHz of bad messages
per topic, only a runner stalled for more than ~2 control periods loses a good one (it then
ages out: the watchdog)."""
ESTOP_LATCHED_QOS = QoSProfile(
    depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
)
"""E-stop publishers should use this QoS: a late-joining runner still gets the last value."""
INPUT_LOG_PERIOD = 1.0
"""Seconds between two log lines about one kind of bad input (a flood must not flood the log)."""
DECODE_ERRORS = (MessageError, AttributeError, TypeError, ValueError)
"""What decoding a malformed message can raise (each is a dropped, counted message)."""


class PolicyRunnerNode(LifecycleNode):
    """Thin ROS wrapper around :class:`PolicyRunner` (lifecycle: see the module docstring)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(NODE_NAME, **kwargs)
        for name, default in parameter_defaults().items():
            self.declare_parameter(name, default)
        declare_cmd_vel_type(self)
        self.runner: PolicyRunner | None = None
        self.config: DeployConfig | None = None
        self.publishing = False  # from the first activation to cleanup/shutdown
        self.setup_error = ""
        self.shut_down = False
        self._estop_clock: EstopWait | None = None
        self._entities: list[Any] = []
        self._last_guard: str | None = None
        self._log_throttle = LogThrottle(INPUT_LOG_PERIOD)

    def autostart(self) -> bool:
        """The ``autostart`` parameter (read before any transition)."""
        return bool(self.get_parameter("autostart").value)

    # --- lifecycle --------------------------------------------------------------------
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Load and verify the policy, create the topics (nothing published yet)."""
        params = {name: self.get_parameter(name).value for name in parameter_defaults()}
        try:
            config = DeployConfig.from_params(params)
            self.cmd_vel_type = read_cmd_vel_type(self)
            policy = load_policy(config)
        except H2OError as err:
            self.setup_error = str(err)
            self.get_logger().error(f"cannot configure: {err}")
            return TransitionCallbackReturn.FAILURE
        self.config = config = config.with_rate(config.control_hz or policy.control_hz)
        self.runner = PolicyRunner(policy, config.runner)
        self.runner.deactivate()  # armed only by activate
        if self.runner.shaping_warning:
            self.get_logger().warning(self.runner.shaping_warning)
        self.stats = LoopStats(config.control_hz, deadline_factor=config.deadline_factor)
        safety = config.runner.safety
        self.trigger = TickTrigger(
            config.trigger, config.control_hz, safety.joint_state_max_age, safety.imu_max_age
        )
        self._create_entities(config)
        self.get_logger().info(
            f"configured {policy.name} (task {policy.task}) at {config.control_hz:g} Hz, "
            f"trigger {config.trigger}, fallback {config.runner.fallback.controller}, "
            f"{'SHADOW on ' if config.shadow else ''}{self._command_topic(config)}"
        )
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Arm: the policy commands, fading in."""
        assert self.runner is not None and self.config is not None
        if not self.publishing:  # the first activation: learn the e-stop state first
            self._estop_clock = EstopWait(time.monotonic(), self.config.estop_wait)
        self.runner.activate()
        self.publishing = True
        self.get_logger().info("active: the policy commands")
        return TransitionCallbackReturn.SUCCESS

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Disarm: the fallback controller (or the stop) commands."""
        assert self.runner is not None
        self.runner.deactivate()
        self.get_logger().info("inactive: the fallback controller commands")
        return TransitionCallbackReturn.SUCCESS

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Exit command out, topics destroyed, policy unloaded."""
        self.publish_exit_command()
        self._destroy_entities()
        self.runner = None
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Exit command out before the node goes away."""
        self.publish_exit_command()
        self.shut_down = True
        return TransitionCallbackReturn.SUCCESS

    def publish_exit_command(self) -> None:
        """The last command (legs hold their last targets, wheels 0 N m), if publishing."""
        if not (self.publishing and self.runner is not None):
            return
        msg = joint_command_msg(0.0, action_to_command(self.runner.exit_action()))
        msg.header.stamp = self.get_clock().now().to_msg()
        self.command_pub.publish(msg)
        self.publishing = False
        self.get_logger().info("published the exit command (legs hold, wheels 0 N m)")

    def _command_topic(self, config: DeployConfig) -> str:
        t = config.topics
        return t.shadow_joint_commands if config.shadow else t.joint_commands

    def _create_entities(self, config: DeployConfig) -> None:
        t = config.topics
        self.command_pub = self.create_publisher(JointState, self._command_topic(config), 10)
        self.diag_pub = self.create_publisher(DiagnosticArray, t.diagnostics, 10)
        self._entities = [
            self.command_pub,
            self.diag_pub,
            self.create_subscription(JointState, t.joint_states, self._on_joint_state, SENSOR_QOS),
            self.create_subscription(Imu, t.imu, self._on_imu, SENSOR_QOS),
            CmdVelSubscription(self, t.cmd_vel, self.cmd_vel_type, self._on_cmd_vel, 10),
            self.create_subscription(Bool, t.estop, self._on_estop, ESTOP_LATCHED_QOS),
            self.create_subscription(Bool, t.estop, self._on_estop, 10),
            self.create_subscription(Empty, t.reset, self._on_reset, 10),
            self.create_service(Trigger, "~/release", self._on_release),
            self.create_service(Trigger, "~/resume_policy", self._on_resume_policy),
        ]
        # Steady clock, not the node clock: with use_sim_time a ROS-time timer would follow
        # /clock, while the watchdog ages are wall time (a robot lives in wall time).
        steady = Clock(clock_type=ClockType.STEADY_TIME)
        period = 1.0 / config.control_hz
        self._entities.append(self.create_timer(period, self._on_timer, clock=steady))
        self._entities.append(
            self.create_timer(config.diagnostics_period, self._publish_diagnostics, clock=steady)
        )

    def _destroy_entities(self) -> None:
        for entity in self._entities:
            if isinstance(entity, Subscription):
                self.destroy_subscription(entity)
            elif isinstance(entity, Publisher):
                self.destroy_publisher(entity)
            elif isinstance(entity, Service):
                self.destroy_service(entity)
            elif isinstance(entity, CmdVelSubscription):
                entity.destroy()
            else:
                self.destroy_timer(entity)
        self._entities = []

    # --- inputs -----------------------------------------------------------------------
    def _drop(self, topic: str, cause: str, detail: str) -> None:
        if self.runner is None:  # cleaned up: a message queued before
            return
        self.runner.reject(topic, cause, detail)
        self._warn_input(f"{topic}.{cause}", f"dropped {topic} message ({cause}): {detail}")

    def _on_joint_state(self, msg: JointState) -> None:
        if self.runner is None:  # cleaned up: a message queued before
            return
        self._on_sensor(
            "joint_states", msg, joint_state_to_reading, self.runner.on_joint_state,
            self.trigger.on_joint_state,
        )  # fmt: skip

    def _on_imu(self, msg: Imu) -> None:
        if self.runner is None:  # cleaned up: a message queued before
            return
        self._on_sensor("imu", msg, imu_to_reading, self.runner.on_imu, self.trigger.on_imu)

    def _on_sensor(
        self,
        topic: str,
        msg: Any,
        decode: Callable[[Any], Any],
        store: Callable[[Any, float], str | None],
        trigger: Callable[[float, int], bool],
    ) -> None:
        """Decode, validate and store one sensor message, then tick if the trigger says so;
        a bad message is dropped (counted, logged at most once a second)."""
        now = time.monotonic()
        try:
            reading = decode(msg)
        except DECODE_ERRORS as err:
            self._drop(topic, "malformed", str(err))
            return
        fault = store(reading, now)
        if fault:
            self._warn_input(f"{topic}.invalid", f"dropped {topic} message (invalid): {fault}")
            return
        if trigger(now, _stamp_ns(msg.header.stamp)):
            self._tick(now)

    def _on_cmd_vel(self, msg: Any) -> None:
        """``Twist`` or ``TwistStamped`` (``cmd_vel_type``): the same task command."""
        if self.runner is None:  # cleaned up: a message queued before
            return
        try:
            command = cmd_vel_to_command(msg)
        except DECODE_ERRORS as err:
            self._drop("cmd_vel", "malformed", str(err))
            return
        note = self.runner.on_command(command, time.monotonic())
        if note:
            self._warn_input("cmd_vel.note", f"cmd_vel: {note}")

    def _warn_input(self, key: str, text: str) -> None:
        """Log ``text`` at most once a second per ``key`` (decided before rclpy's logger is
        called: see :mod:`h2o_robot_bridge.log_throttle`)."""
        line = self._log_throttle.note(key, time.monotonic(), text)
        if line is not None:
            self.get_logger().warning(line)

    def _on_estop(self, msg: Bool) -> None:
        if self.runner is None:  # cleaned up: a message queued before
            return
        self.runner.on_estop(bool(msg.data), time.monotonic())

    def _on_reset(self, msg: Empty) -> None:
        # A new episode (the robot was put back): start as at start-up, as evaluation does.
        if self.runner is None:  # cleaned up: a message queued before
            return
        self.runner.restart()
        self.get_logger().info("reset announced: the policy fades in again")

    def _on_release(self, request: Trigger.Request, response: Trigger.Response) -> Any:
        if self.runner is None:
            response.success, response.message = False, "not configured"
            return response
        response.success, response.message = self.runner.release(time.monotonic())
        self.get_logger().info(f"release: {response.message}")
        return response

    def _on_resume_policy(self, request: Trigger.Request, response: Trigger.Response) -> Any:
        if self.runner is None:
            response.success, response.message = False, "not configured"
            return response
        response.success, response.message = self.runner.resume_policy()
        self.get_logger().info(f"resume_policy: {response.message}")
        return response

    # --- loop -------------------------------------------------------------------------
    def _on_timer(self) -> None:
        now = time.monotonic()
        if self.trigger.timer(now):
            self._tick(now)

    def _tick(self, now: float) -> None:
        """One runner tick at ``now`` (monotonic [s], the trigger's time), published."""
        if self.runner is None:  # cleaned up: a message queued before
            return
        clock_ns = self.get_clock().now().nanoseconds
        stamp_ns = self.trigger.command_stamp(now, clock_ns)
        if stamp_ns is None:  # use_sim_time and sim time not started: nothing to stamp with
            return
        self._update_estop_wait(now)
        result = self.runner.tick(now)
        if not self.publishing:  # configured, never activated: the robot is not ours yet
            return
        if result.level == "waiting":  # not computed from the sample: it answers none
            if clock_ns <= 0:
                return
            stamp_ns = clock_ns
        msg = joint_command_msg(0.0, result.command)
        msg.header.stamp = Time(sec=stamp_ns // 10**9, nanosec=stamp_ns % 10**9)  # exact
        self.command_pub.publish(msg)
        self.stats.record(now, time.monotonic(), result.sensor_receipt)
        if result.guard != self._last_guard:  # log changes, not every tick
            self._log_level_change(result.level, result.reason)
            self._last_guard = result.guard

    def _update_estop_wait(self, now: float) -> None:
        """Until the e-stop state is known: hold while an e-stop publisher may still be on
        its way (see :class:`EstopWait`)."""
        wait, runner, config = self._estop_clock, self.runner, self.config
        if wait is None or runner is None or config is None:
            return
        if runner.safety.estop_heard or (wait.has_sensors and now > wait.deadline + 1.0):
            self._estop_clock = None  # known, or given up: no more graph queries
            return
        wait.sensors_seen(runner.has_sensors, now)
        wait.publisher_seen(self.count_publishers(config.topics.estop) > 0, now)
        runner.wait_for_estop(wait.deadline)

    def _log_level_change(self, level: str, reason: str) -> None:
        log = self.get_logger()
        if level == "policy":
            log.info("policy commanding")
        else:
            log.warning(f"{level}: {reason}")

    def _publish_diagnostics(self) -> None:
        if self.runner is not None:
            self.diag_pub.publish(self.diagnostics_msg())

    def diagnostics_msg(self) -> DiagnosticArray:
        """Loop timing, level, guard trips and input drops as one ``DiagnosticStatus``."""
        runner, config = self.runner, self.config
        assert runner is not None and config is not None
        status = DiagnosticStatus()
        # /diagnostics is shared by every robot (absolute): the fully qualified name tells the
        # runners apart ("policy_runner: stand" at the root, "r1/policy_runner: stand" in /r1).
        fqn = self.get_fully_qualified_name()
        status.name = f"{fqn.lstrip('/')}: {runner.policy.name}"
        status.hardware_id = fqn
        if runner.latched or runner.level == "stop":
            status.level = DiagnosticStatus.ERROR
        elif runner.level != "policy":
            status.level = DiagnosticStatus.WARN
        else:
            status.level = DiagnosticStatus.OK
        status.message = runner.last_reason or ("shadow" if config.shadow else "commanding")
        values = self.stats.summary(runner.safety.trips)
        values["control_hz"] = config.control_hz
        values["watchdog_ticks"] = self.trigger.watchdog_ticks
        values["starved_timer_calls"] = self.trigger.starved_timer_calls  # the process stalled
        values.update(runner.inputs.summary())
        status.values = [KeyValue(key=k, value=f"{v:.6g}") for k, v in values.items()]
        for key, text in (
            ("latched", runner.latched or ""),
            ("level", runner.level),
            ("controller", runner.controller),
            ("active", str(runner.active).lower()),
        ):
            status.values.append(KeyValue(key=key, value=text))
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


def make_executor(kind: str, context: Any = None) -> Any:
    """``events`` (rclpy EventsExecutor: measured best here) or ``single``."""
    if kind == "events":
        from rclpy.experimental import EventsExecutor  # noqa: PLC0415

        return EventsExecutor(context=context)
    return SingleThreadedExecutor(context=context)


def main(args: list[str] | None = None) -> None:
    """Console script ``policy_runner``."""
    signals = Signals()
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    node = PolicyRunnerNode()
    if node.autostart() and not _autostart(node):
        rclpy.logging.get_logger(NODE_NAME).fatal(f"cannot start: {node.setup_error}")
        node.destroy_node()
        rclpy.try_shutdown()
        sys.exit(2)
    kind = node.config.executor if node.config is not None else "events"
    executor = make_executor(kind)
    executor.add_node(node)
    freeze_startup_objects()
    try:
        while rclpy.ok() and signals.received is None and not node.shut_down:
            executor.spin_once(timeout_sec=0.1)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if signals.received is not None and rclpy.ok():
            node.publish_exit_command()
            time.sleep(0.05)  # let the exit command leave before the participant goes
        executor.shutdown(timeout_sec=1.0)
        node.destroy_node()
        rclpy.try_shutdown()


def _autostart(node: PolicyRunnerNode) -> bool:
    """configure + activate; False when configure failed."""
    if node.trigger_configure() != TransitionCallbackReturn.SUCCESS:
        return False
    return node.trigger_activate() == TransitionCallbackReturn.SUCCESS


if __name__ == "__main__":
    main()
