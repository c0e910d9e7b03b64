"""rosbag2 (sqlite3 or MCAP) -> dataset: the streams of :mod:`.reader` through the aligner.

The decoded streams are handed to the same :class:`~h2o_robot_bridge.dataset.align.Aligner`
the live recorder uses.

Times: ``time_source="header"`` (default) uses header stamps (the clock the robot or the sim
stamps with; a zero stamp falls back to the bag's receive time); ``"receive"`` uses the bag's
receive times for everything (for logs whose publishers' clocks disagree). Header-less topics
(``/cmd_vel`` as ``Twist``, the reset topic) are mapped onto the header clock through the
stamp/receive offset of the nearest ``/joint_commands`` message. A header clock going back by
more than ``clock_jump`` (a restarted robot or sim clock) splits the bag into segments that are
aligned separately.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from h2o_robot_bridge.contract import JointCommand, command_to_action
from h2o_robot_bridge.dataset.align import AlignConfig, Aligner, AlignStats
from h2o_robot_bridge.dataset.bag.reader import (
    BagTopics,
    ReadStats,
    Streams,
    TimeSource,
    joint_matrix,
    read_bag,
)
from h2o_robot_bridge.dataset.schema import Dataset, concat_datasets, make_meta
from h2o_robot_bridge.errors import DatasetError


@dataclass
class Conversion:
    """Result of a bag conversion: the dataset plus what was read and dropped."""

    data: Dataset
    read: ReadStats
    align: AlignStats

    def summary(self) -> str:
        return "\n".join([*self.read.summary_lines(), self.align.summary()])


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
        arr = joint_matrix(values)
        aligner.add_joint_states(t, arr[:, 0], arr[:, 1])
    elif key == "joint_commands":
        arr = joint_matrix(values)
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
    topics: BagTopics = BagTopics(),  # noqa: B008 (frozen)
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
