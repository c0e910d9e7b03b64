"""The robot contract against hand-computed values."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from h2o_robot_bridge import contract as c
from h2o_robot_bridge.conversions.from_msg import (
    MessageError,
    imu_to_reading,
    joint_state_to_reading,
)
from h2o_robot_bridge.errors import ConfigError, ContractMismatchError

UPRIGHT = (0.0, 0.0, 0.0, 1.0)


def quat_about(axis: str, angle: float) -> tuple[float, float, float, float]:
    s, w = math.sin(angle / 2), math.cos(angle / 2)
    return {"x": (s, 0, 0, w), "y": (0, s, 0, w), "z": (0, 0, s, w)}[axis]


def obs(quat=UPRIGHT, ang_vel=(0, 0, 0), joint_vel=None, command=(0, 0), prev=None, leg=None):
    qpos = c.robot.DEFAULT_POSITIONS.copy()
    if leg is not None:
        qpos[list(c.LEG_JOINT_IDS)] += leg
    qvel = np.zeros(6) if joint_vel is None else joint_vel
    return c.build_observation(
        quat, ang_vel, qpos, qvel, command, np.zeros(6) if prev is None else prev
    )


def test_layout() -> None:
    assert c.OBS_DIM == 25 == len(c.OBS_NAMES) == len(set(c.OBS_NAMES))
    assert c.ACTION_DIM == 6 and c.JOINT_NAMES[:3] == ("left_hip", "left_knee", "left_wheel")
    assert c.OBS_SLICES["prev_action"] == slice(19, 25)


def test_projected_gravity_and_tilt() -> None:
    np.testing.assert_allclose(c.projected_gravity_from_quaternion(UPRIGHT), [0, 0, -1])
    g = c.projected_gravity_from_quaternion(quat_about("y", 0.3))
    np.testing.assert_allclose(g, [math.sin(0.3), 0, -math.cos(0.3)], atol=1e-12)
    assert c.pitch_from_projected_gravity(g) == pytest.approx(0.3)
    assert c.tilt_from_projected_gravity(g) == pytest.approx(0.3)
    g = c.projected_gravity_from_quaternion(quat_about("x", 0.2))
    np.testing.assert_allclose(g, [0, -math.sin(0.2), -math.cos(0.2)], atol=1e-12)
    # Yaw does not tilt; an unnormalised quaternion gives the same answer.
    np.testing.assert_allclose(
        c.projected_gravity_from_quaternion(2 * np.array(quat_about("z", 1.0))),
        [0, 0, -1],
        atol=1e-12,
    )


def test_forward_velocity_from_wheels() -> None:
    v = np.zeros(6)
    v[list(c.WHEEL_JOINT_IDS)] = 10.0
    assert c.forward_velocity_from_joints(v, 0.0) == pytest.approx(0.65)
    v[list(c.LEG_JOINT_IDS)] = [1.0, -1.0, 1.0, -1.0]  # hip and knee cancel
    assert c.forward_velocity_from_joints(v, 2.0) == pytest.approx(0.065 * 12)


def test_build_observation_fields_and_batch() -> None:
    o = obs(ang_vel=(0.1, 0.2, 0.3), command=(0.5, -0.1), prev=np.arange(6) / 10, leg=[0.1] * 4)
    assert o.dtype == np.float32 and o.shape == (25,)
    np.testing.assert_allclose(c.field(o, "base_ang_vel"), [0.1, 0.2, 0.3], rtol=1e-6)
    np.testing.assert_allclose(c.field(o, "leg_pos"), [0.1] * 4, rtol=1e-5)
    np.testing.assert_allclose(c.field(o, "forward_vel"), [0.065 * 0.2], rtol=1e-5)
    np.testing.assert_allclose(c.field(o, "command"), [0.5, -0.1], rtol=1e-6)
    batch = c.build_observation(
        np.tile(UPRIGHT, (4, 1)),
        np.zeros((4, 3)),
        np.zeros((4, 6)),
        np.zeros((4, 6)),
        (0, 0),
        np.zeros(6),
    )
    assert batch.shape == (4, 25)


def test_action_scaling() -> None:
    cmd = c.action_to_command(np.zeros(6))
    np.testing.assert_allclose(cmd.position[[0, 1, 3, 4]], [0.5, -1.0, 0.5, -1.0])
    assert np.isnan(cmd.position[[2, 5]]).all() and np.isnan(cmd.effort[[0, 1, 3, 4]]).all()
    np.testing.assert_allclose(cmd.effort[[2, 5]], [0.0, 0.0])
    up = c.action_to_command(np.full(6, 2.0))  # clipped to 1
    np.testing.assert_allclose(up.position[[0, 1]], [1.0, -0.5])
    np.testing.assert_allclose(up.effort[[2, 5]], [4.0, 4.0])
    down = c.action_to_command(-np.ones(6))
    np.testing.assert_allclose(down.position[[0, 1]], [0.0, -1.5])
    a = np.array([0.3, -0.2, 0.9, -0.7, 0.1, -1.0])
    np.testing.assert_allclose(c.command_to_action(c.action_to_command(a)), a, atol=1e-12)


def test_stand_reward_and_termination() -> None:
    stand = c.get_task("stand")
    o = obs()
    assert stand.reward(o, np.zeros(6), o) == pytest.approx(1.75, abs=1e-6)
    tilted = obs(quat=quat_about("y", 0.3))
    assert stand.reward(o, np.zeros(6), tilted) == pytest.approx(1.75 - 0.09, abs=1e-6)
    # Changing the action by 1 on every joint costs action_rate * 1.
    assert stand.reward(o, np.ones(6), o) == pytest.approx(1.75 - 0.05, abs=1e-6)
    assert not stand.terminated(obs(quat=quat_about("y", 0.5)))
    assert stand.terminated(obs(quat=quat_about("x", -0.7)))
    bad = o.copy()
    bad[3] = np.nan
    assert stand.terminated(bad)
    assert stand.max_episode_steps(100.0) == 1000


def test_move_straight_tracks_its_command() -> None:
    move = c.get_task("move_straight")
    joint_vel = np.zeros(6)
    joint_vel[list(c.WHEEL_JOINT_IDS)] = 0.5 / c.WHEEL_RADIUS
    on_target = obs(joint_vel=joint_vel, command=move.command)
    still = obs(command=move.command)
    assert move.reward(still, np.zeros(6), on_target) == pytest.approx(2.25, abs=1e-5)
    assert move.reward(still, np.zeros(6), still) == pytest.approx(1.25 + math.exp(-4), abs=1e-5)


def test_unknown_task_and_bad_timing() -> None:
    with pytest.raises(ConfigError, match="unknown task"):
        c.get_task("dance")
    assert c.Timing().decimation == 10
    with pytest.raises(ConfigError, match="integer multiple"):
        c.Timing(control_hz=300.0, physics_hz=1000.0)
    with pytest.raises(ConfigError, match="positive"):
        c.Timing(control_hz=-1.0)


def test_metadata_round_trip_and_mismatch() -> None:
    meta = c.contract_metadata()
    c.check_contract_metadata(meta, "x")
    with pytest.raises(ContractMismatchError, match="contract_version"):
        c.check_contract_metadata({**meta, "contract_version": "other/9"}, "x")
    scale = list(meta["action_scale"])
    scale[2] = 8.0
    with pytest.raises(ContractMismatchError, match="action_scale"):
        c.check_contract_metadata({**meta, "action_scale": scale}, "x")
    with pytest.raises(ContractMismatchError, match="no 'obs_names'"):
        c.check_contract_metadata({k: v for k, v in meta.items() if k != "obs_names"}, "x")


def test_message_readers_reorder_and_flag_missing() -> None:
    names = list(reversed(c.JOINT_NAMES))
    msg = SimpleNamespace(name=names, position=list(range(6)), velocity=[], effort=[0.0] * 6)
    reading = joint_state_to_reading(msg)
    np.testing.assert_array_equal(reading.position, [5, 4, 3, 2, 1, 0])
    assert np.isnan(reading.velocity).all()
    with pytest.raises(MessageError, match="left_wheel"):
        joint_state_to_reading(
            SimpleNamespace(name=names[:3], position=[0] * 3, velocity=[], effort=[])
        )
    v3 = SimpleNamespace
    imu = imu_to_reading(
        v3(orientation=v3(x=0, y=0, z=0, w=1), angular_velocity=v3(x=1, y=2, z=3))
    )
    np.testing.assert_array_equal(imu.quat_xyzw, [0, 0, 0, 1])


def test_single_sample_fast_paths_equal_the_batch_path_bitwise() -> None:
    # The env computes one transition at a time, datasets whole arrays: same numbers required.
    rng = np.random.default_rng(1)
    n = 2000
    q, w = rng.normal(size=(n, 4)), rng.normal(size=(n, 3))
    pos, vel = rng.normal(size=(n, 6)), rng.normal(size=(n, 6))
    cmd, act = rng.normal(size=(n, 2)) * 0.5, rng.uniform(-1, 1, size=(n, 6))
    batch = c.build_observation(q, w, pos, vel, cmd, act)
    single = np.stack(
        [c.build_observation(q[i], w[i], pos[i], vel[i], cmd[i], act[i]) for i in range(n)]
    )
    np.testing.assert_array_equal(batch, single)
    for task in c.TASKS.values():
        rewards = task.reward(batch[:-1], act[1:], batch[1:])
        one_by_one = [task.reward(batch[i], act[i + 1], batch[i + 1]) for i in range(n - 1)]
        np.testing.assert_array_equal(rewards, one_by_one)
        np.testing.assert_array_equal(task.terminated(batch), [task.terminated(b) for b in batch])
        # The env's combined call: reward and termination of the same rows, bitwise.
        both = [task.outcome(batch[i], act[i + 1], batch[i + 1]) for i in range(n - 1)]
        np.testing.assert_array_equal([r for r, _ in both], rewards)
        np.testing.assert_array_equal([t for _, t in both], task.terminated(batch[1:]))
    # Falls, non-finite rows and finite upright rows all reach outcome's termination.
    stand = c.get_task("stand")
    fallen = obs(quat=quat_about("y", 1.0))
    bad = batch[0].copy()
    bad[5] = np.nan
    for row in (batch[0], fallen, bad):
        assert stand.outcome(batch[1], act[0], row)[1] == bool(stand.terminated(row))
    assert stand.outcome(batch[1], act[0], fallen)[1] and stand.outcome(batch[1], act[0], bad)[1]


def test_action_targets_are_the_commands_values() -> None:
    # The simulator sends action_targets; a robot gets action_to_command: one map, same bits.
    rng = np.random.default_rng(2)
    a = rng.uniform(-1.5, 1.5, size=(500, 6))
    a[0] = [np.nan, 0, np.inf, -np.inf, 0.5, np.nan]
    targets = c.action_targets(a)
    cmd = c.action_to_command(a)
    legs, wheels = list(c.LEG_JOINT_IDS), list(c.WHEEL_JOINT_IDS)
    np.testing.assert_array_equal(targets[:, legs], cmd.position[:, legs])
    np.testing.assert_array_equal(targets[:, wheels], cmd.effort[:, wheels])
    np.testing.assert_array_equal(c.action_targets(a[7]), targets[7])
