"""Time alignment of robot topics into transitions at the control rate (pure, streaming).

Rows are driven by *ticks*: the ``/joint_commands`` messages, i.e. the actions really sent.
At tick k (time t_k) the observation is built with the contract's ``build_observation`` from

- the newest ``/joint_states`` and ``/imu/data`` sample with stamp <= t_k, each at most
  ``max_age`` old (otherwise the tick is dropped and counted: never stale, never future data);
- the newest ``/cmd_vel`` at or before t_k (the task's default command before the first one);
- ``prev_action`` = the action of tick k-1 when the two ticks are linked (at most
  ``max_tick_interval`` apart, no reset between, tick k-1's command valid), zeros otherwise
  (the env's value after a reset).

A transition ``(o_k, a_k, r_k, o_{k+1})`` is formed between two consecutive linked ticks whose
observations are both valid, and whose start ``o_k`` is not a fall. The reward and the terminal
flag come from the contract task (``task.reward``, ``task.terminated``), exactly as the env
computes them. Episodes end with ``terminals`` (a fall) or ``timeouts`` (time limit of the task,
a reset, a gap, a dropped tick, the end of the log). After a fall, ticks are skipped until a
reset (or, with ``resume_after_fall="upright"``, until the robot is upright again).

The same :class:`Aligner` serves bag conversion (all messages at once, ``process()``) and the
live recorder (messages one by one, ``process(until=latest_stamp - delay)``): both produce the
same rows for the same messages.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from h2o_robot_bridge.contract import (
    ACTION_DIM,
    NUM_JOINTS,
    OBS_DIM,
    build_observation,
    get_task,
)
from h2o_robot_bridge.dataset.schema import KEYS, Dataset, concat_datasets, empty_dataset
from h2o_robot_bridge.errors import ConfigError

ResumeMode = Literal["upright", "reset"]


@dataclass(frozen=True)
class AlignConfig:
    """Alignment settings.

    Attributes:
        task: contract task (reward, termination, time limit, default command).
        control_hz: nominal control rate [Hz].
        max_age: newest joint state / IMU sample may be at most this old at a tick [s];
            None = 2.5 control periods.
        max_tick_interval: longest accepted time between two ticks of one transition [s];
            None = 1.5 control periods (a longer one is a gap: rate drop, lost message).
        clock_jump: a stamp going back by more than this [s] starts a new segment (clock reset).
        resume_after_fall: after a fall, start a new episode at the next ``reset`` only, or
            also as soon as the robot is ``upright`` again (when resets are not logged).
        time_limit: truncate episodes at the task's time limit, as the env does.
    """

    task: str = "stand"
    control_hz: float = 100.0
    max_age: float | None = None
    max_tick_interval: float | None = None
    clock_jump: float = 1.0
    resume_after_fall: ResumeMode = "upright"
    time_limit: bool = True

    def __post_init__(self) -> None:
        get_task(self.task)  # ConfigError for an unknown task
        if not self.control_hz > 0:
            raise ConfigError(f"control_hz must be positive, got {self.control_hz}")
        for name in ("max_age", "max_tick_interval"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ConfigError(f"{name} must be positive, got {value}")
        if not self.clock_jump > 0:
            raise ConfigError(f"clock_jump must be positive, got {self.clock_jump}")
        if self.resume_after_fall not in ("upright", "reset"):
            raise ConfigError(
                f"resume_after_fall must be 'upright' or 'reset', got {self.resume_after_fall!r}"
            )

    @property
    def age_limit(self) -> float:
        """Effective ``max_age`` [s]."""
        return 2.5 / self.control_hz if self.max_age is None else self.max_age

    @property
    def interval_limit(self) -> float:
        """Effective ``max_tick_interval`` [s]."""
        return 1.5 / self.control_hz if self.max_tick_interval is None else self.max_tick_interval


@dataclass
class AlignStats:
    """What the aligner saw and did (all counts).

    Attributes:
        messages: samples received per input.
        out_of_order: samples whose stamp was older than an earlier sample of the same input
            (kept, re-sorted).
        duplicates: samples with a stamp equal to an earlier one of the same input (dropped).
        ticks: ticks processed.
        dropped_ticks: ticks without a valid observation, by reason.
        lost_transitions: tick pairs that formed no transition, by reason (``gap``: ticks too
            far apart; ``reset``; ``after_fall``; ``dropped_tick``: an end was dropped).
        actions_clipped: commands outside the action range, clipped to [-1, 1].
        rows: transitions produced; episodes: episodes ended; terminals: falls.
        segments: clock segments (1 + clock jumps).
    """

    messages: Counter = field(default_factory=Counter)
    out_of_order: Counter = field(default_factory=Counter)
    duplicates: Counter = field(default_factory=Counter)
    ticks: int = 0
    dropped_ticks: Counter = field(default_factory=Counter)
    lost_transitions: Counter = field(default_factory=Counter)
    actions_clipped: int = 0
    rows: int = 0
    episodes: int = 0
    terminals: int = 0
    segments: int = 1

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly summary (saved in the dataset metadata)."""
        out: dict[str, Any] = {}
        for key, value in self.__dict__.items():
            out[key] = dict(sorted(value.items())) if isinstance(value, Counter) else value
        return out

    def summary(self) -> str:
        """Human-readable lines: what was read, produced, dropped and why."""
        d = self.as_dict()
        lines = [
            "messages read: " + _fmt(d["messages"]),
            f"ticks: {self.ticks}, transitions: {self.rows}, episodes: {self.episodes} "
            f"({self.terminals} falls), clock segments: {self.segments}",
            "ticks dropped: " + _fmt(d["dropped_ticks"]),
            "transitions not formed: " + _fmt(d["lost_transitions"]),
            "out-of-order stamps (re-sorted): " + _fmt(d["out_of_order"]),
            "duplicate stamps (dropped): " + _fmt(d["duplicates"]),
            f"actions clipped to [-1, 1]: {self.actions_clipped}",
        ]
        return "\n".join(lines)


