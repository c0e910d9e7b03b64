"""Time alignment: scripted streams -> exactly the expected transitions, drops counted."""

from __future__ import annotations

import numpy as np
import pytest

from h2o_robot_bridge.contract import build_observation, field
from h2o_robot_bridge.dataset import make_meta, validate_dataset
from h2o_robot_bridge.dataset.align import AlignConfig, Aligner
from h2o_robot_bridge.errors import ConfigError
from h2o_robot_bridge.testing.align_script import DT, Script, expected_row


def aligner(**kw) -> Aligner:
    cfg = AlignConfig(**kw)
    return Aligner(cfg, make_meta(cfg.task, cfg.control_hz, {"kind": "test"}))


def test_continuous_log_gives_every_transition() -> None:
    sc = Script(30)
    al = aligner()
    sc.feed(al)
    data = al.finish()
    validate_dataset(data)
    assert data.size == 29
    for k in range(29):
        o, a, r, n = expected_row(sc, k, first=(k == 0))
        np.testing.assert_array_equal(data.observations[k], o)
        np.testing.assert_array_equal(data.actions[k], a)
        np.testing.assert_allclose(data.rewards[k], r, rtol=1e-6)
        np.testing.assert_array_equal(data.next_observations[k], n)
    np.testing.assert_array_equal(data.observations[1:], data.next_observations[:-1])
    assert data.timeouts.tolist() == [False] * 28 + [True]
    assert not data.terminals.any()
    assert al.stats.rows == 29 and al.stats.episodes == 1 and not al.stats.dropped_ticks
    assert al.stats.tick_rate == pytest.approx(100.0)
    assert al.stats.as_dict()["max_tick_interval_s"] == pytest.approx(DT)


def test_streaming_equals_batch() -> None:
    sc = Script(60, seed=3)
    sc.fall_at(20, 24)
    batch = aligner()
    sc.feed(batch)
    batch.add_resets([sc.t[40] - 0.004])
    want = batch.finish()
    live = aligner()
    parts = []
    for k in range(60):  # one message at a time, processed with a delay of 3 ticks
        live.add_joint_states(sc.t[k], sc.pos[k], sc.vel[k])
        live.add_imu(sc.t[k], sc.quat[k], sc.gyro[k])
        live.add_ticks(sc.t[k], sc.act[k])
        if k == 40:
            live.add_resets(sc.t[40] - 0.004)
        parts.append(live.process(until=sc.t[k] - 3 * DT))
    parts.append(live.finish())
    got_rows = sum(p.size for p in parts)
    assert got_rows == want.size
    for key in ("observations", "actions", "rewards", "next_observations", "terminals"):
        np.testing.assert_array_equal(
            np.concatenate([getattr(p, key) for p in parts]), getattr(want, key)
        )
    np.testing.assert_array_equal(np.concatenate([p.timeouts for p in parts]), want.timeouts)
    assert live.stats.as_dict() == batch.stats.as_dict()


def test_stale_and_missing_sensors_drop_ticks() -> None:
    sc = Script(20)
    sensors = [k for k in range(20) if k not in (5, 6, 7)]  # 3 ticks without new sensors
    al = aligner(max_age=0.015)
    sc.feed(al, sensors=sensors)
    al.add_ticks(sc.t[0] - 0.5, sc.act[0])  # a tick before any sensor
    data = al.finish()
    # Tick 5 would see tick 4's sample again (fresh, 0.01 s old, but nothing new measured):
    # dropped; 6 and 7 are stale (> 0.015 s).
    assert al.stats.dropped_ticks == {
        "no_joint_state": 1,
        "repeated_joint_state": 1,
        "stale_joint_state": 2,
    }
    assert al.stats.lost_transitions["dropped_tick"] == 1
    assert data.size == 4 + 11  # rows 0..3 (ending at tick 4), then 8..18
    assert data.timeouts.tolist() == [False] * 3 + [True] + [False] * 10 + [True]
    # After the break the episode restarts with the previous tick's action (ticks linked).
    np.testing.assert_array_equal(data.observations[4], sc.obs(8, sc.act[7]))

    lenient = aligner(max_age=0.015, allow_repeated_samples=True)
    sc.feed(lenient, sensors=sensors)
    data = lenient.finish()
    assert data.size == 5 + 11  # tick 5 now ends a row, with tick 4's sensors
    o5 = build_observation(sc.quat[4], sc.gyro[4], sc.pos[4], sc.vel[4], (0, 0), sc.act[4])
    np.testing.assert_array_equal(data.next_observations[4], o5)


