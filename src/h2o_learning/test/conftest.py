"""Fixtures of the trainer tests: a small real dataset recorded in the simulator."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from h2o_robot_bridge.dataset import from_arrays, make_meta, save_dataset


def record_dataset(
    path: Path, steps: int, task: str = "stand", seed: int = 0, noise: float = 0.3
) -> Path:
    """``steps`` transitions of the classical controller plus Gaussian action noise in the
    ``real`` profile (a small "medium" dataset), saved with the dataset module."""
    from h2o_robot_bridge.controllers.classical import ClassicalController
    from h2o_sim.env import WheelLeggedEnv

    env = WheelLeggedEnv(task=task, dynamics="real")
    controller = ClassicalController(task=task)
    rng = np.random.default_rng(seed)
    keys = ("observations", "actions", "rewards", "next_observations", "terminals", "timeouts")
    rows: dict[str, list] = {k: [] for k in keys}
    obs, _ = env.reset(seed=seed)
    controller.reset()
    for i in range(steps):
        action = np.clip(controller.act(obs) + rng.normal(0.0, noise, 6), -1, 1)
        action = action.astype(np.float32)
        nxt, reward, terminated, truncated, _ = env.step(action)
        last = truncated or i == steps - 1
        for key, value in zip(keys, (obs, action, reward, nxt, terminated, last), strict=True):
            rows[key].append(value)
        obs = nxt
        if terminated or truncated:
            obs, _ = env.reset(seed=seed + i + 1)
            controller.reset()
    env.close()
    source = {"kind": "sim", "dynamics": "real", "behaviour": f"classical+N(0,{noise})"}
    data = from_arrays({k: np.asarray(v) for k, v in rows.items()}, make_meta(task, 100.0, source))
    return save_dataset(path, data, overwrite=True)


@pytest.fixture(scope="session")
def real_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 1500-transition stand dataset (real profile)."""
    return record_dataset(tmp_path_factory.mktemp("data") / "medium.h5", 1500)
