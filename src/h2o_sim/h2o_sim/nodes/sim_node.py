"""ROS 2 node ``wheel_legged_sim``: the simulated robot on the robot's own topics.

Publishes, once per control tick: ``/clock`` (rosgraph_msgs/Clock, sim time), then
``joint_states`` (contract order, position/velocity/effort all filled), ``imu/data`` and
``ground_truth/odom`` (ground truth, not an estimate: the exact world position, base-frame
twist). Subscribes ``joint_commands`` (legs: position targets, wheels: efforts, NaN elsewhere;
best-effort QoS, so it matches reliable and best-effort publishers). Service ``~/reset``
(std_srvs/Trigger) resets the robot. Names as in ``h2o_robot_bridge.contract.topics``: relative
ones move with the node's namespace; in a namespace, remap ``/clock:=clock`` (the launch file
does) so the sim time of this world is ``<namespace>/clock``.

Robot description: once at start, the URDF of the simulated body (:mod:`h2o_sim.description`)
on ``robot_description`` (std_msgs/String, reliable, transient local, depth 1: the topic and QoS
``robot_state_publisher`` uses, so RViz or a late ``robot_state_publisher``-style consumer gets
it whenever it starts). Parameters ``robot_description_topic`` (default ``robot_description``,
relative: it follows the node's namespace) and ``publish_robot_description`` (default true; set
false when a ``robot_state_publisher`` fed by ``h2o-urdf`` already publishes the same topic).

Stamps: sim time when the node runs with ``use_sim_time:=true`` (the stamps then equal the
``/clock`` it publishes), wall time otherwise. The sim clock never goes back, also across resets.

Pacing: ``real_time_factor`` r > 0 runs one tick every ``1 / (r * control_hz)`` wall seconds
(a steady clock, independent of ``/clock``); r = 0 free-runs as fast as the CPU allows. In both
modes incoming commands, service calls and parameter changes are handled between ticks, so a
commander sees every tick and its newest command applies from the next tick on (a subscriber
that wants one command per tick in as-fast mode must follow ``/clock``; the sim does not wait).

Lockstep (``lockstep:=true``, needs ``use_sim_time:=true``; ``real_time_factor`` is then
ignored): after publishing the sample of tick k the sim does not step until a valid
``/joint_commands`` message stamped at or after that sample's stamp is in, then steps at once
with it, so a DDS deployment runs as fast as the loop allows and is bit-reproducible. The
commander must stamp each command with the sample it answers (``policy_runner`` does) and its
other messages in the sim's clock (``policy_runner`` with ``use_sim_time:=true``: its safe
actions on stale inputs then carry sim time, and none go out before the first step, so they
cannot release tick 0). After ``lockstep_timeout`` wall seconds without an answer it steps with
the held command and counts a lockstep miss (logged, and in the periodic report). Before the
very first answer it waits without a timeout and republishes the current sample (same stamps)
every 0.1 s; only the first answer per sample is applied (see ``h2o_sim.sim_runner``).

Start (``wait_for_commander:=true``, real time with wall-clock stamps only): the robot is held
at its first sample, not stepped, until a commander answers a sample (a valid
``/joint_commands`` message stamped exactly with that sample's stamp, as ``policy_runner``
stamps a command computed from fresh readings; its safe actions while it waits for sensors do
not count); meanwhile the unchanged state is republished every 0.1 s with a new stamp. Then
pacing starts. Without it the physics starts at once: a commander whose subscriptions DDS
discovery matched late (3 s was measured on a loaded 2-core machine) finds a robot that fell
on the safe action while it could not see it. Default false: a sim without a commander (tests,
recorders) steps from the start.

Parameters: see ``h2o_sim.node_config`` and ``config/sim/wheel_legged_sim.yaml``. Every knob of
the dynamics profile is a parameter too (``ros2 param set /wheel_legged_sim gravity_scale 2.0``);
``real_time_factor`` and ``command_timeout`` may change at run time; the rest is refused with a
reason. Bad parameters: an error log and exit code 2 before anything is published.
"""

from __future__ import annotations

import gc
import sys
import time
from typing import Any

import rclpy
from nav_msgs.msg import Odometry
from rcl_interfaces.msg import ParameterDescriptor, SetParametersResult
from rclpy.executors import ExternalShutdownException
from rclpy.experimental import EventsExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.publisher import Publisher
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import Imu, JointState
from std_msgs.msg import Empty, String
from std_srvs.srv import Trigger

