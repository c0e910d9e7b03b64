"""``policy_runner`` and ``dataset_recorder`` take ``geometry_msgs/TwistStamped`` on ``cmd_vel``
as well as ``Twist``.

Three processes over DDS: the runner, the synthetic robot (sensors at rest, records every
command) and this test, which publishes the task command. The policy's wheel torque depends on
the commanded forward speed only (zero at a zero command, about 3.9 N m at 0.4 m/s), so the
recorded commands tell whether the runner heard the command. The command publisher starts only
after the runner commands: with ``cmd_vel_type: auto`` the runner subscribed ``Twist`` at start
and must follow a ``TwistStamped`` publisher that appears later. The command goes to a topic of
its own (``cmd_vel_topic``): the fake robot holds an idle ``Twist`` publisher on the default
one, and with publishers of both types ``auto`` keeps the type it has.

The recorder: a scripted robot (``robot_peer.py``) publishes ticks while this test publishes a
stamped command; the dataset's observations must carry that command.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from geometry_msgs.msg import Twist, TwistStamped

from h2o_robot_bridge.config_files import config_file
from h2o_robot_bridge.contract import OBS_DIM, OBS_SLICES, robot
from h2o_robot_bridge.conversions.to_msg import twist_msg, twist_stamped_msg
from h2o_robot_bridge.dataset import load_dataset
from h2o_robot_bridge.testing.fake_robot import FakeRobotReport, fake_robot_process
from h2o_robot_bridge.testing.nodes.graph_node import GraphNode
from h2o_robot_bridge.testing.processes import node_process, policy_runner_process, ros_env
from h2o_robot_bridge.testing.synthetic import write_mlp_policy

WHEELS = list(robot.WHEEL_JOINT_IDS)
FORWARD = 0.4  # commanded speed [m/s], inside the stand task's limit (0.5): not clamped
DURATION = 6.0  # fake robot timeline [s] from the first command
QUIET = 1.0  # the command publisher is created this long after the runner commands [s]
TOPIC = "/teleop/cmd_vel"
PEER = str(Path(__file__).with_name("robot_peer.py"))


def command_policy(path: Path) -> Path:
    """One tanh layer: wheel actions = tanh(10 * commanded forward speed), all else 0."""
    w = np.zeros((OBS_DIM, robot.NUM_JOINTS), dtype=np.float32)
    w[OBS_SLICES["command"].start, WHEELS] = 10.0
    return write_mlp_policy(path, [(w, np.zeros(robot.NUM_JOINTS, dtype=np.float32))])


class CommandPublisher(GraphNode):
    """This test's node: publishes one ``cmd_vel`` message type at 20 Hz while spinning."""

    def __init__(self, domain_id: int) -> None:
        super().__init__(domain_id, "cmd_vel_publisher")
        self.kind: type = Twist
        self.pub: Any = None

    def advertise(self, kind: type, topic: str = TOPIC) -> None:
        """Create the publisher now (a publisher that appears after the runner started)."""
        self.kind = kind
        self.pub = self.node.create_publisher(kind, topic, 10)

    def message(self) -> Any:
        if self.kind is TwistStamped:
            return twist_stamped_msg(time.time(), FORWARD, 0.0, "base_link")
        return twist_msg(FORWARD, 0.0)

    def publish_while(self, alive: Any, timeout: float) -> int:
        """Publish until ``alive()`` is false or ``timeout`` s passed; returns the count."""
        sent, end = 0, time.monotonic() + timeout
        while alive() and time.monotonic() < end:
            self.pub.publish(self.message())
            sent += 1
            self.executor.spin_once(timeout_sec=0.05)
        return sent


