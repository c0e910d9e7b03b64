"""Read a rosbag2 (sqlite3 or MCAP) into one decoded stream per robot input (``rosbags``).

Messages are decoded leniently (rclpy pads after an empty trailing array, which the strict
``rosbags`` size check rejects), sorted into one stream per input; :mod:`.convert` aligns them.

A bag ``rosbags`` refuses to open (no ``metadata.yaml``, an MCAP file without its summary: what
a killed ``ros2 bag record`` leaves; a storage file cut short: an interrupted copy, a full disk)
is salvaged by reading its storage files directly (:mod:`.salvage`): MCAP up to the first
damaged record, sqlite3 every message whose page survived. So is an sqlite3 bag ``rosbags``
opens but stops reading part-way (a damaged page). Otherwise a bag whose reading stops early is
read up to the first unreadable message. The statistics say what was salvaged, how many
messages were lost (when ``metadata.yaml`` counts them) and where reading stopped;
``strict=True`` makes any of it an error.
"""

from __future__ import annotations

import struct
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from h2o_robot_bridge.contract import JOINT_NAMES, NUM_JOINTS, TOPICS
from h2o_robot_bridge.contract.topics import resolve_all, topics_from_parameters
from h2o_robot_bridge.dataset.bag.cdr import names_from_block, parse_imu, parse_joint_state
from h2o_robot_bridge.dataset.bag.salvage import (
    SalvageReport,
    recorded_message_count,
    salvage_messages,
    storage_files,
)
from h2o_robot_bridge.errors import DatasetError

TimeSource = Literal["header", "receive"]

JOINT_STATE = "sensor_msgs/msg/JointState"
IMU = "sensor_msgs/msg/Imu"
TWIST = "geometry_msgs/msg/Twist"
TWIST_STAMPED = "geometry_msgs/msg/TwistStamped"


BAG_TOPICS = ("joint_states", "imu", "joint_commands", "cmd_vel", "reset")
"""The contract topics a dataset is built from (fields of :class:`BagTopics`)."""


@dataclass(frozen=True)
class BagTopics:
    """Topic names read from a bag (``cmd_vel`` and ``reset`` are optional in the bag).

    The defaults are the contract's relative names (``joint_states``), as the live recorder
    subscribes them; a bag holds absolute names, so the reader looks them up
    :meth:`resolved`: at the root (``/joint_states``) unless given the namespace the robot
    ran in (``/r1/joint_states``). An absolute name is read as given.

    Attributes:
        joint_states: ``sensor_msgs/JointState`` measured joints.
        imu: ``sensor_msgs/Imu``.
        joint_commands: ``sensor_msgs/JointState`` commands sent (the ticks).
        cmd_vel: ``geometry_msgs/Twist`` (or ``TwistStamped``) task command.
        reset: any message type; each message marks a robot reset (a new episode).
    """

    joint_states: str = TOPICS.joint_states
    imu: str = TOPICS.imu
    joint_commands: str = TOPICS.joint_commands
    cmd_vel: str = TOPICS.cmd_vel
    reset: str = TOPICS.reset

    @classmethod
    def from_parameters(cls, params: Mapping[str, Any]) -> BagTopics:
        """From ``<name>_topic`` values (ROS parameters, CLI options); missing ones default.

        Raises:
            ConfigError: a given name is empty or not a string.
        """
        topics = topics_from_parameters(params, BAG_TOPICS)
        return cls(**{name: getattr(topics, name) for name in BAG_TOPICS})

    def resolved(self, namespace: str = "") -> BagTopics:
        """The names as stored in a bag recorded from a robot in ``namespace`` ("" = root).

        Raises:
            ConfigError: a name or the namespace is not a valid ROS name.
        """
        return resolve_all(self, namespace)

    def required(self) -> dict[str, str]:
        return {
            "joint_states": self.joint_states,
            "imu": self.imu,
            "joint_commands": self.joint_commands,
        }


