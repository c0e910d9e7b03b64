"""rosbag2 (sqlite3 or MCAP) -> dataset, with the ``rosbags`` library (no ROS install needed).

Messages are decoded leniently (rclpy pads after an empty trailing array, which the strict
``rosbags`` size check rejects), sorted into one stream per input and handed to the same
:class:`~h2o_robot_bridge.dataset.align.Aligner` the live recorder uses.

Times: ``time_source="header"`` (default) uses header stamps (the clock the robot or the sim
stamps with; a zero stamp falls back to the bag's receive time); ``"receive"`` uses the bag's
receive times for everything (for logs whose publishers' clocks disagree). Header-less topics
(``/cmd_vel`` as ``Twist``, the reset topic) are mapped onto the header clock through the
stamp/receive offset of the nearest ``/joint_commands`` message. A header clock going back by
more than ``clock_jump`` (a restarted robot or sim clock) splits the bag into segments that are
aligned separately.

A truncated or corrupt bag is read up to the first unreadable message; what was read is
converted and the summary says where reading stopped (``strict=True`` makes it an error). A bag
``rosbags`` refuses to open (no ``metadata.yaml``, an MCAP file without its summary: what a
killed ``ros2 bag record`` leaves) is salvaged by reading its storage files directly.
"""

from __future__ import annotations

import struct
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from h2o_robot_bridge.contract import JOINT_NAMES, NUM_JOINTS, JointCommand, command_to_action
from h2o_robot_bridge.dataset.align import AlignConfig, Aligner, AlignStats
from h2o_robot_bridge.dataset.cdr import names_from_block, parse_imu, parse_joint_state
from h2o_robot_bridge.dataset.salvage import SalvageReport, salvage_messages, storage_files
from h2o_robot_bridge.dataset.schema import Dataset, concat_datasets, make_meta
from h2o_robot_bridge.errors import DatasetError

TimeSource = Literal["header", "receive"]

JOINT_STATE = "sensor_msgs/msg/JointState"
IMU = "sensor_msgs/msg/Imu"
TWIST = "geometry_msgs/msg/Twist"
TWIST_STAMPED = "geometry_msgs/msg/TwistStamped"


@dataclass(frozen=True)
class BagTopics:
    """Topic names read from a bag (``cmd_vel`` and ``reset`` are optional in the bag).

    Attributes:
        joint_states: ``sensor_msgs/JointState`` measured joints.
        imu: ``sensor_msgs/Imu``.
        joint_commands: ``sensor_msgs/JointState`` commands sent (the ticks).
        cmd_vel: ``geometry_msgs/Twist`` (or ``TwistStamped``) task command.
        reset: any message type; each message marks a robot reset (a new episode).
    """

    joint_states: str = "/joint_states"
    imu: str = "/imu/data"
    joint_commands: str = "/joint_commands"
    cmd_vel: str = "/cmd_vel"
    reset: str = "/h2o/reset"

    def required(self) -> dict[str, str]:
        return {
            "joint_states": self.joint_states,
            "imu": self.imu,
            "joint_commands": self.joint_commands,
        }


@dataclass
class ReadStats:
    """What reading the bag found (before alignment)."""

    storage: str = ""
    messages: Counter = field(default_factory=Counter)
    undecodable: Counter = field(default_factory=Counter)
    padded: Counter = field(default_factory=Counter)
    unstamped: Counter = field(default_factory=Counter)
    missing_joints: Counter = field(default_factory=Counter)
    stopped_early: str = ""
    salvaged: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {k: dict(v) if isinstance(v, Counter) else v for k, v in self.__dict__.items()}


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


def _joint_arrays(dec: _Decoder, msg: Any, topic: str, fields: tuple[str, ...]) -> tuple:
    """``(index, width, *arrays)`` of a deserialised JointState: the contract-order index into
    the message's arrays (None: a contract joint is missing), its name count, the raw arrays
    ``fields``. Reordering happens later, for all messages at once (:func:`_joint_matrix`)."""
    index = dec.joint_index(msg.name)
    if index is None:
        dec.stats.missing_joints[topic] += 1
    return (index, len(msg.name), *(getattr(msg, name) for name in fields))


