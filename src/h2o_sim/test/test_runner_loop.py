"""The one control loop: the env and the deploy runner core shape and time actions alike."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest

from h2o_robot_bridge.contract import DEFAULT_TIMING, robot
from h2o_robot_bridge.controllers import ClassicalController
from h2o_robot_bridge.deploy.levels import FallbackConfig
from h2o_robot_bridge.deploy.runner import PolicyRunner, RunnerConfig
from h2o_robot_bridge.deploy.safety import SafetyConfig
from h2o_sim.env import WheelLeggedEnv, episode_sim_seed
from h2o_sim.runner_loop import RunnerLoop
from h2o_sim.simulator import WheelLeggedSim


@dataclass
class Replay:
    """An open-loop policy: replays a fixed action sequence, whatever it observes."""

    actions: np.ndarray
    name: str = "replay"
    task: str = "stand"
    control_hz: float = 100.0
    calls: int = field(default=0)

    def reset(self) -> None:
        """Nothing to forget (the sequence goes on)."""

    def act(self, obs: np.ndarray) -> np.ndarray:
        action = self.actions[self.calls]
        self.calls += 1
        return action


def _loop(policy, seed: int, **safety) -> RunnerLoop:
    # No fallback: these tests compare the loops, not the runner's graded response.
    config = RunnerConfig(SafetyConfig(**safety), fallback=FallbackConfig(controller="none"))
    loop = RunnerLoop(PolicyRunner(policy, config), WheelLeggedSim("real"))
    loop.reset(seed=episode_sim_seed(seed))
    return loop


def test_env_and_runner_shape_the_same_action_sequence_bitwise() -> None:
    # Uniform random actions in [-1.5, 1.5]: exercises the clip, the legs' fade-in and the rate
    # limit at every tick. The tilt cut-off is out of the way (the robot falls): only shaping.
    actions = np.random.default_rng(0).uniform(-1.5, 1.5, (300, 6))
    env = WheelLeggedEnv("stand", "real")
    env.reset(seed=5)
    from_env = np.array([env.step(a)[4]["applied_action"] for a in actions])
    env.close()
    loop = _loop(Replay(actions), seed=5, tilt_limit=3.0)
    from_runner = np.array([loop.tick().result.action for _ in actions])
    loop.sim.close()
    np.testing.assert_array_equal(from_env, from_runner)
    # The shaping did act: the fade held the legs back and the rate limit bound.
    legs = list(robot.LEG_JOINT_IDS)
    assert np.abs(from_env[:50, legs]).max() < 0.5 * np.abs(actions[:50, legs]).max()
    assert np.abs(np.diff(from_env, axis=0)).max() == pytest.approx(0.5)


def test_env_and_runner_loop_run_the_same_closed_loop() -> None:
    # The classical controller in both loops from the same initial state: the same trajectory
    # up to the float rounding of the joint command round trip (the sim node's conversion).
    env = WheelLeggedEnv("stand", "real")
    obs, _ = env.reset(seed=11)
    env_ctrl = ClassicalController(task="stand")
    env_pitch = []
    for _ in range(500):
        obs, *_ = env.step(env_ctrl.act(obs))
        env_pitch.append(env.sim.readings.quat_xyzw.copy())
    env.close()
    loop = _loop(ClassicalController(task="stand"), seed=11)
    loop_pitch = [loop.tick().readings.quat_xyzw.copy() for _ in range(500)]
    loop.sim.close()
    np.testing.assert_allclose(np.array(env_pitch), np.array(loop_pitch), atol=1e-6)


@pytest.mark.parametrize("latency", [0, 5, 15])
def test_actuation_delay_acts_after_latency_physics_steps(latency: int) -> None:
    # A distinct wheel torque every tick; the reported wheel effort is the torque acting in the
    # period's last physics step: the command of this tick when latency < 10 physics steps,
    # of the previous tick when 10 <= latency < 20.
    sim = WheelLeggedSim(profile="real", seed=0)
    sim.set_param("latency_steps", latency)
    wheel = robot.WHEEL_JOINT_IDS[0]
    sent = np.linspace(-0.3, 0.3, 20)
    seen = []
    for value in sent:
        action = np.zeros(6)
        action[wheel] = value
        seen.append(sim.step(action).joint_effort[wheel])
    sim.close()
    lag = latency // DEFAULT_TIMING.decimation
    scale = robot.MAX_EFFORT[wheel]
    np.testing.assert_allclose(np.array(seen[lag:]), sent[: len(sent) - lag] * scale, atol=1e-9)


def test_jitter_delays_within_range_and_in_order() -> None:
    sim = WheelLeggedSim(profile="real", seed=1)
    sim.set_param("latency_steps", 5)
    sim.set_param("latency_jitter_steps", 10)
    wheel = robot.WHEEL_JOINT_IDS[0]
    sent = np.arange(1, 201) / 400.0  # distinct, increasing torques
    seen = []
    for value in sent:
        action = np.zeros(6)
        action[wheel] = value
        seen.append(sim.step(action).joint_effort[wheel] / robot.MAX_EFFORT[wheel])
    sim.close()
    index = np.rint(np.array(seen) * 400.0).astype(int) - 1  # which tick's command acted
    lags = np.arange(len(sent)) - index
    assert set(np.unique(lags[5:])) <= {0, 1}  # 5-15 physics steps: this or the last tick
    assert {0, 1} <= set(np.unique(lags[5:]))  # the jitter did vary it
    assert np.all(np.diff(index) >= 0)  # never out of order


def test_a_fall_does_not_leak_into_the_next_episode() -> None:
    # Zero actions let the robot fall and latch the runner's tilt cut-off; the next episode
    # must start released and restarted, exactly like a fresh loop from the same state.
    loop = _loop(Replay(np.zeros((2000, 6))), seed=0)
    for _ in range(300):
        loop.tick()
    assert loop.runner.latched == "tilt"
    loop.reset(seed=episode_sim_seed(3))
    assert loop.runner.latched is None and loop.runner.safety.is_safe
    after = [loop.tick().readings.quat_xyzw for _ in range(50)]
    loop.sim.close()
    fresh = _loop(Replay(np.zeros((50, 6))), seed=3)
    again = [fresh.tick().readings.quat_xyzw for _ in range(50)]
    fresh.sim.close()
    np.testing.assert_array_equal(np.array(after), np.array(again))


@pytest.mark.parametrize(("latency", "expected"), [(0, 0), (10, 1)])
def test_env_delay_measured_like_the_dds_loop(latency: int, expected: int) -> None:
    # The measurement test/test_loop_delay.py applies to the sim node over DDS (there: 0 extra
    # ticks with the sensors trigger), applied to the env: latency 0 is the same 0.
    from h2o_robot_bridge.testing.loop_delay import loop_delays

    env = WheelLeggedEnv("stand", "real", overrides={"latency_steps": latency})
    obs, _ = env.reset(seed=2)
    controller = ClassicalController(task="stand")
    wheels = list(robot.WHEEL_JOINT_IDS)
    stamps, efforts, commands = [0.0], [env.sim.readings.joint_effort[wheels]], []
    for k in range(200):
        obs, *_, info = env.step(controller.act(obs))
        commands.append(info["applied_action"][wheels] * robot.MAX_EFFORT[wheels])
        stamps.append((k + 1) * DEFAULT_TIMING.control_dt)
        efforts.append(info["readings"].joint_effort[wheels])
    env.close()
    dt = DEFAULT_TIMING.control_dt
    result = loop_delays(stamps, efforts, np.array(stamps[:-1]), commands, dt, atol=1e-6)
    assert result.known > 150
    assert result.fraction(expected) == 1.0, result.distribution()
