"""A one-step task with a dynamics gap and a known optimum (algorithm tests, the learning
check of the fast paths in ``bench/fast_path_learning.py``)."""

from __future__ import annotations

import numpy as np
import torch

from h2o_learning.algorithms import AlgorithmConfig
from h2o_learning.algorithms.protocol import Algorithm
from h2o_learning.training.buffers import ReplayBuffer

# Real and sim gains of :func:`bandit` (real optimum a* = -s/2, sim optimum a* = +s).
REAL_GAIN, SIM_GAIN = 2.0, -1.0
# Normalisation std of s ~ U(-0.8, 0.8) (0.8 / sqrt(3)).
BANDIT_OBS_STD = np.array([0.46])

BANDIT = AlgorithmConfig(
    hidden=(64, 64),
    disc_hidden=(64, 64),
    batch_size=128,
    disc_batch_size=128,
    actor_lr=1e-3,
    critic_lr=1e-3,
    alpha_lr=1e-3,
    disc_lr=1e-3,
    init_alpha=0.05,
    n_next_samples=4,
)


def bandit(n: int, gain: float, seed: int) -> ReplayBuffer:
    """One-step task: s ~ U(-0.8, 0.8), a ~ U(-1, 1), s' = s + gain * a, r = -s'^2, terminal.

    The best action is a* = -s / gain. Real: gain 2 (a* = -s/2); sim: gain -1 (a* = +s).
    Mixing both without weighting would give a* = -s/5.
    """
    rng = np.random.default_rng(seed)
    s = rng.uniform(-0.8, 0.8, (n, 1))
    a = rng.uniform(-1, 1, (n, 1))
    nxt = s + gain * a
    return ReplayBuffer.from_arrays(s, a, -(nxt[:, 0] ** 2), nxt, np.ones(n))


def policy_slope(algo: Algorithm) -> float:
    """Least-squares slope of the deterministic action over s in [-0.6, 0.6] (real optimum
    -0.5, sim optimum +1)."""
    s = torch.linspace(-0.6, 0.6, 25).unsqueeze(1)
    a = algo.act(s, deterministic=True)[:, 0]
    return float((s[:, 0] * a).sum() / s[:, 0].square().sum())
