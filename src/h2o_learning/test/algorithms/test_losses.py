"""Every loss term against values computed by hand (plain Python math) on tiny tensors."""

from __future__ import annotations

import math

import pytest
import torch

from h2o_learning.algorithms import losses


def t(*values: float) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32)


def test_td_target_bootstraps_unless_terminal() -> None:
    y = losses.td_target(t(1.0, 2.0), t(0.0, 1.0), t(10.0, 10.0), gamma=0.9)
    assert y.tolist() == pytest.approx([1.0 + 0.9 * 10.0, 2.0])


def test_bellman_error_real_and_weighted_sim_terms() -> None:
    q = torch.tensor([[1.0, 2.0], [3.0, 4.0]])  # 2 critics, 2 samples
    y = t(0.0, 1.0)
    # critic 0: errors 1, 1; critic 1: errors 3, 3
    assert losses.bellman_error(q, y).tolist() == pytest.approx([1.0, 9.0])
    w = t(1.0, 0.5)
    assert losses.bellman_error(q, y, w).tolist() == pytest.approx(
        [(1 * 1 + 0.5 * 1) / 2, (9 * 1 + 0.5 * 9) / 2]
    )


def test_importance_weight_is_clipped_to_at_most_one() -> None:
    w = losses.importance_weight(t(-20.0, -1.0, 0.0, 2.0), 1e-5, 1.0)
    assert w.tolist() == pytest.approx([1e-5, math.exp(-1.0), 1.0, 1.0], rel=1e-6)


def test_log_dynamics_ratio_equals_the_probability_formula() -> None:
    gen = torch.Generator().manual_seed(0)
    z_sa = torch.randn(64, 2, generator=gen) * 2
    z_sas = torch.randn(64, 2, generator=gen) * 2
    p_sa = torch.softmax(z_sa, -1)
    p_sas = torch.softmax(z_sas + z_sa, -1)
    ratio = p_sas[:, 0] * p_sa[:, 1] / (p_sas[:, 1] * p_sa[:, 0])
    torch.testing.assert_close(losses.log_dynamics_ratio(z_sas).exp(), ratio, rtol=1e-5, atol=0)
    assert losses.log_dynamics_ratio(torch.tensor([[1.0, -1.0]])).item() == pytest.approx(2.0)


def test_dynamics_gap_u_averages_then_clips() -> None:
    log_ratios = torch.tensor([[0.5, 1.5], [-1.0, -2.0], [20.0, 30.0]])
    u = losses.dynamics_gap_u(log_ratios, floor=1e-8, cap=10.0)
    assert u.tolist() == pytest.approx([1.0, 1e-8, 10.0])


def test_log_omega_normalises_in_log_space() -> None:
    assert losses.log_omega(t(1.0, 3.0)).exp().tolist() == pytest.approx([0.25, 0.75])
    # a floored u stays finite: log(1e-8 / (1 + 1e-8)) ~ log(1e-8)
    lo = losses.log_omega(t(1e-8, 1.0))
    assert lo.tolist() == pytest.approx([math.log(1e-8), 0.0], abs=1e-6)
    assert torch.isfinite(lo).all()


def test_legacy_log_omega_reproduces_the_reference_floor() -> None:
    u = torch.clamp(t(-1.0, 1.0), losses.LEGACY_U_FLOOR, 10.0)  # a negative mean log-ratio
    lo = losses.legacy_log_omega(u)
    # 1e-45 is a float32 denormal (~1.4e-45): log omega ~ -103, far below the default's -18.4
    assert lo[0].item() == pytest.approx(math.log(1.401298464324817e-45), rel=1e-3)
    assert lo[1].item() == pytest.approx(0.0, abs=1e-6)
    assert losses.legacy_log_omega(t(1.0, 3.0)).exp().tolist() == pytest.approx([0.25, 0.75])


