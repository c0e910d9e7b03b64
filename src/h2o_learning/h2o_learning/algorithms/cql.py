"""CQL(H): offline SAC on the real dataset with the conservative logsumexp regulariser."""

from __future__ import annotations

import torch

from h2o_learning.algorithms import losses
from h2o_learning.algorithms.base import ActorCritic, CriticBatch, CriticInputs, _require
from h2o_learning.algorithms.protocol import UpdateBatches


class CQL(ActorCritic):
    """Conservative Q-learning with sampled uniform and policy actions (SimpleSAC's CQL).

    ``update(real=batch, sim=None)``.
    """

    name = "cql"
    uses_real = True
    uses_sim = False

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
        penalty = losses.cql_penalty(
            q,
            q_random,
            q_policy,
            log_pi_policy,
            q_next,
            log_pi_next,
            self.action_dim,
            c.cql_alpha,
            c.cql_temperature,
            c.cql_importance_sample,
            (c.cql_clip_min, c.cql_clip_max),
        )
        stats = {
            "q_real_mean": q.detach().mean(),
            "critic_bellman": bellman.detach().mean(),
            "cql_penalty": penalty.detach().mean(),
            "q_random_mean": q_random.detach().mean(),
        }
        return bellman + penalty, stats

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
