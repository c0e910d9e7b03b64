"""The fast CDR parsers agree with rosbags' deserialiser on every shape of message."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from rosbags.typesys import Stores, get_typestore

from h2o_robot_bridge.dataset.bag.cdr import names_from_block, parse_imu, parse_joint_state

STORE = get_typestore(Stores.ROS2_KILTED)
T = STORE.types


def header(sec: int, nanosec: int, frame: str):
    return T["std_msgs/msg/Header"](
        stamp=T["builtin_interfaces/msg/Time"](sec=sec, nanosec=nanosec), frame_id=frame
    )


@pytest.mark.parametrize("frame", ["", "b", "base_link", "abcdefg"])
@pytest.mark.parametrize("sizes", [(6, 6, 6), (6, 6, 0), (6, 0, 0), (0, 0, 0), (3, 3, 3)])
def test_joint_state_matches_rosbags(frame: str, sizes: tuple[int, int, int]) -> None:
    rng = np.random.default_rng(len(frame) + sum(sizes))
    names = [f"j{'x' * i}" for i in range(max(sizes) or 2)]
    arrays = [rng.normal(size=n) for n in sizes]
    msg = T["sensor_msgs/msg/JointState"](
        header=header(12, 345_678_901, frame),
        name=names,
        position=arrays[0],
        velocity=arrays[1],
        effort=arrays[2],
    )
    raw = bytes(STORE.serialize_cdr(msg, "sensor_msgs/msg/JointState"))
    for extra in (b"", bytes(4)):  # rclpy's padding after an empty trailing array
        stamp, block, count, pos, vel, eff, trailing = parse_joint_state(raw + extra)
        assert stamp == pytest.approx(12.345678901, abs=1e-9)
        assert names_from_block(block) == names and count == len(names)
        for got, want in zip((pos, vel, eff), arrays, strict=True):
            np.testing.assert_array_equal(np.array(got), want)
        assert trailing - len(extra) in (0, 1, 2, 3)


def test_imu_matches_rosbags() -> None:
    v3, q = T["geometry_msgs/msg/Vector3"], T["geometry_msgs/msg/Quaternion"]
    for frame in ("", "imu", "imu_link_x"):
        msg = T["sensor_msgs/msg/Imu"](
            header=header(3, 5, frame),
            orientation=q(x=0.1, y=0.2, z=0.3, w=0.9),
            orientation_covariance=np.arange(9.0),
            angular_velocity=v3(x=1.5, y=-2.5, z=3.5),
            angular_velocity_covariance=np.arange(9.0) + 10,
            linear_acceleration=v3(x=0.0, y=0.0, z=9.81),
            linear_acceleration_covariance=np.arange(9.0) + 20,
        )
        raw = bytes(STORE.serialize_cdr(msg, "sensor_msgs/msg/Imu"))
        stamp, values = parse_imu(raw)
        assert stamp == pytest.approx(3.000000005)
        assert values == (0.1, 0.2, 0.3, 0.9, 1.5, -2.5, 3.5)


def test_bad_input_raises_value_error() -> None:
    with pytest.raises(ValueError):
        parse_imu(b"\x00\x00" + bytes(100))  # big-endian marker: not handled here
    msg = T["sensor_msgs/msg/JointState"](
        header=header(1, 2, ""),
        name=["a"],
        position=np.ones(1),
        velocity=np.ones(1),
        effort=np.ones(1),
    )
    raw = bytes(STORE.serialize_cdr(msg, "sensor_msgs/msg/JointState"))
    with pytest.raises((ValueError, struct.error)):  # the caller's fallback catches both
        parse_joint_state(raw[:-12])