@dataclass
class ReadStats:
    """What reading the bag found (before alignment).

    Attributes:
        storage: storage file kinds (``"db3"``, ``"mcap"``).
        messages: messages read per input (``"joint_states"``, ...).
        undecodable, padded, unstamped: message counts per input / type.
        missing_joints: messages per topic that lack a contract joint.
        joint_names: per input (``"joint_states"``, ``"joint_commands"``) whose messages lack
            contract joints: the ``"missing"`` contract joints (contract order) and the
            ``"unknown"`` names of those messages that the contract does not have (a naming
            mismatch, e.g. ``l_wheel_joint`` for ``left_wheel``).
        stopped_early: why reading ended before the end of the bag ("" = it did not).
        salvaged: how the damaged bag was read ("" = it was not damaged).
        salvaged_messages: messages (all topics) read from a damaged bag.
        lost_messages: messages of a damaged bag not read: its ``metadata.yaml`` count minus
            the salvaged ones; None = unknown (no ``metadata.yaml``).
    """

    storage: str = ""
    messages: Counter = field(default_factory=Counter)
    undecodable: Counter = field(default_factory=Counter)
    padded: Counter = field(default_factory=Counter)
    unstamped: Counter = field(default_factory=Counter)
    missing_joints: Counter = field(default_factory=Counter)
    joint_names: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    stopped_early: str = ""
    salvaged: str = ""
    salvaged_messages: int = 0
    lost_messages: int | None = 0

    def as_dict(self) -> dict[str, Any]:
        return {k: dict(v) if isinstance(v, Counter) else v for k, v in self.__dict__.items()}

    def summary_lines(self) -> list[str]:
        """What was read, one line per finding (warnings first word ``WARNING``)."""
        lines = [f"storage: {self.storage}"]
        if self.salvaged:
            lost = "unknown (no metadata.yaml)" if self.lost_messages is None else None
            lines.append(f"WARNING: damaged bag salvaged: {self.salvaged}")
            lines.append(
                f"WARNING: messages recovered {self.salvaged_messages}, "
                f"lost {lost or self.lost_messages}"
            )
        if self.stopped_early:
            lines.append(f"WARNING: reading stopped early (truncated bag?): {self.stopped_early}")
        for name in ("undecodable", "padded", "unstamped", "missing_joints"):
            counts = getattr(self, name)
            if counts:
                lines.append(
                    f"{name.replace('_', ' ')}: "
                    + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
                )
        lines += [_joint_names_line(k, v) for k, v in sorted(self.joint_names.items())]
        return lines


def _joint_names_line(key: str, names: dict[str, list[str]]) -> str:
    """The warning for messages on ``key`` that lack contract joints."""
    line = f"WARNING: {key} messages lack contract joint(s) {', '.join(names['missing'])}"
    if names["unknown"]:
        line += (
            f"; they name {', '.join(names['unknown'])}, not in the contract (a naming "
            f"mismatch? the contract's joints: {', '.join(JOINT_NAMES)})"
        )
    return line


@dataclass
class Streams:
    """Decoded messages of one bag, per input, in bag order (times in seconds)."""

    log_t: dict[str, list[float]] = field(default_factory=dict)
    stamp: dict[str, list[float]] = field(default_factory=dict)
    values: dict[str, list[Any]] = field(default_factory=dict)

    def add(self, key: str, log_t: float, stamp: float, value: Any) -> None:
        self.log_t.setdefault(key, []).append(log_t)
        self.stamp.setdefault(key, []).append(stamp)
        self.values.setdefault(key, []).append(value)


