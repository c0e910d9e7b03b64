"""The graded response on the simulated robot (real PyBullet, the deploy runner's core).

End to end: a policy that would drop the robot is caught by the fallback controller, and the
controlled stop outlasts a sensor blackout the old safe action (legs default, wheels 0 N m)
did not. Each claim is checked against its control (no fallback; the old safe action), so the
tests fail if the safety net stops making the difference.
"""

from __future__ import annotations

import numpy as np
import pytest

from h2o_robot_bridge.contract import (
    OBS_SLICES,
    clip_action,
    command_to_action,
    get_task,
    robot,
    tilt_from_projected_gravity,
)
from h2o_robot_bridge.contract.sensors import observation_from_snapshot
from h2o_robot_bridge.controllers import ClassicalController
from h2o_robot_bridge.deploy.levels import FallbackConfig, StopConfig
from h2o_robot_bridge.deploy.runner import PolicyRunner, RunnerConfig
from h2o_sim.runner_loop import RunnerLoop
from h2o_sim.simulator import WheelLeggedSim

FALL = get_task("stand").fall_tilt
WHEELS = list(robot.WHEEL_JOINT_IDS)


class Drifting:
    """A 'learned' policy that goes wrong: the classical controller, then from ``start`` a
    wheel-torque bias that tips the robot over within a second."""

    name, task, control_hz = "drifting", "stand", 100.0

    def __init__(self, start: int = 300, bias: float = 0.7) -> None:
        self.inner, self.start, self.bias, self.calls = ClassicalController(), start, bias, 0

    def reset(self) -> None:
        self.inner.reset()

    def act(self, obs: np.ndarray) -> np.ndarray:
        self.calls += 1
        action = np.asarray(self.inner.act(obs), dtype=np.float64)
        if self.calls > self.start:
            action[WHEELS] += self.bias
        return np.clip(action, -1.0, 1.0)


def _tilt(readings) -> float:
    obs = observation_from_snapshot(readings.snapshot(), (0.0, 0.0), np.zeros(6))
    return float(tilt_from_projected_gravity(obs[OBS_SLICES["projected_gravity"]]))


def _episode(policy, config: RunnerConfig, seed: int, blackout=(0, 0), ticks: int = 800):
    """Max tilt [rad], the levels seen, and the runner, over one episode in ``real``; the
    runner gets no sensor readings in the tick range ``blackout``."""
    loop = RunnerLoop(PolicyRunner(policy, config), WheelLeggedSim("real"))
    loop.reset(seed=seed)
    worst, levels = 0.0, set()
    for k in range(ticks):
        if not blackout[0] <= k < blackout[1]:
            loop._feed(loop.clock)
        result = loop.runner.tick(loop.clock)
        loop.readings = loop.sim.step(clip_action(command_to_action(result.command)))
        loop.clock += loop.sim.timing.control_dt
        levels.add(result.level)
        worst = max(worst, _tilt(loop.readings))
        if worst > FALL:
            break
    loop.sim.close()
    return worst, levels, loop.runner


@pytest.mark.parametrize("seed", [0, 1])
def test_the_fallback_catches_a_policy_that_would_drop_the_robot(seed: int) -> None:
    without, _, runner = _episode(
        Drifting(), RunnerConfig(fallback=FallbackConfig(controller="none")), seed
    )
    assert without > 0.5 and runner.latched == "tilt"  # the control: it falls
    worst, levels, runner = _episode(Drifting(), RunnerConfig(), seed)
    assert worst < FALL and runner.latched is None, worst
    assert levels == {"policy", "fallback"} and runner.controller == "fallback"
    assert runner.safety.trips["fallback.tilt_soft"] == 1


@pytest.mark.parametrize("seed", [0, 1])
def test_the_controlled_stop_outlasts_the_old_safe_action_in_a_half_second_blackout(
    seed: int,
) -> None:
    old_safe = StopConfig(crouch=(0.0, 0.0), wheel_damping=0.0)  # legs default, wheels 0
    worst_old, _, _ = _episode(
        ClassicalController(), RunnerConfig(stop=old_safe), seed, (300, 350)
    )
    assert worst_old > FALL  # the control: the old safe action drops it
    worst, levels, runner = _episode(ClassicalController(), RunnerConfig(), seed, (300, 350))
    assert worst < FALL, worst
    assert "stop" in levels and runner.safety.trips["stale_joint_states"] >= 1


def test_a_longer_blackout_still_falls_and_every_command_stays_finite() -> None:
    """Documented limit: without sensors nothing balances; 1 s is beyond what the stop buys."""
    worst, levels, _ = _episode(ClassicalController(), RunnerConfig(), 0, (300, 400))
    assert worst > FALL and levels == {"policy", "stop"}
