"""The converter's time invariant, as a property: whatever the clock does (jumps back of any
size, jumps forward, gaps, duplicates, reordered messages, receive latency that interleaves the
topics), no row uses a sample from after its tick or older than ``max_age`` before it, in TRUE
time, and a transition's two ticks are at most ``max_tick_interval`` apart in true time.

Every generated message carries its identity in its values (joint velocity 0, gyro x, the
command's speed, the action), so each row can be traced back to the messages it was built
from and their true times, which the converter never sees.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from h2o_robot_bridge.contract import (
    ACTION_DIM,
    NUM_JOINTS,
    OBS_SLICES,
    action_to_command,
)
from h2o_robot_bridge.dataset.align import AlignConfig
from h2o_robot_bridge.dataset.bag.convert import align_streams
from h2o_robot_bridge.dataset.bag.reader import Streams
from h2o_robot_bridge.dataset.schema import STAMP_KEYS, make_meta

CFG = AlignConfig(task="stand")
INDEX = np.arange(NUM_JOINTS)
LATENCY = 0.004  # receive time - true time, at most [s]
ID_SCALE = 1024  # actions carry the tick id in [-1, 1] with this resolution


@dataclass
class Log:
    """A generated log: messages per input plus each message's true time (by id)."""

    rows: list[tuple[float, str, float, object]] = field(default_factory=list)
    true_t: dict[str, list[float]] = field(default_factory=dict)
    stamp: dict[str, list[float]] = field(default_factory=dict)

    def add(self, key: str, tau: float, stamp: float, receive: float, value: object) -> None:
        self.rows.append((receive, key, stamp, value))

    def new_id(self, key: str, tau: float, stamp: float) -> int:
        self.true_t.setdefault(key, []).append(tau)
        self.stamp.setdefault(key, []).append(stamp)
        return len(self.true_t[key]) - 1

    def streams(self) -> Streams:
        out = Streams()
        for receive, key, stamp, value in sorted(self.rows, key=lambda r: r[0]):
            out.add(key, receive, stamp, value)
        return out


def _action(tick_id: int) -> np.ndarray:
    a = np.zeros(ACTION_DIM)
    a[0] = -1.0 + 2.0 * (tick_id + 0.5) / ID_SCALE
    return a


def _tick_id(action: np.ndarray) -> int:
    return int(np.floor((float(action[0]) + 1.0) * ID_SCALE / 2.0))


@st.composite
def logs(draw: st.DrawFn) -> Log:
    """100 Hz ticks with sensor samples just before each, under a misbehaving clock."""
    n = draw(st.integers(30, 160))
    # Clock steps (true time [s] within a tick, step back [s]; negative: forward), anywhere
    # between the samples of one tick, so that the topics show it out of receive order.
    jumps = draw(
        st.lists(
            st.tuples(
                st.floats(1.0, 1.0 + 0.01 * n),
                st.floats(-0.5, -5e-4) | st.floats(0.011, 1.0),
            ),
            max_size=4,
        )
    )
    gaps = set(draw(st.lists(st.integers(0, n - 1), max_size=6)))  # no tick (and sensors)
    lat = draw(st.lists(st.floats(0.0, LATENCY), min_size=3 * n + 3, max_size=3 * n + 3))
    reorder = set(draw(st.lists(st.integers(0, 3 * n), max_size=3)))
    dups = set(draw(st.lists(st.integers(0, 3 * n), max_size=3)))
    stamped_cmd = draw(st.booleans())
    cmd_ticks = sorted(set(draw(st.lists(st.integers(0, n - 1), max_size=5))))
    log = Log()

    def offset(t: float) -> float:  # true time - stamp [s]
        return sum(j for at, j in jumps if at <= t)

    m = 0  # message counter (latency, reorder and duplicate draws)
    for k in range(n):
        tau = 1.0 + 0.01 * k
        if k in gaps:
            continue
        for key, dt in (("joint_states", 0.002), ("imu", 0.001), ("joint_commands", 0.0)):
            t = tau - dt
            stamp = t - offset(t)
            i = log.new_id(key, t, stamp)
            if key == "joint_states":
                vel = np.zeros(NUM_JOINTS)
                vel[0] = i
                value: object = (INDEX, NUM_JOINTS, tuple(np.zeros(NUM_JOINTS)), tuple(vel))
            elif key == "imu":
                value = (0.0, 0.0, 0.0, 1.0, float(i), 0.0, 0.0)
            else:
                cmd = action_to_command(_action(i))
                value = (INDEX, NUM_JOINTS, tuple(cmd.position), tuple(cmd.effort))
            receive = t + lat[m]
            if m in reorder:  # delivered after the next message of the log
                receive += 0.011
            log.add(key, t, stamp, receive, value)
            if m in dups:  # the same message again
                log.add(key, t, stamp, receive + 1e-5, value)
            m += 1
        if k in cmd_ticks:
            t = tau - 0.005
            i = log.new_id("cmd_vel", t, t - offset(t))
            stamp = t - offset(t) if stamped_cmd else np.nan
            log.add("cmd_vel", t, stamp, t + lat[m], (i + 1.0, 0))
    return log


