"""H2O's own gap estimate on the replayed transitions, to set beside the replay gap.

H2O scores *sim* transitions: its discriminators' u(s, a) (large: the sim is far from the real
dynamics there) and importance weight w(s, a, s') (small: the sim's s' is unlike a real one).
The replay gives, for every real (s, a), the sim transition (s, a, sim s'), so both H2O numbers
and the replay score exist on the same pairs. The discriminators were trained on real data
against the sim rollouts of *H2O's own policy*, so they also separate the two behaviour policies'
state distributions; the replay gap does not depend on any policy.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from numpy.typing import NDArray

from h2o_learning.algorithms.h2o import H2O
from h2o_learning.algorithms.protocol import Batch
from h2o_learning.training.build import algorithm_from_checkpoint
from h2o_robot_bridge.errors import ConfigError

BATCH = 4096
"""Transitions per discriminator forward (memory bound, not a result)."""


class DiscriminatorView(NamedTuple):
    """H2O's view of N replayed sim transitions, each (N,) float64, and where it came from.

    Attributes:
        u: dynamics gap u(s, a).
        weight: importance weight w (clipped exp of ``log_ratio``).
        log_ratio: log P_M / P_Mhat (real over sim) at the sim s'.
        checkpoint: the checkpoint given.
    """

    u: NDArray[np.float64]
    weight: NDArray[np.float64]
    log_ratio: NDArray[np.float64]
    checkpoint: str


def h2o_from_checkpoint(path: str | Path) -> H2O:
    """The H2O algorithm of a checkpoint file or run folder.

    Raises:
        CheckpointError: missing or unreadable checkpoint (``weights_only`` load).
        ConfigError: the run trained another algorithm (no u and w to show).
    """
    config, algo, _ = algorithm_from_checkpoint(path)
    if not isinstance(algo, H2O):
        raise ConfigError(
            f"--checkpoint {path}: a {config.algorithm} run; only an h2o run has the "
            "discriminators' u and w"
        )
    return algo


def discriminator_view(
    algo: H2O, obs: NDArray, actions: NDArray, sim_next_obs: NDArray, checkpoint: str
) -> DiscriminatorView:
    """u and w of the sim transitions ``(obs, actions, sim_next_obs)`` (N, .) each."""
    us, ws, rs = [], [], []
    for start in range(0, len(obs), BATCH):
        sl = slice(start, start + BATCH)
        n = len(obs[sl])

        def tensor(x: NDArray, sl: slice = sl) -> torch.Tensor:
            return torch.as_tensor(np.asarray(x[sl], dtype=np.float32))

        # Reward and terminal do not enter u or w.
        batch = Batch(
            tensor(obs), tensor(actions), torch.zeros(n), tensor(sim_next_obs), torch.zeros(n)
        )
        terms = algo.gap_terms(batch)
        us.append(terms.u.double().numpy())
        ws.append(terms.weight.double().numpy())
        rs.append(terms.log_ratio.double().numpy())
    return DiscriminatorView(
        np.concatenate(us), np.concatenate(ws), np.concatenate(rs), checkpoint
    )