class _Decoder:
    """Lenient CDR deserialisation plus field extraction into plain tuples/arrays."""

    def __init__(self, typestore: Any, stats: ReadStats) -> None:
        self.store, self.stats = typestore, stats
        self._defs: dict[str, Any] = {}
        self._joint_index: dict[tuple[str, ...], NDArray | None] = {}
        self._block_index: dict[bytes, NDArray | None] = {}
        self._noted: set[tuple[str, Any]] = set()

    def deserialize(self, raw: bytes | memoryview, typename: str) -> Any:
        """Like ``typestore.deserialize_cdr`` but tolerant of trailing padding bytes."""
        if len(raw) < 4 or raw[0] != 0 or raw[1] not in (0, 1):
            raise ValueError("not CDR (bad encapsulation header)")
        msgdef = self._defs.get(typename)
        if msgdef is None:
            msgdef = self._defs[typename] = self.store.get_msgdef(typename)
        func = msgdef.deserialize_cdr_le if raw[1] else msgdef.deserialize_cdr_be
        msg, pos = func(raw[4:], 0, msgdef.cls, self.store)
        if pos + 4 + 3 < len(raw):
            self.stats.padded[typename] += 1
        return msg

    def block_index(self, block: bytes) -> NDArray | None:
        """:meth:`joint_index` for a raw CDR ``name`` block (cached by its bytes)."""
        try:
            return self._block_index[block]
        except KeyError:
            index = self._block_index[block] = self.joint_index(names_from_block(block))
            return index

    def note_missing(self, key: str, seen: Any, names: Callable[[], Sequence[str]]) -> None:
        """Record in ``stats.joint_names`` which contract joints a message on ``key`` lacks and
        which of its names the contract does not know; once per ``seen`` (a hashable form of
        the name list), since a topic repeats the same list."""
        if (key, seen) in self._noted:
            return
        self._noted.add((key, seen))
        listed = list(names())
        entry = self.stats.joint_names.setdefault(key, {"missing": [], "unknown": []})
        missing = set(entry["missing"]) | (set(JOINT_NAMES) - set(listed))
        entry["missing"] = [n for n in JOINT_NAMES if n in missing]
        for name in listed:  # first-seen order
            if name not in JOINT_NAMES and name not in entry["unknown"]:
                entry["unknown"].append(name)

    def joint_index(self, names: list[str]) -> NDArray | None:
        """Contract-order index into a message's arrays (None: a contract joint is missing)."""
        key = tuple(names)
        if key not in self._joint_index:
            try:
                self._joint_index[key] = np.array([key.index(n) for n in JOINT_NAMES])
            except ValueError:
                self._joint_index[key] = None
        return self._joint_index[key]


def _stamp(msg: Any) -> float:
    s = msg.header.stamp
    return s.sec + 1e-9 * s.nanosec


def _joint_arrays(dec: _Decoder, msg: Any, key: str, topic: str, fields: tuple[str, ...]) -> tuple:
    """``(index, width, *arrays)`` of a deserialised JointState on input ``key`` (``topic``):
    the contract-order index into the message's arrays (None: a contract joint is missing),
    its name count, the raw arrays ``fields``. Reordering happens later, for all messages at
    once (:func:`joint_matrix`)."""
    index = dec.joint_index(msg.name)
    if index is None:
        dec.stats.missing_joints[topic] += 1
        dec.note_missing(key, tuple(msg.name), lambda: msg.name)
    return (index, len(msg.name), *(getattr(msg, name) for name in fields))


def joint_matrix(values: list[tuple]) -> NDArray:
    """(n, 2, NUM_JOINTS) contract-order arrays of :func:`_joint_arrays` items; NaN where a
    joint is missing or an array is empty / of the wrong length (rclpy allows both)."""
    out = np.full((len(values), 2, NUM_JOINTS), np.nan)
    groups: dict[int, list[int]] = {}
    for i, value in enumerate(values):
        if value[0] is not None:
            groups.setdefault(id(value[0]), []).append(i)
    for members in groups.values():
        index, width = values[members[0]][0], values[members[0]][1]
        for f in range(2):
            good = [i for i in members if len(values[i][2 + f]) == width]
            if good:
                raw = np.array([values[i][2 + f] for i in good], dtype=np.float64)
                out[good, f] = raw[:, index]
    return out