def test_reset_starts_episode_with_zero_prev_action() -> None:
    sc = Script(20)
    al = aligner()
    sc.feed(al)
    al.add_resets([sc.t[10] - 0.003])
    data = al.finish()
    assert data.size == 18 and al.stats.lost_transitions == {"reset": 1}
    assert data.timeouts[8] and data.timeouts[-1]
    np.testing.assert_array_equal(data.observations[9], sc.obs(10, None))


def test_fall_is_terminal_then_skipped_until_upright() -> None:
    sc = Script(30)
    sc.fall_at(10, 15)  # fallen for ticks 10..14
    al = aligner()
    sc.feed(al)
    data = al.finish()
    # Rows 0..9 (row 9 ends in the fall, terminal), then 15..29.
    assert data.size == 10 + 14
    assert data.terminals.tolist() == [False] * 9 + [True] + [False] * 14
    assert data.timeouts.tolist() == [False] * 23 + [True]
    assert al.stats.terminals == 1 and al.stats.episodes == 2
    assert al.stats.lost_transitions == {"after_fall": 5}
    np.testing.assert_array_equal(data.observations[10], sc.obs(15, sc.act[14]))

    strict = aligner(resume_after_fall="reset")
    sc.feed(strict)
    assert strict.finish().size == 10  # nothing after the fall without a reset


def test_gap_and_rate_drop_truncate() -> None:
    sc = Script(20)
    al = aligner()
    ticks = [k for k in range(20) if k != 8]  # one command lost: 20 ms between ticks 7 and 9
    sc.feed(al, ticks=ticks)
    data = al.finish()
    assert al.stats.lost_transitions == {"gap": 1}
    assert data.size == 7 + 10 and data.timeouts[6]
    np.testing.assert_array_equal(data.observations[7], sc.obs(9, None))


def test_time_limit_truncates_like_the_env() -> None:
    sc = Script(30)
    al = aligner(control_hz=2.0, max_age=0.02, max_tick_interval=0.015)  # 20 steps per episode
    sc.feed(al)
    data = al.finish()
    assert data.size == 29
    assert np.flatnonzero(data.timeouts).tolist() == [19, 28]
    np.testing.assert_array_equal(data.observations[20], data.next_observations[19])


def test_nan_inputs_and_commands_are_dropped() -> None:
    sc = Script(20)
    sc.vel[4, 2] = np.nan
    sc.act[12, 0] = np.nan
    al = aligner()
    sc.feed(al)
    data = al.finish()
    validate_dataset(data)
    assert al.stats.dropped_ticks == {"nonfinite_input": 1, "bad_command": 1}
    assert data.size == 19 - 2 - 2


def test_duplicate_and_out_of_order_stamps() -> None:
    sc = Script(20)
    al = aligner()
    order = list(range(20))
    order[5], order[6] = order[6], order[5]
    sc.feed(al, ticks=order, sensors=order + [3, 9])
    data = al.finish()
    assert al.stats.out_of_order == {"imu": 3, "joint_commands": 1, "joint_states": 3}
    assert al.stats.duplicates == {"imu": 2, "joint_states": 2}
    assert data.size == 19
    ref = aligner()
    sc.feed(ref)
    np.testing.assert_array_equal(data.observations, ref.finish().observations)


def test_cmd_vel_sets_the_command() -> None:
    sc = Script(10)
    al = aligner(task="move_straight")
    sc.feed(al)
    al.add_cmd_vel([sc.t[4] - 0.001], [[0.3, 0.1]])
    data = al.finish()
    np.testing.assert_array_equal(
        field(data.observations[3], "command"), [0.5, 0.0]
    )  # task default
    np.testing.assert_allclose(field(data.observations[4], "command"), [0.3, 0.1])


def test_clipped_actions_are_counted() -> None:
    sc = Script(10)
    sc.act[3] = 1.5
    al = aligner()
    sc.feed(al)
    data = al.finish()
    assert al.stats.actions_clipped == 1 and data.actions.max() <= 1.0


def test_bad_config() -> None:
    with pytest.raises(ConfigError, match="task"):
        AlignConfig(task="fly")
    with pytest.raises(ConfigError, match="max_age"):
        AlignConfig(max_age=-1.0)
    with pytest.raises(ConfigError, match="resume_after_fall"):
        AlignConfig(resume_after_fall="never")