def _fmt(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items()) if counts else "none"


class _Stream:
    """Samples of one input (time + fixed-width values), kept sorted by time."""

    def __init__(self, name: str, width: int, stats: AlignStats) -> None:
        self.name, self.width, self.stats = name, width, stats
        self.t = np.empty(0)
        self.v = np.empty((0, width))
        self._new_t: list[NDArray] = []
        self._new_v: list[NDArray] = []
        self.last_t = -np.inf  # newest stamp ever added (for out-of-order counting)

    def add(self, t: ArrayLike, v: ArrayLike) -> None:
        t = np.atleast_1d(np.asarray(t, dtype=np.float64))
        v = np.asarray(v, dtype=np.float64).reshape(t.size, self.width)
        if not t.size:
            return
        self.stats.messages[self.name] += t.size
        running = np.maximum.accumulate(np.concatenate([[self.last_t], t]))[:-1]
        late = int(np.count_nonzero(t < running))
        if late:
            self.stats.out_of_order[self.name] += late
        self.last_t = max(self.last_t, float(t.max()))
        self._new_t.append(t)
        self._new_v.append(v)

    def consolidate(self) -> None:
        """Merge new samples in, sorted by time; drop later samples with a repeated stamp."""
        if not self._new_t:
            return
        t = np.concatenate([self.t, *self._new_t])
        v = np.concatenate([self.v, *self._new_v])
        self._new_t, self._new_v = [], []
        if np.any(np.diff(t) < 0):
            order = np.argsort(t, kind="stable")
            t, v = t[order], v[order]
        dup = np.concatenate([[False], np.diff(t) == 0])
        if dup.any():
            self.stats.duplicates[self.name] += int(dup.sum())
            t, v = t[~dup], v[~dup]
        self.t, self.v = t, v

    def latest_index(self, ticks: NDArray) -> NDArray[np.intp]:
        """Index of the newest sample at or before each tick time (-1: none)."""
        return np.searchsorted(self.t, ticks, side="right") - 1

    def trim(self, before: float) -> None:
        """Forget samples older than the newest one at or before ``before``."""
        keep = max(int(np.searchsorted(self.t, before, side="right")) - 1, 0)
        if keep:
            self.t, self.v = self.t[keep:], self.v[keep:]

    def clear(self) -> None:
        self.t, self.v = np.empty(0), np.empty((0, self.width))
        self._new_t, self._new_v = [], []
        self.last_t = -np.inf


@dataclass
class _Carry:
    """State carried from one :meth:`Aligner.process` call to the next."""

    tick_t: float = -np.inf  # time of the last processed tick
    tick_valid: bool = False  # its observation was valid
    action: NDArray | None = None  # its action (None: no tick yet or an invalid command)
    obs: NDArray | None = None  # its observation, if it may start a row
    fallen: bool = False  # a fall ended the last episode; waiting for a reset / upright
    step: int = 0  # rows in the current episode
    held: dict[str, Any] | None = None  # newest row: flags not final yet


