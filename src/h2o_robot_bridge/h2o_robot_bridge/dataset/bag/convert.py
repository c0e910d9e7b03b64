"""rosbag2 (sqlite3 or MCAP) -> dataset: the streams of :mod:`.reader` through the aligner.

The decoded streams are handed to the same :class:`~h2o_robot_bridge.dataset.align.Aligner`
the live recorder uses.

Times: ``time_source="header"`` (default) uses header stamps (the clock the robot or the sim
stamps with; a zero stamp falls back to the bag's receive time); ``"receive"`` uses the bag's
receive times for everything (for logs whose publishers' clocks disagree). Header-less topics
(``/cmd_vel``, also as ``TwistStamped``, and the reset topic) are mapped onto the header clock
through the
stamp/receive offsets of the ``/joint_commands`` messages around them in the same clock
segment (:func:`~h2o_robot_bridge.dataset.clock.receive_to_stamp`).

Time you can trust: a stamp going back in any stream, by any amount (a restarted clock, a
reordered or replayed message), splits the bag into clock segments
(:class:`~h2o_robot_bridge.dataset.clock.ClockSplitter`) that are aligned separately; two
overlapping stretches of stamps are never sorted into one timeline. Every split is reported
(``AlignStats.splits``). The ``/cmd_vel`` command in effect at a split stays in effect after
it until the next command message. The invariant, tested with random jumps, gaps, duplicates
and reorders: no row uses a sample from after its tick, or older than ``max_age`` before it.
"""

from __future__ import annotations

from collections import Counter
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
from h2o_robot_bridge.dataset.clock import ClockSplitter, Decision, receive_to_stamp
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


def split_log(
    streams: Streams, time_source: TimeSource, window: float
) -> tuple[dict[str, NDArray[np.intp]], ClockSplitter]:
    """Per input, the clock segment of each message (-1: dropped), and the splitter that
    found them (its ``splits``, ``dropped``, ``segment`` = last segment index).

    Messages are taken in receive order (the bag's order; ties in key order). Only where a
    stream's stamps go back does the splitter see messages one by one: before the first such
    message everything is segment 0.
    """
    splitter = ClockSplitter(window)
    keys = list(streams.log_t)
    seg = {k: np.zeros(len(streams.log_t[k]), np.intp) for k in keys}
    if time_source == "receive" or not keys:
        return seg, splitter
    log = [np.asarray(streams.log_t[k], np.float64) for k in keys]
    stamp = [_header_stamps(streams, k) for k in keys]
    first_back = np.inf
    for t, s in zip(log, stamp, strict=True):
        filled = np.where(np.isnan(s), -np.inf, s)
        back = np.flatnonzero(filled[1:] < np.maximum.accumulate(filled)[:-1]) + 1
        if back.size:
            first_back = min(first_back, float(t[back[0]]))
    if not np.isfinite(first_back):
        return seg, splitter  # every stream moves forward: one segment
    for k, t, s in zip(keys, log, stamp, strict=True):  # the splitter's state at first_back
        before = s[(t < first_back) & ~np.isnan(s)]
        if before.size:
            splitter.prime(k, float(before.max()))
    all_t = np.concatenate(log)
    which = np.concatenate([np.full(t.size, i) for i, t in enumerate(log)])
    index = np.concatenate([np.arange(t.size) for t in log])
    order = np.argsort(all_t, kind="stable")
    order = order[all_t[order] >= first_back]
    all_s = np.concatenate(stamp)
    # Python lists: the loop is per message, numpy scalars would cost more than the decision.
    names = [keys[i] for i in which[order].tolist()]
    decided = np.asarray(
        [
            -1 if splitter.feed(k, s, t) is Decision.DROP else splitter.segment
            for k, s, t in zip(names, all_s[order].tolist(), all_t[order].tolist(), strict=True)
        ],
        np.intp,
    )
    for i, k in enumerate(keys):
        mine = which[order] == i
        seg[k][index[order][mine]] = decided[mine]
    return seg, splitter


