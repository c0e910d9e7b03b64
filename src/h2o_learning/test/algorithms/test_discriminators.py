"""Discriminators separate two synthetic dynamics; w and omega respond to the gap."""

from __future__ import annotations

import pytest
import torch

from h2o_learning.algorithms import losses
from h2o_learning.algorithms.discriminators import DynamicsDiscriminators
from h2o_learning.algorithms.networks import ObsNormalizer
from h2o_learning.algorithms.protocol import Batch
from h2o_learning.training.buffers import ReplayBuffer


def transitions(
    n: int, gain: float, gen: torch.Generator, actions: tuple[float, float] = (-1.0, 1.0)
) -> Batch:
    """s ~ U(-1, 1)^2, a ~ U(actions)^2, s' = s + gain * a (sim: gain 1, real: gain 2)."""
    s = torch.rand(n, 2, generator=gen) * 2 - 1
    low, high = actions
    a = torch.rand(n, 2, generator=gen) * (high - low) + low
    return Batch(s, a, torch.zeros(n), s + gain * a, torch.zeros(n))


def make(seed: int = 0) -> DynamicsDiscriminators:
    g = torch.Generator().manual_seed(seed)
    return DynamicsDiscriminators(2, 2, (64, 64), ObsNormalizer(2), g)


def train_on(
    real_gain: float,
    gen: torch.Generator,
    seed: int = 0,
    residual_l2: float = 0.0,
    actions: tuple[tuple[float, float], tuple[float, float]] = ((-1.0, 1.0), (-1.0, 1.0)),
) -> DynamicsDiscriminators:
    """400 Adam steps on real (``real_gain``) vs sim (gain 1) transitions; ``actions``: the
    (real, sim) action ranges (the behaviour policies)."""
    disc = make(seed)
    params = [p for n, p in disc.named_parameters() if not n.startswith("normalizer")]
    opt = torch.optim.Adam(params, lr=1e-3)
    real_actions, sim_actions = actions
    for _ in range(400):
        sa_loss, sas_loss, _ = disc.loss(
            transitions(256, real_gain, gen, real_actions),
            transitions(256, 1.0, gen, sim_actions),
            0.05,
            gen,
            residual_l2=residual_l2,
        )
        opt.zero_grad()
        (sa_loss + sas_loss).backward()
        opt.step()
    return disc


@pytest.fixture(scope="module")
def trained() -> DynamicsDiscriminators:
    return train_on(2.0, torch.Generator().manual_seed(1))


def test_discriminators_separate_the_dynamics(trained: DynamicsDiscriminators) -> None:
    gen = torch.Generator().manual_seed(2)
    _, sas_loss, stats = trained.loss(
        transitions(1000, 2.0, gen), transitions(1000, 1.0, gen), 0.0, gen
    )
    assert stats["disc_sas_acc"].item() > 0.8
    # (s, a) marginals are identical in both domains: D_sa cannot beat chance by much
    assert stats["disc_sa_acc"].item() < 0.65
    assert sas_loss.item() < 2 * 0.693  # below the loss of a coin flip on both classes


def test_weights_lower_and_omega_higher_where_dynamics_differ_more(
    trained: DynamicsDiscriminators,
) -> None:
    gen = torch.Generator().manual_seed(3)
    sim = transitions(4000, 1.0, gen)
    log_ratio, log_ratio_sim_real = trained.ratio_and_gap(
        sim.obs, sim.action, sim.next_obs, torch.full((2,), 0.05), 10, gen
    )
    w = losses.importance_weight(log_ratio)
    omega = losses.log_omega(losses.dynamics_gap_u(log_ratio_sim_real, 1e-8, 10.0)).exp()
    gap = sim.action.norm(dim=1)  # real and sim next states differ by |a|
    small, large = gap < 0.3, gap > 0.9
    assert w[small].mean() > 3 * w[large].mean()
    assert omega[large].mean() > 1.5 * omega[small].mean()
    assert omega.sum().item() == pytest.approx(1.0, rel=1e-4)
    # sim data looks more sim-like than real-like where the gap is large
    assert (log_ratio[large] < 0).float().mean() > 0.8


def test_ratio_and_gap_with_fixed_noise_matches_the_formula() -> None:
    disc = make(5)
    gen = torch.Generator().manual_seed(4)
    sim = transitions(6, 1.0, gen)
    sigma = torch.tensor([0.3, 0.1])
    state = gen.get_state()
    log_ratio, lr_sim_real = disc.ratio_and_gap(sim.obs, sim.action, sim.next_obs, sigma, 3, gen)
    gen.set_state(state)
    eps = torch.randn((6, 3, 2), generator=gen)
    for i in range(6):
        z_sa, z_sas = disc.logits(
            sim.obs[i : i + 1], sim.action[i : i + 1], sim.next_obs[i : i + 1]
        )
        p_sa, p_sas = torch.softmax(z_sa, -1), torch.softmax(z_sas + z_sa, -1)
        ratio = p_sas[0, 0] * p_sa[0, 1] / (p_sas[0, 1] * p_sa[0, 0])
        assert log_ratio[i].exp().item() == pytest.approx(ratio.item(), rel=1e-4)
        for k in range(3):
            nxt = sim.next_obs[i : i + 1] + eps[i, k] * sigma
            z_sa, z_sas = disc.logits(sim.obs[i : i + 1], sim.action[i : i + 1], nxt)
            expected = (z_sas[0, 1] - z_sas[0, 0]).item()
            assert lr_sim_real[i, k].item() == pytest.approx(expected, abs=1e-5)
    assert lr_sim_real.abs().max() <= 4.0  # 2 * tanh head: logit gap within [-4, 4]


