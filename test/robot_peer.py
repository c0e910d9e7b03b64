"""A scripted robot on real DDS for recorder and bag tests (a separate rclpy process).

Usage:
    python robot_peer.py publish N SEED [--empty-effort] [--resets K,K2]
        wait for subscribers, then publish N control ticks at 100 Hz: /joint_states, /imu/data
        and /joint_commands, all stamped with the tick time (values from ``script``); with
        --empty-effort the joint states carry ``effort=[]`` (rclpy pads after it: the CDR
        quirk bag readers must tolerate); /h2o/reset (std_msgs/Empty) before the listed ticks.
    python robot_peer.py control DURATION [SUBSCRIBERS]
        a policy loop: the classical controller on /joint_states + /imu/data (built into the
        contract observation), one /joint_commands per sensor tick, stamped with the sensor
        stamp, for DURATION s from the first command, which waits until SUBSCRIBERS (default
        1) subscriptions of /joint_commands matched; prints ``SENT <count>``.
    python robot_peer.py bag OUT STORAGE TIMEOUT
        record the robot topics' raw CDR bytes into a rosbag2 (like ``ros2 bag record``) until
        1 s passes without a message (or TIMEOUT s); prints ``BAG <count>``.
"""

from __future__ import annotations

import faulthandler
import os
import sys
import time
from pathlib import Path

import numpy as np
import rclpy
from rclpy.duration import Duration
from rclpy.node import Node
from rclpy.qos import QoSProfile
from sensor_msgs.msg import Imu, JointState
from std_msgs.msg import Empty

from h2o_robot_bridge.contract import ACTION_DIM, NUM_JOINTS, action_to_command
from h2o_robot_bridge.conversions.to_msg import imu_msg, joint_command_msg, joint_state_msg

TOPICS = {"/joint_states": JointState, "/imu/data": Imu, "/joint_commands": JointState}
ROBOT_TOPICS = ("/joint_states", "/imu/data", "/joint_commands", "/h2o/reset", "/cmd_vel")
SIM_TOPICS = (*ROBOT_TOPICS, "/ground_truth/odom", "/clock")
DT = 0.01


def remaps(ns: str) -> dict[str, str]:
    """Topic remappings that move every robot/sim topic under ``ns``: parallel test runs that
    happen to share a ROS domain then cannot hear each other."""
    return {t: ns + t for t in SIM_TOPICS} if ns else {}


def init_ros() -> None:
    """rclpy.init with the remappings of ``$H2O_TEST_NS`` (set by the tests)."""
    args = ["--ros-args"]
    for src, dst in remaps(os.environ.get("H2O_TEST_NS", "")).items():
        args += ["-r", f"{src}:={dst}"]
    rclpy.init(args=args)


TEARDOWN_S = 10.0
"""A peer whose result is printed gives rclpy this long to tear down, then dumps every thread's
stack to stderr and exits 1: once in a fresh-clone run the bag peer hung > 60 s in teardown
after writing its bag and printing ``BAG 450``; the bag test shows such a dump as a warning."""


def teardown(node: Node) -> None:
    """Destroy ``node`` and shut rclpy down, bounded by TEARDOWN_S (the result is out)."""
    faulthandler.dump_traceback_later(TEARDOWN_S, exit=True)
    node.destroy_node()
    rclpy.try_shutdown()
    faulthandler.cancel_dump_traceback_later()


def script(n: int, seed: int) -> dict[str, np.ndarray]:
    """Per-tick values: quat (n, 4), gyro (n, 3), pos/vel (n, 6), act (n, 6) in (-1, 1)."""
    rng = np.random.default_rng(seed)
    tilt = rng.uniform(-0.1, 0.1, size=n)
    return {
        "quat": np.stack([np.zeros(n), np.sin(tilt / 2), np.zeros(n), np.cos(tilt / 2)], 1),
        "gyro": rng.normal(0, 0.3, size=(n, 3)),
        "pos": rng.normal(0, 0.2, size=(n, NUM_JOINTS)),
        "vel": rng.normal(0, 1.0, size=(n, NUM_JOINTS)),
        "act": rng.uniform(-0.99, 0.99, size=(n, ACTION_DIM)),
    }


