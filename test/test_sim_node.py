"""The ``wheel_legged_sim`` node as a real separate process over DDS (private ROS domain).

The test process runs a small rclpy probe (its own Context and executor) that records what the
node publishes, sends ``/joint_commands`` and calls the node's services, like any other node.
The node is started with ``h2o_robot_bridge.testing.processes`` and the shipped YAML, as the launch
file would start it.
"""

from __future__ import annotations

import itertools
import math
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rclpy
from nav_msgs.msg import Odometry
from rcl_interfaces.srv import GetParameters, SetParameters
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter, parameter_value_to_python
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import Imu, JointState
from std_msgs.msg import Empty
from std_srvs.srv import Trigger

from h2o_robot_bridge.config_files import config_file
from h2o_robot_bridge.contract import (
    JOINT_NAMES,
    LEG_JOINT_IDS,
    WHEEL_JOINT_IDS,
    action_to_command,
    build_observation,
    pitch_from_projected_gravity,
    projected_gravity_from_quaternion,
)
from h2o_robot_bridge.controllers.classical import ClassicalController
from h2o_robot_bridge.conversions.from_msg import (
    imu_to_reading,
    joint_state_to_reading,
    stamp_to_sec,
)
from h2o_robot_bridge.conversions.to_msg import joint_command_msg
from h2o_robot_bridge.testing.processes import NodeProcess, node_process, ros_env

NODE = "wheel_legged_sim"
PARAMS_FILE = config_file("h2o_sim", "sim/wheel_legged_sim.yaml")
ODOM = "/ground_truth/odom"  # ground truth (the sim knows the exact world pose), not an estimate
TOPICS = {"/joint_states": JointState, "/imu/data": Imu, ODOM: Odometry, "/clock": Clock}
CONTROL_HZ = 100.0
STARTUP_TIMEOUT = 30.0  # s: imports + PyBullet + discovery on a loaded 2-core machine
_probes = itertools.count()