@pytest.mark.parametrize(
    ("mode", "kind"),
    [("auto", TwistStamped), ("twist_stamped", TwistStamped), ("auto", Twist)],
    ids=["auto-stamped-appears-later", "fixed-stamped", "auto-twist"],
)
def test_runner_takes_the_command_of_either_type(
    tmp_path: Path, domain_id: int, mode: str, kind: type
) -> None:
    out = tmp_path / "report.json"
    policy = command_policy(tmp_path / "command.onnx")
    params = {"soft_start": 0.2, "diagnostics_period": 0.1, "cmd_vel_topic": TOPIC}
    runner = policy_runner_process(policy, tmp_path, domain_id, cmd_vel_type=mode, **params)
    publisher = CommandPublisher(domain_id)
    try:
        with runner, fake_robot_process(out, tmp_path, domain_id, duration=DURATION) as robot_:
            runner.wait_for_output("policy commanding", timeout=60.0)
            time.sleep(QUIET)  # the runner commands with no cmd_vel publisher on the graph
            publisher.advertise(kind)
            sent = publisher.publish_while(robot_.alive, timeout=DURATION + 30.0)
            assert robot_.wait(timeout=30.0) == 0, robot_.log()[-2000:]
            assert runner.alive(), runner.log()[-2000:]
    finally:
        publisher.close()
    report = FakeRobotReport.load(out)
    wheels = report.commands[:, 1 + robot.NUM_JOINTS :][:, WHEELS]
    times = report.commands[:, 0]
    log = runner.log()
    assert sent > 20, log[-2000:]
    # The policy in command with no command yet: zero torque (the torque below is the command's).
    policy_from = min(
        t for t, level, _ in report.diag_history if t is not None and level == "policy"
    )
    before = wheels[(times > policy_from + 0.15) & (times < policy_from + QUIET - 0.2)]
    assert len(before) > 20 and np.all(np.abs(before) < 0.1), before[-5:]
    # The last second: every command carries the commanded speed (a runner that ignored the
    # message type would keep the zero command: wheel torque 0).
    heard = wheels[times > DURATION - 1.0]
    first = times[np.argmax(wheels.min(axis=1) > 3.0)]
    assert len(heard) > 50 and np.all(heard > 3.0), (policy_from, first, log[-2000:])
    if mode == "auto" and kind is TwistStamped:
        assert "now geometry_msgs/msg/TwistStamped" in log, log[-2000:]


def test_recorder_records_a_stamped_command(tmp_path: Path, domain_id: int) -> None:
    # Private topic names (the peer's $H2O_TEST_NS remapping), as the recorder tests do.
    ns = f"/t{os.getpid()}_{domain_id}_{time.monotonic_ns() % 10**6}"
    remaps = {t: ns + t for t in ("/joint_states", "/imu/data", "/joint_commands", "/cmd_vel")}
    out = tmp_path / "stamped.h5"
    params = {"output": str(out)}
    recorder = node_process(
        "dataset_recorder",
        tmp_path,
        domain_id,
        params_files=[config_file("h2o_robot_bridge", "bridge/recorder.yaml")],
        params=params,
        remaps=remaps,
    )
    publisher = CommandPublisher(domain_id)
    try:
        with recorder:
            recorder.wait_for_output("recording", timeout=60.0)
            publisher.advertise(TwistStamped, remaps["/cmd_vel"])
            # Until the recorder follows the publisher's type (within a poll or two).
            publisher.publish_while(lambda: "now geometry_msgs" not in recorder.log(), 10.0)
            peer = subprocess.Popen(
                [sys.executable, PEER, "publish", "250", "5"],
                env={**ros_env(domain_id), "H2O_TEST_NS": ns},
                stdout=subprocess.PIPE,
                text=True,
            )
            publisher.publish_while(lambda: peer.poll() is None, 60.0)
            assert peer.communicate(timeout=10)[0].strip() == "DONE"
            assert recorder.stop(timeout=15) == 0, recorder.log()[-2000:]
    finally:
        publisher.close()
    data = load_dataset(out, task="stand")
    commands = data.observations[:, OBS_SLICES["command"]]
    assert data.size > 200, recorder.log()[-2000:]
    # Every row carries the stamped command (a recorder deaf to TwistStamped records zeros).
    np.testing.assert_allclose(commands, np.tile([FORWARD, 0.0], (data.size, 1)), atol=1e-6)
