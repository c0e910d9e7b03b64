"""Gymnasium ids of the wheel-legged envs (registered when ``h2o_sim`` is imported)."""

from __future__ import annotations

import gymnasium as gym

ENV_IDS: dict[str, str] = {
    "h2o/WheelLeggedStand-v0": "stand",
    "h2o/WheelLeggedMoveStraight-v0": "move_straight",
}
"""Gymnasium id -> contract task. Extra keyword arguments of ``gym.make`` go to
:class:`h2o_sim.env.WheelLeggedEnv` (``dynamics=``, ``overrides=``, ``timing=``, ...)."""


def register_envs() -> None:
    """Register every id once (idempotent: re-importing never warns)."""
    for env_id, task in ENV_IDS.items():
        if env_id not in gym.registry:
            # No TimeLimit wrapper: the env truncates itself at the task's limit, which depends
            # on the control rate the caller picks.
            gym.register(env_id, entry_point="h2o_sim.env:WheelLeggedEnv", kwargs={"task": task})
