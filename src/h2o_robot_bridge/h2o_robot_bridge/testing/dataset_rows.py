"""Datasets for tests: deterministic rows (row k recognisable from its contents), random ones."""

from __future__ import annotations

from typing import Any

import numpy as np

from h2o_robot_bridge.contract import ACTION_DIM, OBS_DIM
from h2o_robot_bridge.dataset import Dataset, make_meta


def rows_block(start: int, n: int, meta: dict[str, Any]) -> Dataset:
    """Rows ``start .. start+n-1``: observations[k] = k + 0.001 * column, episodes of 7 rows."""
    k = np.arange(start, start + n)
    obs = (k[:, None] + 0.001 * np.arange(OBS_DIM)).astype(np.float32)
    actions = np.tile(np.linspace(-1, 1, ACTION_DIM, dtype=np.float32), (n, 1))
    return Dataset(
        obs,
        actions,
        (k % 13).astype(np.float32),
        obs + 1,
        (k % 7) == 6,
        np.zeros(n, bool),
        meta,
    )


def random_dataset(n: int = 50, seed: int = 0, task: str = "stand") -> Dataset:
    """A valid dataset with random contents and two episodes (a fall, then a time limit)."""
    rng = np.random.default_rng(seed)
    terminals = np.zeros(n, bool)
    timeouts = np.zeros(n, bool)
    terminals[n // 2] = True
    timeouts[-1] = True
    return Dataset(
        rng.normal(size=(n, OBS_DIM)).astype(np.float32),
        rng.uniform(-1, 1, size=(n, ACTION_DIM)).astype(np.float32),
        rng.normal(size=n).astype(np.float32),
        rng.normal(size=(n, OBS_DIM)).astype(np.float32),
        terminals,
        timeouts,
        make_meta(task, 100.0, source={"kind": "test", "seed": seed}),
    )
