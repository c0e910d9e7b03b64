"""The classical controller as pure numpy: signs, limits, safe fallback, config loading."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from h2o_robot_bridge.contract import OBS_DIM, OBS_SLICES, build_observation
from h2o_robot_bridge.contract import robot as contract_robot
from h2o_robot_bridge.controllers import ClassicalController, ClassicalGains, load_gains
from h2o_robot_bridge.errors import ConfigError
from h2o_robot_bridge.policy import Policy

WHEELS = list(contract_robot.WHEEL_JOINT_IDS)
LEGS = list(contract_robot.LEG_JOINT_IDS)


def obs_for(
    pitch: float = 0.0, pitch_rate: float = 0.0, speed: float = 0.0, yaw_rate: float = 0.0,
    command: tuple[float, float] = (0.0, 0.0),
) -> np.ndarray:  # fmt: skip
    """An observation with the given pitch [rad], rates [rad/s] and wheel speed [m/s]."""
    quat = [0.0, np.sin(pitch / 2), 0.0, np.cos(pitch / 2)]
    qvel = np.zeros(6)
    qvel[WHEELS] = speed / contract_robot.WHEEL_RADIUS - pitch_rate
    return build_observation(
        quat, [0.0, pitch_rate, yaw_rate], contract_robot.DEFAULT_POSITIONS, qvel, command,
        np.zeros(6),
    )  # fmt: skip


def test_is_a_policy_with_the_shipped_gains() -> None:
    c: Policy = ClassicalController()  # structurally a Policy (checked by type checkers)
    assert all(callable(getattr(c, m)) for m in ("reset", "act"))
    assert c.name == "classical" and c.task == "stand" and c.control_hz == 100.0
    assert c.gains == load_gains()  # config/bridge/classical.yaml
    assert ClassicalController.from_yaml(task="move_straight").task == "move_straight"


def test_upright_and_still_gives_zero_action() -> None:
    action = ClassicalController().act(obs_for())
    assert action.shape == (6,) and action.dtype == np.float32
    np.testing.assert_allclose(action, 0.0, atol=1e-6)


def test_leaning_forward_drives_the_wheels_forward() -> None:
    c = ClassicalController()
    forward = c.act(obs_for(pitch=0.1))
    assert np.all(forward[WHEELS] > 0) and np.all(forward[LEGS] == 0)
    c.reset()
    np.testing.assert_allclose(c.act(obs_for(pitch=-0.1)), -forward, atol=1e-6)
    c.reset()
    assert np.all(c.act(obs_for(pitch_rate=0.5))[WHEELS] > 0)  # falling forward: same sign


def test_speed_deficit_first_drives_backwards() -> None:
    # To accelerate, the robot must first lean forward: wheels go back briefly.
    c = ClassicalController(task="move_straight")
    action = c.act(obs_for(command=(0.5, 0.0)))
    assert np.all(action[WHEELS] < 0)


def test_yaw_error_turns_the_wheels_differentially() -> None:
    action = ClassicalController().act(obs_for(command=(0.0, 0.5)))
    left, right = action[WHEELS]
    assert right > 0 > left and right == pytest.approx(-left)


def test_position_drift_is_integrated_and_reset() -> None:
    c = ClassicalController()
    first = c.act(obs_for(speed=-0.2))
    for _ in range(50):
        later = c.act(obs_for(speed=-0.2))
    # drifting backwards: lean forward more and more, i.e. wheels back harder
    assert later[WHEELS[0]] < first[WHEELS[0]] < 0
    c.reset()
    np.testing.assert_allclose(c.act(obs_for(speed=-0.2)), first)


def test_actions_are_clipped_and_bad_observations_are_safe() -> None:
    c = ClassicalController()
    assert np.all(np.abs(c.act(obs_for(pitch=1.2, pitch_rate=5.0))) <= 1.0)
    bad = obs_for()
    bad[OBS_SLICES["base_ang_vel"]] = np.nan
    np.testing.assert_array_equal(c.act(bad), np.zeros(6))
    with pytest.raises(ConfigError, match="shape"):
        c.act(np.zeros(OBS_DIM - 1))


def test_gains_validation_and_yaml(tmp_path: Path) -> None:
    path = tmp_path / "g.yaml"
    path.write_text("gains:\n  k_pitch: 20.0\n  k_vel: 0.1\n")
    gains = load_gains(path)
    assert gains.k_pitch == 20.0 and gains.k_pitch_rate == ClassicalGains().k_pitch_rate
    path.write_text("gains:\n  k_pich: 20.0\n")
    with pytest.raises(ConfigError, match="unknown keys"):
        load_gains(path)
    with pytest.raises(ConfigError, match=">= 0"):
        ClassicalGains(k_pitch=-1.0)
    with pytest.raises(ConfigError, match="does not exist"):
        load_gains(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="unknown task"):
        ClassicalController(task="fly")