def read_bag(
    bag: str | Path, topics: BagTopics = BagTopics(), strict: bool = False, progress: bool = False
) -> tuple[Streams, ReadStats]:
    """Decode the robot topics of a bag.

    Relative names in ``topics`` are looked up at the root (``joint_states`` is the bag's
    ``/joint_states``); pass ``topics.resolved(namespace)`` for a robot run in a namespace.

    A bag ``rosbags`` cannot open (no ``metadata.yaml``, a storage file cut short: what a killed
    recorder or an interrupted copy leaves), or an sqlite3 bag it stops reading part-way, is
    salvaged unless ``strict``: its storage files are read directly (:mod:`.salvage`).

    Raises:
        DatasetError: not a bag, a required topic missing or of the wrong type, no messages,
            or (``strict``) an unreadable message or a damaged bag.
    """
    from rosbags.highlevel import AnyReader  # heavy import, only where bags are read
    from rosbags.typesys import Stores, get_typestore

    bag = Path(bag)
    if not bag.exists():
        raise DatasetError(f"bag {bag} not found")
    topics = topics.resolved()  # the bag's names are absolute
    stats = ReadStats(storage=_storage(bag))
    streams = Streams()
    store = get_typestore(Stores.ROS2_KILTED)
    try:
        reader = AnyReader([bag], default_typestore=store)
        reader.open()
    except Exception as err:  # rosbags raises several unrelated types for a bad bag
        if strict or not storage_files(bag):
            raise DatasetError(f"{bag}: cannot open as a rosbag2 (sqlite3/MCAP): {err}") from err
        why = f"rosbags could not open it ({type(err).__name__}: {err})"
        if bag.is_dir() and not (bag / "metadata.yaml").exists():
            why = "it has no metadata.yaml (the recorder did not close it)"
        _read_salvaged(bag, topics, store, stats, streams, why)
    else:
        try:
            available = [(c.topic, c.msgtype) for c in reader.connections]
            keys = _select(available, topics, bag)
            dec = _Decoder(reader.typestore, stats)
            wanted = [c for c in reader.connections if c.topic in keys]
            total = sum(c.msgcount for c in wanted)
            it = (
                (keys[c.topic], c.msgtype, t, raw)
                for c, t, raw in reader.messages(connections=wanted)
            )
            if progress:
                from tqdm import tqdm

                it = tqdm(it, total=total, unit="msg", desc=f"reading {bag.name}")
            _decode_all(it, dec, streams, stats, topics, strict, bag)
        finally:
            reader.close()
        if stats.stopped_early and stats.storage == "db3":
            # sqlite3 salvage reads every page that survives, past the one rosbags stopped at
            # (MCAP salvage would stop where rosbags did: it reads records in order).
            why = f"rosbags stopped reading it part-way ({stats.stopped_early})"
            stats, streams = ReadStats(storage=stats.storage), Streams()
            _read_salvaged(bag, topics, store, stats, streams, why)
    empty = [t for k, t in topics.required().items() if k not in streams.log_t]
    if empty:
        why = f" (reading stopped early: {stats.stopped_early})" if stats.stopped_early else ""
        raise DatasetError(f"{bag}: no readable messages on {empty}{why}")
    return streams, stats


def _read_salvaged(
    bag: Path, topics: BagTopics, store: Any, stats: ReadStats, streams: Streams, why: str
) -> None:
    """Read ``bag`` through :mod:`.salvage` into ``streams``; ``why`` it is salvaged."""
    report = SalvageReport()
    messages = list(salvage_messages(bag, report))
    stats.salvaged = "; ".join(
        [
            f"{why}; read {report.messages} messages from {report.files} storage file(s) directly",
            *report.damaged,
        ]
    )
    stats.stopped_early = report.stopped
    stats.salvaged_messages = report.messages
    recorded = recorded_message_count(bag) if bag.is_dir() else None
    stats.lost_messages = None if recorded is None else max(0, recorded - report.messages)
    if not messages:
        raise DatasetError(
            f"{bag}: damaged, {why}; nothing could be salvaged ({report.stopped or 'no messages'})"
        )
    keys = _select(sorted({(m[0], m[1]) for m in messages}), topics, bag)
    it = ((keys[tp], kind, t, raw) for tp, kind, t, raw in messages if tp in keys)
    _decode_all(it, _Decoder(store, stats), streams, stats, topics, False, bag)


def _storage(bag: Path) -> str:
    kinds = {p.suffix.lstrip(".") for p in storage_files(bag)}
    return ",".join(sorted(kinds)) or "unknown"


