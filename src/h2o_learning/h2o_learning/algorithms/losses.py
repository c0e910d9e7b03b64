"""Every loss term of SAC, CQL, DARC and H2O as one small pure function.

Shapes: ``B`` batch, ``E`` critic ensemble members (2), ``N`` sampled actions or next states,
``A`` action size. Q tensors are (E, B). Discriminator logits are (B, 2) with index 0 = real and
1 = sim. See ``docs/algorithm.md`` for where each term comes from.

The SAC and H2O terms also take a leading seed dimension ``K`` (a
:class:`~h2o_learning.algorithms.stack.SeedStack`: Q (K, E, B), targets and weights (K, B),
logits (K, B, 2)) and then return one value per seed: every reduction runs over the batch
axis only, never across seeds.
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F

# u floor of the reference (``sim_q_coeff_min``); in float32 it rounds to ~1.4e-45, a denormal.
LEGACY_U_FLOOR = 1e-45


# ---------------------------------------------------------------------------------------------
# Critic


def td_target(
    reward: torch.Tensor, terminal: torch.Tensor, next_q: torch.Tensor, gamma: float
) -> torch.Tensor:
    """Bellman target ``y = r + gamma * (1 - terminal) * next_q``, each (B,).

    ``terminal`` is 1 only for true terminations, so truncated episodes still bootstrap.
    """
    return reward + gamma * (1.0 - terminal) * next_q


def bellman_error(
    q: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None
) -> torch.Tensor:
    """Per-critic (weighted) mean squared TD error.

    Args:
        q: ([K,] E, B) predictions.
        target: ([K,] B) targets (no gradient expected).
        weight: optional ([K,] B) per-sample weights (H2O's importance weights on sim data).

    Returns:
        ([K,] E) ``mean_b w_b (q_kb - y_b)^2`` for each critic k.
    """
    sq = (q - target.unsqueeze(-2)).square()
    if weight is not None:
        sq = sq * weight.unsqueeze(-2)
    return sq.mean(dim=-1)


def h2o_penalty(
    q_sim: torch.Tensor,
    log_omega: torch.Tensor,
    q_real: torch.Tensor,
    beta: float,
    temperature: float = 1.0,
    clip: float = 1000.0,
) -> torch.Tensor:
    """H2O's dynamics-aware conservative penalty, one value per critic.

    ``beta * clip(T * logsumexp_i((Q_k(s_i, a_i) + log omega_i) / T) - mean_real Q_k, +-clip)``
    where the logsumexp runs over the sim batch's own (s, a).

    Args:
        q_sim: ([K,] E, Bs) Q on the sim batch.
        log_omega: ([K,] Bs) log of the normalised dynamics-gap weights (sum of omega = 1).
        q_real: ([K,] E, Br) Q on the real batch.
        beta: penalty coefficient.
        temperature: logsumexp temperature T (the reference adds log omega before dividing
            by T; so does this).
        clip: symmetric clip of the gap.

    Returns:
        ([K,] E) penalty per critic.
    """
    pushed_down = (
        torch.logsumexp((q_sim + log_omega.unsqueeze(-2)) / temperature, dim=-1) * temperature
    )
    gap = (pushed_down - q_real.mean(dim=-1)).clamp(-clip, clip)
    return beta * gap


def cql_penalty(
    q_data: torch.Tensor,
    q_random: torch.Tensor,
    q_policy: torch.Tensor,
    log_pi_policy: torch.Tensor,
    q_next: torch.Tensor,
    log_pi_next: torch.Tensor,
    action_dim: int,
    alpha: float,
    temperature: float = 1.0,
    importance_sample: bool = True,
    clip: tuple[float, float] = (-math.inf, math.inf),
) -> torch.Tensor:
    """CQL(H) regulariser with sampled actions, one value per critic.

    ``alpha * mean_b clip(T logsumexp_n(Q(s_b, a_n) / T) - Q(s_b, a_b))`` where the a_n are N
    uniform random actions, N policy actions at s and N policy actions at s'. With importance
    sampling each sample's log proposal density is subtracted (``log 0.5^A`` for uniform actions,
    log pi for policy actions); without it the data Q joins the logsumexp (SimpleSAC's CQL).

    Args:
        q_data: (E, B) Q of the dataset actions.
        q_random: (E, B, N) Q of uniform actions in [-1, 1]^A.
        q_policy: (E, B, N) Q of policy actions sampled at s.
        log_pi_policy: (B, N) their log-probabilities (no gradient).
        q_next: (E, B, N) Q(s, a') of policy actions sampled at s'.
        log_pi_next: (B, N) their log-probabilities (no gradient).
        action_dim: A.
        alpha: CQL weight (``cql_min_q_weight``).
        temperature: logsumexp temperature T.
        importance_sample: subtract the proposal log-densities.
        clip: (min, max) clip of the per-state gap.

    Returns:
        (E,) penalty per critic.
    """
    if importance_sample:
        random_density = action_dim * math.log(0.5)
        cat = torch.cat(
            (q_random - random_density, q_next - log_pi_next, q_policy - log_pi_policy), dim=-1
        )
    else:
        cat = torch.cat((q_random, q_data.unsqueeze(-1), q_next, q_policy), dim=-1)
    ood = torch.logsumexp(cat / temperature, dim=-1) * temperature
    gap = (ood - q_data).clamp(clip[0], clip[1])
    return alpha * gap.mean(dim=-1)


# ---------------------------------------------------------------------------------------------
# Actor and temperature


def actor_loss(log_pi: torch.Tensor, q_pi: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """SAC actor loss ``mean(alpha * log pi(a|s) - Q(s, a))``, a ~ pi reparameterised.

    Args:
        log_pi: ([K,] B) log-probabilities of the sampled actions.
        q_pi: ([K,] B) Q of those actions (min over critics).
        alpha: scalar temperature, or (K, 1) (detached: the temperature has its own loss).

    Returns:
        () or (K,).
    """
    return (alpha * log_pi - q_pi).mean(dim=-1)


def alpha_loss(
    log_alpha: torch.Tensor, log_pi: torch.Tensor, target_entropy: float
) -> torch.Tensor:
    """Temperature loss ``-mean(log_alpha * (log pi + target_entropy))``, log pi detached.

    ``log_alpha`` () with ``log_pi`` (B,) -> (); or (K, 1) with (K, B) -> (K,).
    """
    return -(log_alpha * (log_pi.detach() + target_entropy)).mean(dim=-1)


# ---------------------------------------------------------------------------------------------
# Discriminators and the dynamics ratio


def discriminator_losses(
    sa_logits_real: torch.Tensor,
    sas_logits_real: torch.Tensor,
    sa_logits_sim: torch.Tensor,
    sas_logits_sim: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cross-entropy losses of D_sa and D_sas (real label 0, sim label 1), DARC style.

    ``p_sa = softmax(z_sa)``, ``p_sas = softmax(z_sas + z_sa)`` so the sas loss also trains D_sa.
    Each loss is ``mean_real(-log p[0]) + mean_sim(-log p[1])`` (the reference's sum of the two
    class means).

    Args:
        sa_logits_real, sas_logits_real: ([K,] Br, 2) logits on real transitions.
        sa_logits_sim, sas_logits_sim: ([K,] Bs, 2) logits on sim transitions.

    Returns:
        (sa_loss, sas_loss), each () or (K,).
    """
    sa_loss = -F.log_softmax(sa_logits_real, dim=-1)[..., 0].mean(dim=-1) - F.log_softmax(
        sa_logits_sim, dim=-1
    )[..., 1].mean(dim=-1)
    sas_loss = -F.log_softmax(sas_logits_real + sa_logits_real, dim=-1)[..., 0].mean(
        dim=-1
    ) - F.log_softmax(sas_logits_sim + sa_logits_sim, dim=-1)[..., 1].mean(dim=-1)
    return sa_loss, sas_loss


def classifier_accuracy(logits_real: torch.Tensor, logits_sim: torch.Tensor) -> torch.Tensor:
    """Fraction of real rows classified real and sim rows classified sim (balanced mean);
    ([K,] B, 2) logits -> () or (K,)."""
    real_ok = (logits_real[..., 0] > logits_real[..., 1]).float().mean(dim=-1)
    sim_ok = (logits_sim[..., 1] >= logits_sim[..., 0]).float().mean(dim=-1)
    return 0.5 * (real_ok + sim_ok)


def log_dynamics_ratio(sas_logits: torch.Tensor) -> torch.Tensor:
    """``log P_M(s'|s,a) / P_Mhat(s'|s,a) = z_sas[0] - z_sas[1]``, shape (...,).

    The D_sa logits cancel exactly in ``p_sas[real] p_sa[sim] / (p_sas[sim] p_sa[real])``, so
    only D_sas is needed (and the result is exact, without softmax round-off).
    """
    return sas_logits[..., 0] - sas_logits[..., 1]


def importance_weight(
    log_ratio: torch.Tensor, low: float = 1e-5, high: float = 1.0
) -> torch.Tensor:
    """H2O's weight on sim TD errors: ``clip(exp(log_ratio), low, high)`` (B,) -> (B,)."""
    return log_ratio.exp().clamp(low, high)


def darc_reward(reward: torch.Tensor, log_ratio: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """DARC's corrected sim reward ``r + scale * log(P_M / P_Mhat)``, each (B,)."""
    return reward + scale * log_ratio


# ---------------------------------------------------------------------------------------------
# Dynamics-gap weights u and omega


def dynamics_gap_u(log_ratio_sim_real: torch.Tensor, floor: float, cap: float) -> torch.Tensor:
    """u(s, a) = clip(mean_k log(P_Mhat / P_M)(s, a, s'_k), floor, cap).

    Args:
        log_ratio_sim_real: (B, N) ``z_sas[1] - z_sas[0]`` at N perturbed next states.
        floor: lower clip (must be > 0 so that log u exists).
        cap: upper clip (reference: 10).

    Returns:
        (B,) u.
    """
    return log_ratio_sim_real.mean(dim=-1).clamp(floor, cap)


def log_omega(u: torch.Tensor) -> torch.Tensor:
    """``log omega = log u - logsumexp(log u)`` over the sim batch: ([K,] B) -> ([K,] B).

    Computed in log space, so it is finite for every u > 0 however small (the default here;
    callers floor u at 1e-8 with :func:`dynamics_gap_u`).
    """
    log_u = u.log()
    return log_u - torch.logsumexp(log_u, dim=-1, keepdim=True)


def legacy_log_omega(u: torch.Tensor) -> torch.Tensor:
    """The reference's ``log(u / sum(u))`` in linear space (u floored at 1e-45 in float32).

    With u at the floor, ``omega`` is a denormal and log omega ~ -103; kept for parity tests
    and the ``legacy_u`` switch.
    """
    return torch.log(u / u.sum(dim=-1, keepdim=True))
