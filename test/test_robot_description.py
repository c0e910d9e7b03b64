"""``robot_description`` from the ``wheel_legged_sim`` node over DDS: latched for late joiners.

The sim (a separate process, started as its launch file would) publishes the URDF once at
start. The subscriber here joins only after the sim has published, with the transient-local
QoS robot_state_publisher's consumers use, and must still get it: a volatile publisher would
leave it with nothing.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from std_msgs.msg import String

from h2o_robot_bridge.contract import JOINT_NAMES
from h2o_robot_bridge.testing.nodes.graph_node import GraphNode
from h2o_robot_bridge.testing.processes import NodeProcess, sim_node_process
from h2o_sim.description import DESCRIPTION_TOPIC, INSTALLED_URDF, robot_description, urdf_problems

STARTED = "stamps:"  # the sim's start-up line, logged after it published the description
STARTUP_TIMEOUT = 60.0  # s: imports + PyBullet on a loaded 2-core machine
LATCHED = QoSProfile(
    depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
)
REPO = Path(__file__).resolve().parents[1]


class LateListener(GraphNode):
    """A fresh participant (own rclpy Context) subscribing ``robot_description`` latched."""

    def __init__(self, domain_id: int) -> None:
        super().__init__(domain_id, "late_description_listener")
        self.got: list[str] = []
        self.node.create_subscription(
            String, DESCRIPTION_TOPIC, lambda m: self.got.append(m.data), LATCHED
        )

    def spin(self, seconds: float, until: int = 1) -> list[str]:
        """Spin ``seconds`` at most, returning early once ``until`` messages arrived."""
        self.spin_until(lambda: len(self.got) >= until, seconds)
        return self.got

    def publishers(self) -> int:
        return self.node.count_publishers(DESCRIPTION_TOPIC)


def started_sim(tmp_path: Path, domain_id: int, **params: Any) -> NodeProcess:
    proc = sim_node_process(tmp_path, domain_id, **params).start()
    # Logged after the one publication: a subscriber created from now on is late, and only a
    # latched (transient local) message can still reach it.
    proc.wait_for_output(STARTED, timeout=STARTUP_TIMEOUT)
    return proc


def test_a_late_subscriber_gets_the_urdf_once(tmp_path: Path, domain_id: int) -> None:
    with started_sim(tmp_path, domain_id) as proc, LateListener(domain_id) as listener:
        got = listener.spin(20.0)
        listener.spin(1.0, until=2)  # published once: no second copy on the way
        assert proc.alive(), proc.log()[-2000:]
    assert len(got) == 1, (got, proc.log()[-2000:])
    text = got[0]
    assert text == robot_description()
    assert urdf_problems(text) == []
    root = ET.fromstring(text)
    movable = {j.get("name") for j in root.iter("joint") if j.get("type") != "fixed"}
    assert set(JOINT_NAMES) <= movable
    assert root.find("link").get("name") == "base_link"


def test_description_can_be_left_to_robot_state_publisher(tmp_path: Path, domain_id: int) -> None:
    with (
        started_sim(tmp_path, domain_id, publish_robot_description=False) as proc,
        LateListener(domain_id) as listener,
    ):
        got = listener.spin(3.0)
        assert listener.publishers() == 0 and proc.alive(), proc.log()[-2000:]
    assert got == []


def test_a_bad_description_parameter_exits_2_before_publishing(
    tmp_path: Path, domain_id: int
) -> None:
    with sim_node_process(tmp_path, domain_id, publish_robot_description="maybe") as proc:
        code = proc.wait(timeout=STARTUP_TIMEOUT)
    assert code == 2, proc.log()[-2000:]
    assert "publish_robot_description must be true or false" in proc.log()


def test_colcon_installs_the_urdf() -> None:
    installed = REPO / "install" / "h2o_sim" / "share" / "h2o_sim" / INSTALLED_URDF
    if not (REPO / "install" / "h2o_sim").is_dir():
        pytest.skip("no colcon install (run colcon build --symlink-install first)")
    assert installed.is_file(), "setup.py does not install the URDF under share/h2o_sim/urdf"
    assert installed.read_text() == robot_description()
