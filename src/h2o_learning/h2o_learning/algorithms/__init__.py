"""SAC, CQL, DARC, DARC+ and H2O behind one registry and factory.

>>> algo = make_algorithm("h2o", obs_dim, action_dim, AlgorithmConfig(), obs_mean, obs_std,
...                       state_std=next_state_noise_std(real_obs), seed=0)
>>> # the trainer draws the batches (h2o_learning.training.sampling.sample_batches)
>>> metrics = algo.update(*sample_batches(algo, real_buffer, sim_buffer, generator))
>>> algorithm_info("darc_plus").label
'DARC+'
"""

from __future__ import annotations

from h2o_learning.algorithms.base import ActorCritic, AlgorithmError
from h2o_learning.algorithms.config import AlgorithmConfig
from h2o_learning.algorithms.cql import CQL
from h2o_learning.algorithms.darc import DARC, DARCPlus
from h2o_learning.algorithms.h2o import H2O, next_state_noise_std
from h2o_learning.algorithms.registry import (
    ALGORITHMS,
    AlgorithmInfo,
    algorithm_info,
    make_algorithm,
)
from h2o_learning.algorithms.sac import SAC
from h2o_learning.algorithms.stack import SeedStack

__all__ = [
    "ALGORITHMS",
    "CQL",
    "DARC",
    "H2O",
    "SAC",
    "SeedStack",
    "ActorCritic",
    "AlgorithmConfig",
    "AlgorithmError",
    "AlgorithmInfo",
    "DARCPlus",
    "algorithm_info",
    "make_algorithm",
    "next_state_noise_std",
]
