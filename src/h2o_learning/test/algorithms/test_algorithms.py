"""Algorithms: factory, config validation, one step of each, resume, the legacy u switch, and
SAC/H2O reaching the known optimum of a tiny task with a dynamics gap."""

from __future__ import annotations

import dataclasses
import io
import math

import numpy as np
import pytest
import torch

from h2o_learning.algorithms import (
    ALGORITHMS,
    AlgorithmConfig,
    AlgorithmError,
    make_algorithm,
    next_state_noise_std,
)
from h2o_learning.testing.toy_tasks import BANDIT, bandit, policy_slope
from h2o_learning.training.sampling import sample_batches
from h2o_robot_bridge.errors import ConfigError, H2OError

TINY = AlgorithmConfig(
    hidden=(32, 32),
    disc_hidden=(32, 32),
    batch_size=32,
    disc_batch_size=32,
    n_next_samples=4,
    cql_n_actions=3,
)


# -- factory and config ------------------------------------------------------------------------


def test_factory_names_and_data_flags() -> None:
    flags = {name: (info.uses_real, info.uses_sim) for name, info in ALGORITHMS.items()}
    assert flags == {
        "sac": (False, True),
        "cql": (True, False),
        "darc": (True, True),
        "darc_plus": (True, True),
        "h2o": (True, True),
    }
    for name in ALGORITHMS:
        assert make_algorithm(name, 5, 2, TINY).name == name
    with pytest.raises(ConfigError, match="unknown algorithm"):
        make_algorithm("ppo", 5, 2, TINY)
    with pytest.raises(ConfigError, match="obs_std"):
        make_algorithm("sac", 5, 2, TINY, obs_std=np.ones(3))


def test_config_defaults_are_the_reference_ones() -> None:
    c = AlgorithmConfig()
    assert (c.hidden, c.actor_lr, c.critic_lr, c.gamma, c.tau, c.batch_size) == (
        (256, 256),
        3e-4,
        3e-4,
        0.99,
        5e-3,
        256,
    )
    assert (c.real_batch_size, c.sim_batch_size, c.beta, c.disc_noise_std) == (128, 128, 0.01, 0.1)
    assert (c.n_next_samples, c.u_clip, c.ratio_clip_min, c.ratio_clip_max) == (
        10,
        10.0,
        1e-5,
        1.0,
    )
    assert c.legacy_u is False and c.backup_entropy is False
    # The reference's d_early_stop_steps is 1e6, its whole run (1000 x 1000 steps): never stops.
    assert c.disc_residual_l2 == 0.0 and c.disc_train_steps == 0