def test_h2o_penalty_logsumexp_over_sim_minus_real_mean() -> None:
    q_sim = torch.tensor([[1.0, 2.0]])
    log_om = torch.log(t(0.25, 0.75))
    q_real = torch.tensor([[0.5, 1.5]])
    expected = 0.01 * (math.log(0.25 * math.e + 0.75 * math.e**2) - 1.0)
    got = losses.h2o_penalty(q_sim, log_om, q_real, beta=0.01)
    assert got.tolist() == pytest.approx([expected], rel=1e-6)
    # the gap is clipped before scaling
    clipped = losses.h2o_penalty(q_sim + 5000, log_om, q_real, beta=0.5, clip=1000.0)
    assert clipped.item() == pytest.approx(500.0)
    # temperature T: T * logsumexp((q + log omega) / T)
    tempered = losses.h2o_penalty(q_sim, log_om, q_real, beta=1.0, temperature=2.0)
    lse = 2.0 * math.log(math.exp((1 + math.log(0.25)) / 2) + math.exp((2 + math.log(0.75)) / 2))
    assert tempered.item() == pytest.approx(lse - 1.0, rel=1e-6)


def test_actor_and_alpha_losses() -> None:
    log_pi, q = t(-1.0, -2.0), t(1.0, 3.0)
    assert losses.actor_loss(log_pi, q, torch.tensor(0.5)).item() == pytest.approx(-2.75)
    log_alpha = torch.tensor(0.3, requires_grad=True)
    log_pi.requires_grad_(True)
    loss = losses.alpha_loss(log_alpha, log_pi, target_entropy=-6.0)
    assert loss.item() == pytest.approx(-(0.3 * -7.0 + 0.3 * -8.0) / 2)
    loss.backward()
    assert log_alpha.grad.item() == pytest.approx(7.5)  # entropy above target: raise alpha
    assert log_pi.grad is None  # the temperature loss never trains the actor


def test_discriminator_losses_cross_entropy_real0_sim1() -> None:
    z_sa_r, z_sas_r = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.5, -0.5]])
    z_sa_s, z_sas_s = torch.tensor([[0.0, 2.0]]), torch.tensor([[1.0, 0.0]])

    def nll(logits: list[float], label: int) -> float:
        return -(logits[label] - math.log(sum(math.exp(v) for v in logits)))

    sa, sas = losses.discriminator_losses(z_sa_r, z_sas_r, z_sa_s, z_sas_s)
    assert sa.item() == pytest.approx(nll([1.0, 0.0], 0) + nll([0.0, 2.0], 1), rel=1e-6)
    assert sas.item() == pytest.approx(nll([1.5, -0.5], 0) + nll([1.0, 2.0], 1), rel=1e-6)


def test_classifier_accuracy() -> None:
    real = torch.tensor([[1.0, 0.0], [0.0, 1.0]])  # one right, one wrong
    sim = torch.tensor([[0.0, 1.0], [0.0, 2.0]])  # both right
    assert losses.classifier_accuracy(real, sim).item() == pytest.approx(0.75)


def test_darc_reward_correction() -> None:
    r = losses.darc_reward(t(1.0, 1.0), t(-2.0, 0.5), scale=0.5)
    assert r.tolist() == pytest.approx([0.0, 1.25])


def test_cql_penalty_importance_sampled() -> None:
    q_data = torch.tensor([[1.0]])  # E=1, B=1
    q_rand, q_pol, q_next = (torch.tensor([[[v]]]) for v in (0.5, 2.0, 1.5))  # N=1
    lp_pol, lp_next = torch.tensor([[-1.0]]), torch.tensor([[-0.5]])
    a = 2
    terms = [0.5 - a * math.log(0.5), 1.5 + 0.5, 2.0 + 1.0]
    expected = 5.0 * (math.log(sum(math.exp(v) for v in terms)) - 1.0)
    got = losses.cql_penalty(q_data, q_rand, q_pol, lp_pol, q_next, lp_next, a, alpha=5.0)
    assert got.item() == pytest.approx(expected, rel=1e-6)
    plain = losses.cql_penalty(
        q_data, q_rand, q_pol, lp_pol, q_next, lp_next, a, alpha=1.0, importance_sample=False
    )
    lse = math.log(sum(math.exp(v) for v in (0.5, 1.0, 1.5, 2.0)))
    assert plain.item() == pytest.approx(lse - 1.0, rel=1e-6)
    clipped = losses.cql_penalty(
        q_data, q_rand, q_pol, lp_pol, q_next, lp_next, a, alpha=1.0, clip=(-1.0, 0.5)
    )
    assert clipped.item() == pytest.approx(0.5)
