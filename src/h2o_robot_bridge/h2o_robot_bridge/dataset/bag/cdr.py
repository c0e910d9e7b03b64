"""Fast, read-only CDR parsers for the two message types bag conversion reads most.

``rosbags`` deserialises any type into dataclasses; bag conversion only needs a few fields of
``sensor_msgs/JointState`` and ``sensor_msgs/Imu``, so these parse them straight from the
little-endian CDR bytes (XCDR1, as rosbag2 stores them) with ``struct``. Anything unexpected
(big-endian data, a length running past the end) raises ``ValueError`` and the caller falls
back to the generic ``rosbags`` deserialiser. Trailing bytes are allowed (rclpy pads after an
empty trailing array); :func:`parse_joint_state` reports how many there are.
"""

from __future__ import annotations

import struct

_TIME = struct.Struct("<iI")
_U32 = struct.Struct("<I")
_DOUBLES: dict[int, struct.Struct] = {}
_IMU = struct.Struct("<4d72x3d")  # orientation, its covariance (skipped), angular velocity


def _doubles(n: int) -> struct.Struct:
    fmt = _DOUBLES.get(n)
    if fmt is None:
        fmt = _DOUBLES[n] = struct.Struct(f"<{n}d")
    return fmt


def _check_le(raw: bytes) -> None:
    if len(raw) < 12 or raw[0] != 0 or raw[1] != 1:
        raise ValueError("not little-endian CDR")


def _header(raw: bytes) -> tuple[float, int]:
    """Stamp [s] and the offset after ``frame_id`` (offsets count from byte 4)."""
    sec, nanosec = _TIME.unpack_from(raw, 4)
    (n,) = _U32.unpack_from(raw, 12)
    return sec + 1e-9 * nanosec, 8 + 4 + n


def _align(pos: int, n: int) -> int:
    return pos + (-pos) % n


def parse_joint_state(raw: bytes) -> tuple[float, bytes, int, tuple, tuple, tuple, int]:
    """``sensor_msgs/JointState`` CDR -> (stamp [s], name block, name count, position,
    velocity, effort, trailing bytes). The name block is the raw bytes of the ``name`` field
    (a cheap key for the joint order; decode it with :func:`names_from_block`)."""
    _check_le(raw)
    stamp, pos = _header(raw)
    pos = _align(pos, 4)
    (count,) = _U32.unpack_from(raw, 4 + pos)
    start = pos
    pos += 4
    for _ in range(count):
        pos = _align(pos, 4)
        (n,) = _U32.unpack_from(raw, 4 + pos)
        pos += 4 + n
    block = raw[4 + start : 4 + pos]
    arrays = []
    for _ in range(3):
        pos = _align(pos, 4)
        (n,) = _U32.unpack_from(raw, 4 + pos)
        pos += 4
        if n:
            pos = _align(pos, 8)
            arrays.append(_doubles(n).unpack_from(raw, 4 + pos))
            pos += 8 * n
        else:
            arrays.append(())
    trailing = len(raw) - 4 - pos
    if trailing < 0:
        raise ValueError("JointState runs past the end of the message")
    return stamp, block, count, arrays[0], arrays[1], arrays[2], trailing


def names_from_block(block: bytes) -> list[str]:
    """Decode the ``name`` block returned by :func:`parse_joint_state`."""
    (count,) = _U32.unpack_from(block, 0)
    names, pos = [], 4
    for _ in range(count):
        pos = _align(pos, 4)
        (n,) = _U32.unpack_from(block, pos)
        names.append(block[pos + 4 : pos + 4 + n - 1].decode())
        pos += 4 + n
    return names


def parse_imu(raw: bytes) -> tuple[float, tuple[float, ...]]:
    """``sensor_msgs/Imu`` CDR -> (stamp [s], (qx, qy, qz, qw, wx, wy, wz))."""
    _check_le(raw)
    stamp, pos = _header(raw)
    pos = _align(pos, 8)
    if 4 + pos + 8 * (4 + 9 + 3 + 9 + 3 + 9) > len(raw):
        raise ValueError("Imu runs past the end of the message")
    return stamp, _IMU.unpack_from(raw, 4 + pos)