from h2o_robot_bridge.conversions.to_msg import imu_msg, joint_state_msg, odometry_msg, stamp
from h2o_robot_bridge.errors import H2OError
from h2o_robot_bridge.log_throttle import LogThrottle
from h2o_sim.description import DESCRIPTION_TOPIC, robot_description
from h2o_sim.node_config import (
    NODE_PARAMETERS,
    PARAMETER_NAMES,
    SimNodeConfig,
    describe,
    make_config,
    profile_from_parameter,
    profile_knobs,
    runtime_changes_error,
    runtime_number,
)
from h2o_sim.pacing import LockstepGate, Pacer, RealTimeFactorMeter, StartGate
from h2o_sim.robot_model import BASE_LINK
from h2o_sim.sim_runner import SimRunner, SimTick

NODE_NAME = "wheel_legged_sim"
REPORT_PERIOD = 10.0
"""Wall seconds between progress logs (sim time, achieved real-time factor, overruns)."""
WARN_THROTTLE = 1.0
"""Wall seconds between repeats of the same warning about refused commands."""
DESCRIPTION_QOS = QoSProfile(
    depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
)
"""robot_state_publisher's QoS for ``robot_description``: the one message stays available to
subscribers that start later (volatile would lose it for every late joiner)."""
DESCRIPTION_PARAMETERS: dict[str, str | bool] = {
    "robot_description_topic": DESCRIPTION_TOPIC,
    "publish_robot_description": True,
}
"""Node-only parameters of the robot description (read once at start)."""