def _joint_matrix(values: list[tuple]) -> NDArray:
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

    A bag ``rosbags`` cannot open (no ``metadata.yaml``, an MCAP file cut short: what a killed
    recorder leaves) is salvaged: its storage files are read from the start up to the first
    damaged record (:mod:`.salvage`), unless ``strict``.

    Raises:
        DatasetError: not a bag, a required topic missing or of the wrong type, no messages,
            or (``strict``) an unreadable message or a damaged bag.
    """
    from rosbags.highlevel import AnyReader  # heavy import, only where bags are read
    from rosbags.typesys import Stores, get_typestore

    bag = Path(bag)
    if not bag.exists():
        raise DatasetError(f"bag {bag} not found")
    stats = ReadStats(storage=_storage(bag))
    streams = Streams()
    store = get_typestore(Stores.ROS2_KILTED)
    try:
        reader = AnyReader([bag], default_typestore=store)
        reader.open()
    except Exception as err:  # rosbags raises several unrelated types for a bad bag
        if strict or not storage_files(bag):
            raise DatasetError(f"{bag}: cannot open as a rosbag2 (sqlite3/MCAP): {err}") from err
        _read_salvaged(bag, topics, store, stats, streams, f"{type(err).__name__}: {err}")
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
    empty = [t for k, t in topics.required().items() if k not in streams.log_t]
    if empty:
        why = f" (reading stopped early: {stats.stopped_early})" if stats.stopped_early else ""
        raise DatasetError(f"{bag}: no readable messages on {empty}{why}")
    return streams, stats


def _read_salvaged(
    bag: Path, topics: BagTopics, store: Any, stats: ReadStats, streams: Streams, why: str
) -> None:
    report = SalvageReport()
    messages = list(salvage_messages(bag, report))
    stats.salvaged = f"rosbags could not open it ({why}); read {report.messages} messages from "
    stats.salvaged += f"{report.files} storage file(s) directly"
    stats.stopped_early = report.stopped
    if not messages:
        raise DatasetError(
            f"{bag}: damaged ({why}) and nothing could be salvaged ({report.stopped or 'empty'})"
        )
    keys = _select(sorted({(m[0], m[1]) for m in messages}), topics, bag)
    it = ((keys[tp], kind, t, raw) for tp, kind, t, raw in messages if tp in keys)
    _decode_all(it, _Decoder(store, stats), streams, stats, topics, False, bag)


def _storage(bag: Path) -> str:
    kinds = {p.suffix.lstrip(".") for p in storage_files(bag)}
    return ",".join(sorted(kinds)) or "unknown"


def _select(available: list[tuple[str, str]], topics: BagTopics, bag: Path) -> dict[str, str]:
    """Topic name -> input key for the topics to read; checks presence and types."""
    expected = {"joint_states": (JOINT_STATE,), "imu": (IMU,), "joint_commands": (JOINT_STATE,)}
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
        value: Any = _joint_arrays(dec, msg, topics.joint_states, ("position", "velocity"))
    elif key == "joint_commands":
        value = _joint_arrays(dec, msg, topics.joint_commands, ("position", "effort"))
    elif key == "imu":
        q, w = msg.orientation, msg.angular_velocity
        value = (q.x, q.y, q.z, q.w, w.x, w.y, w.z)
    elif key == "cmd_vel":
        twist = msg.twist if typename == TWIST_STAMPED else msg
        value = (twist.linear.x, twist.angular.z)
    else:
        value = None
    return (_stamp(msg) if hasattr(msg, "header") else np.nan), value


@dataclass
class Conversion:
    """Result of a bag conversion: the dataset plus what was read and dropped."""

    data: Dataset
    read: ReadStats
    align: AlignStats

    def summary(self) -> str:
        r = self.read
        lines = [f"storage: {r.storage}"]
        if r.salvaged:
            lines.append(f"WARNING: damaged bag salvaged: {r.salvaged}")
        if r.stopped_early:
            lines.append(f"WARNING: reading stopped early (truncated bag?): {r.stopped_early}")
        for name in ("undecodable", "padded", "unstamped", "missing_joints"):
            counts = getattr(r, name)
            if counts:
                lines.append(
                    f"{name.replace('_', ' ')}: "
                    + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
                )
        return "\n".join([*lines, self.align.summary()])


def _times(streams: Streams, key: str, time_source: TimeSource, offset: Any) -> NDArray:
    """Times of one input on the alignment clock."""
    log_t = np.asarray(streams.log_t[key])
    if time_source == "receive":
        return log_t
    stamp = np.asarray(streams.stamp[key])
    missing = np.isnan(stamp)
    if missing.any():
        stamp = stamp.copy()
        stamp[missing] = offset(log_t[missing])
    return stamp


def _offset_map(streams: Streams) -> Any:
    """Receive time -> header clock, via the nearest earlier (else first) tick message."""
    log_t = np.asarray(streams.log_t.get("joint_commands", []))
    stamp = np.asarray(streams.stamp.get("joint_commands", []))
    ok = ~np.isnan(stamp)
    log_t, off = log_t[ok], (stamp - log_t)[ok] if ok.any() else np.zeros(0)

    def to_stamp(t: NDArray) -> NDArray:
        if not log_t.size:
            return t
        i = np.clip(np.searchsorted(log_t, t, side="right") - 1, 0, log_t.size - 1)
        return t + off[i]

    return to_stamp


def _clock_segments(stamp: NDArray, clock_jump: float) -> NDArray[np.intp]:
    """Segment index of each message: +1 at every header clock jump back > ``clock_jump``
    (relative to the newest stamp of the current segment). NaN stamps stay in the segment."""
    seg = np.zeros(stamp.size, np.intp)
    filled = np.where(np.isnan(stamp), -np.inf, stamp)
    start = 0
    while start < stamp.size:  # one pass per segment: jumps are rare
        top = np.maximum.accumulate(filled[start:])
        jump = np.flatnonzero(filled[start + 1 :] < top[:-1] - clock_jump)
        jump = jump[~np.isneginf(filled[start + 1 :][jump])]
        if not jump.size:
            break
        start += int(jump[0]) + 1
        seg[start:] += 1
    return seg


def _segments(
    streams: Streams, time_source: TimeSource, clock_jump: float
) -> tuple[dict[str, NDArray], int]:
    """Per input, the clock segment of each message, and the number of segments.

    The ``/joint_commands`` clock defines the segments. A stamped input with the same number
    of jumps is split at its own jumps (exact even when its messages were received slightly
    before or after the commands'); any other input is split at the commands' receive times.
    """
    keys = list(streams.log_t)
    if time_source == "receive":
        return {k: np.zeros(len(streams.log_t[k]), np.intp) for k in keys}, 1
    ticks = _clock_segments(np.asarray(streams.stamp["joint_commands"]), clock_jump)
    n = int(ticks[-1]) + 1 if ticks.size else 1
    tick_log = np.asarray(streams.log_t["joint_commands"])
    bounds = tick_log[np.flatnonzero(np.diff(ticks)) + 1]
    out = {"joint_commands": ticks}
    for key in keys:
        if key == "joint_commands":
            continue
        own = _clock_segments(np.asarray(streams.stamp[key]), clock_jump)
        stamped = not np.isnan(np.asarray(streams.stamp[key])).all()
        if stamped and own.size and int(own[-1]) + 1 == n:
            out[key] = own
        else:
            out[key] = np.searchsorted(bounds, np.asarray(streams.log_t[key]), side="right")
    return out, n


def align_streams(
    streams: Streams,
    config: AlignConfig,
    meta: dict[str, Any],
    time_source: TimeSource = "header",
) -> tuple[Dataset, AlignStats]:
    """Align decoded bag streams into transitions (segment by segment)."""
    offset = _offset_map(streams)
    segments, n_segments = _segments(streams, time_source, config.clock_jump)
    aligner = Aligner(config, meta)
    parts = []
    for s in range(n_segments):
        for key, seg in segments.items():
            pick = np.flatnonzero(seg == s) if n_segments > 1 else np.arange(seg.size)
            if pick.size:
                t = _times(streams, key, time_source, offset)[pick]
                values = streams.values[key]
                _feed(aligner, key, t, [values[i] for i in pick] if n_segments > 1 else values)
        parts.append(aligner.new_segment() if s < n_segments - 1 else aligner.finish())
    return concat_datasets(parts, meta), aligner.stats


def _feed(aligner: Aligner, key: str, t: NDArray, values: list[Any]) -> None:
    if key == "joint_states":
        arr = _joint_matrix(values)
        aligner.add_joint_states(t, arr[:, 0], arr[:, 1])
    elif key == "joint_commands":
        arr = _joint_matrix(values)
        aligner.add_ticks(t, command_to_action(JointCommand(arr[:, 0], arr[:, 1])))
    elif key == "imu":
        arr = np.array(values, dtype=np.float64)
        aligner.add_imu(t, arr[:, :4], arr[:, 4:])
    elif key == "cmd_vel":
        aligner.add_cmd_vel(t, np.array(values, dtype=np.float64))
    elif key == "reset":
        aligner.add_resets(t)


def convert_bag(
    bag: str | Path,
    config: AlignConfig,
    topics: BagTopics = BagTopics(),
    time_source: TimeSource = "header",
    strict: bool = False,
    progress: bool = False,
    source: dict[str, Any] | None = None,
) -> Conversion:
    """Read, decode and align a bag into a dataset (not written; see :func:`save_dataset`).

    Args:
        bag: rosbag2 folder (or a single ``.mcap``/``.db3`` file).
        config: alignment settings (task, rate, max age, ...).
        topics: topic names.
        time_source: ``"header"`` stamps or ``"receive"`` times (see the module docstring).
        strict: an unreadable message or truncated file is an error instead of a warning.
        progress: show a progress bar.
        source: extra metadata for ``meta["source"]`` (e.g. ``{"robot": "wl-01"}``).

    Raises:
        DatasetError: see :func:`read_bag`; also when no transition could be formed.
    """
    streams, read = read_bag(bag, topics, strict=strict, progress=progress)
    src = {
        "kind": "bag",
        "path": str(Path(bag).resolve()),
        "storage": read.storage,
        "topics": asdict(topics),
        "time_source": time_source,
        **(source or {}),
    }
    meta = make_meta(config.task, config.control_hz, src, align=_config_dict(config))
    data, align = align_streams(streams, config, meta, time_source)
    meta["conversion"] = {"read": read.as_dict(), "align": align.as_dict()}
    data = data._replace(meta=meta)
    result = Conversion(data, read, align)
    if not data.size:
        raise DatasetError(f"{bag}: no transition could be formed\n{result.summary()}")
    return result


def _config_dict(config: AlignConfig) -> dict[str, Any]:
    d = asdict(config)
    d["max_age"], d["max_tick_interval"] = config.age_limit, config.interval_limit
    return d
