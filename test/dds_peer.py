"""A minimal rclpy peer for the DDS smoke test: ``talk`` publishes JointState, ``listen`` counts.

Usage: python dds_peer.py talk N   |   python dds_peer.py listen N TIMEOUT_S
The talker publishes 2N messages once its publisher matched the listener (the listener's own
side of the match can complete a moment later, so the first few may be missed: reliable QoS
promises no gap after the first delivered one, not delivery before matching). The listener
prints ``RECEIVED k first_seq last_seq consecutive positions_ok`` and exits 0 when it got N in
a row.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import rclpy
from rclpy.duration import Duration
from rclpy.node import Node
from sensor_msgs.msg import JointState

from h2o_robot_bridge.contract import JOINT_NAMES
from h2o_robot_bridge.conversions.from_msg import joint_state_to_reading


def talk(n: int) -> None:
    """Publish ``2 n`` JointState messages at 200 Hz (after waiting for a subscriber), then wait
    until the subscriber acknowledged them all (reliable QoS)."""
    rclpy.init()
    node = Node("dds_talker")
    pub = node.create_publisher(JointState, "joint_states", 100)
    deadline = time.monotonic() + 20.0
    while pub.get_subscription_count() == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    for k in range(2 * n):
        msg = JointState()
        msg.name = list(reversed(JOINT_NAMES))  # out of order on purpose: readers reorder
        msg.position = [float(k + i) for i in range(len(JOINT_NAMES))][::-1]
        msg.velocity = [0.0] * len(JOINT_NAMES)
        msg.effort = []
        pub.publish(msg)
        time.sleep(0.005)
    pub.wait_for_all_acked(Duration(seconds=10))
    node.destroy_node()
    rclpy.try_shutdown()


def listen(n: int, timeout: float) -> int:
    """Count messages until ``n`` arrived or ``timeout`` passed; 0 on success."""
    rclpy.init()
    node = Node("dds_listener")
    got: list[float] = []
    ok = [True]

    def on_msg(msg: JointState) -> None:
        reading = joint_state_to_reading(msg)
        k = reading.position[0]
        ok[0] &= bool((reading.position == k + np.arange(len(JOINT_NAMES))).all())
        got.append(k)

    node.create_subscription(JointState, "joint_states", on_msg, 100)
    deadline = time.monotonic() + timeout
    while len(got) < n and time.monotonic() < deadline:
        rclpy.spin_once(node, timeout_sec=0.1)
    consecutive = bool(np.array_equal(np.diff(got), np.ones(max(len(got) - 1, 0))))
    first, last = (got[0], got[-1]) if got else (-1, -1)
    print(f"RECEIVED {len(got)} {first} {last} {consecutive} {ok[0]}")
    node.destroy_node()
    rclpy.try_shutdown()
    return 0 if len(got) >= n and ok[0] and consecutive else 1


if __name__ == "__main__":
    if sys.argv[1] == "talk":
        talk(int(sys.argv[2]))
    else:
        sys.exit(listen(int(sys.argv[2]), float(sys.argv[3])))