class WheelLeggedSimNode(Node):
    """Parameters -> :class:`SimNodeConfig` -> :class:`SimRunner`; messages in and out."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(NODE_NAME, **kwargs)
        self.config, self._knobs = self._read_config()
        self.runner = SimRunner(self.config)
        self.pacer = Pacer(self.config.timing.control_dt, self.config.real_time_factor)
        self.meter = RealTimeFactorMeter()
        self.gate = LockstepGate(self.config.lockstep_timeout)
        self.start_gate = self._read_start_gate()
        self._last_refusal: str | None = None
        self._log_throttle = LogThrottle(WARN_THROTTLE)
        self._sample_ns = 0  # header stamp of the last published sample [ns]
        topics = self.config.topics
        self._clock_pub = self.create_publisher(Clock, topics.clock, 10)
        self._joint_pub = self.create_publisher(JointState, topics.joint_states, 10)
        self._imu_pub = self.create_publisher(Imu, topics.imu, 10)
        self._odom_pub = self.create_publisher(Odometry, topics.ground_truth_odom, 10)
        # Recorders split episodes here: a reset is invisible in the state topics otherwise.
        self._reset_pub = self.create_publisher(Empty, topics.reset, 10)
        self.create_subscription(
            JointState, topics.joint_commands, self._on_command, qos_profile_sensor_data
        )
        self.create_service(Trigger, "~/reset", self._on_reset)
        self._description_pub = self._publish_description()
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self._publish(self.runner.last)
        self.gate.published(time.monotonic())
        self.meter.start(self.runner.clock, time.monotonic())
        self._next_report = time.monotonic() + REPORT_PERIOD
        self._started = time.monotonic()
        self.get_logger().info(describe(self.config))
        if self.start_gate is not None:
            self.get_logger().info("holding the robot until a commander answers a sample")

    def _publish_description(self) -> Publisher | None:
        """Publish the URDF once (latched); None when ``publish_robot_description`` is false.

        The publisher is kept for the node's life: a transient-local message lives as long as
        its publisher, so late subscribers get it from this one.
        """
        # dynamic typing, then our own checks: a wrong type is one clear error (exit code 2),
        # not rclpy's exception.
        anything = ParameterDescriptor(dynamic_typing=True)
        values: dict[str, Any] = {
            k: self.declare_parameter(k, v, anything).value
            for k, v in DESCRIPTION_PARAMETERS.items()
        }
        enabled, topic = values["publish_robot_description"], values["robot_description_topic"]
        if not isinstance(enabled, bool):
            raise H2OError(f"publish_robot_description must be true or false, got {enabled!r}")
        if not isinstance(topic, str) or not topic.strip():
            raise H2OError(f"robot_description_topic must be a topic name, got {topic!r}")
        if not enabled:
            return None
        if self.config.base_frame != BASE_LINK:
            # robot_state_publisher's tree starts at the URDF's root: /odom's child frame must
            # be that link, or the TF tree splits in two.
            self.get_logger().warning(
                f"base_frame {self.config.base_frame!r} is not the URDF root {BASE_LINK!r}: "
                "the odom -> base TF and the robot_state_publisher tree will not connect"
            )
        pub = self.create_publisher(String, topic.strip(), DESCRIPTION_QOS)
        pub.publish(String(data=robot_description(self.runner.sim.geometry)))
        return pub

    def _read_start_gate(self) -> StartGate | None:
        """A closed :class:`StartGate` with ``wait_for_commander`` (validated in the config)."""
        return StartGate() if self.config.wait_for_commander else None

    def _read_config(self) -> tuple[SimNodeConfig, dict[str, Any]]:
        """Declare node parameters, then one per knob of the chosen profile; validate all."""
        # dynamic typing: `-p control_hz:=100` (an int) must not be a type error; make_config
        # checks types and ranges with clear messages instead.
        anything = ParameterDescriptor(dynamic_typing=True)
        for spec in NODE_PARAMETERS:
            described = ParameterDescriptor(dynamic_typing=True, description=spec.description)
            self.declare_parameter(spec.name, spec.default, described)
        knobs = profile_knobs(profile_from_parameter(self.get_parameter("dynamics").value))
        for name, default in knobs.items():
            self.declare_parameter(name, default, anything)
        names = (*PARAMETER_NAMES, *knobs, "use_sim_time")
        return make_config({n: self.get_parameter(n).value for n in names}), knobs

    def run(self, executor: Any) -> None:
        """Tick at the configured pace until ROS shuts down (always spinning with timeouts)."""
        while rclpy.ok(context=self.context):
            if not self._due(executor):
                continue
            try:
                self._tick()
            except Exception:
                if rclpy.ok(context=self.context):
                    raise
                break  # Ctrl-C shut the context down between the check and this publish

    def _due(self, executor: Any) -> bool:
        """Spin until the next tick is due (True: step now; False: ask again)."""
        if self.config.lockstep:
            decision = self.gate.poll(time.monotonic(), self.runner.answered)
            if decision.republish:
                self._publish(self.runner.last)
            if decision.miss:
                self.get_logger().warning(
                    f"lockstep miss: no command answered the sample of sim time "
                    f"{self.runner.clock:.3f} s within {self.config.lockstep_timeout:g} s; "
                    f"stepping with the held command ({self.gate.misses} misses)",
                    throttle_duration_sec=WARN_THROTTLE,
                )
            if not decision.step:
                executor.spin_once(timeout_sec=min(decision.wait, 0.1))
            return decision.step  # stepping at once: a later command waits for the next tick
        if self.start_gate is not None and not self.start_gate.is_open:
            republish, wait = self.start_gate.poll(time.monotonic())
            if republish:
                self._publish(self.runner.last)
            executor.spin_once(timeout_sec=min(wait, 0.1))
            return False
        wait = self.pacer.wait_time(time.monotonic())
        if wait > 0.0:
            executor.spin_once(timeout_sec=min(wait, 0.1))
            return False
        executor.spin_once(timeout_sec=0.0)
        return True

    def _tick(self) -> None:
        tick = self.runner.step()
        self._publish(tick)
        now = time.monotonic()
        self.gate.published(now)
        self.pacer.tick_done(now)
        if tick.note:
            self.get_logger().warning(tick.note)
        if now >= self._next_report:
            self._next_report = now + REPORT_PERIOD
            self.get_logger().info(self.report())

    def report(self) -> str:
        """Sim time, achieved real-time factor and pacing overruns, for the log."""
        rtf = self.meter.value(self.runner.clock, time.monotonic())
        text = (
            f"sim time {self.runner.clock:.2f} s, achieved real-time factor {rtf:.2f}, "
            f"overruns {self.pacer.overruns}"
        )
        if self.config.lockstep:
            text += (
                f", lockstep misses {self.gate.misses}, ignored commands "
                f"{self.runner.ignored_commands}"
            )
        return text

    def _publish(self, tick: SimTick) -> None:
        r, cfg = tick.readings, self.config
        t = tick.stamp if cfg.use_sim_time else time.time()
        self._clock_pub.publish(Clock(clock=stamp(tick.stamp)))
        joints = joint_state_msg(t, r.joint_pos, r.joint_vel, r.joint_effort)
        self._sample_ns = _stamp_ns(joints.header.stamp)
        if self.start_gate is not None:
            self.start_gate.published(time.monotonic(), self._sample_ns)
        self._joint_pub.publish(joints)
        self._imu_pub.publish(imu_msg(t, r.quat_xyzw, r.ang_vel, r.lin_acc, cfg.base_frame))
        self._odom_pub.publish(
            odometry_msg(
                t, r.base_pos, r.quat_xyzw, r.base_lin_vel, r.ang_vel, cfg.odom_frame,
                cfg.base_frame,
            )
        )  # fmt: skip

    def _on_command(self, msg: JointState) -> None:
        refused = self.runner.on_command(msg)
        if refused is None:
            if self.start_gate is not None and self.start_gate.on_command(
                _stamp_ns(msg.header.stamp)
            ):
                self.meter.start(self.runner.clock, time.monotonic())
                self.get_logger().info(
                    f"a commander answered after {time.monotonic() - self._started:.2f} s "
                    f"({self.start_gate.republished} republications): starting"
                )
            return
        if refused != self._last_refusal:  # a new kind of problem: say it at once
            self._last_refusal = refused
            self._log_throttle.due("refused", time.monotonic())  # the repeats count from here
            self.get_logger().warning(refused)
            return
        # Decided before rclpy's logger is called (~0.2 ms a call): a flood of bad commands
        # must not slow the simulator (see h2o_robot_bridge.log_throttle).
        line = self._log_throttle.note("refused", time.monotonic(), refused)
        if line is not None:
            self.get_logger().warning(line)

    def _on_reset(self, request: Trigger.Request, response: Trigger.Response) -> Any:
        tick = self.runner.reset()
        self._reset_pub.publish(Empty())
        self._publish(tick)
        self.gate.published(time.monotonic())
        response.success = True
        response.message = f"robot reset at sim time {tick.stamp:.3f} s"
        self.get_logger().info(response.message)
        return response

    def _on_set_parameters(self, params: list[Parameter]) -> SetParametersResult:
        changes = {p.name: p.value for p in params}
        reason = runtime_changes_error(changes, self.runner.sim.profile)
        if reason is not None:
            return SetParametersResult(successful=False, reason=reason)
        try:
            for name, value in changes.items():
                self._apply_parameter(name, value)
        except H2OError as err:  # checked above; a simulator-specific refusal still lands here
            return SetParametersResult(successful=False, reason=str(err))
        return SetParametersResult(successful=True)

    def _apply_parameter(self, name: str, value: Any) -> None:
        if name == "real_time_factor":
            self.pacer.set_real_time_factor(runtime_number(name, value), time.monotonic())
            self.meter.start(self.runner.clock, time.monotonic())  # report the new pace
        elif name == "command_timeout":
            self.runner.command_timeout = runtime_number(name, value)
        else:
            self.runner.set_param(name, value)
        self.get_logger().info(
            f"parameter {name} set to {value} at sim time {self.runner.clock:.3f} s"
        )

    def close(self) -> None:
        """Log the achieved pace and release the simulator."""
        # After Ctrl-C the context is already shut down: log without the /rosout publisher.
        ok = rclpy.ok(context=self.context)
        logger = self.get_logger() if ok else rclpy.logging.get_logger(f"{NODE_NAME}.exit")
        logger.info(self.report())
        self.runner.close()


def _stamp_ns(t: Any) -> int:
    """``builtin_interfaces/Time`` -> integer nanoseconds (exact)."""
    return int(t.sec) * 10**9 + int(t.nanosec)


def main(args: list[str] | None = None) -> int:
    """Console script ``wheel_legged_sim``; exit code 2 on bad parameters."""
    rclpy.init(args=args)
    node: WheelLeggedSimNode | None = None
    code = 0
    try:
        node = WheelLeggedSimNode()
        executor = EventsExecutor(context=node.context)
        executor.add_node(node)
        # Exempt start-up objects (imports, PyBullet) from garbage collection: a full
        # collection over them stalls the loop for 10-20 ms (late samples ~1 s after start).
        gc.collect()
        gc.freeze()
        node.run(executor)
    except H2OError as err:
        rclpy.logging.get_logger(NODE_NAME).fatal(f"{type(err).__name__}: {err}")
        code = 2
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.close()
            node.destroy_node()
        rclpy.try_shutdown()
    return code


if __name__ == "__main__":
    sys.exit(main())
