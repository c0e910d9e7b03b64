"""SAC, CQL, DARC, DARC+ and H2O behind one factory.

>>> algo = make_algorithm("h2o", obs_dim, action_dim, AlgorithmConfig(), obs_mean, obs_std,
...                       state_std=next_state_noise_std(real_obs), seed=0)
>>> metrics = algo.update(**algo.sample_batches(real_buffer, sim_buffer, generator))
"""

from __future__ import annotations

import dataclasses

import numpy as np

from h2o_learning.algorithms.base import ActorCritic, AlgorithmError
from h2o_learning.algorithms.config import AlgorithmConfig
from h2o_learning.algorithms.cql import CQL
from h2o_learning.algorithms.darc import DARC, DARCPlus
from h2o_learning.algorithms.h2o import H2O, next_state_noise_std
from h2o_learning.algorithms.sac import SAC
from h2o_robot_bridge.errors import ConfigError

ALGORITHMS: dict[str, type[ActorCritic]] = {
    "sac": SAC,
    "cql": CQL,
    "darc": DARC,
    "darc_plus": DARCPlus,
    "h2o": H2O,
}

__all__ = [
    "ALGORITHMS",
    "CQL",
    "DARC",
    "H2O",
    "SAC",
    "ActorCritic",
    "AlgorithmConfig",
    "AlgorithmError",
    "DARCPlus",
    "make_algorithm",
    "next_state_noise_std",
]


def make_algorithm(
    name: str,
    obs_dim: int,
    action_dim: int,
    config: AlgorithmConfig,
    obs_mean: np.ndarray | None = None,
    obs_std: np.ndarray | None = None,
    state_std: np.ndarray | None = None,
    seed: int = 0,
    device: str = "cpu",
) -> ActorCritic:
    """Build an algorithm by name (``sac``, ``cql``, ``darc``, ``darc_plus``, ``h2o``).

    Args:
        name: algorithm name; ``darc`` with ``config.darc_plus`` gives DARC+.
        obs_dim, action_dim: sizes of the contract's observation and action.
        config: hyper-parameters.
        obs_mean, obs_std: (obs_dim,) observation normalisation, baked into the policy.
        state_std: (obs_dim,) sigma of H2O's next-state noise (see
            :func:`next_state_noise_std`); None: ``obs_std + 1e-3``.
        seed: network initialisation and the algorithm's own torch Generator.
        device: torch device.

    Raises:
        ConfigError: unknown name or bad arguments.
    """
    if name == "darc" and config.darc_plus:
        name = "darc_plus"
    if name == "darc_plus" and not config.darc_plus:
        config = dataclasses.replace(config, darc_plus=True)
    try:
        cls = ALGORITHMS[name]
    except KeyError:
        raise ConfigError(
            f"unknown algorithm {name!r}; choose one of {sorted(ALGORITHMS)}"
        ) from None
    return cls(obs_dim, action_dim, config, obs_mean, obs_std, state_std, seed, device)
