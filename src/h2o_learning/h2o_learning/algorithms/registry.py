"""The algorithms by name, each with its facts, stated once.

What the running algorithm needs about itself is a class attribute, read here: ``name`` (in
its state dict and messages), ``uses_real`` and ``uses_sim`` (the data it trains on). What the
tools around it show or start from is its row in :data:`ALGORITHMS`: the label of tables and
plots and its shipped training config. The trainer, the experiment grid and both reports read
these facts from here.

Adding an algorithm: its class (an :class:`~h2o_learning.algorithms.base.ActorCritic`
subclass with its hooks and the three class attributes), its row below, and its training
config ``config/train/<train_config>.yaml``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from h2o_learning.algorithms.base import ActorCritic
from h2o_learning.algorithms.config import AlgorithmConfig
from h2o_learning.algorithms.cql import CQL
from h2o_learning.algorithms.darc import DARC, DARCPlus
from h2o_learning.algorithms.h2o import H2O
from h2o_learning.algorithms.sac import SAC
from h2o_robot_bridge.errors import ConfigError


@dataclass(frozen=True)
class AlgorithmInfo:
    """One algorithm and its facts.

    Attributes:
        cls: the implementation; its class attributes give ``name``, ``uses_real`` and
            ``uses_sim``.
        label: short name in tables and plot legends (``DARC+``).
        train_config: its shipped training config, a name in ``config/train`` (``h2o_stand``).
    """

    cls: type[ActorCritic]
    label: str
    train_config: str

    @property
    def name(self) -> str:
        """The name configs use (``algorithm: darc_plus``)."""
        return self.cls.name

    @property
    def stackable(self) -> bool:
        """K seeds of it can train as one seed stack (:mod:`~h2o_learning.algorithms.stack`)."""
        return self.cls.stackable

    @property
    def uses_real(self) -> bool:
        """Trains on the offline real dataset (for its critic or its discriminators)."""
        return self.cls.uses_real

    @property
    def uses_sim(self) -> bool:
        """Trains on online simulator data (only then does the trainer step a sim env)."""
        return self.cls.uses_sim

    @property
    def long_label(self) -> str:
        """The label with the data it never sees: ``SAC (sim only)``, ``CQL (real only)``."""
        if not self.uses_real:
            return f"{self.label} (sim only)"
        if not self.uses_sim:
            return f"{self.label} (real only)"
        return self.label


ALGORITHMS: Mapping[str, AlgorithmInfo] = MappingProxyType(
    {
        info.name: info
        for info in (
            AlgorithmInfo(SAC, "SAC", "sac_stand"),
            AlgorithmInfo(CQL, "CQL", "cql_stand"),
            AlgorithmInfo(DARC, "DARC", "darc_stand"),
            AlgorithmInfo(DARCPlus, "DARC+", "darc_plus_stand"),
            AlgorithmInfo(H2O, "H2O", "h2o_stand"),
        )
    }
)
"""Every algorithm by name, in the order tables list them."""


def algorithm_info(name: str) -> AlgorithmInfo:
    """The facts of algorithm ``name``.

    Raises:
        ConfigError: unknown name (the message lists the known ones).
    """
    try:
        return ALGORITHMS[name]
    except KeyError:
        raise ConfigError(
            f"unknown algorithm {name!r}; choose one of {sorted(ALGORITHMS)}"
        ) from None


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
    """Build an algorithm by name (a key of :data:`ALGORITHMS`).

    Args:
        name: algorithm name (``sac``, ``cql``, ``darc``, ``darc_plus``, ``h2o``).
        obs_dim, action_dim: sizes of the contract's observation and action.
        config: hyper-parameters.
        obs_mean, obs_std: (obs_dim,) observation normalisation, baked into the policy.
        state_std: (obs_dim,) sigma of H2O's next-state noise (see
            :func:`~h2o_learning.algorithms.h2o.next_state_noise_std`); None: ``obs_std + 1e-3``.
        seed: network initialisation and the algorithm's own torch Generator.
        device: torch device.

    Raises:
        ConfigError: unknown name or bad arguments.
    """
    cls = algorithm_info(name).cls
    return cls(obs_dim, action_dim, config, obs_mean, obs_std, state_std, seed, device)
