"""SAC: trained on sim data only (the "trust the simulator" baseline)."""

from __future__ import annotations

from h2o_learning.algorithms.base import ActorCritic


class SAC(ActorCritic):
    """Soft actor-critic with twin critics and automatic temperature on the sim batch.

    ``update(real=None, sim=batch)``; the shared core in :class:`ActorCritic` is plain SAC.
    """

    name = "sac"
    uses_real = False
    uses_sim = True