def align_streams(
    streams: Streams,
    config: AlignConfig,
    meta: dict[str, Any],
    time_source: TimeSource = "header",
) -> tuple[Dataset, AlignStats]:
    """Align decoded bag streams into transitions, clock segment by clock segment.

    Invariant (header time): a row's samples all come from one segment, in which every
    stream's stamps only move forward; within it the aligner takes, for each tick, the newest
    sample at or before the tick and at most ``max_age`` older (see :mod:`..clock` for how
    segments are cut and what cannot be detected).
    """
    segments, splitter = split_log(streams, time_source, config.split_window)
    n_segments = splitter.segment + 1
    aligner = Aligner(config, meta)
    bounds = {k: _segment_bounds(seg, n_segments) for k, seg in segments.items()}
    parts = []
    for s in range(n_segments):
        ticks = bounds.get("joint_commands", {}).get(s, np.zeros(0, np.intp))
        tick_log = np.asarray(streams.log_t["joint_commands"])[ticks]
        tick_stamp = np.asarray(streams.stamp["joint_commands"])[ticks]

        def offset(t: NDArray, tl: NDArray = tick_log, ts: NDArray = tick_stamp) -> NDArray:
            return receive_to_stamp(tl, ts, t)

        for key, per_segment in bounds.items():
            pick = per_segment.get(s)
            if pick is not None and pick.size:
                t = _times(streams, key, time_source, offset, pick)
                values = streams.values[key]
                _feed(
                    aligner,
                    key,
                    t,
                    values if pick.size == len(values) else [values[i] for i in pick],
                )
        parts.append(aligner.new_segment() if s < n_segments - 1 else aligner.finish())
    stats = aligner.stats
    stats.splits = [split.as_dict() for split in splitter.splits]
    stats.stragglers = Counter(splitter.dropped)
    return concat_datasets(parts, meta), stats


RECEIVE_TIMED = ("cmd_vel", "reset")
"""Inputs placed by receive time even when stamped: a ``TwistStamped`` often comes from another
machine (a teleop laptop) whose clock is not the robot's, and a command only acts once the
robot has received it."""


def _header_stamps(streams: Streams, key: str) -> NDArray:
    """Header stamps of one input [s] (NaN: none, or an input placed by receive time)."""
    if key in RECEIVE_TIMED:
        return np.full(len(streams.log_t[key]), np.nan)
    return np.asarray(streams.stamp[key], np.float64)


def _segment_bounds(seg: NDArray[np.intp], n_segments: int) -> dict[int, NDArray[np.intp]]:
    """Message indices of each segment (segments are non-decreasing in receive order)."""
    kept = np.flatnonzero(seg >= 0)
    edges = np.searchsorted(seg[kept], np.arange(n_segments + 1))
    return {s: kept[edges[s] : edges[s + 1]] for s in range(n_segments) if edges[s + 1] > edges[s]}


def _times(
    streams: Streams, key: str, time_source: TimeSource, offset: Any, pick: NDArray[np.intp]
) -> NDArray:
    """Times of the messages ``pick`` of one input on the alignment clock."""
    log_t = np.asarray(streams.log_t[key])[pick]
    if time_source == "receive":
        return log_t
    stamp = _header_stamps(streams, key)[pick]
    missing = np.isnan(stamp)
    if missing.any():
        stamp = stamp.copy()
        stamp[missing] = offset(log_t[missing])
    return stamp


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
        topics: topic names (relative ones are read at the bag's root: ``.resolved(ns)``
            them for a robot run in namespace ``ns``).
        time_source: ``"header"`` stamps or ``"receive"`` times (see the module docstring).
        strict: an unreadable message or truncated file is an error instead of a warning.
        progress: show a progress bar.
        source: extra metadata for ``meta["source"]`` (e.g. ``{"robot": "wl-01"}``).

    Raises:
        DatasetError: see :func:`read_bag`; also when no transition could be formed.
    """
    topics = topics.resolved()  # the names as the bag stores them (and the metadata says)
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
