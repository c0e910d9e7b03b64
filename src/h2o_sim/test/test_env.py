"""The Gymnasium env: API compliance, contract reward/termination, seeding, vector envs."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env, env_render_passive_checker

import h2o_sim
from h2o_robot_bridge.contract import OBS_DIM, OBS_SLICES, CommandRange, Timing, get_task
from h2o_robot_bridge.controllers import ClassicalController
from h2o_robot_bridge.deploy.shaping import NO_SHAPING
from h2o_robot_bridge.errors import ConfigError
from h2o_sim.env import WheelLeggedEnv

STAND, MOVE = "h2o/WheelLeggedStand-v0", "h2o/WheelLeggedMoveStraight-v0"


@pytest.mark.filterwarnings("ignore:.*infinity")  # the contract observation is unbounded
@pytest.mark.parametrize("env_id", [STAND, MOVE])
def test_registered_envs_pass_the_gymnasium_checker(env_id: str) -> None:
    assert env_id in h2o_sim.ENV_IDS
    env = gym.make(env_id)
    # The GUI render mode is not exercised here (it opens a window); rgb_array is, below.
    check_env(env.unwrapped, skip_render_check=True)
    env.close()


def test_rgb_array_render() -> None:
    env = WheelLeggedEnv(render_mode="rgb_array")
    env.reset(seed=0)
    env_render_passive_checker(env)
    frame = env.render()
    assert frame.shape == (240, 320, 3) and frame.dtype == np.uint8 and frame.std() > 0
    env.close()


def test_task_and_command_reach_the_observation() -> None:
    env = gym.make(MOVE)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (OBS_DIM,) and obs.dtype == np.float32
    np.testing.assert_allclose(obs[OBS_SLICES["command"]], get_task("move_straight").command)
    obs, _ = env.reset(seed=0, options={"command": (0.2, 0.1)})
    np.testing.assert_allclose(obs[OBS_SLICES["command"]], (0.2, 0.1))
    env.close()
    with pytest.raises(ConfigError):
        WheelLeggedEnv(command=(1.0,))
    with pytest.raises(ConfigError, match="unknown task"):
        WheelLeggedEnv(task="dance")
    with pytest.raises(ConfigError, match="unknown dynamics profile"):
        WheelLeggedEnv(dynamics="moon")
    with pytest.raises(ConfigError, match="unknown dynamics keys"):
        gym.make(STAND, overrides={"gravity": 3.0})


def test_reward_and_termination_come_from_the_contract_task() -> None:
    env = WheelLeggedEnv(task="stand", shaping=NO_SHAPING)
    task = get_task("stand")
    obs, _ = env.reset(seed=3)
    rng = np.random.default_rng(0)
    terminated = False
    for _ in range(300):
        action = rng.uniform(-0.2, 0.2, 6).astype(np.float32)
        next_obs, reward, terminated, truncated, info = env.step(action)
        assert reward == pytest.approx(float(task.reward(obs, action, next_obs)))
        assert terminated == bool(task.terminated(next_obs))
        np.testing.assert_allclose(next_obs[OBS_SLICES["prev_action"]], action, atol=1e-7)
        assert set(info) >= {"executed_action", "readings"}
        obs = next_obs
        if terminated:
            break
    assert terminated, "random small actions should let the robot fall"
    env.close()


def test_joint_noise_env_records_the_clean_action() -> None:
    env = WheelLeggedEnv(dynamics="joint_noise", shaping=NO_SHAPING)
    env.reset(seed=0)
    action = np.full(6, 0.1, dtype=np.float32)
    obs, *_, info = env.step(action)
    np.testing.assert_allclose(obs[OBS_SLICES["prev_action"]], action)
    assert not np.allclose(info["executed_action"], action)
    env.close()


def test_classical_controller_runs_to_truncation() -> None:
    env = WheelLeggedEnv(task="stand", timing=Timing(control_hz=50.0, physics_hz=1000.0))
    controller = ClassicalController(task="stand", control_hz=50.0)
    obs, _ = env.reset(seed=1)
    steps, total = 0, 0.0
    while True:
        obs, reward, terminated, truncated, _ = env.step(controller.act(obs))
        steps += 1
        total += reward
        if terminated or truncated:
            break
    assert truncated and not terminated
    assert steps == get_task("stand").max_episode_steps(50.0) == env.max_episode_steps
    assert total / steps > 1.0  # alive bonus + tracking, small penalties
    env.close()


def test_reset_with_seed_is_reproducible() -> None:
    env = WheelLeggedEnv(dynamics="joint_noise", overrides={"sensor_noise_std": 0.01})
    actions = np.random.default_rng(1).uniform(-0.3, 0.3, (20, 6))

    def run(seed: int) -> np.ndarray:
        obs, _ = env.reset(seed=seed)
        out = [obs]
        for a in actions:
            out.append(env.step(a)[0])
        return np.array(out)

    first = run(11)
    np.testing.assert_array_equal(first, run(11))
    assert not np.array_equal(first, run(12))
    env.close()


def test_sync_vector_env_autoresets() -> None:
    envs = gym.vector.SyncVectorEnv([lambda: gym.make(STAND) for _ in range(2)])
    obs, _ = envs.reset(seed=[0, 1])
    assert obs.shape == (2, OBS_DIM)
    assert not np.array_equal(obs[0], obs[1])
    task = get_task("stand")
    done = np.zeros(2, bool)
    reset_envs: set[int] = set()
    for _ in range(150):  # zero actions: both fall well within 1.5 s
        fallen = obs.copy()
        obs, rewards, terminated, truncated, _ = envs.step(np.zeros((2, 6), dtype=np.float32))
        assert obs.shape == (2, OBS_DIM) and rewards.shape == (2,)
        # Gymnasium's next-step autoreset: the step after a fall returns a fresh episode's
        # first observation (upright, zero previous action, reward 0), not the fallen state.
        for i in np.flatnonzero(done):
            assert task.terminated(fallen[i]) and not task.terminated(obs[i])
            assert rewards[i] == 0.0 and not terminated[i]
            np.testing.assert_array_equal(obs[i][OBS_SLICES["prev_action"]], 0.0)
            reset_envs.add(int(i))
        done = terminated | truncated
    assert reset_envs == {0, 1}  # both envs fell and were reset
    envs.close()


def test_gym_make_passes_dynamics_and_timing() -> None:
    env = gym.make(STAND, dynamics="gravity_x2", overrides={"latency_steps": 2},
                   timing=Timing(control_hz=200.0, physics_hz=1000.0))  # fmt: skip
    base = env.unwrapped
    assert base.profile.gravity_scale == 2.0 and base.profile.latency_steps == 2
    assert base.max_episode_steps == get_task("stand").max_episode_steps(200.0)
    env.close()


def test_env_observation_is_built_from_the_simulators_snapshot() -> None:
    # The env and the deployed runner build observations from the same SensorSnapshot type.
    from h2o_robot_bridge.contract import build_observation  # noqa: PLC0415

    env = WheelLeggedEnv("stand", "real")
    obs, _ = env.reset(seed=3)
    r = env.sim.readings
    assert np.array_equal(r.snapshot().joints.effort, r.joint_effort)
    want = build_observation(
        r.quat_xyzw, r.ang_vel, r.joint_pos, r.joint_vel, env.command, np.zeros(6)
    )
    assert np.array_equal(obs, want)


def test_randomize_draws_knobs_per_episode_reproducibly() -> None:
    ranges = {"latency_steps": (0, 20), "mass_scale": (0.85, 1.15)}
    env = WheelLeggedEnv(randomize=ranges)
    drawn = [env.reset(seed=s)[1]["dynamics"] for s in range(8)]
    again = [env.reset(seed=s)[1]["dynamics"] for s in range(8)]
    assert drawn == again  # same reset seed, same draw
    lat = [d["latency_steps"] for d in drawn]
    assert all(isinstance(x, int) and 0 <= x <= 20 for x in lat) and len(set(lat)) > 3
    assert all(0.85 <= d["mass_scale"] <= 1.15 for d in drawn)
    assert env.profile.latency_steps == lat[-1]  # applied to the simulator
    env.close()


@pytest.mark.parametrize(
    "bad", [{"nope": (0, 1)}, {"mass_scale": (1.2, 0.9)}, {"mass_scale": 3.0}]
)
def test_randomize_refuses_bad_ranges(bad) -> None:
    with pytest.raises(ConfigError):
        WheelLeggedEnv(randomize=bad)


def test_episode_sim_seed_matches_the_env() -> None:
    from h2o_sim.env import episode_sim_seed
    from h2o_sim.simulator import WheelLeggedSim

    env = WheelLeggedEnv()
    obs, _ = env.reset(seed=42)
    sim = WheelLeggedSim("real", seed=episode_sim_seed(42))
    np.testing.assert_array_equal(sim.readings.quat_xyzw, env.sim.readings.quat_xyzw)
    sim.close()
    env.close()


def test_command_range_draws_a_command_per_episode_reproducibly() -> None:
    commands = CommandRange((0.0, 0.5), (-0.5, 0.5))
    env = WheelLeggedEnv(
        task="move_straight", command_range={"forward": [0.0, 0.5], "yaw": [-0.5, 0.5]}
    )
    plain = WheelLeggedEnv(task="move_straight")
    drawn, again = [], []
    for s in range(8):
        obs, info = env.reset(seed=s)
        np.testing.assert_array_equal(
            obs[OBS_SLICES["command"]], info["command"].astype(np.float32)
        )
        drawn.append(tuple(info["command"]))
        # The command is drawn after the simulator seed: the episode starts where it did.
        p_obs, _ = plain.reset(seed=s)
        others = np.ones(OBS_DIM, bool)
        others[OBS_SLICES["command"]] = False
        np.testing.assert_array_equal(obs[others], p_obs[others])
    for s in range(8):
        again.append(tuple(env.reset(seed=s)[1]["command"]))
    assert drawn == again and len(set(drawn)) == 8
    assert commands.contains(np.array(drawn)).all()
    # Within an episode the command holds; an explicit command still wins.
    obs, _ = env.reset(seed=0)
    for _ in range(5):
        step_obs = env.step(np.zeros(6, np.float32))[0]
        np.testing.assert_array_equal(step_obs[OBS_SLICES["command"]], obs[OBS_SLICES["command"]])
    obs, _ = env.reset(seed=0, options={"command": (0.1, 0.2)})
    np.testing.assert_allclose(obs[OBS_SLICES["command"]], (0.1, 0.2))
    env.close()
    plain.close()
    with pytest.raises(ConfigError, match="exceeds"):
        WheelLeggedEnv(task="move_straight", command_range={"forward": [0.0, 2.0]})