class Probe:
    """An rclpy node in the test process: records topics, sends commands, calls services."""

    def __init__(self, domain_id: int, topics: tuple[str, ...] = tuple(TOPICS)) -> None:
        self.context = rclpy.Context()
        with pytest.MonkeyPatch.context() as mp:
            for key, value in ros_env(domain_id, {}).items():
                mp.setenv(key, value)
            rclpy.init(context=self.context, domain_id=domain_id)
            self.node = rclpy.create_node(f"sim_probe_{next(_probes)}", context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.got: dict[str, list[tuple[float, Any]]] = {t: [] for t in topics}
        for topic in topics:
            self.node.create_subscription(TOPICS[topic], topic, self._recorder(topic), 100)
        self.commands = self.node.create_publisher(JointState, "/joint_commands", 10)
        self.resets: list[float] = []  # receive times of /h2o/reset (episode boundaries)
        self.node.create_subscription(
            Empty, "/h2o/reset", lambda _: self.resets.append(time.monotonic()), 10
        )
        self.reset_client = self.node.create_client(Trigger, f"/{NODE}/reset")
        self.set_client = self.node.create_client(SetParameters, f"/{NODE}/set_parameters")
        self.get_client = self.node.create_client(GetParameters, f"/{NODE}/get_parameters")
        self.controller: ClassicalController | None = None
        self.task_command = np.zeros(2)
        self.prev_action = np.zeros(6)
        if "/imu/data" in topics:
            self.node.create_subscription(Imu, "/imu/data", self._control, 100)

    def _control(self, imu: Imu) -> None:
        """Closed loop like a policy runner: on each IMU sample (published after the joint
        state of the same tick), act on the observation and publish the command."""
        if self.controller is None or not self.got["/joint_states"]:
            return
        state = self.latest("/joint_states")
        if stamp_to_sec(state.header.stamp) != stamp_to_sec(imu.header.stamp):
            return  # not the same tick (a backlog under load): keep the held command
        joints = joint_state_to_reading(state)
        reading = imu_to_reading(imu)
        obs = build_observation(
            reading.quat_xyzw,
            reading.ang_vel,
            joints.position,
            joints.velocity,
            self.task_command,
            self.prev_action,
        )
        self.prev_action = np.asarray(self.controller.act(obs), dtype=np.float64)
        self.send(self.prev_action)

    def _recorder(self, topic: str) -> Callable[[Any], None]:
        def record(msg: Any) -> None:
            self.got[topic].append((time.monotonic(), msg))

        return record

    def spin_for(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.executor.spin_once(timeout_sec=min(0.01, max(end - time.monotonic(), 0.0)))

    def spin_until(self, done: Callable[[], bool], timeout: float) -> bool:
        end = time.monotonic() + timeout
        while not done() and time.monotonic() < end:
            self.executor.spin_once(timeout_sec=0.02)
        return done()

    def latest(self, topic: str) -> Any:
        return self.got[topic][-1][1]

    def since(self, topic: str, t0: float) -> list[Any]:
        return [m for t, m in self.got[topic] if t >= t0]

    def call(self, client: Any, request: Any, timeout: float = 10.0) -> Any:
        assert client.wait_for_service(timeout_sec=timeout), f"{client.srv_name} not available"
        future = client.call_async(request)
        self.executor.spin_until_future_complete(future, timeout_sec=timeout)
        assert future.done(), f"{client.srv_name} did not answer in {timeout} s"
        return future.result()

    def stamp_of(self, topic: str) -> float:
        """Stamp of the newest message on ``topic`` [s] (-inf if none)."""
        return stamp_to_sec(self.latest(topic).header.stamp) if self.got[topic] else -math.inf

    def wait_stamp(self, topic: str, t: float, timeout: float = 10.0) -> Any:
        """Spin until a ``topic`` message stamped at or after ``t`` [s] arrived; return it."""
        ok = self.spin_until(lambda: self.stamp_of(topic) >= t - 1e-9, timeout)
        assert ok, f"no {topic} stamped >= {t} within {timeout} s"
        return self.latest(topic)

    def reset(self) -> tuple[Trigger.Response, float]:
        """Call ~/reset; returns the response and the reset's sim time (from its message)."""
        response = self.call(self.reset_client, Trigger.Request())
        found = re.search(r"sim time ([0-9.]+) s", response.message)
        assert response.success and found, response.message
        t_reset = float(found.group(1))
        self.wait_stamp(ODOM, t_reset)
        return response, t_reset

    def set_param(self, name: str, value: Any) -> Any:
        request = SetParameters.Request(
            parameters=[Parameter(name, value=value).to_parameter_msg()]
        )
        return self.call(self.set_client, request).results[0]

    def get_param(self, name: str) -> Any:
        response = self.call(self.get_client, GetParameters.Request(names=[name]))
        return parameter_value_to_python(response.values[0])

    def send(self, action: np.ndarray) -> None:
        self.commands.publish(joint_command_msg(0.0, action_to_command(action)))

    def stream(self, action: np.ndarray, seconds: float, hz: float = CONTROL_HZ) -> None:
        """Publish ``action`` at ``hz`` for ``seconds`` while spinning."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.send(action)
            self.spin_for(1.0 / hz)

    def stream_until(
        self, msg: JointState, done: Callable[[], bool], timeout: float = 5.0
    ) -> bool:
        """Publish ``msg`` at the control rate until ``done()`` (or ``timeout`` wall s)."""
        end = time.monotonic() + timeout
        while not done() and time.monotonic() < end:
            self.commands.publish(msg)
            self.spin_for(1.0 / CONTROL_HZ)
        return done()

    def close(self) -> None:
        self.executor.shutdown(timeout_sec=1.0)
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)


def start_node(tmp_path: Path, domain_id: int, **params: Any) -> NodeProcess:
    return node_process(NODE, tmp_path, domain_id, params_files=[PARAMS_FILE], params=params)


def wait_first(probe: Probe, proc: NodeProcess, topic: str = "/joint_states") -> None:
    ok = probe.spin_until(lambda: bool(probe.got[topic]) or not proc.alive(), STARTUP_TIMEOUT)
    assert ok and proc.alive(), f"no {topic} from the node:\n{proc.log()[-3000:]}"


def wheel_action(torque_fraction: float) -> np.ndarray:
    action = np.zeros(6)
    action[list(WHEEL_JOINT_IDS)] = torque_fraction
    return action


# --- nodes of their own (first: the shared node below would compete for the CPU) -----------


def test_as_fast_as_possible_runs_faster_than_real_time_and_obeys(
    tmp_path: Path, domain_id: int
) -> None:
    probe = Probe(domain_id, topics=("/joint_states", "/clock"))
    # command_timeout counts sim seconds, which race past this wall-clock commander: off.
    proc = start_node(tmp_path, domain_id, real_time_factor=0.0, command_timeout=0.0).start()
    try:
        wait_first(probe, proc, "/clock")
        t0 = time.monotonic()
        probe.spin_for(2.0)
        clocks = [stamp_to_sec(m.clock) for m in probe.since("/clock", t0)]
        achieved = (clocks[-1] - clocks[0]) / (time.monotonic() - t0)
        print(f"\nwheel_legged_sim as-fast real-time factor: {achieved:.1f}")
        assert achieved > 2.0, f"as-fast mode ran at only {achieved:.2f}x real time"
        # Wall-clock stamps without use_sim_time.
        assert abs(stamp_to_sec(probe.latest("/joint_states").header.stamp) - time.time()) < 2.0
        # Commands still get through: the left hip tracks a new target.
        action = np.zeros(6)
        action[LEG_JOINT_IDS[0]] = 0.6
        target = action_to_command(action).position[LEG_JOINT_IDS[0]]

        def hip() -> float:
            reading = joint_state_to_reading(probe.latest("/joint_states"))
            return float(reading.position[LEG_JOINT_IDS[0]])

        # Within 0.1 rad: the PD law has a steady-state error while the leg carries weight.
        start = hip()
        command = joint_command_msg(0.0, action_to_command(action))
        assert probe.stream_until(command, lambda: abs(hip() - target) < 0.1), (hip(), target)
        assert abs(start - target) > 0.2, "the hip was at the target before the command"
    finally:
        code = proc.stop(timeout=10.0)
        probe.close()
    assert code == 0, proc.log()[-3000:]
    assert "achieved real-time factor" in proc.log()


BAD = {
    "unknown_profile": ({"dynamics": "no_such_profile"}, "unknown dynamics profile"),
    "negative_rate": ({"control_hz": -100.0}, "control_hz must be > 0"),
    "not_a_multiple": ({"physics_hz": 1050.0}, "integer multiple"),
}


def test_bad_parameters_exit_non_zero_before_publishing(tmp_path: Path, domain_id: int) -> None:
    probe = Probe(domain_id)
    procs = {
        name: node_process(
            NODE, tmp_path, domain_id, [PARAMS_FILE], params, name=name
        ).start()
        for name, (params, _) in BAD.items()
    }  # fmt: skip
    try:
        probe.spin_until(lambda: not any(p.alive() for p in procs.values()), STARTUP_TIMEOUT)
        probe.spin_for(0.5)
        for name, proc in procs.items():
            code = proc.wait(timeout=5.0)
            assert code == 2, f"{name}: exit code {code}\n{proc.log()}"
            assert BAD[name][1] in proc.log(), proc.log()
        assert all(not msgs for msgs in probe.got.values()), "a bad node published"
    finally:
        for proc in procs.values():
            proc.stop()
        probe.close()


# --- one real-time node shared by the tests below -----------------------------------------


@pytest.fixture(scope="module")
def sim(
    tmp_path_factory: pytest.TempPathFactory, module_domain_id: int
) -> Iterator[tuple[Probe, NodeProcess]]:
    domain_id = module_domain_id
    log_dir = tmp_path_factory.mktemp("sim_node")
    probe = Probe(domain_id)
    proc = start_node(log_dir, domain_id, use_sim_time=True).start()
    try:
        wait_first(probe, proc)
        yield probe, proc
    finally:
        code = proc.stop(timeout=10.0)
        probe.close()
    assert code == 0, f"node exit code {code}:\n{proc.log()[-3000:]}"


def test_publishes_every_topic_at_the_control_rate(sim: tuple[Probe, NodeProcess]) -> None:
    probe, proc = sim
    probe.spin_for(0.3)
    t0 = time.monotonic()
    probe.spin_for(2.0)
    wall = time.monotonic() - t0
    rates = {topic: len(probe.since(topic, t0)) / wall for topic in TOPICS}
    for topic, rate in rates.items():
        # Wide margins for a loaded 2-core machine (the node and this probe compete for the
        # CPU); the pacer keeps a fixed grid, so there are no bursts above the rate.
        assert 0.5 * CONTROL_HZ <= rate <= 1.15 * CONTROL_HZ, (topic, rates)
    clocks = [stamp_to_sec(m.clock) for m in probe.since("/clock", t0)]
    achieved = (clocks[-1] - clocks[0]) / wall
    assert 0.5 <= achieved <= 1.15, f"real-time factor {achieved:.2f} (asked 1.0)"
    # use_sim_time: stamps are the sim clock, one control period apart.
    states = probe.since("/joint_states", t0)
    stamps = np.array([stamp_to_sec(m.header.stamp) for m in states])
    steps = np.diff(stamps) * CONTROL_HZ
    assert np.all(steps > 0.5) and np.mean(np.isclose(steps, 1.0, atol=1e-3)) > 0.95
    all_clocks = np.round([stamp_to_sec(m.clock) for _, m in probe.got["/clock"]], 6)
    assert np.mean(np.isin(np.round(stamps, 6), all_clocks)) > 0.9  # the same sim time
    msg = states[-1]
    assert tuple(msg.name) == JOINT_NAMES
    for values in (msg.position, msg.velocity, msg.effort):
        assert len(values) == len(JOINT_NAMES) and np.all(np.isfinite(values))
    imu = probe.latest("/imu/data")
    q = imu.orientation
    assert math.isclose(q.x**2 + q.y**2 + q.z**2 + q.w**2, 1.0, rel_tol=1e-6)
    odom = probe.latest(ODOM)
    assert odom.header.frame_id == "odom" and odom.child_frame_id == "base_link"


def _at_rest(probe: Probe) -> bool:
    recent = probe.got[ODOM][-30:]
    return len(recent) == 30 and all(
        math.hypot(m.twist.twist.linear.x, m.twist.twist.linear.z) < 0.02
        and abs(m.twist.twist.angular.y) < 0.05
        for _, m in recent
    )


def _specific_force(probe: Probe, n: int = 30) -> float:
    """Median |IMU specific force| [m/s^2] over the last ``n`` samples received."""
    acc = [m.linear_acceleration for _, m in probe.got["/imu/data"][-n:]]
    return float(np.median([math.sqrt(a.x**2 + a.y**2 + a.z**2) for a in acc]))


def test_runtime_gravity_change_is_accepted_and_felt(sim: tuple[Probe, NodeProcess]) -> None:
    probe, proc = sim
    # With no command the robot falls and comes to rest; then the accelerometer reads g.
    assert probe.spin_until(lambda: _at_rest(probe), 10.0), "robot never came to rest"
    g1 = _specific_force(probe)
    assert 8.5 < g1 < 11.0, g1
    result = probe.set_param("gravity_scale", 2.0)
    try:
        assert result.successful, result.reason
        assert probe.get_param("gravity_scale") == 2.0
        # Eventually (this probe may lag behind the node on a busy machine) the robot, still
        # lying on the ground, feels twice the gravity.
        felt = probe.spin_until(lambda: _specific_force(probe) > 1.8 * g1, 10.0)
        g2 = _specific_force(probe)
    finally:
        assert probe.set_param("gravity_scale", 1.0).successful
    assert felt and 1.8 < g2 / g1 < 2.2, (g1, g2)
    assert "parameter gravity_scale set to 2.0 at sim time" in proc.log()


def test_parameter_changes_that_physics_forbids_are_refused(
    sim: tuple[Probe, NodeProcess],
) -> None:
    probe, _ = sim
    fixed = probe.set_param("control_hz", 50.0)
    assert not fixed.successful and "restart" in fixed.reason
    negative = probe.set_param("gravity_scale", -1.0)
    assert not negative.successful and "gravity_scale" in negative.reason
    assert probe.get_param("gravity_scale") == 1.0
    assert probe.get_param("control_hz") == 100.0
    assert probe.set_param("command_timeout", 0.5).successful


def _pitch(probe: Probe) -> float:
    gravity = projected_gravity_from_quaternion(imu_to_reading(probe.latest("/imu/data"))[0])
    return float(pitch_from_projected_gravity(gravity))


def test_moves_when_commanded_and_reset_returns_it(sim: tuple[Probe, NodeProcess]) -> None:
    """A balancing controller in this process closes the loop over DDS (one tick of delay,
    as for a real policy runner); its wheel torques drive the robot along /ground_truth/odom.

    The sim runs at half real time meanwhile (a run-time ``real_time_factor`` change): the
    loop then keeps up even when this machine is busy."""
    probe, proc = sim
    assert probe.set_param("real_time_factor", 0.5).successful
    displacement = {}
    try:
        for speed in (0.5, -0.5):
            _, t_reset = probe.reset()
            x0 = probe.latest(ODOM).pose.pose.position.x
            assert abs(x0) < 0.05, f"reset left the robot at x={x0}"
            probe.controller = ClassicalController(task="move_straight")
            probe.task_command = np.array([speed, 0.0])
            try:
                probe.wait_stamp(ODOM, t_reset + 2.0, timeout=20.0)  # 2 s of sim time
            finally:
                probe.controller = None
            displacement[speed] = probe.latest(ODOM).pose.pose.position.x - x0
            assert abs(_pitch(probe)) < 0.5, f"fell while driving at {speed} m/s"
    finally:
        assert probe.set_param("real_time_factor", 1.0).successful
    # 2 s at 0.5 m/s minus the time to accelerate (about 0.7 m without DDS in the loop).
    assert displacement[0.5] > 0.3 and displacement[-0.5] < -0.3, displacement
    announced = len(probe.resets)
    probe.reset()
    assert abs(probe.latest(ODOM).pose.pose.position.x) < 0.05
    assert probe.spin_until(lambda: len(probe.resets) == announced + 1, 5.0), "no /h2o/reset"
    assert "parameter real_time_factor set to 0.5" in proc.log()


def test_bad_commands_hold_the_safe_action(sim: tuple[Probe, NodeProcess]) -> None:
    probe, proc = sim
    wheels = list(WHEEL_JOINT_IDS)

    def wheel_effort() -> np.ndarray:
        return joint_state_to_reading(probe.latest("/joint_states")).effort[wheels]

    good = joint_command_msg(0.0, action_to_command(wheel_action(0.25)))  # 1 N m per wheel
    assert probe.stream_until(good, lambda: np.allclose(wheel_effort(), 1.0)), wheel_effort()
    bad = joint_command_msg(0.0, action_to_command(wheel_action(0.25)))
    bad.effort[wheels[0]] = float("nan")
    assert probe.stream_until(bad, lambda: np.all(wheel_effort() == 0.0)), wheel_effort()
    assert probe.stream_until(good, lambda: np.allclose(wheel_effort(), 1.0)), wheel_effort()
    missing = joint_command_msg(0.0, action_to_command(wheel_action(0.25)))
    missing.name = missing.name[:-1]
    assert probe.stream_until(missing, lambda: np.all(wheel_effort() == 0.0)), wheel_effort()
    assert probe.spin_until(lambda: "malformed joint command" in proc.log(), 5.0), proc.log()
    log = proc.log()
    assert "non-finite or missing joint command for ['left_wheel']" in log
    assert "holding the safe action" in log
