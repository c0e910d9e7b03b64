"""H2O: dynamics-aware hybrid offline-and-online RL (Niu et al., NeurIPS 2022).

Per step (spec order: discriminators, alpha, actor, critic, targets): the discriminators are
trained on real vs sim transitions; the sim batch's importance weights ``w`` and dynamics-gap
weights ``omega`` come from D_sas under ``no_grad``; the critic loss is the real Bellman error
plus the ``w``-weighted sim Bellman error plus the ``omega``-weighted logsumexp penalty.

``disc_overlap`` runs that discriminator branch (step, then w and omega) on a second thread
while the actor, the TD target and the critic forward run; only the critic loss needs it.
``disc_stale_weights`` computes w and omega first, from the discriminators before their step;
with ``disc_overlap`` the critic loss then waits only for them, and the discriminator step runs
on the second thread during the rest of the actor/critic step (joined before ``update``
returns).
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from h2o_learning.algorithms import losses
from h2o_learning.algorithms.base import (
    AlgorithmError,
    CriticBatch,
    CriticInputs,
    WithDiscriminators,
    _require,
    concat_batches,
)
from h2o_learning.algorithms.discriminators import DynamicsDiscriminators
from h2o_learning.algorithms.networks import Generators, NoiseTape
from h2o_learning.algorithms.protocol import Batch, UpdateBatches
from h2o_robot_bridge.errors import ConfigError

# Added to the data std for the default next-state noise (the reference adds it too).
STATE_STD_EPS = 1e-3


class GapTerms(NamedTuple):
    """H2O's dynamics-gap quantities of B sim transitions, each (B,).

    Attributes:
        log_ratio: log P_M / P_Mhat (real over sim) at the observed s', from D_sas.
        weight: importance weight ``clip(exp(log_ratio))`` on the sim Bellman error.
        u: dynamics gap u(s, a) (mean log P_Mhat / P_M over perturbed s', clipped).
    """

    log_ratio: torch.Tensor
    weight: torch.Tensor
    u: torch.Tensor


def next_state_noise_std(
    real_observations: np.ndarray, legacy: bool = False, sim_capacity: int = 0
) -> np.ndarray:
    """sigma for H2O's next-state perturbation, (obs_dim,), raw observation units.

    Default: per-dimension std of the real dataset's states + 1e-3. ``legacy=True`` reproduces
    the reference, which takes the std of its whole preallocated buffer: the real states
    followed by ``sim_capacity`` rows of zeros (about 0.3x the data std for a 10x sim buffer).

    Args:
        real_observations: (N, obs_dim) states of the real dataset.
        legacy: reproduce the reference quirk.
        sim_capacity: sim rows of the reference's buffer (legacy only).
    """
    obs = np.asarray(real_observations, dtype=np.float64)
    if legacy and sim_capacity > 0:
        obs = np.concatenate((obs, np.zeros((int(sim_capacity), obs.shape[1]))))
    return (obs.std(axis=0) + STATE_STD_EPS).astype(np.float32)


class H2O(WithDiscriminators):
    """H2O. ``update(real, sim, [disc_real, disc_sim])`` with real and sim batches of
    ``real_batch_size`` and ``sim_batch_size`` (128 + 128 by default)."""

    name = "h2o"
    uses_real = True
    uses_sim = True

    def _build_extra(
        self, init: torch.Generator, state_std: np.ndarray | None, obs_std: np.ndarray | None
    ) -> None:
        super()._build_extra(init, state_std, obs_std)
        if state_std is None:
            state_std = (
                np.ones(self.obs_dim, np.float32)
                if obs_std is None
                else np.asarray(obs_std, np.float32) + STATE_STD_EPS
            )
        sigma = torch.as_tensor(np.asarray(state_std, np.float32)).reshape(-1)
        if sigma.shape != (self.obs_dim,) or not bool(torch.isfinite(sigma).all()):
            raise ConfigError(f"state_std must be ({self.obs_dim},) finite, got {sigma.shape}")
        # A module buffer, so checkpoints carry sigma along with the networks.
        self.gap_noise = nn.Module()
        self.gap_noise.register_buffer("std", sigma * self.config.next_state_std_ratio)
        self.modules["gap_noise"] = self.gap_noise
        self._disc_pool: ThreadPoolExecutor | None = None  # disc_overlap's thread, on demand
        # disc_overlap + disc_stale_weights: the discriminator step still running.
        self._disc_step: Future[dict[str, torch.Tensor]] | None = None

    @property
    def next_state_std(self) -> torch.Tensor:
        """(obs_dim,) sigma of the next-state perturbation in u, raw observation units."""
        return self.gap_noise.get_buffer("std")

    def batch_sizes(self) -> tuple[int, int]:
        return self.config.real_batch_size, self.config.sim_batch_size

    def _prepare(self, batches: UpdateBatches) -> tuple[CriticBatch, dict[str, torch.Tensor]]:
        real = _require(batches.real, "a real batch", self.name)
        sim = _require(batches.sim, "a sim batch", self.name)
        both = concat_batches(real, sim, dim=len(self._lead))
        n_real = real.reward.shape[-1]
        c = self.config
        if c.disc_overlap:
            tape = self._branch_noise(batches, sim)
            if c.disc_stale_weights:
                pending = self._pool().submit(self.dynamics_weights, sim, tape)
                self._disc_step = self._pool().submit(self._train_discriminators, batches, tape)
            else:
                pending = self._pool().submit(self._disc_branch, batches, sim, tape)
            return CriticBatch(both, n_real, pending=pending), {}
        if c.disc_stale_weights:
            weight, log_om, stats = self.dynamics_weights(sim, self.noise)
            stats.update(self._train_discriminators(batches, self.noise))
        else:
            weight, log_om, stats = self._disc_branch(batches, sim, self.noise)
        return CriticBatch(both, n_real, weight, log_om), stats

    def _step(
        self,
        real: Batch | None,
        sim: Batch | None,
        disc_real: Batch | None = None,
        disc_sim: Batch | None = None,
    ) -> dict[str, torch.Tensor]:
        try:
            stats = super()._step(real, sim, disc_real, disc_sim)
        finally:  # even when the step failed: nothing may still write the discriminators
            disc_stats = self._join_disc_step()
        stats.update(disc_stats)
        return stats

    def _join_disc_step(self) -> dict[str, torch.Tensor]:
        """Wait for a discriminator step still running on the second thread (re-raising its
        error); its diagnostics, or {} if none runs."""
        pending, self._disc_step = self._disc_step, None
        return {} if pending is None else pending.result()

    def _disc_branch(
        self, batches: UpdateBatches, sim: Batch, noise: Generators
    ) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """The discriminator step, then w and log omega of the sim batch: (w, log omega,
        diagnostics)."""
        stats = self._train_discriminators(batches, noise)
        weight, log_om, gap_stats = self.dynamics_weights(sim, noise)
        stats.update(gap_stats)
        return weight, log_om, stats

    def _branch_noise(self, batches: UpdateBatches, sim: Batch) -> NoiseTape:
        """The discriminator branch's noise, drawn now in the serial step's order (disc
        input noise, then the eps of u; the other way round with stale weights), so the
        actor's draws that follow are unchanged."""
        c = self.config
        shapes = [DynamicsDiscriminators.gap_noise_shape(sim.obs, c.n_next_samples)]
        if c.disc_noise_std > 0:
            disc_real, disc_sim = self._disc_batches(batches)
            loss_shape = DynamicsDiscriminators.loss_noise_shape(disc_real, disc_sim)
            # Stale weights: the eps of u is drawn first, as in the serial stale step.
            shapes.insert(len(shapes) if c.disc_stale_weights else 0, loss_shape)
        return NoiseTape(self.noise, shapes, self.device)

    def _actor_first(self) -> bool:
        # While the discriminator branch runs, the actor's backward keeps this thread busy.
        return self.config.disc_overlap

    def _pool(self) -> ThreadPoolExecutor:
        """The one worker thread of ``disc_overlap`` (created on first use)."""
        if self._disc_pool is None:
            self._disc_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="h2o-disc")
        return self._disc_pool

    @torch.no_grad()
    def gap_terms(self, sim: Batch, noise: Generators | None = None) -> GapTerms:
        """Per sim transition, H2O's view of the dynamics gap (the inputs of the weighted
        Bellman error and of omega; ``h2o-gap report`` shows them next to the replay gap).
        ``noise``: source of the next-state eps; None: the step's generator(s)."""
        c = self.config
        log_ratio, log_ratio_sim_real = self.discriminators.ratio_and_gap(
            sim.obs,
            sim.action,
            sim.next_obs,
            self.next_state_std,
            c.n_next_samples,
            self.noise if noise is None else noise,
        )
        weight = losses.importance_weight(log_ratio, c.ratio_clip_min, c.ratio_clip_max)
        floor = losses.LEGACY_U_FLOOR if c.legacy_u else c.u_floor
        u = losses.dynamics_gap_u(log_ratio_sim_real, floor, c.u_clip)
        return GapTerms(log_ratio, weight, u)

    @torch.no_grad()
    def dynamics_weights(
        self, sim: Batch, noise: Generators | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """Importance weights w (B,), log omega (B,) and their statistics for a sim batch
        (``noise`` as in :meth:`gap_terms`)."""
        log_ratio, weight, u = self.gap_terms(sim, noise)
        log_om = losses.legacy_log_omega(u) if self.config.legacy_u else losses.log_omega(u)
        omega = log_om.exp()
        stats = {  # over the batch axis: one value per seed in a stack
            "weight_mean": weight.mean(dim=-1),
            "weight_std": weight.std(dim=-1, correction=0),
            "u_mean": u.mean(dim=-1),
            "u_std": u.std(dim=-1, correction=0),
            "omega_max": omega.amax(dim=-1),
            "omega_std": omega.std(dim=-1, correction=0),
            "log_ratio_mean": log_ratio.mean(dim=-1),
        }
        return weight, log_om, stats

    def _critic_loss(self, inputs: CriticInputs) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        c, q, y, data = self.config, inputs.q, inputs.y, inputs.data
        weight, log_omega, branch_stats = _branch_result(data)
        n_real = data.n_real
        q_real, q_sim = q[..., :n_real], q[..., n_real:]
        real_err = losses.bellman_error(q_real, y[..., :n_real])
        sim_err = losses.bellman_error(q_sim, y[..., n_real:], weight)
        penalty = losses.h2o_penalty(
            q_sim, log_omega, q_real, c.beta, c.penalty_temperature, c.penalty_clip
        )
        stats = {  # critics' means (and batch means): one value per seed in a stack
            **branch_stats,
            "critic_real_loss": real_err.detach().mean(dim=-1),
            "critic_sim_loss": sim_err.detach().mean(dim=-1),
            "penalty": penalty.detach().mean(dim=-1),
            "q_real_mean": q_real.detach().mean(dim=(-2, -1)),
            "q_sim_mean": q_sim.detach().mean(dim=(-2, -1)),
        }
        return real_err + sim_err + penalty, stats


def _branch_result(
    data: CriticBatch,
) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    """(w, log omega, branch diagnostics) of a critic batch: waits for ``disc_overlap``'s
    thread (re-raising its error), else the values ``_prepare`` stored (no diagnostics)."""
    if data.pending is not None:
        return data.pending.result()
    if data.weight is None or data.log_omega is None:
        raise AlgorithmError("h2o: the critic batch lacks the sim rows' w and log omega")
    return data.weight, data.log_omega, {}
