"""CQL(H): offline SAC on the real dataset with the conservative logsumexp regulariser."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from h2o_learning.algorithms import losses
from h2o_learning.algorithms.base import (
    ActorCritic,
    CriticBatch,
    CriticInputs,
    _require,
    make_adam,
)
from h2o_learning.algorithms.protocol import UpdateBatches

# Clamp of the Lagrange weight a (d3rlpy's): keeps exp(log a) finite.
_MAX_LAGRANGE_WEIGHT = 1e6


class LagrangeWeight(nn.Module):
    """``log a`` of the CQL weight learnt by dual descent (``cql_lagrange_threshold``)."""

    def __init__(self) -> None:
        super().__init__()
        self.log_weight = nn.Parameter(torch.zeros(()))

    def forward(self) -> torch.Tensor:
        """a = clamp(exp(log a), 0, 1e6), a scalar with graph."""
        return self.log_weight.exp().clamp(0.0, _MAX_LAGRANGE_WEIGHT)


class CQL(ActorCritic):
    """Conservative Q-learning with sampled uniform and policy actions (SimpleSAC's CQL), the
    TD target from the actor's mean action at s' (``backup_action``; d3rlpy's choice).

    ``update(real=batch, sim=None)``.
    """

    name = "cql"
    uses_real = True
    uses_sim = False
    _critic_extras = ("cql_lagrange",)
    # Measured (docs/algorithm.md, "Learner parity"): bootstrapping from the actor's mean
    # instead of a sample turns falls into standing on wide-coverage data (medium-replay).
    default_backup_action = "mean"
    # Its extra terms (CQL's sampled actions, DARC's reward) are not checked for a seed axis.
    stackable = False

    def _build_extra(
        self, init: torch.Generator, state_std: np.ndarray | None, obs_std: np.ndarray | None
    ) -> None:
        if self.config.cql_lagrange_threshold is not None:
            self.lagrange = LagrangeWeight()
            self.modules["cql_lagrange"] = self.lagrange

    def _add_optimizers(self) -> None:
        if self.config.cql_lagrange_threshold is not None:
            self.optimizers["cql_lagrange"] = make_adam(
                list(self.lagrange.parameters()), self.config.cql_lagrange_lr
            )

    def batch_sizes(self) -> tuple[int, int]:
        return self.config.batch_size, 0

    def _prepare(self, batches: UpdateBatches) -> tuple[CriticBatch, dict[str, torch.Tensor]]:
        return CriticBatch(_require(batches.real, "a real batch", self.name)), {}

    def _critic_loss(self, inputs: CriticInputs) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        c, q = self.config, inputs.q
        bellman = losses.bellman_error(q, inputs.y)
        q_random, q_policy, log_pi_policy, q_next, log_pi_next = self._sampled_q(
            inputs.obs_n, inputs.next_obs_n, inputs.data.batch.action.shape[0]
        )
        gap = losses.cql_penalty(
            q,
            q_random,
            q_policy,
            log_pi_policy,
            q_next,
            log_pi_next,
            self.action_dim,
            1.0,
            c.cql_temperature,
            c.cql_importance_sample,
            (c.cql_clip_min, c.cql_clip_max),
        )
        weight = self._penalty_weight(gap)
        penalty = weight * gap
        stats = {
            "q_real_mean": q.detach().mean(),
            "critic_bellman": bellman.detach().mean(),
            "cql_penalty": penalty.detach().mean(),
            "cql_gap": gap.detach().mean(),
            "cql_weight": weight.detach(),
            "q_random_mean": q_random.detach().mean(),
        }
        return bellman + penalty, stats

    def _penalty_weight(self, gap: torch.Tensor) -> torch.Tensor:
        """The CQL weight: ``cql_alpha``, or ``a * cql_alpha`` with ``a`` learnt by dual
        descent (d3rlpy's default): ``a`` grows while the (E,) per-critic ``gap`` exceeds the
        threshold tau and shrinks below it. Its loss ``-a * cql_alpha * (gap - tau)`` (gap
        detached) joins the critic's backward through ``_aux_loss``; the critic sees ``a``
        detached."""
        c = self.config
        if c.cql_lagrange_threshold is None:
            return torch.tensor(c.cql_alpha, device=gap.device)
        a = self.lagrange()
        excess = c.cql_alpha * (gap.detach() - c.cql_lagrange_threshold)
        self._aux_loss = -(a * excess).mean()
        return a.detach() * c.cql_alpha

    def _sampled_q(
        self, obs_n: torch.Tensor, next_n: torch.Tensor, b: int
    ) -> tuple[torch.Tensor, ...]:
        """Q at N uniform, N pi(s) and N pi(s') actions, all through one critic forward.

        Returns:
            q_random, q_policy, log_pi_policy, q_next, log_pi_next: (E, B, N) Q values and
            (B, N) log-probabilities (no gradient to the actor).
        """
        n, a = self.config.cql_n_actions, self.action_dim
        with torch.no_grad():
            both = torch.cat((obs_n, next_n)).repeat_interleave(n, dim=0)
            actions, log_pi = self.actor.sample(both, self.generator)
            uniform = torch.rand((b * n, a), generator=self.generator, device=obs_n.device)
        obs_rep = obs_n.repeat_interleave(n, dim=0)
        q = self.critic(obs_rep.repeat(3, 1), torch.cat((uniform * 2.0 - 1.0, actions)))
        q = q.reshape(q.shape[0], 3, b, n)
        log_pi = log_pi.reshape(2, b, n)
        return q[:, 0], q[:, 1], log_pi[0], q[:, 2], log_pi[1]
