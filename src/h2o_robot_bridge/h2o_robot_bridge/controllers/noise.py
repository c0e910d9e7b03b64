"""Exploration noise around any policy, for collecting datasets through the policy runner.

``NoisyPolicy(inner, std)`` acts ``clip(inner.act(obs) + N(0, std^2 I), -1, 1)``: the same
behaviour as ``h2o-collect``'s noisy controller, but on the robot side, so a real (or simulated)
robot can be driven through ``policy_runner`` while ``dataset_recorder`` logs the clean action
that was really sent. The runner's safety layer still shapes what leaves it.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from h2o_robot_bridge.contract import ACTION_DIM
from h2o_robot_bridge.errors import ConfigError
from h2o_robot_bridge.policy import Policy


class NoisyPolicy:
    """Gaussian action noise around ``inner`` (a :class:`~h2o_robot_bridge.policy.Policy` too).

    Args:
        inner: the policy to perturb.
        std: noise standard deviation per action dimension (action units, >= 0).
        seed: seed of the noise generator (None: fresh entropy).
    """

    def __init__(self, inner: Policy, std: float, seed: int | None = 0) -> None:
        if not (np.isfinite(std) and std >= 0.0):
            raise ConfigError(f"exploration noise std must be finite and >= 0, got {std!r}")
        self.inner = inner
        self.std = float(std)
        self.rng = np.random.default_rng(seed)
        self.name = f"{inner.name}+noise({self.std:g})"
        self.task = inner.task
        self.control_hz = inner.control_hz

    def reset(self) -> None:
        """Reset the inner policy (the noise stream goes on)."""
        self.inner.reset()

    def act(self, obs: NDArray[np.float32]) -> NDArray[np.float32]:
        """Noisy action (ACTION_DIM,) in [-1, 1]."""
        action = np.asarray(self.inner.act(obs), dtype=np.float64).reshape(ACTION_DIM)
        noisy = action + self.rng.normal(0.0, self.std, ACTION_DIM)
        return np.clip(noisy, -1.0, 1.0).astype(np.float32)