class Aligner:
    """Streaming aligner: add samples (any order within ``max_age``), take finished rows.

    Times are seconds on one clock (header stamps, or receive times: the caller chooses).
    Values are in contract order (see the ``add_*`` methods).

    Args:
        config: alignment settings.
        meta: metadata of the rows produced (its ``command`` is the default task command).
    """

    def __init__(self, config: AlignConfig, meta: dict[str, Any]) -> None:
        self.config = config
        self.task = get_task(config.task)
        self.meta = meta
        self.stats = AlignStats()
        self.joints = _Stream("joint_states", 2 * NUM_JOINTS, self.stats)
        self.imu = _Stream("imu", 7, self.stats)
        self.cmd = _Stream("cmd_vel", 2, self.stats)
        self.ticks = _Stream("joint_commands", ACTION_DIM, self.stats)
        self.resets = _Stream("resets", 0, self.stats)
        self._streams = (self.joints, self.imu, self.cmd, self.ticks, self.resets)
        self._carry = _Carry()
        self._max_steps = self.task.max_episode_steps(config.control_hz)

    # -- inputs -------------------------------------------------------------------------------
    def add_joint_states(self, t: ArrayLike, position: ArrayLike, velocity: ArrayLike) -> None:
        """Joint positions [rad] and velocities [rad/s], (n, NUM_JOINTS), at times t (n,)."""
        n = np.atleast_1d(t).size
        pos = np.asarray(position, dtype=np.float64).reshape(n, NUM_JOINTS)
        vel = np.asarray(velocity, dtype=np.float64).reshape(n, NUM_JOINTS)
        self.joints.add(t, np.concatenate([pos, vel], axis=1))

    def add_imu(self, t: ArrayLike, quat_xyzw: ArrayLike, ang_vel: ArrayLike) -> None:
        """Orientation (n, 4) x, y, z, w and angular velocity (n, 3) [rad/s], base frame."""
        n = np.atleast_1d(t).size
        q = np.asarray(quat_xyzw, dtype=np.float64).reshape(n, 4)
        w = np.asarray(ang_vel, dtype=np.float64).reshape(n, 3)
        self.imu.add(t, np.concatenate([q, w], axis=1))

    def add_cmd_vel(self, t: ArrayLike, command: ArrayLike) -> None:
        """Task commands (n, 2): forward speed [m/s], yaw rate [rad/s]."""
        self.cmd.add(t, command)

    def add_ticks(self, t: ArrayLike, action: ArrayLike) -> None:
        """Actions sent (n, ACTION_DIM), NaN where the command could not be decoded."""
        self.ticks.add(t, action)

    def add_resets(self, t: ArrayLike) -> None:
        """Robot resets (episode starts) at times t."""
        t = np.atleast_1d(np.asarray(t, dtype=np.float64))
        self.resets.add(t, np.empty((t.size, 0)))

    @property
    def newest_stamp(self) -> float:
        """Newest time added to any input (-inf before the first)."""
        return max(s.last_t for s in self._streams)

    # -- outputs ------------------------------------------------------------------------------
    def process(self, until: float = np.inf) -> Dataset:
        """Rows for all ticks at or before ``until`` whose flags are final.

        The newest row is held back until the next tick shows whether its episode goes on;
        :meth:`finish` releases it.
        """
        for stream in self._streams:
            stream.consolidate()
        c = self._carry
        lo = int(np.searchsorted(self.ticks.t, c.tick_t, side="right"))
        hi = int(np.searchsorted(self.ticks.t, until, side="right"))
        if hi <= lo:
            return empty_dataset(self.meta)
        rows = self._rows(self.ticks.t[lo:hi], self.ticks.v[lo:hi].copy())
        for stream in self._streams:
            stream.trim(c.tick_t)
        return rows

    def finish(self) -> Dataset:
        """Process everything, end the open episode (end of log or segment), reset the state."""
        rows = self.process()
        tail = self._release(truncate=True)
        for stream in self._streams:
            stream.clear()
        self._carry = _Carry()
        if tail is None:
            return rows
        return concat_datasets([rows, self._rows_dataset([tail])], self.meta)

    def new_segment(self) -> Dataset:
        """A clock jump: finish everything so far; later samples start from scratch."""
        out = self.finish()
        self.stats.segments += 1
        return out

    # -- internals ----------------------------------------------------------------------------
    def _rows(self, tick_t: NDArray, actions: NDArray) -> Dataset:
        """Rows for a window of ticks (sorted, all newer than the carried tick)."""
        c = self._carry
        n = tick_t.size
        self.stats.ticks += n
        obs, valid, upright, linked, reset_between = self._observations(tick_t, actions)
        # Index 0 is the carried tick, 1..n the window (so a row may start at the carry).
        ext_obs = np.concatenate([[c.obs if c.obs is not None else np.zeros(OBS_DIM)], obs])
        ext_act = np.concatenate(
            [[c.action if c.action is not None else np.zeros(ACTION_DIM)], actions]
        )
        spans: list[list[Any]] = []  # [start, end, terminal, timeout] into ext_*
        released: list[dict[str, Any]] = []  # the held row of the previous call, if final now
        held: list[Any] | dict[str, Any] | None = c.held
        cur = 0 if c.obs is not None else -1  # the tick a row may start from
        prev_valid = c.tick_valid
        for k in range(1, n + 1):
            ok, link = bool(valid[k - 1]), bool(linked[k - 1])
            if cur >= 0 and ok and link:
                if held is not None:  # the episode goes on: the held row is final as is
                    (released if isinstance(held, dict) else spans).append(held)
                    held = None
                term = not bool(upright[k - 1])
                c.step += 1
                limit = self.config.time_limit and c.step >= self._max_steps
                span = [cur, k, term, limit and not term]
                if term or limit:
                    spans.append(span)
                    c.step = 0
                else:
                    held = span
            elif cur >= 0 or (prev_valid and ok and link):
                if cur < 0:
                    reason = "after_fall"
                elif not ok:
                    reason = "dropped_tick"
                else:
                    reason = "reset" if reset_between[k - 1] else "gap"
                self.stats.lost_transitions[reason] += 1
            if cur >= 0 and not (ok and link) and held is not None:
                if isinstance(held, dict):  # truncated: the episode cannot go on
                    held["to"] = True
                    released.append(held)
                else:
                    held[3] = True
                    spans.append(held)
                held = None
                c.step = 0
            if ok and reset_between[k - 1]:
                c.fallen = False
            if ok and upright[k - 1] and c.fallen and self.config.resume_after_fall == "upright":
                c.fallen = False
            if spans and spans[-1][1] == k and spans[-1][2]:
                c.fallen = True
            cur = k if ok and upright[k - 1] and not c.fallen else -1
            prev_valid = ok
        c.tick_t = float(tick_t[-1])
        c.tick_valid = prev_valid
        c.action = None if not np.all(np.isfinite(actions[-1])) else actions[-1].copy()
        c.obs = ext_obs[n].copy() if cur == n else None
        if isinstance(held, list):
            spans.append(held)
        out = self._spans_dataset(spans, ext_obs, ext_act)
        c.held = None
        if isinstance(held, list):  # keep the newest row back, materialised
            c.held = self._row(out, out.size - 1)
            out = _slice(out, 0, out.size - 1)
        elif isinstance(held, dict):
            c.held = held
        self._count(released)
        self._count_dataset(out)
        return concat_datasets([self._rows_dataset(released), out], self.meta)

    def _observations(self, tick_t: NDArray, actions: NDArray) -> tuple[NDArray, ...]:
        """Per tick: observation (n, OBS_DIM), valid, upright (not a fall), linked to the
        previous tick, reset since the previous tick. Clips ``actions`` in place."""
        cfg, c, stats = self.config, self._carry, self.stats
        n = tick_t.size
        valid = np.ones(n, bool)
        ji, ii, ci = (s.latest_index(tick_t) for s in (self.joints, self.imu, self.cmd))
        for name, idx, stream in (("joint_state", ji, self.joints), ("imu", ii, self.imu)):
            missing = idx < 0
            age = tick_t - stream.t[np.maximum(idx, 0)] if stream.t.size else np.full(n, np.inf)
            stale = ~missing & (age > cfg.age_limit)
            _count(stats.dropped_ticks, f"no_{name}", missing & valid)
            valid &= ~missing
            _count(stats.dropped_ticks, f"stale_{name}", stale & valid)
            valid &= ~stale
        bad_cmd = ~np.all(np.isfinite(actions), axis=1)
        _count(stats.dropped_ticks, "bad_command", bad_cmd & valid)
        valid &= ~bad_cmd
        stats.actions_clipped += int(np.count_nonzero(np.any(np.abs(actions) > 1.0, axis=1)))
        np.clip(actions, -1.0, 1.0, out=actions)

        prev_t = np.concatenate([[c.tick_t], tick_t[:-1]])
        resets_upto = np.searchsorted(self.resets.t, tick_t, side="right")
        first = np.searchsorted(self.resets.t, c.tick_t, side="right")
        reset_between = resets_upto > np.concatenate([[first], resets_upto[:-1]])
        prev_ok = np.concatenate([[c.action is not None], ~bad_cmd[:-1]])
        linked = (tick_t - prev_t <= cfg.interval_limit) & ~reset_between & prev_ok
        prev_action = np.zeros((n, ACTION_DIM))
        if c.action is not None:
            prev_action[0] = c.action
        prev_action[1:] = actions[:-1]
        prev_action[~linked] = 0.0  # after a reset or a gap, as the env after reset()

        command = np.tile(np.asarray(self.meta["command"], np.float64), (n, 1))
        has_cmd = ci >= 0
        command[has_cmd] = self.cmd.v[ci[has_cmd]]
        obs = np.zeros((n, OBS_DIM), np.float32)
        if valid.any():
            j, i = self.joints.v[ji[valid]], self.imu.v[ii[valid]]
            obs[valid] = build_observation(
                i[:, :4],
                i[:, 4:],
                j[:, :NUM_JOINTS],
                j[:, NUM_JOINTS:],
                command[valid],
                prev_action[valid],
            )
        finite = np.all(np.isfinite(obs), axis=1)
        _count(stats.dropped_ticks, "nonfinite_input", valid & ~finite)
        valid &= finite
        upright = valid & ~self.task.terminated(obs)
        return obs, valid, upright, linked, reset_between

    def _spans_dataset(self, spans: list[list[Any]], obs: NDArray, act: NDArray) -> Dataset:
        if not spans:
            return empty_dataset(self.meta)
        s = np.array([sp[0] for sp in spans])
        e = np.array([sp[1] for sp in spans])
        o, a, nxt = obs[s].astype(np.float32), act[s].astype(np.float32), obs[e]
        nxt = nxt.astype(np.float32)
        # Reward on the stored float32 values, as a consumer of the dataset would recompute it.
        return Dataset(
            o,
            a,
            self.task.reward(o, a, nxt).astype(np.float32),
            nxt,
            np.array([sp[2] for sp in spans], bool),
            np.array([sp[3] for sp in spans], bool),
            self.meta,
        )

    @staticmethod
    def _row(data: Dataset, i: int) -> dict[str, Any]:
        return {
            "o": data.observations[i],
            "a": data.actions[i],
            "r": data.rewards[i],
            "n": data.next_observations[i],
            "term": bool(data.terminals[i]),
            "to": bool(data.timeouts[i]),
        }

    def _rows_dataset(self, rows: list[dict[str, Any]]) -> Dataset:
        if not rows:
            return empty_dataset(self.meta)
        return Dataset(
            np.stack([r["o"] for r in rows]),
            np.stack([r["a"] for r in rows]),
            np.array([r["r"] for r in rows], np.float32),
            np.stack([r["n"] for r in rows]),
            np.array([r["term"] for r in rows], bool),
            np.array([r["to"] for r in rows], bool),
            self.meta,
        )

    def _release(self, truncate: bool) -> dict[str, Any] | None:
        """Hand out the held row (``truncate``: as the end of its episode)."""
        c = self._carry
        row, c.held = c.held, None
        c.step = 0 if truncate else c.step
        if row is not None:
            row["to"] = row["to"] or truncate
            self._count([row])
        return row

    def _count(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            self.stats.rows += 1
            self.stats.terminals += int(row["term"])
            self.stats.episodes += int(row["term"] or row["to"])

    def _count_dataset(self, data: Dataset) -> None:
        self.stats.rows += data.size
        self.stats.terminals += int(data.terminals.sum())
        self.stats.episodes += int((data.terminals | data.timeouts).sum())


def _count(counter: Counter, key: str, mask: NDArray) -> None:
    hits = int(np.count_nonzero(mask))
    if hits:
        counter[key] += hits


def _slice(data: Dataset, start: int, stop: int) -> Dataset:
    arrays = {k: getattr(data, k)[start:stop] for k in KEYS}
    return Dataset(**arrays, meta=data.meta)
