"""The live recorder's core (no ROS): aligner + crash-safe writer + recording window.

The ``dataset_recorder`` node converts messages with
:mod:`h2o_robot_bridge.conversions.from_msg` and calls the ``on_*`` methods; a timer calls
:meth:`Recorder.step`, which aligns what is old enough
(``process_delay`` behind the newest stamp, so messages of different topics that arrive in a
different order than stamped still meet) and lets the writer flush. The rows are the ones a bag
of the same messages converts to (one shared :class:`Aligner`).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from h2o_robot_bridge.contract import JointCommand, command_to_action
from h2o_robot_bridge.contract.topics import topic_parameters
from h2o_robot_bridge.dataset.align import AlignConfig, Aligner
from h2o_robot_bridge.dataset.bag.reader import BAG_TOPICS, BagTopics, TimeSource
from h2o_robot_bridge.dataset.chunked import ChunkedWriter
from h2o_robot_bridge.dataset.clock import OFFSET_WINDOW, ClockSplitter, Decision, receive_to_stamp
from h2o_robot_bridge.dataset.schema import make_meta
from h2o_robot_bridge.errors import ConfigError


@dataclass(frozen=True)
class RecorderConfig:
    """Everything the recorder node is configured with (validated at construction).

    Attributes:
        output: dataset file written on clean shutdown (chunks in ``output.partial/`` meanwhile).
        align: alignment settings (task, rate, max age, ...).
        topics: topic names.
        time_source: ``header`` stamps or ``receive`` times (wall clock at reception).
        process_delay: align ticks only this far behind the newest stamp [s].
        flush_interval: make rows durable at least this often [s].
        overwrite: replace an existing ``output``.
        autostart: record from the start (else wait for the start service).
        best_effort: subscribe best-effort (accepts sensor-data and reliable publishers).
        robot_id: saved in the metadata's source.
    """

    output: str
    align: AlignConfig = AlignConfig()
    topics: BagTopics = BagTopics()
    time_source: TimeSource = "header"
    process_delay: float = 0.1
    flush_interval: float = 0.5
    overwrite: bool = False
    autostart: bool = True
    best_effort: bool = True
    robot_id: str = ""

    def __post_init__(self) -> None:
        if not self.output:
            raise ConfigError("output is empty: set the dataset file to write (output:=x.h5)")
        if self.time_source not in ("header", "receive"):
            raise ConfigError(f"time_source must be header or receive, not {self.time_source!r}")
        if not self.process_delay >= 0:
            raise ConfigError(f"process_delay must be >= 0, got {self.process_delay}")
        if not 0 < self.flush_interval <= 1.0:
            raise ConfigError(
                f"flush_interval must be in (0, 1] s (a crash loses at most that much), "
                f"got {self.flush_interval}"
            )
        for name, topic in asdict(self.topics).items():
            if not topic:
                raise ConfigError(f"topic for {name} is empty")


PARAMETERS: dict[str, Any] = {
    "output": "",
    "overwrite": False,
    "task": "stand",
    "control_hz": 100.0,
    "max_age": 0.0,  # 0: 2.5 control periods
    "max_tick_interval": 0.0,  # 0: 1.5 control periods
    "split_window": 0.1,
    "resume_after_fall": "upright",
    "time_limit": True,
    "allow_repeated_samples": False,
    "time_source": "header",
    "process_delay": 0.1,
    "flush_interval": 0.5,
    "autostart": True,
    "best_effort": True,
    "robot_id": "",
    **topic_parameters(BAG_TOPICS),
}
"""The ``dataset_recorder`` node's ROS parameters and their defaults."""


def config_from_parameters(p: Mapping[str, Any]) -> RecorderConfig:
    """Parameter values -> validated :class:`RecorderConfig` (ConfigError when invalid)."""
    align = AlignConfig(
        task=p["task"],
        control_hz=float(p["control_hz"]),
        max_age=float(p["max_age"]) or None,
        max_tick_interval=float(p["max_tick_interval"]) or None,
        split_window=float(p["split_window"]),
        resume_after_fall=p["resume_after_fall"],
        time_limit=bool(p["time_limit"]),
        allow_repeated_samples=bool(p["allow_repeated_samples"]),
    )
    topics = BagTopics.from_parameters(p)
    return RecorderConfig(
        output=p["output"],
        align=align,
        topics=topics,
        time_source=p["time_source"],
        process_delay=float(p["process_delay"]),
        flush_interval=float(p["flush_interval"]),
        overwrite=bool(p["overwrite"]),
        autostart=bool(p["autostart"]),
        best_effort=bool(p["best_effort"]),
        robot_id=p["robot_id"],
    )