@pytest.mark.parametrize(
    ("values", "match"),
    [
        ({"gamma": 1.0}, "gamma"),
        ({"tau": 0.0}, "tau"),
        ({"hidden": []}, "hidden"),
        ({"hidden": [64, -1]}, "hidden"),
        ({"batch_size": 2.5}, "batch_size"),
        ({"legacy_u": "yes"}, "legacy_u"),
        ({"beta": -1.0}, "beta"),
        ({"sim_fraction": 1.0}, "sim_fraction"),
        ({"actor_lr": "fast"}, "actor_lr"),
        ({"u_floor": 20.0}, "u_floor"),
        ({"batch_size": 1}, "empty real or sim"),
        ({"learning_rate": 1e-3}, "unknown algorithm config key"),
        ({"darc_plus": True}, r"unknown algorithm config key\(s\) \['darc_plus'\]"),
    ],
)
def test_config_rejects_bad_values(values: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        AlgorithmConfig.from_dict(values)


def test_config_dict_round_trip_and_yaml_lists() -> None:
    c = AlgorithmConfig.from_dict({"hidden": [64, 64], "beta": 1})
    assert c.hidden == (64, 64) and isinstance(c.beta, float)
    assert AlgorithmConfig.from_dict(c.to_dict()) == c


# -- one update of each algorithm --------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_one_update_of_each_algorithm(name: str, buffers: tuple) -> None:
    real, sim = buffers
    algo = make_algorithm(name, 5, 2, TINY, seed=3)
    before = [p.detach().clone() for p in algo.actor.parameters()]
    metrics = algo.update(*sample_batches(algo, real, sim, torch.Generator().manual_seed(0)))
    assert all(math.isfinite(v) for v in metrics.values())
    assert {"critic_loss", "actor_loss", "alpha", "log_pi"} <= set(metrics)
    assert any(not torch.equal(a, p) for a, p in zip(before, algo.actor.parameters(), strict=True))
    if name == "h2o":
        expected = {
            "disc_sa_acc",
            "disc_sas_acc",
            "weight_mean",
            "weight_std",
            "u_mean",
            "u_std",
            "omega_std",
            "penalty",
            "q_real_mean",
            "q_sim_mean",
        }
        assert expected <= set(metrics)
        assert 0 < metrics["weight_mean"] <= 1
    if name.startswith("darc"):
        assert {"disc_sas_acc", "log_ratio_mean"} <= set(metrics)
    if name == "cql":
        assert metrics["cql_penalty"] > 0  # random-init Q: logsumexp over samples > data Q


@pytest.mark.parametrize("name", ["darc", "darc_plus"])
def test_darc_warmup_leaves_the_reward_uncorrected_then_corrects_it(
    name: str, buffers: tuple
) -> None:
    """During ``darc_warmup_steps`` the step is that of scale 0 (the classifiers still train);
    from the next step on it is DARC's corrected step."""
    real, sim = buffers
    warm = make_algorithm(name, 5, 2, dataclasses.replace(TINY, darc_warmup_steps=2), seed=3)
    plain = make_algorithm(name, 5, 2, dataclasses.replace(TINY, darc_reward_scale=0.0), seed=3)
    gen = torch.Generator().manual_seed(0)
    for step in range(3):
        batches = sample_batches(warm, real, sim, gen)
        m_warm = warm.update(*batches)
        plain.update(*batches)
        assert m_warm["reward_correction_on"] == (0.0 if step < 2 else 1.0)
        same = all(
            torch.equal(a, b)
            for a, b in zip(warm.critic.parameters(), plain.critic.parameters(), strict=True)
        )
        assert same == (step < 2), step
    with pytest.raises(ConfigError, match="darc_warmup_steps must be >= 0"):
        AlgorithmConfig(darc_warmup_steps=-1)


@pytest.mark.parametrize("name", ["darc_plus", "h2o"])
def test_disc_train_steps_freezes_the_discriminators_after_that_many_steps(
    name: str, buffers: tuple
) -> None:
    """Up to ``disc_train_steps`` the run is bitwise the always-training one; after it the
    discriminators no longer change, while their accuracy is still logged."""
    real, sim = buffers
    early = make_algorithm(name, 5, 2, dataclasses.replace(TINY, disc_train_steps=2), seed=3)
    always = make_algorithm(name, 5, 2, TINY, seed=3)
    gen = torch.Generator().manual_seed(0)

    def disc_params(algo: object) -> list[torch.Tensor]:
        return [p.detach().clone() for p in algo.discriminators.parameters()]  # type: ignore[attr-defined]

    for step in range(4):
        before = disc_params(early)
        batches = sample_batches(early, real, sim, gen)
        m_early = early.update(*batches)
        always.update(*batches)
        moved = any(not torch.equal(a, b) for a, b in zip(before, disc_params(early), strict=True))
        assert moved == (step < 2), step
        same = all(
            torch.equal(a, b) for a, b in zip(disc_params(early), disc_params(always), strict=True)
        )
        assert same == (step < 2), step
        assert 0.0 <= m_early["disc_sas_acc"] <= 1.0
    with pytest.raises(ConfigError, match="disc_train_steps must be >= 0"):
        AlgorithmConfig(disc_train_steps=-1)


def test_missing_batches_are_clear_errors(buffers: tuple) -> None:
    real, sim = buffers
    gen = torch.Generator()
    with pytest.raises(AlgorithmError, match="sim batch"):
        make_algorithm("sac", 5, 2, TINY).update(real.sample(8, gen), None)
    with pytest.raises(AlgorithmError, match="real batch"):
        make_algorithm("h2o", 5, 2, TINY).update(None, sim.sample(8, gen))
    with pytest.raises(AlgorithmError, match="real replay buffer"):
        sample_batches(make_algorithm("cql", 5, 2, TINY), None, sim, gen)
    assert issubclass(AlgorithmError, H2OError)
    wrong = real.sample(8, gen)._replace(action=torch.zeros(8, 3))
    with pytest.raises(AlgorithmError, match="real batch has shapes"):
        make_algorithm("h2o", 5, 2, TINY).update(wrong, sim.sample(8, gen))
    with pytest.raises(AlgorithmError, match="act expects"):
        make_algorithm("sac", 5, 2, TINY).act(torch.zeros(3, 4))


def test_act_and_policy_module(buffers: tuple) -> None:
    algo = make_algorithm("h2o", 5, 2, TINY, obs_mean=np.ones(5), obs_std=np.full(5, 2.0))
    obs = torch.randn(7, 5, generator=torch.Generator().manual_seed(0))
    det = algo.act(obs, deterministic=True)
    torch.testing.assert_close(algo.policy_module()(obs), det)
    stochastic = algo.act(obs.numpy())
    assert stochastic.shape == (7, 2) and stochastic.abs().max() < 1
    assert not torch.equal(stochastic, det)
    single = algo.act(obs[0], deterministic=True)  # one observation from an env step
    assert single.shape == (2,)
    torch.testing.assert_close(single, det[0])


# -- resume and determinism --------------------------------------------------------------------


def params(algo) -> list[torch.Tensor]:  # noqa: ANN001
    return [t.detach().clone() for t in algo.modules.state_dict().values()]


@pytest.mark.parametrize("name", ["h2o", "cql"])
def test_state_dict_round_trip_continues_identically(name: str, buffers: tuple) -> None:
    real, sim = buffers
    gen = torch.Generator().manual_seed(7)
    a = make_algorithm(name, 5, 2, TINY, seed=1)
    batches = [sample_batches(a, real, sim, gen) for _ in range(6)]
    for batch in batches[:3]:
        a.update(*batch)
    blob = io.BytesIO()
    torch.save(a.state_dict(), blob)
    after_a = [a.update(*batch) for batch in batches[3:]]
    act_a = a.act(real.obs[:4])

    blob.seek(0)
    b = make_algorithm(name, 5, 2, TINY, seed=99)  # other seed: everything must come from state
    b.load_state_dict(torch.load(blob, weights_only=True))
    after_b = [b.update(*batch) for batch in batches[3:]]
    assert after_a == after_b
    assert torch.equal(act_a, b.act(real.obs[:4]))
    for x, y in zip(params(a), params(b), strict=True):
        assert torch.equal(x, y)
    assert a.steps == b.steps == 6
    if name == "h2o":  # sigma of u travels with the state
        c = make_algorithm(name, 5, 2, TINY, state_std=np.full(5, 7.0))
        c.load_state_dict(a.state_dict())
        assert torch.equal(c.next_state_std, a.next_state_std)


def test_same_seed_same_run_other_seed_differs(buffers: tuple) -> None:
    real, sim = buffers

    def run(seed: int) -> list[dict]:
        algo = make_algorithm("h2o", 5, 2, TINY, seed=seed)
        gen = torch.Generator().manual_seed(0)
        return [algo.update(*sample_batches(algo, real, sim, gen)) for _ in range(2)]

    assert run(4) == run(4)
    assert run(4) != run(5)


def test_load_state_dict_rejects_mismatches() -> None:
    h2o = make_algorithm("h2o", 5, 2, TINY)
    with pytest.raises(AlgorithmError, match="name"):
        make_algorithm("sac", 5, 2, TINY).load_state_dict(h2o.state_dict())
    with pytest.raises(AlgorithmError, match="obs_dim"):
        make_algorithm("h2o", 6, 2, TINY).load_state_dict(h2o.state_dict())
    bigger = make_algorithm("h2o", 5, 2, dataclasses.replace(TINY, hidden=(64, 64)))
    with pytest.raises(AlgorithmError, match="does not fit"):
        bigger.load_state_dict(h2o.state_dict())
    with pytest.raises(AlgorithmError, match="not an algorithm state"):
        h2o.load_state_dict({"modules": {}})


# -- the legacy u/omega switch -----------------------------------------------------------------


def reference_dynamics_weights(algo, sim, n: int) -> tuple[torch.Tensor, torch.Tensor]:  # noqa: ANN001
    """A transcription of the reference's ratio / u / omega formulas (probabilities, linear
    space, floor 1e-45), with the same noise draws as the algorithm."""
    disc = algo.discriminators
    obs = sim.obs.repeat_interleave(n, dim=0)
    act = sim.action.repeat_interleave(n, dim=0)
    noise = torch.randn((sim.obs.shape[0], n, sim.obs.shape[1]), generator=algo.generator)
    nxt = sim.next_obs.repeat_interleave(n, dim=0) + noise.reshape(-1, 5) * algo.next_state_std
    with torch.no_grad():
        z_sa, z_sas = disc.logits(obs, act, nxt)
        sa_p, sas_p = torch.softmax(z_sa, 1), torch.softmax(z_sas + z_sa, 1)
        log_ratio = (
            -torch.log(sas_p[:, 0])
            + torch.log(sas_p[:, 1])
            + torch.log(sa_p[:, 0])
            - torch.log(sa_p[:, 1])
        )
        u = torch.clamp(log_ratio.reshape(-1, n).mean(dim=1), 1e-45, 10)
        z_sa, z_sas = disc.logits(sim.obs, sim.action, sim.next_obs)
        sa_p, sas_p = torch.softmax(z_sa, 1), torch.softmax(z_sas + z_sa, 1)
        ratio = (sas_p[:, 0] * sa_p[:, 1]) / (sas_p[:, 1] * sa_p[:, 0])
    return torch.clamp(ratio, 1e-5, 1), torch.log(u / u.sum())


def test_legacy_switch_reproduces_the_reference(buffers: tuple) -> None:
    _, sim_buffer = buffers
    sim = sim_buffer.sample(64, torch.Generator().manual_seed(0))
    legacy = make_algorithm("h2o", 5, 2, dataclasses.replace(TINY, legacy_u=True), seed=2)
    head = legacy.discriminators.d_sas.mlp.net[-1]
    with torch.no_grad():  # a sharp random head: log ratios of both signs, many u at the floor
        head.weight.mul_(50.0)
        head.bias.zero_()
    state = legacy.generator.get_state()
    w, log_om, _ = legacy.dynamics_weights(sim)
    legacy.generator.set_state(state)
    ref_w, ref_log_om = reference_dynamics_weights(legacy, sim, TINY.n_next_samples)
    torch.testing.assert_close(w, ref_w, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(log_om, ref_log_om, rtol=1e-4, atol=1e-3)
    floored = ref_log_om < -90
    assert floored.any(), "the test needs some u at the reference floor"
    # default: same weights, but the floor lives in log space at 1e-8 (finite, ~-18 - log sum)
    default = make_algorithm("h2o", 5, 2, TINY, seed=2)
    default.load_state_dict({**legacy.state_dict(), "generator": state})
    w_d, log_om_d, _ = default.dynamics_weights(sim)
    torch.testing.assert_close(w_d, w)
    assert log_om_d[floored].min() > -40
    torch.testing.assert_close(log_om_d[~floored], log_om[~floored], rtol=1e-3, atol=1e-3)


def test_next_state_noise_std_default_and_legacy() -> None:
    obs = np.random.default_rng(0).normal(2.0, 3.0, size=(1000, 4))
    default = next_state_noise_std(obs)
    np.testing.assert_allclose(default, obs.std(0) + 1e-3, rtol=1e-6)
    legacy = next_state_noise_std(obs, legacy=True, sim_capacity=10_000)
    padded = np.concatenate((obs, np.zeros((10_000, 4))))
    np.testing.assert_allclose(legacy, padded.std(0) + 1e-3, rtol=1e-6)
    assert (legacy < 0.75 * default).all()  # the quirk shrinks sigma (here ~0.6x)


# -- a tiny task with a known optimum ------------------------------------------------------------


def train(name: str, steps: int, config: AlgorithmConfig = BANDIT) -> float:
    algo = make_algorithm(name, 1, 1, config, obs_std=np.array([0.46]), seed=0)
    real, sim = bandit(2000, 2.0, 0), bandit(2000, -1.0, 1)
    gen = torch.Generator().manual_seed(0)
    for _ in range(steps):
        algo.update(*sample_batches(algo, real, sim, gen))
    return policy_slope(algo)


def test_sac_reaches_the_sim_optimum() -> None:
    assert train("sac", 300) == pytest.approx(1.0, abs=0.2)


def test_h2o_reaches_the_real_optimum_despite_the_sim_gap() -> None:
    assert train("h2o", 500) == pytest.approx(-0.5, abs=0.12)


def test_h2o_without_a_gap_weights_the_sim_data_near_one() -> None:
    """Control: sim = real dynamics. H2O must then use the sim data at full weight (a weight
    forced low, which the optimum test above cannot see, fails here)."""
    algo = make_algorithm("h2o", 1, 1, BANDIT, obs_std=np.array([0.46]), seed=0)
    real, sim = bandit(2000, 2.0, 0), bandit(2000, 2.0, 1)
    gen = torch.Generator().manual_seed(0)
    weights = []
    for step in range(400):
        stats = algo.update(*sample_batches(algo, real, sim, gen))
        if step >= 300:
            weights.append(float(stats["weight_mean"]))
    assert np.mean(weights) == pytest.approx(1.0, abs=0.1)
    assert policy_slope(algo) == pytest.approx(-0.5, abs=0.12)


@pytest.mark.slow
def test_without_importance_weights_the_sim_gap_biases_the_policy() -> None:
    # Ablation: w = 1 and no penalty is plain mixing of both data sets (a* = -s/5).
    unweighted = dataclasses.replace(BANDIT, ratio_clip_min=1.0, beta=0.0)
    assert train("h2o", 500, unweighted) == pytest.approx(-0.2, abs=0.1)


# -- the d3rlpy-default options (docs/algorithm.md, "Learner parity") ---------------------------


@pytest.mark.parametrize(
    ("values", "match"),
    [
        ({"backup_action": "max"}, "backup_action"),
        ({"backup_action": "mean", "backup_entropy": True}, "backup_entropy needs"),
        ({"update_order": "actor_first"}, "update_order"),
        ({"cql_lagrange_threshold": math.inf}, "cql_lagrange_threshold"),
        ({"cql_lagrange_lr": 0.0}, "cql_lagrange_lr"),
    ],
)
def test_parity_options_reject_bad_values(values: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        AlgorithmConfig.from_dict(values)


def test_backup_action_defaults_per_algorithm() -> None:
    # CQL bootstraps from the mean action (measured: docs/algorithm.md); the others, as the
    # H2O spec and the reference, from a sample; an explicit value wins.
    defaults = {name: make_algorithm(name, 5, 2, TINY).backup_action for name in ALGORITHMS}
    assert defaults == {n: "mean" if n == "cql" else "sample" for n in ALGORITHMS}
    explicit = dataclasses.replace(TINY, backup_action="sample")
    assert make_algorithm("cql", 5, 2, explicit).backup_action == "sample"
    with pytest.raises(ConfigError, match="backup_entropy needs backup_action: sample"):
        make_algorithm("cql", 5, 2, dataclasses.replace(TINY, backup_entropy=True))
    assert make_algorithm("h2o", 5, 2, dataclasses.replace(TINY, backup_entropy=True))


def test_mean_backup_bootstraps_from_the_actor_mean(buffers: tuple) -> None:
    real, _ = buffers
    algo = make_algorithm("h2o", 5, 2, dataclasses.replace(TINY, backup_action="mean"), seed=1)
    batch = sample_batches(algo, real, real, torch.Generator().manual_seed(0))[0]
    next_n = algo.normalizer(batch.next_obs)
    y, next_q = algo._td_target(batch, next_n, torch.tensor(1.0))
    with torch.no_grad():
        expected = algo.target_critic(next_n, algo.actor.deterministic(next_n)).min(0).values
    torch.testing.assert_close(next_q, expected)
    # A sampled backup differs (the actor's std is far from 0 at initialisation).
    sampled = make_algorithm("h2o", 5, 2, TINY, seed=1)
    assert not torch.allclose(sampled._td_target(batch, next_n, torch.tensor(1.0))[1], expected)


def test_sequential_update_trains_the_actor_on_the_updated_critic(buffers: tuple) -> None:
    real, _ = buffers
    config = dataclasses.replace(TINY, update_order="sequential")
    algo = make_algorithm("cql", 5, 2, config, seed=2)
    batches = sample_batches(algo, real, None, torch.Generator().manual_seed(0))
    critic_before = [p.detach().clone() for p in algo.critic.parameters()]
    seen: list[list[torch.Tensor]] = []
    original = algo._actor_step

    def spy(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        seen.append([p.detach().clone() for p in algo.critic.parameters()])
        return original(*args, **kwargs)

    algo._actor_step = spy
    metrics = algo.update(*batches)
    assert all(math.isfinite(v) for v in metrics.values()) and algo.steps == 1
    # The critic had already taken its step when the actor's loss was built.
    assert any(not torch.equal(a, b) for a, b in zip(critic_before, seen[0], strict=True))


def test_sequential_sac_reaches_the_sim_optimum() -> None:
    config = dataclasses.replace(BANDIT, update_order="sequential")
    assert train("sac", 300, config) == pytest.approx(1.0, abs=0.2)


@pytest.mark.parametrize(("threshold", "grows"), [(-1e3, True), (1e3, False)])
def test_cql_lagrange_weight_follows_the_gap(
    buffers: tuple, threshold: float, grows: bool
) -> None:
    real, _ = buffers
    config = dataclasses.replace(
        TINY, cql_lagrange_threshold=threshold, cql_lagrange_lr=0.05, cql_alpha=2.0
    )
    algo = make_algorithm("cql", 5, 2, config, seed=4)
    gen = torch.Generator().manual_seed(0)
    weights = [algo.update(*sample_batches(algo, real, None, gen))["cql_weight"] for _ in range(5)]
    assert weights[0] == pytest.approx(2.0)  # a starts at 1: the weight is cql_alpha
    assert (weights[-1] > 2.0) == grows and weights[-1] != pytest.approx(2.0)
    state = io.BytesIO()
    torch.save(algo.state_dict(), state)
    state.seek(0)
    clone = make_algorithm("cql", 5, 2, config, seed=9)
    clone.load_state_dict(torch.load(state, weights_only=True))
    assert float(clone.lagrange().detach()) == pytest.approx(float(algo.lagrange().detach()))
