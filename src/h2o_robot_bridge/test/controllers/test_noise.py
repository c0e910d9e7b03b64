"""Exploration noise around a policy (dataset collection through the policy runner)."""

from __future__ import annotations

import numpy as np
import pytest

from h2o_robot_bridge.contract import ACTION_DIM, OBS_DIM
from h2o_robot_bridge.controllers.classical import ClassicalController
from h2o_robot_bridge.controllers.noise import NoisyPolicy
from h2o_robot_bridge.deploy.config import DeployConfig, load_policy
from h2o_robot_bridge.errors import ConfigError


class Constant:
    name, task, control_hz = "const", "stand", 100.0

    def __init__(self, value: float) -> None:
        self.value, self.resets = value, 0

    def reset(self) -> None:
        self.resets += 1

    def act(self, obs: np.ndarray) -> np.ndarray:
        return np.full(ACTION_DIM, self.value, dtype=np.float32)


def test_noise_statistics_clipping_and_reset() -> None:
    inner = Constant(0.3)
    policy = NoisyPolicy(inner, 0.2, seed=1)
    acts = np.stack([policy.act(np.zeros(OBS_DIM, np.float32)) for _ in range(4000)])
    assert acts.dtype == np.float32 and acts.shape == (4000, ACTION_DIM)
    assert np.mean(acts) == pytest.approx(0.3, abs=0.01)
    assert np.std(acts) == pytest.approx(0.2, rel=0.05)
    edge = NoisyPolicy(Constant(0.95), 0.5, seed=2)
    assert np.all(np.abs(np.stack([edge.act(np.zeros(OBS_DIM)) for _ in range(500)])) <= 1.0)
    policy.reset()
    assert inner.resets == 1
    assert (policy.task, policy.control_hz) == ("stand", 100.0) and "noise" in policy.name


def test_same_seed_same_noise_and_zero_noise_is_the_policy() -> None:
    obs = np.zeros(OBS_DIM, np.float32)
    a = [NoisyPolicy(Constant(0.0), 0.1, seed=5).act(obs) for _ in range(2)]
    np.testing.assert_array_equal(a[0], a[1])
    np.testing.assert_array_equal(NoisyPolicy(Constant(0.25), 0.0).act(obs), np.full(6, 0.25))


def test_deploy_parameter_wraps_the_classical_controller() -> None:
    plain = load_policy(DeployConfig.from_params({"policy": "classical"}))
    assert isinstance(plain, ClassicalController)
    noisy = load_policy(
        DeployConfig.from_params({"policy": "classical", "exploration_noise_std": 0.2})
    )
    assert isinstance(noisy, NoisyPolicy) and isinstance(noisy.inner, ClassicalController)
    with pytest.raises(ConfigError, match="exploration_noise_std"):
        DeployConfig.from_params({"policy": "classical", "exploration_noise_std": -1.0})
    with pytest.raises(ConfigError):
        NoisyPolicy(Constant(0.0), float("nan"))