def _select(available: list[tuple[str, str]], topics: BagTopics, bag: Path) -> dict[str, str]:
    """Topic name -> input key for the topics to read; checks presence and types."""
    expected: dict[str, tuple[str, ...]] = {
        "joint_states": (JOINT_STATE,),
        "imu": (IMU,),
        "joint_commands": (JOINT_STATE,),
    }
    expected["cmd_vel"] = (TWIST, TWIST_STAMPED)
    names = {**topics.required(), "cmd_vel": topics.cmd_vel, "reset": topics.reset}
    present = sorted({topic for topic, _ in available})
    keys: dict[str, str] = {}
    for key, topic in names.items():
        types = {msgtype for tp, msgtype in available if tp == topic}
        if not types:
            if key in topics.required():
                raise DatasetError(
                    f"{bag}: topic {topic} ({key}) is not in the bag; topics: {present} "
                    f"(set the name with --{key.replace('_', '-')}-topic)"
                )
            continue
        wrong = sorted(types - set(expected.get(key, types)))
        if wrong:
            raise DatasetError(
                f"{bag}: topic {topic} has type {wrong[0]}, expected {expected[key][0]}"
            )
        keys[topic] = key
    return keys


def _decode_all(
    it: Any,
    dec: _Decoder,
    streams: Streams,
    stats: ReadStats,
    topics: BagTopics,
    strict: bool,
    bag: Path,
) -> None:
    """Decode ``(key, msgtype, log_time_ns, raw)`` items into ``streams``."""
    try:
        for key, typename, log_ns, raw in it:
            stats.messages[key] += 1
            try:
                stamp, value = _fast_decode(dec, key, typename, raw, topics)
            except (struct.error, ValueError, UnicodeDecodeError, IndexError):
                try:  # the generic (and lenient) rosbags path
                    stamp, value = _decode(dec, key, typename, raw, topics)
                except (struct.error, ValueError, UnicodeDecodeError, IndexError) as err:
                    stats.undecodable[key] += 1
                    if strict:
                        raise DatasetError(f"{bag}: undecodable {key} message: {err}") from err
                    continue
            if stamp == 0.0:
                stats.unstamped[key] += 1
                stamp = np.nan
            streams.add(key, log_ns * 1e-9, stamp, value)
    except DatasetError:
        raise
    except Exception as err:  # a truncated file ends the iteration with a storage error
        stats.stopped_early = f"{type(err).__name__}: {err}"
        if strict:
            raise DatasetError(f"{bag}: reading stopped early: {err}") from err


def _fast_decode(
    dec: _Decoder, key: str, typename: str, raw: bytes, topics: BagTopics
) -> tuple[float, Any]:
    """Stamp and value of a JointState / Imu straight from CDR (:mod:`.cdr`); ValueError for
    anything else, so the caller takes the generic path."""
    if typename == JOINT_STATE and key in ("joint_states", "joint_commands"):
        stamp, block, count, pos, vel, eff, trailing = parse_joint_state(raw)
        if trailing > 3:
            dec.stats.padded[typename] += 1
        index = dec.block_index(block)
        if index is None:
            dec.stats.missing_joints[getattr(topics, key)] += 1
            dec.note_missing(key, block, lambda: names_from_block(block))
        return stamp, (index, count, pos, vel if key == "joint_states" else eff)
    if typename == IMU and key == "imu":
        return parse_imu(raw)
    raise ValueError("no fast path")


def _decode(
    dec: _Decoder, key: str, typename: str, raw: bytes, topics: BagTopics
) -> tuple[float, Any]:
    """Stamp (NaN without a header) and value of any message via rosbags."""
    msg = dec.deserialize(raw, typename)
    if key == "joint_states":
        value: Any = _joint_arrays(dec, msg, key, topics.joint_states, ("position", "velocity"))
    elif key == "joint_commands":
        value = _joint_arrays(dec, msg, key, topics.joint_commands, ("position", "effort"))
    elif key == "imu":
        q, w = msg.orientation, msg.angular_velocity
        value = (q.x, q.y, q.z, q.w, w.x, w.y, w.z)
    elif key == "cmd_vel":
        twist = msg.twist if typename == TWIST_STAMPED else msg
        value = (twist.linear.x, twist.angular.z)
    else:
        value = None
    return (_stamp(msg) if hasattr(msg, "header") else np.nan), value
