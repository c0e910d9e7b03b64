"""Shared fixtures: a small real dataset recorded with ``h2o-collect``'s code (trainer tests),
and random real/sim replay buffers of a toy size (algorithm and sampling tests)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from h2o_learning.training.buffers import ReplayBuffer
from h2o_robot_bridge.dataset import save_dataset


@pytest.fixture(scope="session")
def real_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 1500-transition ``medium`` stand dataset from the ``real`` profile."""
    from h2o_sim.collect import collect_dataset

    data = collect_dataset("medium", 1500, task="stand", seed=0)
    return save_dataset(tmp_path_factory.mktemp("data") / "medium.h5", data)


def random_buffer(n: int, obs_dim: int, action_dim: int, seed: int) -> ReplayBuffer:
    """n random transitions (normal obs, reward and next obs, uniform actions, 10% terminal)."""
    rng = np.random.default_rng(seed)
    return ReplayBuffer.from_arrays(
        rng.normal(size=(n, obs_dim)),
        rng.uniform(-1, 1, (n, action_dim)),
        rng.normal(size=n),
        rng.normal(size=(n, obs_dim)),
        (rng.random(n) < 0.1).astype(np.float32),
    )


@pytest.fixture(scope="session")
def buffers() -> tuple[ReplayBuffer, ReplayBuffer]:
    """(real, sim) buffers of 200 random transitions, obs_dim 5, action_dim 2 (read only)."""
    return random_buffer(200, 5, 2, 0), random_buffer(200, 5, 2, 1)
