"""Two robots in one ROS domain: sim + policy_runner under ``/r1`` and under ``/r2``.

Each stack is started as the launch files start it, as console scripts with the shipped
parameter files and ``--ros-args -r __ns:=/rN -r /clock:=clock``
(:func:`h2o_robot_bridge.testing.processes.node_process` with a ``namespace``). The sims run in
lockstep with sim time (``use_sim_time`` on both nodes), so each runner must follow its own
sim's clock and answer its own sim's samples for its robot to move at all. Checked through the
graph API and the messages, with a probe node at the root:

- each runner's ``joint_commands`` reach only its own sim (``/rN/joint_commands``: one
  publisher, ``/rN/policy_runner``, one subscriber, ``/rN/wheel_legged_sim``: r2's sim sees no
  publisher of r1's and r1's none of r2's);
- each world has its own clock: ``/rN/clock`` published by its sim only and followed by its
  own runner (a node of this test on ``/clock`` would be missing there);
- each robot stands for several seconds of its own sim time (IMU tilt below the fall tilt,
  samples seen all along, from the first one on);
- ``/diagnostics`` stays shared: both runners report there, told apart by their fully
  qualified names.

Nothing is asserted about the root's topics: other stacks may share the domain there (the
domain id is only likely to be private); the namespaces keep this test's robots apart from
them too.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Imu

from h2o_robot_bridge.contract import TOPICS, get_task
from h2o_robot_bridge.contract.topics import resolve_topic
from h2o_robot_bridge.conversions.from_msg import imu_to_reading, stamp_to_sec
from h2o_robot_bridge.testing.nodes.graph_node import GraphNode
from h2o_robot_bridge.testing.processes import (
    NodeProcess,
    policy_runner_process,
    sim_node_process,
)

ROBOTS = ("/r1", "/r2")
SIM_SECONDS = 6.0  # of each robot's own sim time, standing
TIMEOUT = 45.0  # wall seconds for start-up (4 processes on 2 shared cores) and the run
# The sensor watchdog ages are wall time; a lockstep sim does not step while it waits for its
# runner, so a stall of a loaded machine (four processes on two shared cores: 150 ms measured)
# is no stale robot here. The watchdog is not what this test is about. No e-stop in this graph.
RUNNER = {"use_sim_time": True, "estop_wait": 0.0, "joint_state_max_age": 1.0}
RUNNER["imu_max_age"] = 1.0
SIM = {"dynamics": "real", "lockstep": True, "use_sim_time": True}


class Probe(GraphNode):
    """A node at the root of the test's domain: graph queries and the robots' messages."""

    def __init__(self, domain_id: int) -> None:
        super().__init__(domain_id, "namespace_probe")
        # Per robot: sim time [s] (the IMU stamps: sim time) -> base tilt [rad], of the samples
        # the probe got (not all: the lockstep sims run faster than the probe reads).
        self.tilts: dict[str, dict[float, float]] = {ns: {} for ns in ROBOTS}
        self.statuses: dict[str, Any] = {}  # /diagnostics status name -> newest status
        for ns in ROBOTS:
            self.node.create_subscription(
                Imu, resolve_topic(TOPICS.imu, ns), self._on_imu(ns), qos_profile_sensor_data
            )
        self.node.create_subscription(DiagnosticArray, TOPICS.diagnostics, self._on_diag, 10)

    def _on_imu(self, ns: str) -> Callable[[Imu], None]:
        def record(msg: Imu) -> None:
            quat = imu_to_reading(msg).quat_xyzw
            up_z = 1.0 - 2.0 * (quat[0] ** 2 + quat[1] ** 2)  # base z axis . world z
            self.tilts[ns][stamp_to_sec(msg.header.stamp)] = math.acos(max(-1.0, min(1.0, up_z)))

        return record

    def sim_time(self, ns: str) -> float:
        """Newest sim time seen of robot ``ns`` [s]."""
        return max(self.tilts[ns], default=-math.inf)

    def _on_diag(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            self.statuses[status.name] = status

    def endpoints(self, topic: str, kind: str) -> set[str]:
        """Fully qualified names of the nodes publishing (``kind="pub"``) or subscribing
        ``topic``, the probe itself left out."""
        get = self.node.get_publishers_info_by_topic
        if kind == "sub":
            get = self.node.get_subscriptions_info_by_topic
        names = {f"{i.node_namespace.rstrip('/')}/{i.node_name}" for i in get(topic)}
        return names - {"/namespace_probe"}


def _commands_wired(probe: Probe) -> bool:
    """Each robot's command topic: exactly its own runner -> its own sim."""
    return all(
        probe.endpoints(resolve_topic(TOPICS.joint_commands, ns), "pub") == {f"{ns}/policy_runner"}
        and probe.endpoints(resolve_topic(TOPICS.joint_commands, ns), "sub")
        == {f"{ns}/wheel_legged_sim"}
        for ns in ROBOTS
    )