def _hidden_steps_back(log: Log) -> bool:
    """Whether a clock step back is invisible in some stream: between two of its messages
    (in true order) the stamp moved forward, but by less than the true time did (a step back
    shorter than the time between the messages, e.g. across a gap). No converter can see it;
    the module docstring of :mod:`h2o_robot_bridge.dataset.clock` says what it costs."""
    for key, true_t in log.true_t.items():
        d_true, d_stamp = np.diff(true_t), np.diff(log.stamp[key])
        if np.any((d_stamp >= 0) & (d_stamp < d_true - 1e-12)):
            return True
    return False


def _sample_id(obs: np.ndarray, field_name: str) -> int:
    return int(round(float(obs[OBS_SLICES[field_name]][0])))


def _check_obs(log: Log, obs: np.ndarray, stamps: np.ndarray, tau_tick: float) -> None:
    """The samples behind one observation are not after the tick nor older than max_age."""
    for key, field_name in (("joint_states", "joint_vel"), ("imu", "base_ang_vel")):
        i = _sample_id(obs, field_name)
        tau = log.true_t[key][i]
        assert tau <= tau_tick + 1e-9, f"{key} sample {i} is from after its tick"
        assert tau_tick - tau <= CFG.age_limit + 1e-9, f"{key} sample {i} is too old"
        assert stamps[STAMP_KEYS.index(key)] == log.stamp[key][i]
    c = int(round(float(obs[OBS_SLICES["command"]][0])))
    if c:  # 0: the task's default command
        # Commands are placed by receive time (even when stamped): up to LATENCY late.
        assert log.true_t["cmd_vel"][c - 1] <= tau_tick + LATENCY + 1e-9


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(logs())
def test_no_row_uses_a_sample_from_the_wrong_time(log: Log) -> None:
    assume(not _hidden_steps_back(log))
    data, stats = align_streams(log.streams(), CFG, make_meta("stand", 100.0))
    assert data.stamps is not None
    ticks = log.true_t["joint_commands"]
    for r in range(data.size):
        k = _tick_id(data.actions[r])
        _check_obs(log, data.observations[r], data.stamps[r, :4], ticks[k])
        assert data.stamps[r, 0] == log.stamp["joint_commands"][k]
        # The next tick: the first one after tick k with the stamp the row names.
        nxt = [
            j
            for j in range(k + 1, len(ticks))
            if log.stamp["joint_commands"][j] == data.stamps[r, 4]
        ]
        assert nxt, "the next observation's tick is not after the row's tick"
        j = nxt[0]
        assert ticks[j] - ticks[k] <= CFG.interval_limit + 1e-9
        _check_obs(log, data.next_observations[r], data.stamps[r, 4:], ticks[j])
        np.testing.assert_array_equal(
            data.next_observations[r][OBS_SLICES["prev_action"]], data.actions[r]
        )
    assert stats.segments == len(stats.splits) + 1