class Recorder:
    """Recording state machine; every method is cheap enough for a message callback."""

    def __init__(self, config: RecorderConfig) -> None:
        self.config = config
        source = {
            "kind": "live",
            "topics": asdict(config.topics),
            "time_source": config.time_source,
        }
        if config.robot_id:
            source["robot"] = config.robot_id
        cfg = config.align
        self.meta = make_meta(cfg.task, cfg.control_hz, source)
        self.writer = ChunkedWriter(
            config.output, self.meta, config.flush_interval, config.overwrite
        )
        self.aligner = Aligner(cfg, self.meta)
        self.recording = config.autostart
        self.splitter = ClockSplitter(cfg.split_window)
        self._ticks: list[tuple[float, float]] = []  # recent (receive, stamp) of kept ticks
        self._later: list[tuple[float, Callable[[float], None]]] = []  # header-less, waiting
        self._last_receive = -np.inf

    # -- message inputs: stamps on the header clock [s], receive times on the wall clock ------
    def _stamped(self, stream: str, stamp: float, receive_t: float) -> float | None:
        """Alignment time of a stamped message; None: drop it. Splits the recording where the
        stamps go back (:class:`ClockSplitter`, the converter's rule)."""
        self._last_receive = max(self._last_receive, receive_t)
        if self.config.time_source == "receive":
            return receive_t
        decision = self.splitter.feed(stream, stamp, receive_t)
        if decision is Decision.DROP:
            return None
        if decision is Decision.SPLIT:  # header-less messages so far belong to the old segment
            self._place_unstamped(np.inf)
            self._ticks.clear()
            self._write(self.aligner.new_segment())
        return stamp

    def _unstamped(self, receive_t: float, add: Callable[[float], None]) -> None:
        """A message without a header stamp: placed once the next tick has arrived (the
        converter's :func:`receive_to_stamp` over the same ticks)."""
        self._last_receive = max(self._last_receive, receive_t)
        if self.config.time_source == "receive":
            add(receive_t)
        elif self.recording:
            self._later.append((receive_t, add))

    def _place_unstamped(self, before: float) -> None:
        """Hand the header-less messages received before ``before`` [s] to the aligner."""
        due = [m for m in self._later if m[0] < before]
        if not due:
            return
        self._later = [m for m in self._later if m[0] >= before]
        r = np.array([t[0] for t in self._ticks])
        s = np.array([t[1] for t in self._ticks])
        times = receive_to_stamp(r, s, np.array([m[0] for m in due]))
        for (_, add), t in zip(due, times.tolist(), strict=True):
            add(t)

    def _sync_split_stats(self) -> None:
        stats = self.aligner.stats
        stats.splits = [split.as_dict() for split in self.splitter.splits]
        stats.stragglers = Counter(self.splitter.dropped)

    def on_joint_state(
        self, stamp: float, receive_t: float, position: ArrayLike, velocity: ArrayLike
    ) -> None:
        if stamp == 0.0:
            self._unstamped(
                receive_t, lambda t: self.aligner.add_joint_states(t, position, velocity)
            )
            return
        t = self._stamped("joint_states", stamp, receive_t)
        if self.recording and t is not None:
            self.aligner.add_joint_states(t, position, velocity)

    def on_imu(self, stamp: float, receive_t: float, quat: ArrayLike, ang_vel: ArrayLike) -> None:
        if stamp == 0.0:
            self._unstamped(receive_t, lambda t: self.aligner.add_imu(t, quat, ang_vel))
            return
        t = self._stamped("imu", stamp, receive_t)
        if self.recording and t is not None:
            self.aligner.add_imu(t, quat, ang_vel)

    def on_joint_command(self, stamp: float, receive_t: float, command: JointCommand) -> None:
        action = command_to_action(command)
        if stamp == 0.0:
            self._unstamped(receive_t, lambda t: self.aligner.add_ticks(t, action))
            return
        t = self._stamped("joint_commands", stamp, receive_t)
        if t is None:
            return
        if self.recording:
            self.aligner.add_ticks(t, action)
        if self.config.time_source == "header":
            self._ticks.append((receive_t, stamp))
            self._place_unstamped(receive_t)
            while self._ticks[0][0] < receive_t - OFFSET_WINDOW:  # the newest always stays
                self._ticks.pop(0)

    def on_cmd_vel(self, receive_t: float, command: ArrayLike) -> None:
        """A command (``Twist``, or ``TwistStamped`` whose stamp is not used: the converter's
        rule, see ``RECEIVE_TIMED``)."""
        self._unstamped(receive_t, lambda t: self.aligner.add_cmd_vel(t, command))

    def on_reset(self, receive_t: float) -> None:
        self._unstamped(receive_t, self.aligner.add_resets)

    # -- control ------------------------------------------------------------------------------
    def step(self) -> int:
        """Align what is old enough, append it, flush when due; returns rows appended."""
        self._place_unstamped(self._last_receive - self.config.process_delay)
        until = self.aligner.newest_stamp - self.config.process_delay
        rows = self.aligner.process(until) if np.isfinite(until) else None
        n = self._write(rows)
        self.writer.flush_if_due()
        return n

    def start(self) -> str:
        """Begin recording (a new episode)."""
        if self.recording:
            return "already recording"
        self.recording = True
        return "recording"

    def stop(self) -> str:
        """Stop recording: the open episode ends (truncated) and is made durable."""
        if not self.recording:
            return "not recording"
        self.recording = False
        self._place_unstamped(np.inf)
        n = self._write(self.aligner.finish())
        self.writer.flush()
        return f"stopped; {n} more rows, {self.writer.rows_flushed} in total"

    def close(self) -> Path:
        """Finish the open episode and write the final dataset file (with the statistics)."""
        self._place_unstamped(np.inf)
        self._write(self.aligner.finish())
        self._sync_split_stats()
        self.writer.meta["conversion"] = {"align": self.aligner.stats.as_dict()}
        return self.writer.close()

    def status(self) -> dict[str, Any]:
        """Counters for logs and diagnostics."""
        self._sync_split_stats()
        return {
            "recording": self.recording,
            "rows_flushed": self.writer.rows_flushed,
            "rows_pending": self.writer.rows_pending,
            **self.aligner.stats.as_dict(),
        }

    def _write(self, rows: Any) -> int:
        if rows is None or not rows.size:
            return 0
        self.writer.append(rows)
        return rows.size


def wall_time() -> float:
    """Receive time [s] (wall clock)."""
    return time.time()