def test_two_namespaced_robots_share_a_domain_without_cross_talk(
    tmp_path: Path, domain_id: int
) -> None:
    processes: list[NodeProcess] = []
    for seed, ns in enumerate(ROBOTS, start=3):  # two different robots (initial states)
        processes.append(sim_node_process(tmp_path, domain_id, namespace=ns, seed=seed, **SIM))
        processes.append(policy_runner_process("classical", tmp_path, domain_id, ns, **RUNNER))
    probe = Probe(domain_id)
    try:
        started = processes[::2]  # the sims first: in lockstep each holds its first sample
        alive = lambda: all(p.alive() for p in started)  # noqa: E731
        logs = lambda: "\n".join(f"--- {p.name}\n{p.log()[-1500:]}" for p in processes)  # noqa: E731
        for proc in started:
            proc.start()
        # ... until a runner answers it: the probe sees each robot from its first sample on.
        seen = lambda: all(probe.tilts[ns] for ns in ROBOTS)  # noqa: E731
        assert probe.spin_until(seen, TIMEOUT, alive), logs()
        started = processes
        for proc in processes[1::2]:
            proc.start()

        # The graph: every command topic wired one to one, inside its namespace.
        assert probe.spin_until(lambda: _commands_wired(probe), TIMEOUT, alive), logs()
        r1_sim, r2_sim = (resolve_topic(TOPICS.joint_commands, ns) for ns in ROBOTS)
        assert "/r1/policy_runner" not in probe.endpoints(r2_sim, "pub")
        assert "/r2/policy_runner" not in probe.endpoints(r1_sim, "pub")

        # Each world's own clock, followed by its own runner (lockstep: they must, to move).
        for ns in ROBOTS:
            assert probe.endpoints(f"{ns}/clock", "pub") == {f"{ns}/wheel_legged_sim"}
            readers = probe.endpoints(f"{ns}/clock", "sub")
            assert f"{ns}/policy_runner" in readers and readers <= {
                f"{ns}/policy_runner",
                f"{ns}/wheel_legged_sim",  # its own use_sim_time clock
            }, readers

        # Both robots stand for SIM_SECONDS of their own sim time, and report on /diagnostics.
        names = {f"{ns.strip('/')}/policy_runner: classical" for ns in ROBOTS}

        def done() -> bool:
            ran = all(probe.sim_time(ns) >= SIM_SECONDS for ns in ROBOTS)
            return ran and names <= set(probe.statuses)

        times = lambda: {ns: probe.sim_time(ns) for ns in ROBOTS}  # noqa: E731
        assert probe.spin_until(done, TIMEOUT, alive), (times(), set(probe.statuses), logs())
        fall = get_task("stand").fall_tilt
        for ns in ROBOTS:
            tilts = probe.tilts[ns]
            # Samples from the first on, to SIM_SECONDS and beyond, in most half-seconds (the
            # probe misses some while the lockstep sims outrun it), every one upright: a robot
            # that fell stays down, so the newest sample would show it too.
            seen = {math.floor(t / 0.5) for t in tilts if t < SIM_SECONDS}
            assert 0 in seen and len(seen) >= 0.5 * SIM_SECONDS / 0.5, (ns, sorted(seen))
            worst = max(tilts, key=tilts.__getitem__)
            assert tilts[worst] < fall, (ns, f"tilt {tilts[worst]:.2f} rad at {worst} s", logs())
            status = probe.statuses[f"{ns.strip('/')}/policy_runner: classical"]
            assert status.hardware_id == f"{ns}/policy_runner"
            assert status.message == "commanding", (ns, status.message)
    finally:
        probe.close()
        for proc in processes:
            proc.stop()
