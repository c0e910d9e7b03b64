"""Real DDS: two separate rclpy processes exchange sensor_msgs/JointState on a private domain."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from h2o_robot_bridge.testing.processes import ros_env

PEER = str(Path(__file__).with_name("dds_peer.py"))


def test_joint_state_crosses_processes(domain_id: int) -> None:
    env = ros_env(domain_id)
    listener = subprocess.Popen(
        [sys.executable, PEER, "listen", "200", "30"], env=env, stdout=subprocess.PIPE, text=True
    )
    talker = subprocess.Popen([sys.executable, PEER, "talk", "200"], env=env)
    out, _ = listener.communicate(timeout=60)
    talker.wait(timeout=30)
    assert listener.returncode == 0, out
    received, first, last, consecutive, positions_ok = out.split()[1:]
    assert int(received) >= 200 and positions_ok == "True"
    # Reliable QoS: once the first message arrived, none is lost or reordered. Messages
    # published before the listener's side of the match completed may be missed (a few at most:
    # the talker waits for its own side first).
    assert consecutive == "True" and float(last) - float(first) + 1 == int(received)
    assert float(first) < 100, out