def test_loss_trains_sa_through_the_sas_loss_too() -> None:
    disc = make()
    gen = torch.Generator().manual_seed(0)
    _, sas_loss, _ = disc.loss(transitions(8, 2.0, gen), transitions(8, 1.0, gen), 0.1, gen)
    sas_loss.backward()
    assert disc.d_sa.mlp.net[0].weight.grad.abs().sum() > 0


def test_buffers_feed_the_discriminators() -> None:
    gen = torch.Generator().manual_seed(0)
    real = ReplayBuffer.from_arrays(*(t.numpy() for t in transitions(50, 2.0, gen)))
    sim = ReplayBuffer.from_arrays(*(t.numpy() for t in transitions(50, 1.0, gen)))
    disc = make()
    sa_loss, sas_loss, stats = disc.loss(real.sample(16, gen), sim.sample(16, gen), 0.1, gen)
    assert torch.isfinite(sa_loss) and torch.isfinite(sas_loss)
    assert set(stats) == {"disc_sa_acc", "disc_sas_acc"}


def test_no_gap_gives_weights_near_one() -> None:
    """Control: real and sim from the same dynamics. The discriminators must not invent a gap
    (a D_sas that separates anything, e.g. by memorising, would push w towards 0)."""
    gen = torch.Generator().manual_seed(4)
    disc = train_on(1.0, gen, seed=1)
    sim = transitions(4000, 1.0, gen)
    log_ratio, _ = disc.ratio_and_gap(
        sim.obs, sim.action, sim.next_obs, torch.full((2,), 0.05), 10, gen
    )
    w = losses.importance_weight(log_ratio)
    assert w.mean().item() == pytest.approx(1.0, abs=0.1)
    assert w.median().item() == pytest.approx(1.0, abs=0.1)


def sim_weights(
    disc: DynamicsDiscriminators, gen: torch.Generator, actions: tuple[float, float]
) -> torch.Tensor:
    """H2O's importance weights (4000,) of fresh sim transitions (gain 1, ``actions``)."""
    sim = transitions(4000, 1.0, gen, actions)
    log_ratio, _ = disc.ratio_and_gap(
        sim.obs, sim.action, sim.next_obs, torch.full((2,), 0.05), 10, gen
    )
    return losses.importance_weight(log_ratio)


DISJOINT = ((0.0, 1.0), (-1.0, 0.0))  # real and sim behaviour policies act apart: (s, a) separate


def test_separable_behaviour_invents_a_gap_the_residual_penalty_removes() -> None:
    """The robot's no-gap control failure in miniature: same dynamics, but real and sim
    actions never overlap. D_sa alone separates the data; without the penalty D_sas's
    residual shares that separation and the weights collapse (measured 0.037); with
    ``residual_l2`` 1.0 the residual keeps only what (s, a) cannot explain (measured 0.98)."""
    plain = sim_weights(train_on(1.0, torch.Generator().manual_seed(4), 1, 0.0, DISJOINT),
                        torch.Generator().manual_seed(5), DISJOINT[1])  # fmt: skip
    assert plain.mean().item() < 0.2
    penalised = train_on(1.0, torch.Generator().manual_seed(4), 1, 1.0, DISJOINT)
    w = sim_weights(penalised, torch.Generator().manual_seed(5), DISJOINT[1])
    assert w.mean().item() == pytest.approx(1.0, abs=0.1)
    assert w.median().item() == pytest.approx(1.0, abs=0.1)


def test_the_residual_penalty_still_sees_a_gap_where_the_data_overlap() -> None:
    """With overlapping (s, a) and real gain 2 the penalised weights stay below 1 (measured
    0.69 at residual_l2 1.0, against 0.99 without a gap): the penalty shrinks the gap's
    signal but does not erase it."""
    both = (-1.0, 1.0)
    gap = sim_weights(train_on(2.0, torch.Generator().manual_seed(4), 1, 1.0),
                      torch.Generator().manual_seed(5), both)  # fmt: skip
    same = sim_weights(train_on(1.0, torch.Generator().manual_seed(4), 1, 1.0),
                       torch.Generator().manual_seed(5), both)  # fmt: skip
    assert gap.mean().item() < 0.85
    assert same.mean().item() - gap.mean().item() > 0.15


def test_residual_penalty_adds_exactly_its_term_to_the_sas_loss() -> None:
    disc = make()
    gen = torch.Generator().manual_seed(0)
    real, sim = transitions(8, 2.0, gen), transitions(8, 1.0, gen)
    sa0, sas0, _ = disc.loss(real, sim, 0.0, gen)
    sa1, sas1, _ = disc.loss(real, sim, 0.0, gen, residual_l2=0.5)
    _, z_sas = disc.logits(
        torch.cat((real.obs, sim.obs)),
        torch.cat((real.action, sim.action)),
        torch.cat((real.next_obs, sim.next_obs)),
    )
    term = 0.5 * (z_sas[:, 0] - z_sas[:, 1]).square().mean()
    assert torch.equal(sa1, sa0)
    assert sas1.item() == pytest.approx((sas0 + term).item(), rel=1e-6)
    assert (sas1 - sas0).item() > 0
