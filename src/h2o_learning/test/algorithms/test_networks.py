"""Networks: fused ensemble == separate MLPs, the actor's distribution, normaliser, export."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from h2o_learning.algorithms.networks import (
    MLP,
    DeterministicPolicy,
    EnsembleMLP,
    ObsNormalizer,
    TanhGaussianActor,
    TwinCritic,
)
from h2o_robot_bridge.errors import ConfigError


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_fused_ensemble_equals_two_separate_networks() -> None:
    ens = EnsembleMLP(7, 1, (16, 16), n_members=2, generator=gen())
    separate = [MLP(7, 1, (16, 16), gen(1)) for _ in range(2)]
    for k, net in enumerate(separate):
        net.load_state_dict(ens.member_state(k))
    x = torch.randn(5, 7, generator=gen(2))
    fused = ens(x)
    assert fused.shape == (2, 5, 1)
    for k, net in enumerate(separate):
        torch.testing.assert_close(fused[k], net(x), rtol=1e-6, atol=1e-6)
    # gradients agree too
    fused.sum().backward()
    for net in separate:
        net(x).sum().backward()
    for k, net in enumerate(separate):
        torch.testing.assert_close(ens.weights[1].grad[k].T, net.net[2].weight.grad)
    # the two members really are different networks
    assert not torch.allclose(fused[0], fused[1])


def test_ensemble_per_member_inputs() -> None:
    ens = EnsembleMLP(3, 2, (8,), n_members=2, generator=gen())
    x = torch.randn(2, 4, 3, generator=gen(1))
    out = ens(x)
    for k in range(2):
        net = MLP(3, 2, (8,), gen())
        net.load_state_dict(ens.member_state(k))
        torch.testing.assert_close(out[k], net(x[k]))


def test_detached_params_give_input_gradients_only() -> None:
    critic = TwinCritic(4, 2, (8, 8), gen())
    obs = torch.randn(3, 4, generator=gen(1))
    action = torch.zeros(3, 2, requires_grad=True)
    critic(obs, action, detach_params=True).sum().backward()
    assert action.grad is not None and action.grad.abs().sum() > 0
    assert all(p.grad is None for p in critic.parameters())


def test_initialisation_is_seeded_and_last_layer_small() -> None:
    a, b, c = (TwinCritic(4, 2, (32, 32), gen(s)) for s in (0, 0, 1))
    for pa, pb, pc in zip(a.parameters(), b.parameters(), c.parameters(), strict=True):
        assert torch.equal(pa, pb)
        assert not torch.equal(pa, pc) or pa.abs().sum() == 0
    last_w, last_b = a.ensemble.weights[-1], a.ensemble.biases[-1]
    assert last_w.abs().max() <= 1e-2 * (6 / 33) ** 0.5 + 1e-9  # xavier bound, gain 1e-2
    assert torch.count_nonzero(last_b) == 0


def test_actor_log_prob_matches_torch_distributions() -> None:
    actor = TanhGaussianActor(4, 3, (16,), gen(), last_layer_gain=1.0)
    obs = torch.randn(6, 4, generator=gen(1))
    action, log_pi = actor.sample(obs, gen(2))
    mean, log_std = actor.distribution(obs)
    dist = torch.distributions.TransformedDistribution(
        torch.distributions.Normal(mean, log_std.exp()),
        torch.distributions.transforms.TanhTransform(),
    )
    expected = dist.log_prob(action.clamp(-1 + 1e-6, 1 - 1e-6)).sum(-1)
    torch.testing.assert_close(log_pi, expected, rtol=1e-3, atol=1e-3)
    assert action.abs().max() < 1
    # log std = scale * raw + offset (1, -1 initially), clamped
    raw = actor.trunk(obs)[:, 3:]
    torch.testing.assert_close(log_std, (raw - 1.0).clamp(-20, 2))
    torch.testing.assert_close(actor.deterministic(obs), torch.tanh(mean))


def test_actor_sample_is_reparameterised_and_seeded() -> None:
    actor = TanhGaussianActor(4, 2, (16,), gen())
    obs = torch.randn(5, 4, generator=gen(1))
    a1, _ = actor.sample(obs, gen(3))
    a2, lp = actor.sample(obs, gen(3))
    assert torch.equal(a1, a2)
    (a2.sum() + lp.sum()).backward()
    assert actor.log_std_scale.grad is not None and actor.trunk.net[0].weight.grad is not None


def test_normalizer_floors_std_and_clips() -> None:
    norm = ObsNormalizer(3, mean=np.array([1.0, 0.0, 0.0]), std=np.array([2.0, 0.0, 1.0]), clip=5)
    out = norm(torch.tensor([[3.0, 0.0, 100.0], [1.0, 1.0, -2.0]]))
    torch.testing.assert_close(out, torch.tensor([[1.0, 0.0, 5.0], [0.0, 5.0, -2.0]]))
    with pytest.raises(ConfigError, match="obs_std"):
        ObsNormalizer(3, std=np.ones(4))
    with pytest.raises(ConfigError, match="NaN"):
        ObsNormalizer(2, mean=np.array([0.0, np.nan]))


def test_policy_module_exports_to_onnx_and_matches(tmp_path) -> None:  # noqa: ANN001
    onnxruntime = pytest.importorskip("onnxruntime")
    norm = ObsNormalizer(5, mean=np.arange(5.0), std=np.full(5, 2.0))
    policy = DeterministicPolicy(
        norm, TanhGaussianActor(5, 2, (16, 16), gen(), last_layer_gain=None)
    ).eval()
    obs = torch.randn(4, 5, generator=gen(1)) * 3
    path = tmp_path / "policy.onnx"
    torch.onnx.export(
        policy,
        (obs,),
        str(path),
        input_names=["obs"],
        output_names=["action"],
        dynamo=True,
        external_data=False,
        dynamic_shapes={"obs": {0: torch.export.Dim("batch")}},
    )
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for batch in (obs, obs[:1]):
        (out,) = session.run(None, {"obs": batch.numpy()})
        np.testing.assert_allclose(out, policy(batch).detach().numpy(), atol=1e-5)
