"""Time alignment of robot topics into transitions at the control rate (pure, streaming).

Rows are driven by *ticks*: the ``/joint_commands`` messages, i.e. the actions really sent.
At tick k (time t_k) the observation is built with the contract's ``build_observation`` from

- the newest ``/joint_states`` and ``/imu/data`` sample with stamp <= t_k, each at most
  ``max_age`` old and not the very sample the previous tick used (otherwise the tick is dropped
  and counted: never stale, never future data);
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
from h2o_robot_bridge.dataset.schema import (
    KEYS,
    STAMPS_PER_OBS,
    Dataset,
    concat_datasets,
    empty_dataset,
)
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
        split_window: after a stamp goes back in one stream (a clock discontinuity, see
            :mod:`.clock`), other streams showing the same step back within this many seconds
            of receive time belong to the same split; their messages in between are dropped.
        resume_after_fall: after a fall, start a new episode at the next ``reset`` only, or
            also as soon as the robot is ``upright`` again (when resets are not logged).
        time_limit: truncate episodes at the task's time limit, as the env does.
        allow_repeated_samples: accept a tick that sees the same joint state / IMU sample as
            the previous tick (sensor and control clocks beating); by default such a tick is
            dropped (its transition would show no motion over a control period).
    """

    task: str = "stand"
    control_hz: float = 100.0
    max_age: float | None = None
    max_tick_interval: float | None = None
    split_window: float = 0.1
    resume_after_fall: ResumeMode = "upright"
    time_limit: bool = True
    allow_repeated_samples: bool = False

    def __post_init__(self) -> None:
        get_task(self.task)  # ConfigError for an unknown task
        if not self.control_hz > 0:
            raise ConfigError(f"control_hz must be positive, got {self.control_hz}")
        for name in ("max_age", "max_tick_interval"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ConfigError(f"{name} must be positive, got {value}")
        if not self.split_window > 0:
            raise ConfigError(f"split_window must be positive, got {self.split_window}")
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
            and which were given to the aligner anyway (re-sorted; the bag converter and the
            recorder never do: they split the log there, see ``splits``).
        duplicates: samples with a stamp equal to an earlier one of the same input (dropped).
        ticks: ticks processed.
        dropped_ticks: ticks without a valid observation, by reason.
        lost_transitions: tick pairs that formed no transition, by reason (``gap``: ticks too
            far apart; ``reset``; ``after_fall``; ``dropped_tick``: an end was dropped).
        actions_clipped: commands outside the action range, clipped to [-1, 1].
        rows: transitions produced; episodes: episodes ended; terminals: falls.
        segments: clock segments (1 + clock splits).
        splits: every clock split (:class:`~h2o_robot_bridge.dataset.clock.Split` as dicts):
            where a stream's stamp went back, by how much, which streams showed it.
        stragglers: messages dropped around splits, per input (stamped before the split,
            received after it).
        commands_carried: splits across which the ``/cmd_vel`` command in effect was kept
            (the last command before the split holds until the first one after it).
        tick_intervals: count, sum [s] and max [s] of the times between consecutive ticks
            (for the measured control rate).
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
    splits: list[dict[str, Any]] = field(default_factory=list)
    stragglers: Counter = field(default_factory=Counter)
    commands_carried: int = 0
    tick_intervals: list[float] = field(default_factory=lambda: [0, 0.0, 0.0])

    @property
    def tick_rate(self) -> float:
        """Mean rate of the ticks [Hz] (NaN before two ticks)."""
        n, total, _ = self.tick_intervals
        return n / total if total > 0 else float("nan")

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly summary (saved in the dataset metadata)."""
        out: dict[str, Any] = {}
        for key, value in self.__dict__.items():
            out[key] = dict(sorted(value.items())) if isinstance(value, Counter) else value
        out["tick_rate_hz"] = self.tick_rate
        out["max_tick_interval_s"] = self.tick_intervals[2]
        return out

    def summary(self) -> str:
        """Human-readable lines: what was read, produced, dropped and why."""
        d = self.as_dict()
        lines = [
            "messages read: " + _fmt(d["messages"]),
            f"ticks: {self.ticks} (mean rate {self.tick_rate:.1f} Hz, longest interval "
            f"{1e3 * self.tick_intervals[2]:.1f} ms), transitions: {self.rows}, episodes: "
            f"{self.episodes} ({self.terminals} falls), clock segments: {self.segments}",
            "ticks dropped: " + _fmt(d["dropped_ticks"]),
            "transitions not formed: " + _fmt(d["lost_transitions"]),
            "duplicate stamps (dropped): " + _fmt(d["duplicates"]),
            f"actions clipped to [-1, 1]: {self.actions_clipped}",
        ]
        if self.out_of_order:  # only through the Aligner API: converter and recorder split
            lines.append("out-of-order stamps (re-sorted): " + _fmt(d["out_of_order"]))
        for split in self.splits[:10]:
            lines.append(
                f"clock split: {split['stream']} stamp went back {1e3 * split['back_s']:.1f} ms "
                f"at receive time {split['receive_t']:.3f} s (seen by "
                f"{', '.join(split['seen_by'])})"
            )
        if len(self.splits) > 10:
            lines.append(f"... and {len(self.splits) - 10} more clock splits")
        if self.splits:
            lines.append(
                "dropped around clock splits (stamped before, received after): "
                + _fmt(d["stragglers"])
                + f"; command kept across {self.commands_carried} split(s)"
            )
        return "\n".join(lines)


def _fmt(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items()) if counts else "none"


class _Stream:
    """Samples of one input (time + fixed-width values), kept sorted by time.

    ``raw`` is each sample's own stamp (saved with the rows): equal to ``t`` except for a
    value held across a clock split (:meth:`hold`), which sits at ``t = -inf``.
    """

    def __init__(self, name: str, width: int, stats: AlignStats) -> None:
        self.name, self.width, self.stats = name, width, stats
        self.t = np.empty(0)
        self.raw = np.empty(0)
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
        raw = np.concatenate([self.raw, *self._new_t])
        v = np.concatenate([self.v, *self._new_v])
        self._new_t, self._new_v = [], []
        if np.any(np.diff(t) < 0):
            order = np.argsort(t, kind="stable")
            t, raw, v = t[order], raw[order], v[order]
        dup = np.concatenate([[False], np.diff(t) == 0])
        if dup.any():
            self.stats.duplicates[self.name] += int(dup.sum())
            t, raw, v = t[~dup], raw[~dup], v[~dup]
        self.t, self.raw, self.v = t, raw, v

    def hold(self, value: NDArray, stamp: float) -> None:
        """After :meth:`clear`: ``value`` (stamped ``stamp``) holds until the first sample."""
        self.t, self.raw = np.array([-np.inf]), np.array([stamp])
        self.v = np.asarray(value, dtype=np.float64).reshape(1, self.width)

    def latest_index(self, ticks: NDArray) -> NDArray[np.intp]:
        """Index of the newest sample at or before each tick time (-1: none)."""
        return np.searchsorted(self.t, ticks, side="right") - 1

    def trim(self, before: float) -> None:
        """Forget samples older than the newest one at or before ``before``."""
        keep = max(int(np.searchsorted(self.t, before, side="right")) - 1, 0)
        if keep:
            self.t, self.raw, self.v = self.t[keep:], self.raw[keep:], self.v[keep:]

    def clear(self) -> None:
        self.t, self.raw, self.v = np.empty(0), np.empty(0), np.empty((0, self.width))
        self._new_t, self._new_v = [], []
        self.last_t = -np.inf


@dataclass
class _Carry:
    """State carried from one :meth:`Aligner.process` call to the next."""

    tick_t: float = -np.inf  # time of the last processed tick
    tick_valid: bool = False  # its observation was valid
    action: NDArray | None = None  # its action (None: no tick yet or an invalid command)
    obs: NDArray | None = None  # its observation, if a row may start there
    fallen: bool = False  # a fall ended the last episode; waiting for a reset / upright
    step: int = 0  # rows in the current episode
    sample_t: list[float] = field(default_factory=lambda: [np.nan, np.nan])  # joint, imu
    stamps: NDArray | None = None  # STAMPS_PER_OBS stamps of ``obs``
    held: tuple[NDArray, NDArray, NDArray] | None = None  # (obs, action, stamps) starting
    # the held-back row
    # The held row ends at ``obs``; its flags are final once the next tick is seen.


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
            return empty_dataset(self.meta, stamps=True)
        rows = self._rows(self.ticks.t[lo:hi], self.ticks.v[lo:hi].copy())
        for stream in self._streams:
            stream.trim(c.tick_t)
        return rows

    def finish(self) -> Dataset:
        """Process everything, end the open episode (end of log or segment), reset the state."""
        rows = self.process()
        c = self._carry
        tail = empty_dataset(self.meta, stamps=True)
        if c.held is not None:  # the end of the log truncates the held row's episode
            (obs, act, stamps), end = c.held, c.obs
            assert end is not None and c.stamps is not None  # a held row ends at c.obs
            tail = self._spans_dataset(
                [[0, 1, False, True]],
                np.stack([obs, end]),
                act[None],
                np.stack([stamps, c.stamps]),
            )
            self._count(tail)
        for stream in self._streams:
            stream.clear()
        self._carry = _Carry()
        return concat_datasets([rows, tail], self.meta)

    def new_segment(self, keep_command: bool = True) -> Dataset:
        """A clock split: finish everything so far; later samples start from scratch.

        With ``keep_command``, the ``/cmd_vel`` command in effect at the split stays in effect
        until the first command of the new segment (the robot received no other in between:
        every later command message belongs to the new segment).
        """
        self.cmd.consolidate()
        last = (self.cmd.v[-1].copy(), float(self.cmd.raw[-1])) if self.cmd.t.size else None
        out = self.finish()
        self.stats.segments += 1
        if keep_command and last is not None:
            self.cmd.hold(*last)
            self.stats.commands_carried += 1
        return out

    # -- internals ----------------------------------------------------------------------------
    def _rows(self, tick_t: NDArray, actions: NDArray) -> Dataset:
        """Rows for a window of ticks (sorted, all newer than the carried tick).

        Rows are spans ``[start, end, terminal, timeout]`` into the window's observations,
        extended in front by the held row's start (index 0) and the carried tick (index 1).
        """
        c = self._carry
        n = tick_t.size
        self.stats.ticks += n
        obs, stamps, valid, upright, linked, reset_between = self._observations(tick_t, actions)
        zero_obs, zero_act = np.zeros(OBS_DIM, np.float32), np.zeros(ACTION_DIM)
        no_stamps = np.full(STAMPS_PER_OBS, np.nan)
        held_obs, held_act, held_st = (
            c.held if c.held is not None else (zero_obs, zero_act, no_stamps)
        )
        ext_obs = np.concatenate([[held_obs, zero_obs if c.obs is None else c.obs], obs])
        ext_act = np.concatenate([[held_act, zero_act if c.action is None else c.action], actions])
        carried_st = no_stamps if c.stamps is None else c.stamps
        ext_st = np.concatenate([[held_st, carried_st], stamps])
        spans: list[list[Any]] = []
        held = [0, 1, False, False] if c.held is not None else None
        start = 1 if c.obs is not None else -1  # where the next row may start
        prev_valid = c.tick_valid
        for k in range(n):
            ok, link = bool(valid[k]), bool(linked[k])
            if start >= 0 and ok and link:
                held = self._extend(spans, held, start, k + 2, fall=not upright[k])
            else:
                self._count_lost(start, prev_valid, ok, link, bool(reset_between[k]))
                if held is not None:  # the episode cannot go on: truncated
                    held[3] = True
                    spans.append(held)
                    held = None
                c.step = 0 if start >= 0 else c.step
            if reset_between[k] or (
                ok and upright[k] and self.config.resume_after_fall == "upright"
            ):
                c.fallen = False
            start = k + 2 if ok and upright[k] and not c.fallen else -1
            prev_valid = ok
        c.tick_t, c.tick_valid = float(tick_t[-1]), prev_valid
        c.action = actions[-1].copy() if np.all(np.isfinite(actions[-1])) else None
        c.obs = ext_obs[n + 1].copy() if start == n + 1 else None
        c.stamps = ext_st[n + 1].copy() if start == n + 1 else None
        if held is not None:
            spans.append(held)
        out = self._spans_dataset(spans, ext_obs, ext_act, ext_st)
        c.held = None
        if held is not None:  # keep the newest row back: its episode may still go on
            c.held = (ext_obs[held[0]].copy(), ext_act[held[0]].copy(), ext_st[held[0]].copy())
            out = _slice(out, 0, out.size - 1)
        self._count(out)
        return out

    def _extend(
        self, spans: list[list[Any]], held: list[Any] | None, start: int, end: int, fall: bool
    ) -> list[Any] | None:
        """Add the row ``start -> end`` of the open episode; returns the new held row."""
        c = self._carry
        if held is not None:  # the episode goes on: the held row is final as it is
            spans.append(held)
        c.step += 1
        limit = self.config.time_limit and c.step >= self._max_steps
        if fall or limit:
            spans.append([start, end, fall, not fall])
            c.step = 0
            c.fallen = c.fallen or fall
            return None
        return [start, end, False, False]

    def _count_lost(self, start: int, prev_valid: bool, ok: bool, link: bool, reset: bool) -> None:
        """Count why the previous tick and this one form no row (if they could have)."""
        if start >= 0:
            reason = "dropped_tick" if not ok else "reset" if reset else "gap"
        elif prev_valid and ok and link:
            reason = "after_fall"
        else:
            return
        self.stats.lost_transitions[reason] += 1

    def _observations(self, tick_t: NDArray, actions: NDArray) -> tuple[NDArray, ...]:
        """Per tick: observation (n, OBS_DIM), the stamps it was built from
        (n, STAMPS_PER_OBS), valid, upright (not a fall), linked to the previous tick, reset
        since the previous tick. Clips ``actions`` in place."""
        cfg, c, stats = self.config, self._carry, self.stats
        n = tick_t.size
        valid = np.ones(n, bool)
        stamps = np.full((n, STAMPS_PER_OBS), np.nan)
        stamps[:, 0] = self.ticks.raw[np.searchsorted(self.ticks.t, tick_t)]
        ji, ii, ci = (s.latest_index(tick_t) for s in (self.joints, self.imu, self.cmd))
        for s, (name, idx, stream) in enumerate(
            (("joint_state", ji, self.joints), ("imu", ii, self.imu))
        ):
            missing = idx < 0
            sample_t = stream.t[np.maximum(idx, 0)] if stream.t.size else np.full(n, -np.inf)
            sample_t = np.where(missing, np.nan, sample_t)
            stamps[:, 1 + s] = sample_t
            stale = ~missing & (tick_t - sample_t > cfg.age_limit)
            # The same sample as at the previous tick: nothing new was measured in between.
            repeated = sample_t == np.concatenate([[c.sample_t[s]], sample_t[:-1]])
            repeated &= not cfg.allow_repeated_samples
            c.sample_t[s] = float(sample_t[-1])
            _tally(stats.dropped_ticks, f"no_{name}", missing & valid)
            valid &= ~missing
            _tally(stats.dropped_ticks, f"stale_{name}", stale & valid)
            valid &= ~stale
            _tally(stats.dropped_ticks, f"repeated_{name}", repeated & valid)
            valid &= ~repeated
        bad_cmd = ~np.all(np.isfinite(actions), axis=1)
        _tally(stats.dropped_ticks, "bad_command", bad_cmd & valid)
        valid &= ~bad_cmd
        stats.actions_clipped += int(np.count_nonzero(np.any(np.abs(actions) > 1.0, axis=1)))
        np.clip(actions, -1.0, 1.0, out=actions)

        prev_t = np.concatenate([[c.tick_t], tick_t[:-1]])
        dt = (tick_t - prev_t)[np.isfinite(prev_t)]
        if dt.size:
            iv = stats.tick_intervals
            iv[0], iv[1], iv[2] = iv[0] + dt.size, iv[1] + float(dt.sum()), max(iv[2], dt.max())
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
        stamps[has_cmd, 3] = self.cmd.raw[ci[has_cmd]]
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
        _tally(stats.dropped_ticks, "nonfinite_input", valid & ~finite)
        valid &= finite
        upright = valid & ~self.task.terminated(obs)
        return obs, stamps, valid, upright, linked, reset_between

    def _spans_dataset(
        self, spans: list[list[Any]], obs: NDArray, act: NDArray, stamps: NDArray
    ) -> Dataset:
        if not spans:
            return empty_dataset(self.meta, stamps=True)
        s = np.array([sp[0] for sp in spans])
        e = np.array([sp[1] for sp in spans])
        o, a, nxt = obs[s].astype(np.float32), act[s].astype(np.float32), obs[e]
        nxt = nxt.astype(np.float32)
        # Reward on the stored float32 values, as a consumer of the dataset would recompute it.
        return Dataset(
            o,
            a,
            np.asarray(self.task.reward(o, a, nxt)).astype(np.float32),  # 2-D: an array
            nxt,
            np.array([sp[2] for sp in spans], bool),
            np.array([sp[3] for sp in spans], bool),
            self.meta,
            np.concatenate([stamps[s], stamps[e]], axis=1),
        )

    def _count(self, data: Dataset) -> None:
        self.stats.rows += data.size
        self.stats.terminals += int(data.terminals.sum())
        self.stats.episodes += int((data.terminals | data.timeouts).sum())


def _tally(counter: Counter, key: str, mask: NDArray) -> None:
    hits = int(np.count_nonzero(mask))
    if hits:
        counter[key] += hits


def _slice(data: Dataset, start: int, stop: int) -> Dataset:
    arrays = {k: getattr(data, k)[start:stop] for k in KEYS}
    stamps = None if data.stamps is None else data.stamps[start:stop]
    return Dataset(**arrays, meta=data.meta, stamps=stamps)
