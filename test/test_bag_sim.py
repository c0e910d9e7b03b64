"""Sim-recorded transitions equal the env's own: an env rollout published as ROS messages
(``ros_messages`` builders, rclpy CDR) gives, through the live recorder core and through a bag,
exactly the transitions ``WheelLeggedEnv.step`` returned."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from rclpy.serialization import serialize_message

from h2o_robot_bridge.contract import SAFE_ACTION, action_to_command
from h2o_robot_bridge.controllers.classical import ClassicalController
from h2o_robot_bridge.conversions.from_msg import (
    imu_to_reading,
    joint_command_from_msg,
    joint_state_to_reading,
    stamp_to_sec,
)
from h2o_robot_bridge.conversions.to_msg import imu_msg, joint_command_msg, joint_state_msg
from h2o_robot_bridge.dataset import load_dataset
from h2o_robot_bridge.dataset.align import AlignConfig
from h2o_robot_bridge.dataset.bag.convert import convert_bag
from h2o_robot_bridge.dataset.bag.writer import RobotBagWriter
from h2o_robot_bridge.dataset.recorder import Recorder, RecorderConfig
from h2o_sim.env import WheelLeggedEnv

DT = 0.01


def rollout(steps: int, seed: int) -> tuple[dict[str, np.ndarray], list[tuple]]:
    """Env transitions, and the messages a sim node + policy would publish for them.

    Messages: (kind, stamp, msg) with kind in joint_states / imu / joint_commands / reset. The
    clock is monotone across resets (as the sim node's): one tick per control period.
    """
    env = WheelLeggedEnv("stand")
    ctrl = ClassicalController.from_yaml()
    rng = np.random.default_rng(seed)
    obs, info = env.reset(seed=seed)
    readings = info["readings"]
    rows: dict[str, list] = {k: [] for k in ("obs", "act", "rew", "next", "term", "trunc")}
    msgs: list[tuple] = []
    clock = 100.0
    noise = 0.05  # first episode: the controller holds until the time limit

    def publish(stamp: float, r, action: np.ndarray) -> None:
        msgs.append(
            (
                "joint_states",
                stamp,
                joint_state_msg(stamp, r.joint_pos, r.joint_vel, r.joint_effort),
            )
        )
        msgs.append(("imu", stamp, imu_msg(stamp, r.quat_xyzw, r.ang_vel, r.lin_acc)))
        msgs.append(("joint_commands", stamp, joint_command_msg(stamp, action_to_command(action))))

    for _ in range(steps):
        action = np.clip(ctrl.act(obs) + rng.normal(0, noise, 6), -1, 1).astype(np.float32)
        next_obs, reward, term, trunc, info = env.step(action)
        # What a runner sends is the shaped action (the env applies the deploy shaping).
        action = info["applied_action"].astype(np.float32)
        publish(clock, readings, action)
        for key, value in zip(rows, (obs, action, reward, next_obs, term, trunc), strict=True):
            rows[key].append(value)
        clock += DT
        readings = info["readings"]
        obs = next_obs
        if term or trunc:
            publish(clock, readings, SAFE_ACTION)  # the loop runs on; the episode is over
            msgs.append(("reset", clock + DT / 2, None))
            obs, info = env.reset()
            ctrl.reset()
            readings = info["readings"]
            clock += DT
            noise = 1.5  # later episodes: heavy noise (rate limited by the shaping), falls
    env.close()
    # The recording ends with the budget: the last env row has no successor tick yet.
    publish(clock, readings, SAFE_ACTION)
    arrays = {k: np.array(v) for k, v in rows.items()}
    return arrays, msgs


@pytest.fixture(scope="module")
def sim_log() -> tuple[dict[str, np.ndarray], list[tuple]]:
    return rollout(1300, seed=4)


def assert_same(data, env: dict[str, np.ndarray]) -> None:
    assert data.size == len(env["obs"])
    np.testing.assert_allclose(data.observations, env["obs"], atol=1e-6)
    np.testing.assert_array_equal(data.actions, env["act"])
    np.testing.assert_allclose(data.rewards, env["rew"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(data.next_observations, env["next"], atol=1e-6)
    np.testing.assert_array_equal(data.terminals, env["term"])
    # The env truncates at the time limit; the log also ends episodes at the end of the log.
    want = env["trunc"].copy()
    want[-1] |= not env["term"][-1]
    np.testing.assert_array_equal(data.timeouts, want)


def test_env_rollout_has_time_limit_and_falls(sim_log) -> None:
    env, _ = sim_log
    assert env["trunc"].sum() >= 1 and env["term"].sum() >= 3


def test_live_recorder_core_equals_env(tmp_path: Path, sim_log) -> None:
    env, msgs = sim_log
    rec = Recorder(RecorderConfig(output=str(tmp_path / "rec.h5"), align=AlignConfig()))
    for i, (kind, stamp, msg) in enumerate(msgs):
        wall = 5000.0 + stamp  # receive clock: only used to map the header-less reset
        if kind == "joint_states":
            r = joint_state_to_reading(msg)
            rec.on_joint_state(stamp_to_sec(msg.header.stamp), wall, r.position, r.velocity)
        elif kind == "imu":
            r = imu_to_reading(msg)
            rec.on_imu(stamp_to_sec(msg.header.stamp), wall, r.quat_xyzw, r.ang_vel)
        elif kind == "joint_commands":
            rec.on_joint_command(stamp_to_sec(msg.header.stamp), wall, joint_command_from_msg(msg))
        else:
            rec.on_reset(wall)
        if i % 50 == 0:
            rec.step()
    assert_same(load_dataset(rec.close()), env)


def test_bag_of_sim_messages_equals_env(tmp_path: Path, sim_log) -> None:
    env, msgs = sim_log
    types = {
        "joint_states": ("/joint_states", "sensor_msgs/msg/JointState"),
        "imu": ("/imu/data", "sensor_msgs/msg/Imu"),
        "joint_commands": ("/joint_commands", "sensor_msgs/msg/JointState"),
    }
    with RobotBagWriter(tmp_path / "bag", "mcap") as w:
        for kind, stamp, msg in msgs:
            if kind == "reset":
                w.write_reset(stamp + 0.0007)  # received a bit later
            else:
                topic, msgtype = types[kind]
                w.write_raw(topic, msgtype, serialize_message(msg), stamp + 0.0007)
    conv = convert_bag(tmp_path / "bag", AlignConfig())
    assert_same(conv.data, env)
    assert conv.align.dropped_ticks == {}
