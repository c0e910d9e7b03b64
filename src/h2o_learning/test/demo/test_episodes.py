"""The demo supervisor's pure core: episode scoring with the contract task, ends, phases."""

from __future__ import annotations

import numpy as np
import pytest

from h2o_learning.demo.episodes import (
    ACTIVE,
    DONE,
    FINISH,
    RELEASE,
    RELEASING,
    RESET,
    RESETTING,
    EpisodeMonitor,
    EpisodeSupervisor,
)
from h2o_robot_bridge.contract import OBS_DIM, OBS_SLICES, build_observation, get_task
from h2o_robot_bridge.errors import ConfigError


def obs_at(pitch: float, prev_action: float = 0.0, vel: float = 0.0) -> np.ndarray:
    """An observation with base pitch [rad] and a constant previous action."""
    quat = [0.0, np.sin(pitch / 2), 0.0, np.cos(pitch / 2)]
    joint_vel = np.full(6, vel)
    return build_observation(quat, [0, 0.1, 0], np.zeros(6), joint_vel, (0.0, 0.0),
                             np.full(6, prev_action))  # fmt: skip


def test_rewards_are_the_task_rewards_with_the_observed_action() -> None:
    rng = np.random.default_rng(0)
    seq = [obs_at(p, a, v) for p, a, v in rng.uniform(-0.2, 0.2, (6, 3))]
    mon = EpisodeMonitor("stand", 100.0)
    mon.start()
    for o in seq:
        assert mon.tick(o) is None
    task = get_task("stand")
    expected = sum(
        float(task.reward(a, b[OBS_SLICES["prev_action"]], b))
        for a, b in zip(seq[:-1], seq[1:], strict=True)
    )
    assert mon.steps == 5
    assert mon.end("stopped") == "stopped"
    rec = mon.episodes[0]
    assert rec.ret == pytest.approx(expected) and rec.seconds == pytest.approx(0.05)
    assert not rec.fell and len(mon.trace) == 5


def test_fall_time_limit_and_stuck_end_episodes() -> None:
    mon = EpisodeMonitor("stand", 100.0, time_limit_steps=3, stuck_tilt=0.3, stuck_steps=2)
    mon.start()
    assert [mon.tick(obs_at(0.0)) for _ in range(4)] == [None, None, None, "time_limit"]
    mon.start()
    assert mon.tick(obs_at(0.1)) is None
    assert mon.tick(obs_at(get_task("stand").fall_tilt + 0.05)) == "fall"
    mon.start()
    assert [mon.tick(obs_at(0.4)) for _ in range(2)] == [None, "stuck"]
    assert [e.end for e in mon.episodes] == ["time_limit", "fall", "stuck"]
    assert [e.fell for e in mon.episodes] == [False, True, True]
    summary = mon.summary()
    assert summary["falls"] == 2 and summary["n_episodes"] == 3
    assert mon.tick(obs_at(0.0)) is None  # inactive: ignored
    assert mon.total_steps == 3 + 1 + 1


def test_supervisor_collect_phases() -> None:
    sup = EpisodeSupervisor(EpisodeMonitor(), transitions=5, warmup_ticks=2, retry_every=3)
    up = obs_at(0.0)
    assert [sup.on_tick(up, commanded=True) for _ in range(2)] == [None, RESET]
    assert sup.phase == RESETTING
    assert [sup.on_tick(up, True) for _ in range(3)] == [None, None, RESET]  # retried
    assert sup.on_reset_done() == RELEASE and sup.phase == RELEASING
    sup.on_release(False)
    assert sup.phase == RELEASING
    sup.on_release(True)
    assert sup.phase == ACTIVE
    assert sup.on_tick(up, True) is None  # first observation, no transition yet
    assert sup.on_tick(obs_at(1.0), True) == RESET  # a fall: reset, then release again
    assert sup.on_reset_done() == RELEASE
    sup.on_release(True)
    out = [sup.on_tick(up, True) for _ in range(5)]
    assert out[-1] == FINISH and sup.phase == DONE
    assert sup.monitor.total_steps == 5 and sup.monitor.episodes[-1].end == "stopped"


def test_supervisor_evaluate_finishes_after_episodes() -> None:
    mon = EpisodeMonitor(time_limit_steps=2)
    sup = EpisodeSupervisor(mon, episodes=2, warmup_ticks=1)
    up = obs_at(0.0)
    assert sup.on_tick(up, True) == RESET
    for expected in (RESET, FINISH):
        sup.on_reset_done()
        sup.on_release(True)
        assert [sup.on_tick(up, True) for _ in range(3)][-1] == expected
    assert len(mon.episodes) == 2


def test_bad_settings_are_config_errors() -> None:
    with pytest.raises(ConfigError):
        EpisodeSupervisor(EpisodeMonitor())  # neither target
    with pytest.raises(ConfigError):
        EpisodeMonitor(time_limit_steps=0)
    with pytest.raises(ConfigError):
        EpisodeMonitor(task="fly")
    assert obs_at(0.0).shape == (OBS_DIM,)
