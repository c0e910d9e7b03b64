"""Gymnasium spaces of the contract's observation and action (the one definition).

Observations (OBS_DIM,) float32, unbounded (the contract bounds no field: velocities,
commands); actions (ACTION_DIM,) float32 in [-1, 1]. The env (``h2o_sim.env``) and the dataset
exports (Minari) both take them from here. gymnasium is imported only when a space is built,
so the robot computer does not need it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from h2o_robot_bridge.contract.action import ACTION_DIM
from h2o_robot_bridge.contract.observation import OBS_DIM
from h2o_robot_bridge.errors import ConfigError

if TYPE_CHECKING:
    from gymnasium.spaces import Box

ACTION_LOW = -1.0
ACTION_HIGH = 1.0
"""Bounds of every action element (the contract's scaling maps [-1, 1] to joint commands)."""


def _box() -> type[Box]:
    try:
        from gymnasium.spaces import Box
    except ImportError as err:  # the robot computer may lack the learning extras
        raise ConfigError(
            "gymnasium is not installed (requirements/core.txt; bash scripts/setup_venv.sh)"
        ) from err
    return Box


def observation_space() -> Box:
    """``Box(-inf, inf, (OBS_DIM,), float32)``: the contract observation."""
    return _box()(-np.inf, np.inf, (OBS_DIM,), np.float32)


def action_space() -> Box:
    """``Box(-1, 1, (ACTION_DIM,), float32)``: the contract action, before scaling.

    Recorded actions may exceed it by float32 rounding
    (:data:`~h2o_robot_bridge.dataset.schema.ACTION_TOLERANCE`); exports keep them unclipped.
    """
    return _box()(ACTION_LOW, ACTION_HIGH, (ACTION_DIM,), np.float32)
