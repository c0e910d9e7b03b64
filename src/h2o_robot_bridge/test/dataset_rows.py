"""Deterministic dataset rows for writer tests: row k is recognisable from its contents."""

from __future__ import annotations

from typing import Any

import numpy as np

from h2o_robot_bridge.contract import ACTION_DIM, OBS_DIM
from h2o_robot_bridge.dataset import Dataset


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
