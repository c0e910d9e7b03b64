"""Record a closed loop's samples and commands over real DDS (a separate rclpy process).

Usage:
    python loop_peer.py OUT DURATION [SAMPLES]
        record ``/joint_states`` and ``/joint_commands`` (header stamp in integer ns, position,
        velocity and effort in contract order) until DURATION wall seconds after the first
        command (commands only once a joint state is in), or until SAMPLES joint states are
        in; write them to OUT (JSON) and print ``RECORDED <joint states> <commands>`` (also
        the receive times, monotonic [s], under ``receipts``). Prints ``READY`` at the first
        joint state (a lockstep sim waits at its first sample: start the commander after that,
        and the record is complete from the first step on).

Reliable subscriptions with deep queues: every message the publishers send is kept, so the
loop-delay analysis sees complete sequences.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import rclpy
from rclpy.node import Node
from rclpy.qos import QoSProfile
from sensor_msgs.msg import JointState

from h2o_robot_bridge.conversions.from_msg import joint_state_to_reading

TOPICS = ("/joint_states", "/joint_commands")


def row(msg: JointState) -> list:
    """[stamp ns, position..., velocity..., effort...] with NaN as None (JSON)."""
    reading = joint_state_to_reading(msg)
    values = [*reading.position, *reading.velocity, *reading.effort]
    stamp = int(msg.header.stamp.sec) * 10**9 + int(msg.header.stamp.nanosec)
    return [stamp, *(None if v != v else float(v) for v in values)]


def record(out: Path, duration: float, max_samples: int) -> None:
    rclpy.init()
    node = Node("loop_peer")
    got: dict[str, list[list]] = {topic: [] for topic in TOPICS}
    receipts: dict[str, list[float]] = {topic: [] for topic in TOPICS}  # monotonic [s]
    started: list[float] = []

    def recorder(topic: str):
        def on_msg(msg: JointState) -> None:
            if topic == "/joint_commands":
                if not got["/joint_states"]:
                    return  # discovery is per topic: a command whose sample we lack is no use
                if not started:
                    started.append(time.monotonic())
            elif not got[topic]:
                print("READY", flush=True)
            got[topic].append(row(msg))
            receipts[topic].append(time.monotonic())

        return on_msg

    for topic in TOPICS:
        node.create_subscription(JointState, topic, recorder(topic), QoSProfile(depth=5000))
    give_up = time.monotonic() + 60.0  # no command at all: the test fails on the empty record
    while time.monotonic() < (started[0] + duration if started else give_up):
        rclpy.spin_once(node, timeout_sec=0.05)
        if len(got["/joint_states"]) >= max_samples:
            break
    out.write_text(json.dumps({**got, "receipts": receipts}))
    print(f"RECORDED {len(got['/joint_states'])} {len(got['/joint_commands'])}", flush=True)
    node.destroy_node()
    rclpy.try_shutdown()


if __name__ == "__main__":
    samples = int(sys.argv[3]) if len(sys.argv) > 3 else sys.maxsize
    record(Path(sys.argv[1]), float(sys.argv[2]), samples)
