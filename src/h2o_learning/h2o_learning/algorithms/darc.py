"""DARC and DARC+: SAC on sim data with the reward corrected by the classifiers' log-ratio."""

from __future__ import annotations

from dataclasses import replace

import torch

from h2o_learning.algorithms import losses
from h2o_learning.algorithms.base import (
    CriticBatch,
    CriticInputs,
    WithDiscriminators,
    _require,
    concat_batches,
)
from h2o_learning.algorithms.protocol import UpdateBatches


class DARC(WithDiscriminators):
    """Domain adaptation with rewards from classifiers (Eysenbach et al., 2021).

    The sim reward becomes ``r + darc_reward_scale * log(P_M / P_Mhat)(s, a, s')`` from the same
    two discriminators H2O uses (trained on real vs sim each step). The critic and actor see sim
    data only; real data trains the discriminators. ``update(real, sim, [disc_real, disc_sim])``.
    For the first ``darc_warmup_steps`` steps the reward is left uncorrected (the
    discriminators train all along).
    """

    name = "darc"
    uses_real = True
    uses_sim = True
    # Its extra terms (CQL's sampled actions, DARC's reward) are not checked for a seed axis.
    stackable = False

    def _prepare(self, batches: UpdateBatches) -> tuple[CriticBatch, dict[str, torch.Tensor]]:
        stats = self._train_discriminators(batches)
        sim = _require(batches.sim, "a sim batch", self.name)
        log_ratio = self.discriminators.log_ratio(sim.obs, sim.action, sim.next_obs)
        # ``steps`` counts finished updates, so this step is number ``steps + 1``.
        warming = self.steps < self.config.darc_warmup_steps
        scale = 0.0 if warming else self.config.darc_reward_scale
        corrected = sim._replace(reward=losses.darc_reward(sim.reward, log_ratio, scale))
        stats.update(
            log_ratio_mean=log_ratio.mean(),
            log_ratio_std=log_ratio.std(correction=0),
            reward_correction_on=torch.tensor(0.0 if warming else 1.0),
        )
        return CriticBatch(corrected), stats

    def _critic_loss(self, inputs: CriticInputs) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        q, n_real = inputs.q, inputs.data.n_real
        stats = {"q_sim_mean": q[:, n_real:].detach().mean()}
        if n_real:
            stats["q_real_mean"] = q[:, :n_real].detach().mean()
        return losses.bellman_error(q, inputs.y), stats


class DARCPlus(DARC):
    """DARC+: DARC whose critic batch also holds real transitions (reward uncorrected).

    ``update(real, sim, ...)`` with ``real_batch_size + sim_batch_size = batch_size``.
    """

    name = "darc_plus"

    def batch_sizes(self) -> tuple[int, int]:
        return self.config.real_batch_size, self.config.sim_batch_size

    def _prepare(self, batches: UpdateBatches) -> tuple[CriticBatch, dict[str, torch.Tensor]]:
        corrected, stats = super()._prepare(batches)
        real = _require(batches.real, "a real batch", self.name)
        both = concat_batches(real, corrected.batch)
        return replace(corrected, batch=both, n_real=real.obs.shape[0]), stats
