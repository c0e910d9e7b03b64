"""Write robot topics into a rosbag2 (sqlite3 or MCAP) from arrays, with ``rosbags``.

For tests, benchmarks and synthetic logs (e.g. a simulator rollout saved as a bag): the messages
are exactly what the robot or the sim node publishes, every array filled.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike

from h2o_robot_bridge.contract import JOINT_NAMES, NUM_JOINTS, JointCommand
from h2o_robot_bridge.conversions.from_msg import sec_to_stamp_fields
from h2o_robot_bridge.dataset.bag.reader import IMU, JOINT_STATE, TWIST, BagTopics

Storage = Literal["sqlite3", "mcap"]


class RobotBagWriter:
    """Context manager writing the robot topics; times in seconds.

    Each ``write_*`` takes the header stamp ``t`` and an optional receive time ``log_t``
    (default: ``t``), which becomes the bag timestamp.

    Args:
        path: bag folder to create (must not exist).
        storage: ``"sqlite3"`` or ``"mcap"``.
        topics: topic names.
        version: rosbag2 metadata version, 9 (Jazzy, Kilted) or 8 (Iron); it decides how
            the offered QoS profiles are serialised.
        offered_qos: ``rosbags.interfaces.Qos`` profiles every topic is recorded with (what
            ``ros2 bag record`` stores for each topic's publishers; none by default).
    """

    def __init__(
        self,
        path: str | Path,
        storage: Storage = "sqlite3",
        topics: BagTopics | None = None,
        version: Literal[8, 9] = 9,
        offered_qos: Sequence[Any] = (),
    ) -> None:
        from rosbags.rosbag2 import StoragePlugin, Writer
        from rosbags.typesys import Stores, get_typestore

        self.store = get_typestore(Stores.ROS2_KILTED)
        plugin = {"sqlite3": StoragePlugin.SQLITE3, "mcap": StoragePlugin.MCAP}[storage]
        self.writer = Writer(Path(path), version=version, storage_plugin=plugin)
        self.topics = (topics or BagTopics()).resolved()  # a bag stores absolute names
        self.offered_qos = tuple(offered_qos)
        self._conns: dict[str, Any] = {}
        t = self.store.types
        self._time, self._header = t["builtin_interfaces/msg/Time"], t["std_msgs/msg/Header"]
        self._js, self._imu = t[JOINT_STATE], t[IMU]
        self._q, self._v3 = t["geometry_msgs/msg/Quaternion"], t["geometry_msgs/msg/Vector3"]
        self._twist, self._empty = t[TWIST], t["std_msgs/msg/Empty"]

    def __enter__(self) -> RobotBagWriter:
        self.writer.open()
        return self

    def __exit__(
        self, exc_type: type | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.writer.close()

    def _write(self, topic: str, msgtype: str, msg: Any, log_t: float) -> None:
        self.write_raw(topic, msgtype, self.store.serialize_cdr(msg, msgtype), log_t)

    def write_raw(self, topic: str, msgtype: str, raw: bytes | memoryview, log_t: float) -> None:
        """Write already serialised CDR bytes (e.g. from rclpy, possibly padded)."""
        conn = self._conns.get(topic)
        if conn is None:
            conn = self._conns[topic] = self.writer.add_connection(
                topic, msgtype, typestore=self.store, offered_qos_profiles=self.offered_qos
            )
        self.writer.write(conn, int(round(log_t * 1e9)), raw)

    def header(self, t: float) -> Any:
        sec, nanosec = sec_to_stamp_fields(t)
        return self._header(stamp=self._time(sec=sec, nanosec=nanosec), frame_id="base_link")

    def joint_state_msg(
        self,
        t: float,
        position: ArrayLike,
        velocity: ArrayLike,
        effort: ArrayLike,
        names: tuple[str, ...] = JOINT_NAMES,
    ) -> Any:
        def arr(x: ArrayLike) -> np.ndarray:
            return np.asarray(x, dtype=np.float64).reshape(-1)

        return self._js(
            header=self.header(t),
            name=list(names),
            position=arr(position),
            velocity=arr(velocity),
            effort=arr(effort),
        )

    def write_joint_states(
        self,
        t: float,
        position: ArrayLike,
        velocity: ArrayLike,
        effort: ArrayLike | None = None,
        log_t: float | None = None,
    ) -> None:
        """Measured joints (NUM_JOINTS,) each, contract order."""
        eff = np.zeros(NUM_JOINTS) if effort is None else effort
        msg = self.joint_state_msg(t, position, velocity, eff)
        self._write(self.topics.joint_states, JOINT_STATE, msg, t if log_t is None else log_t)

    def write_joint_commands(
        self, t: float, command: JointCommand, log_t: float | None = None
    ) -> None:
        """A command: leg position targets, wheel efforts, NaN elsewhere (velocity all NaN)."""
        msg = self.joint_state_msg(
            t, command.position, np.full(NUM_JOINTS, np.nan), command.effort
        )
        self._write(self.topics.joint_commands, JOINT_STATE, msg, t if log_t is None else log_t)

    def write_imu(
        self, t: float, quat_xyzw: ArrayLike, ang_vel: ArrayLike, log_t: float | None = None
    ) -> None:
        """IMU orientation (x, y, z, w) and angular velocity [rad/s]."""
        q = [float(v) for v in np.asarray(quat_xyzw).ravel()]
        w = [float(v) for v in np.asarray(ang_vel).ravel()]
        cov = np.zeros(9)
        msg = self._imu(
            header=self.header(t),
            orientation=self._q(x=q[0], y=q[1], z=q[2], w=q[3]),
            orientation_covariance=cov,
            angular_velocity=self._v3(x=w[0], y=w[1], z=w[2]),
            angular_velocity_covariance=cov,
            linear_acceleration=self._v3(x=0.0, y=0.0, z=9.81),
            linear_acceleration_covariance=cov,
        )
        self._write(self.topics.imu, IMU, msg, t if log_t is None else log_t)

    def write_cmd_vel(self, log_t: float, forward_vel: float, yaw_rate: float) -> None:
        """A Twist task command, received at ``log_t``."""
        msg = self._twist(
            linear=self._v3(x=float(forward_vel), y=0.0, z=0.0),
            angular=self._v3(x=0.0, y=0.0, z=float(yaw_rate)),
        )
        self._write(self.topics.cmd_vel, TWIST, msg, log_t)

    def write_reset(self, log_t: float) -> None:
        """A reset marker (``std_msgs/Empty``) received at ``log_t``."""
        self._write(self.topics.reset, "std_msgs/msg/Empty", self._empty(), log_t)