def publish(n: int, seed: int, empty_effort: bool, resets: set[int]) -> None:
    init_ros()
    node = Node("robot_peer")
    qos = QoSProfile(depth=100)
    pubs = {topic: node.create_publisher(kind, topic, qos) for topic, kind in TOPICS.items()}
    reset_pub = node.create_publisher(Empty, "/h2o/reset", 10)
    deadline = time.monotonic() + 30.0
    while time.monotonic() < deadline and any(
        p.get_subscription_count() == 0 for p in pubs.values()
    ):
        time.sleep(0.05)
    # No settling sleep: the subscriber's side of the match may complete a moment after ours,
    # and a best-effort subscriber (the recorder's default) then misses the first ticks. The
    # tests allow for that; they check that every row they get is exactly its tick's.
    s = script(n, seed)
    t0 = time.time()
    for k in range(n):
        t = t0 + k * DT
        if k in resets:  # half a period before the tick: unambiguously between two ticks
            while time.time() < t - DT / 2:
                time.sleep(0.0005)
            reset_pub.publish(Empty())
        while time.time() < t:
            time.sleep(0.0005)
        js = joint_state_msg(t, s["pos"][k], s["vel"][k], np.zeros(NUM_JOINTS))
        if empty_effort:
            js.effort = []
        pubs["/joint_states"].publish(js)
        pubs["/imu/data"].publish(imu_msg(t, s["quat"][k], s["gyro"][k]))
        pubs["/joint_commands"].publish(joint_command_msg(t, action_to_command(s["act"][k])))
    # Reliable subscribers (the bag peer) acknowledge every message; best-effort ones have
    # nothing to acknowledge (publish() already handed their copy to the transport).
    for pub in pubs.values():
        pub.wait_for_all_acked(Duration(seconds=10))
    print("DONE", flush=True)
    teardown(node)


def control(duration: float, subscribers: int = 1) -> None:
    from rclpy.qos import qos_profile_sensor_data

    from h2o_robot_bridge.contract import build_observation, get_task
    from h2o_robot_bridge.controllers.classical import ClassicalController
    from h2o_robot_bridge.conversions.from_msg import (
        imu_to_reading,
        joint_state_to_reading,
        stamp_to_sec,
    )

    init_ros()
    node = Node("control_peer")
    ctrl = ClassicalController.from_yaml()
    pub = node.create_publisher(JointState, "/joint_commands", 10)
    command = get_task("stand").command
    state: dict = {"js": None, "prev": np.zeros(ACTION_DIM), "sent": 0, "armed": False}

    def on_js(msg: JointState) -> None:
        state["js"] = msg

    def on_imu(msg: Imu) -> None:
        js = state["js"]
        if not state["armed"] or js is None:
            return
        if stamp_to_sec(js.header.stamp) != stamp_to_sec(msg.header.stamp):
            return
        j, i = joint_state_to_reading(js), imu_to_reading(msg)
        obs = build_observation(
            i.quat_xyzw, i.ang_vel, j.position, j.velocity, command, state["prev"]
        )
        action = ctrl.act(obs)
        t = stamp_to_sec(msg.header.stamp)
        pub.publish(joint_command_msg(t, action_to_command(action)))
        state["prev"] = np.asarray(action, dtype=np.float64)
        state["sent"] += 1

    node.create_subscription(JointState, "/joint_states", on_js, qos_profile_sensor_data)
    node.create_subscription(Imu, "/imu/data", on_imu, qos_profile_sensor_data)
    # DURATION counts from the first command: on a loaded machine start-up and discovery take
    # seconds, and a sim holding the robot for its commander waits that long too.
    # Commands start once every expected subscriber (the sim, and a recorder if any) has
    # matched, so none of them misses the first ones.
    give_up = time.monotonic() + 60.0
    while pub.get_subscription_count() < subscribers and time.monotonic() < give_up:
        rclpy.spin_once(node, timeout_sec=0.05)
    state["armed"] = True
    while state["sent"] == 0 and time.monotonic() < give_up:
        rclpy.spin_once(node, timeout_sec=0.05)
    end = time.monotonic() + duration
    while time.monotonic() < end:
        rclpy.spin_once(node, timeout_sec=0.05)
    print(f"SENT {state['sent']}", flush=True)
    teardown(node)


def record_bag(out: str, storage: str, timeout: float) -> None:
    from h2o_robot_bridge.dataset.bag.writer import RobotBagWriter

    init_ros()
    node = Node("bag_peer")
    got: list[tuple[str, bytes, float]] = []
    for topic, kind in TOPICS.items():
        node.create_subscription(
            kind, topic, lambda raw, tp=topic: got.append((tp, raw, time.time())), 500, raw=True
        )
    deadline = time.monotonic() + timeout
    last = time.monotonic()
    while time.monotonic() < deadline:
        before = len(got)
        rclpy.spin_once(node, timeout_sec=0.05)
        if len(got) != before:
            last = time.monotonic()
        elif got and time.monotonic() - last > 1.0:
            break
    names = {"/joint_states": "sensor_msgs/msg/JointState", "/imu/data": "sensor_msgs/msg/Imu"}
    names["/joint_commands"] = "sensor_msgs/msg/JointState"
    with RobotBagWriter(Path(out), storage) as w:  # type: ignore[arg-type]
        for topic, raw, t in got:
            w.write_raw(topic, names[topic], bytes(raw), t)
    print(f"BAG {len(got)}", flush=True)
    teardown(node)


if __name__ == "__main__":
    if sys.argv[1] == "publish":
        flags = sys.argv[4:]
        resets = set()
        if "--resets" in flags:
            resets = {int(x) for x in flags[flags.index("--resets") + 1].split(",")}
        publish(int(sys.argv[2]), int(sys.argv[3]), "--empty-effort" in flags, resets)
    elif sys.argv[1] == "control":
        control(float(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 1)
    else:
        record_bag(sys.argv[2], sys.argv[3], float(sys.argv[4]))
