"""``command_relay`` as a real separate process over DDS (private ROS domain).

The test process plays both sides with a small rclpy probe (its own Context): the runner (it
publishes ``/joint_commands``), the two forward-command controllers (it subscribes their
``<controller>/commands``, reliable as the controllers' ``SystemDefaultsQoS``) and the robot's
``joint_state_broadcaster`` (robot-named ``/joint_states``). The relay is started with the
shipped ``config/bridge/command_relay.yaml`` plus a robot whose joint names all differ from the
contract's and whose controllers list them in another order.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rclpy
import yaml
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray

from h2o_robot_bridge.config_files import config_file
from h2o_robot_bridge.contract import JOINT_NAMES, JointCommand, robot
from h2o_robot_bridge.conversions.to_msg import joint_command_msg
from h2o_robot_bridge.testing.processes import NodeProcess, node_process, ros_env

ROBOT = {  # contract name -> robot name
    "left_hip": "hip_l_joint",
    "left_knee": "knee_l_joint",
    "left_wheel": "wheel_l_joint",
    "right_hip": "hip_r_joint",
    "right_knee": "knee_r_joint",
    "right_wheel": "wheel_r_joint",
}
LEG_ORDER = ["right_knee", "left_hip", "right_hip", "left_knee"]  # the leg controller's order
WHEEL_ORDER = ["right_wheel", "left_wheel"]
SHUFFLED = {
    "leg_joints": [ROBOT[c] for c in LEG_ORDER],
    "wheel_joints": [ROBOT[c] for c in WHEEL_ORDER],
    "joint_map": [f"{r}:{c}" for c, r in ROBOT.items()],
}
LEG_TOPIC, WHEEL_TOPIC = "/leg_position_controller/commands", "/wheel_effort_controller/commands"
LEGS, WHEELS = list(robot.LEG_JOINT_IDS), list(robot.WHEEL_JOINT_IDS)
RATE = 50.0
TIMEOUT = 0.2
MARGIN = 1.0 / RATE + 0.15
"""Stop latency allowed beyond the timeout [s]: one watchdog period (the check's phase) plus
delivery and scheduling of two Python processes on a loaded 2-core machine."""
STARTUP_TIMEOUT = 30.0  # s: imports + discovery on a loaded machine
_probes = itertools.count()


def command(k: int) -> JointCommand:
    """Command number ``k`` (< 100): every joint a different value, all depending on ``k``."""
    position = robot.DEFAULT_POSITIONS + 0.01 * np.arange(1, 7) + 1e-4 * k
    effort = 0.1 * np.arange(1, 7) + 1e-3 * k
    position[WHEELS], effort[LEGS] = np.nan, np.nan
    return JointCommand(position, effort)


def index_of(name: str) -> int:
    return JOINT_NAMES.index(name)


def expected(k: int) -> tuple[list[float], list[float]]:
    """What the two controllers must get for command ``k``, in their own joint orders."""
    c = command(k)
    return (
        [c.position[index_of(n)] for n in LEG_ORDER],
        [c.effort[index_of(n)] for n in WHEEL_ORDER],
    )


class Probe:
    """The runner, the controllers and the joint-state broadcaster, in the test process."""

    def __init__(self, domain_id: int) -> None:
        self.context = rclpy.Context()
        with pytest.MonkeyPatch.context() as mp:
            for key, value in ros_env(domain_id, {}).items():
                mp.setenv(key, value)
            rclpy.init(context=self.context, domain_id=domain_id)
            self.node = rclpy.create_node(f"relay_probe_{next(_probes)}", context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.commands = self.node.create_publisher(JointState, "/joint_commands", 10)
        self.robot_states = self.node.create_publisher(JointState, "/joint_states", 10)
        self.got: dict[str, list[tuple[float, list[float]]]] = {LEG_TOPIC: [], WHEEL_TOPIC: []}
        # Reliable, as the controllers subscribe (SystemDefaultsQoS: a best-effort relay would
        # not match), but deeper than the system default so that the probe misses nothing.
        controller_qos = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
        self.subs = [
            self.node.create_subscription(
                Float64MultiArray, topic, self._recorder(topic), controller_qos
            )
            for topic in self.got
        ]
        self.states: list[JointState] = []
        best_effort = QoSProfile(depth=10, reliability=ReliabilityPolicy.BEST_EFFORT)
        self.node.create_subscription(  # as the runner subscribes
            JointState, "/h2o/joint_states", self.states.append, best_effort
        )

    def _recorder(self, topic: str) -> Callable[[Float64MultiArray], None]:
        def record(msg: Float64MultiArray) -> None:
            self.got[topic].append((time.monotonic(), list(msg.data)))

        return record

    def spin_until(self, done: Callable[[], bool], timeout: float) -> bool:
        end = time.monotonic() + timeout
        while not done() and time.monotonic() < end:
            self.executor.spin_once(timeout_sec=0.01)
        return done()

    def spin_for(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.executor.spin_once(timeout_sec=max(0.0, min(0.005, end - time.monotonic())))

    def wait_for_relay(self, relay: NodeProcess) -> None:
        """Graph conditions, no sleeps: the relay subscribes our commands and both controller
        topics have a publisher matched with our subscriptions."""

        def ready() -> bool:
            return (
                not relay.alive()
                or self.commands.get_subscription_count() > 0
                and all(s.get_publisher_count() > 0 for s in self.subs)
            )

        ok = self.spin_until(ready, STARTUP_TIMEOUT)
        assert ok and relay.alive(), f"relay not on the graph:\n{relay.log()[-3000:]}"

    def send(self, k: int) -> float:
        """Publish command ``k``; returns when [monotonic s]."""
        self.commands.publish(joint_command_msg(0.0, command(k)))
        return time.monotonic()

    def stream(self, ks: range, hz: float = 100.0) -> float:
        """Publish commands ``ks`` at ``hz`` while spinning; returns when the last went."""
        sent = 0.0
        for k in ks:
            sent = self.send(k)
            self.spin_for(1.0 / hz)
        return sent

    def since(self, topic: str, t0: float) -> list[tuple[float, list[float]]]:
        return [(t, data) for t, data in self.got[topic] if t >= t0]

    def first_stop(self, t0: float) -> float | None:
        """Receive time of the first wheel message after ``t0`` that is the stop (0 N m; every
        command sent here has non-zero wheel efforts)."""
        stops = [t for t, data in self.since(WHEEL_TOPIC, t0) if data == [0.0, 0.0]]
        return stops[0] if stops else None

    def close(self) -> None:
        self.executor.shutdown(timeout_sec=1.0)
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)


@pytest.fixture
def probe(domain_id: int):
    p = Probe(domain_id)
    yield p
    p.close()


def start_relay(tmp_path: Path, domain_id: int, **params: Any) -> NodeProcess:
    """The relay with the shipped YAML, then ``params`` in a second file (string arrays with
    ``:`` do not survive ``-p``)."""
    extra = tmp_path / "relay_params.yaml"
    extra.write_text(yaml.safe_dump({"/**": {"ros__parameters": params}}))
    shipped = config_file("h2o_robot_bridge", "bridge/command_relay.yaml")
    return node_process("command_relay", tmp_path, domain_id, params_files=[shipped, extra])


def assert_all_finite(probe: Probe) -> None:
    for topic, size in ((LEG_TOPIC, 4), (WHEEL_TOPIC, 2)):
        for _, data in probe.got[topic]:
            assert len(data) == size and np.isfinite(data).all(), (topic, data)


def test_relay_reorders_for_the_controllers_and_stops_on_timeout(
    tmp_path: Path, domain_id: int, probe: Probe
) -> None:
    params = {
        **SHUFFLED,
        "timeout": TIMEOUT,
        "rate": RATE,
        "relay_joint_states": True,
        "joint_states_topic": "/h2o/joint_states",
    }
    with start_relay(tmp_path, domain_id, **params) as relay:
        probe.wait_for_relay(relay)

        # Sensor side: robot names, robot order, extra joints -> contract names and order.
        names = ["arm_joint", *reversed(list(ROBOT.values())), "caster_joint"]
        state = JointState(name=names, position=[float(i) for i in range(len(names))])
        state.velocity, state.effort = [], [10.0 * i for i in range(len(names))]
        state.header.stamp.sec, state.header.stamp.nanosec = 1234, 567_891_234
        ok = probe.spin_until(
            lambda: probe.robot_states.publish(state) or bool(probe.states), STARTUP_TIMEOUT
        )
        assert ok, relay.log()[-3000:]
        out = probe.states[-1]
        assert list(out.name) == list(JOINT_NAMES)
        want = [float(names.index(ROBOT[c])) for c in JOINT_NAMES]
        assert list(out.position) == want and list(out.effort) == [10.0 * v for v in want]
        assert np.isnan(out.velocity).all()  # not reported by the robot
        assert (out.header.stamp.sec, out.header.stamp.nanosec) == (1234, 567_891_234)

        # Commands: each controller gets its joints' values in its own order.
        t0 = time.monotonic()
        last_sent = probe.stream(range(60))
        ok = probe.spin_until(
            lambda: any(d == expected(59)[1] for _, d in probe.got[WHEEL_TOPIC]), 5.0
        )
        assert ok, relay.log()[-3000:]
        legs, wheels = probe.since(LEG_TOPIC, t0), probe.since(WHEEL_TOPIC, t0)
        assert len(legs) >= 30 and len(wheels) >= 30, (len(legs), len(wheels))  # best effort
        for _, leg in legs:
            # command k from its left hip target (contract 0: 2nd in the leg controller's order)
            k = round((leg[1] - robot.DEFAULT_POSITIONS[0] - 0.01) / 1e-4)
            np.testing.assert_allclose(leg, expected(k)[0], atol=1e-12)
        for _, wheel in wheels:
            k = round((wheel[1] - 0.3) / 1e-3)  # left wheel: contract 2, 2nd in wheel order
            np.testing.assert_allclose(wheel, expected(k)[1], atol=1e-12)
        assert probe.first_stop(t0) is None or probe.first_stop(t0) > last_sent

        # The runner goes silent: the stop (wheels 0 N m) within timeout + margin, then the
        # stop on every watchdog check.
        assert probe.spin_until(lambda: probe.first_stop(last_sent) is not None, 5.0)
        first = probe.first_stop(last_sent)
        assert first is not None
        assert TIMEOUT <= first - last_sent <= TIMEOUT + MARGIN, first - last_sent
        probe.spin_for(1.0)
        later = probe.since(WHEEL_TOPIC, first)
        assert all(d == [0.0, 0.0] for _, d in later)
        assert len(later) >= 0.25 * RATE * 1.0, len(later)  # loaded machine: a quarter at least
        stop_legs = np.array([d for _, d in probe.since(LEG_TOPIC, first)])
        # The legs move from the last command towards the stop crouch (hips up, knees down),
        # never faster than the stop's pace (0.5 rad/s).
        left_hip, right_knee = LEG_ORDER.index("left_hip"), LEG_ORDER.index("right_knee")
        assert np.all(np.diff(stop_legs[:, left_hip]) >= -1e-12)
        assert np.all(np.diff(stop_legs[:, right_knee]) <= 1e-12)
        assert stop_legs[-1, left_hip] > stop_legs[0, left_hip]  # it does move
        times = np.array([t for t, _ in probe.since(LEG_TOPIC, first)])
        moved = np.abs(stop_legs - stop_legs[0]).max(axis=1)
        assert np.all(moved <= 0.5 * (times - times[0]) + 3 * 0.5 / RATE), moved
        assert_all_finite(probe)
    assert relay.proc is not None and relay.proc.returncode == 0, relay.log()[-3000:]
    assert "'timeout': 1" in relay.log()


def test_nan_command_gives_the_stop_and_exit_sends_it(
    tmp_path: Path, domain_id: int, probe: Probe
) -> None:
    """A NaN command is answered with the stop at once (long timeout: it is not the watchdog);
    valid commands resume forwarding; SIGINT sends the stop before the relay exits."""
    with start_relay(tmp_path, domain_id, **SHUFFLED, timeout=3.0, rate=RATE) as relay:
        probe.wait_for_relay(relay)
        probe.stream(range(20))
        assert probe.spin_until(lambda: len(probe.got[WHEEL_TOPIC]) > 0, 5.0), relay.log()
        nan = command(20)
        nan.position[index_of("left_knee")] = np.nan
        probe.commands.publish(joint_command_msg(0.0, nan))
        sent = time.monotonic()
        assert probe.spin_until(lambda: probe.first_stop(sent) is not None, 2.0), relay.log()
        first = probe.first_stop(sent)
        assert first is not None and first - sent < 1.0  # the answer, not the 3 s watchdog

        resumed = probe.stream(range(30, 40))
        ok = probe.spin_until(
            lambda: any(d == expected(39)[1] for _, d in probe.since(WHEEL_TOPIC, resumed)), 5.0
        )
        assert ok, relay.log()[-3000:]
        before_exit = time.monotonic()
        relay.stop()
        assert probe.spin_until(lambda: probe.first_stop(before_exit) is not None, 5.0)
        assert_all_finite(probe)
    assert relay.proc is not None and relay.proc.returncode == 0, relay.log()[-3000:]
    log = relay.log()
    assert "non finite command: joints ['left_knee']" in log and "'non_finite': 1" in log
    assert "published the stop before exit" in log
