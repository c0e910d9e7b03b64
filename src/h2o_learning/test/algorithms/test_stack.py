"""Seed stacks: member k of a K-stack trains like the run of its own seed (float tolerance),
members never influence each other (bitwise), and the stack's state round-trips."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch

from h2o_learning.algorithms import AlgorithmConfig, AlgorithmError, make_algorithm
from h2o_learning.algorithms.protocol import UpdateBatches
from h2o_learning.algorithms.stack import SeedStack
from h2o_learning.training.buffers import ReplayBuffer
from h2o_learning.training.export import export_policy
from h2o_learning.training.sampling import sample_batches
from h2o_robot_bridge.contract import ACTION_DIM, OBS_DIM
from h2o_robot_bridge.errors import ConfigError

TINY = AlgorithmConfig(
    hidden=(32, 32), disc_hidden=(32, 32), batch_size=32, disc_batch_size=32, n_next_samples=4
)
SEEDS = (3, 4, 5)
STATS = {"obs_mean": np.full(5, 0.1), "obs_std": np.full(5, 1.5)}


def draw(stack: SeedStack, buffers: tuple, seeds: tuple[int, ...], steps: int) -> list:
    """Per step, one set of batches per member, each from the member's own generator."""
    real, sim = buffers
    gens = [torch.Generator().manual_seed(100 + s) for s in seeds]
    return [
        [sample_batches(m, real, sim, g) for m, g in zip(stack.members, gens, strict=True)]
        for _ in range(steps)
    ]


def weights(algo) -> list[torch.Tensor]:  # noqa: ANN001
    return [t.detach().clone() for t in algo.modules.state_dict().values()]


@pytest.mark.parametrize("name", ["sac", "h2o"])
@pytest.mark.parametrize("order", ["joint", "sequential"])
def test_member_k_trains_like_the_run_of_its_seed(name: str, order: str, buffers: tuple) -> None:
    """Same seed, same batches: losses, diagnostics and every weight of member k equal the
    single run's to float rounding (batched vs single matmuls), over several steps."""
    config = AlgorithmConfig(**{**TINY.to_dict(), "update_order": order})
    stack = SeedStack(name, 5, 2, config, SEEDS, **STATS)
    runs = [make_algorithm(name, 5, 2, config, seed=s, **STATS) for s in SEEDS]
    for step_batches in draw(stack, buffers, SEEDS, 4):
        expected = [run.update(*b) for run, b in zip(runs, step_batches, strict=True)]
        got = stack.update(step_batches)
        for exp, out in zip(expected, got, strict=True):
            assert exp.keys() == out.keys()
            for key in exp:
                assert out[key] == pytest.approx(exp[key], rel=1e-4, abs=1e-5), key
    for run, member in zip(runs, stack.members, strict=True):
        for a, b in zip(weights(run), weights(member), strict=True):
            torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6)
        assert member.steps == run.steps == 4


@pytest.mark.parametrize("name", ["sac", "h2o"])
def test_members_do_not_influence_each_other(name: str, buffers: tuple) -> None:
    """Other batches and perturbed weights for member 1 only: members 0 and 2 come out
    bitwise identical (nothing is reduced across the seed axis), member 1 differs."""
    a, b = (SeedStack(name, 5, 2, TINY, SEEDS) for _ in range(2))
    batches_a = draw(a, buffers, SEEDS, 3)
    batches_b = draw(b, buffers, (3, 99, 5), 3)
    with torch.no_grad():
        b.members[1].actor.trunk.net[0].weight.add_(0.5)
        b.members[1].critic.ensemble.weights[1].mul_(1.5)
    stats_a = [a.update(x) for x in batches_a]
    stats_b = [b.update(x) for x in batches_b]
    for k in (0, 2):
        assert [s[k] for s in stats_a] == [s[k] for s in stats_b]
        for x, y in zip(weights(a.members[k]), weights(b.members[k]), strict=True):
            assert torch.equal(x, y)
    assert [s[1] for s in stats_a] != [s[1] for s in stats_b]


def test_members_are_live_views_of_the_stack(buffers: tuple) -> None:
    """A member acts and exports with the stack's current weights, and its state dict
    loads into an ordinary run that then acts the same (to float rounding)."""
    stack = SeedStack("h2o", 5, 2, TINY, SEEDS, **STATS)
    obs = torch.randn(6, 5, generator=torch.Generator().manual_seed(0))
    before = stack.members[2].act(obs, deterministic=True)
    for step_batches in draw(stack, buffers, SEEDS, 2):
        stack.update(step_batches)
    member = stack.members[2]
    after = member.act(obs, deterministic=True)
    assert not torch.equal(before, after)
    torch.testing.assert_close(member.policy_module()(obs), after)
    plain = make_algorithm("h2o", 5, 2, TINY, seed=0, **STATS)
    plain.modules.load_state_dict(member.modules.state_dict())
    # assert_close: the member's weights are strided views, the loaded copy is contiguous
    torch.testing.assert_close(plain.act(obs, deterministic=True), after)


def test_state_dict_round_trip_continues_identically(buffers: tuple) -> None:
    stack = SeedStack("h2o", 5, 2, TINY, SEEDS)
    batches = draw(stack, buffers, SEEDS, 4)
    for x in batches[:2]:
        stack.update(x)
    blob = io.BytesIO()
    torch.save(stack.state_dict(), blob)
    after = [stack.update(x) for x in batches[2:]]
    blob.seek(0)
    clone = SeedStack("h2o", 5, 2, TINY, SEEDS)
    clone.load_state_dict(torch.load(blob, weights_only=True))
    assert [clone.update(x) for x in batches[2:]] == after
    for m, c in zip(stack.members, clone.members, strict=True):
        for x, y in zip(weights(m), weights(c), strict=True):
            assert torch.equal(x, y)
    with pytest.raises(AlgorithmError, match="seeds"):
        SeedStack("h2o", 5, 2, TINY, (1, 2, 3)).load_state_dict(stack.state_dict())


def test_bad_stacks_are_clear_errors(buffers: tuple) -> None:
    with pytest.raises(ConfigError, match="cannot be stacked"):
        SeedStack("cql", 5, 2, TINY, SEEDS)
    with pytest.raises(ConfigError, match="at least one seed"):
        SeedStack("sac", 5, 2, TINY, ())
    stack = SeedStack("sac", 5, 2, TINY, SEEDS)
    one = draw(stack, buffers, SEEDS, 1)[0]
    with pytest.raises(AlgorithmError, match="2 sets of batches for 3"):
        stack.update(one[:2])
    small = ReplayBuffer.from_arrays(
        np.zeros((50, 5)), np.zeros((50, 2)), np.zeros(50), np.zeros((50, 5)), np.zeros(50)
    )
    sizes = [UpdateBatches(None, small.sample(n, torch.Generator())) for n in (32, 32, 16)]
    with pytest.raises(RuntimeError):  # torch.stack: unequal batch sizes
        stack.update(sizes)


def test_a_member_exports_to_onnx(tmp_path: Path) -> None:
    """export_policy checks ONNX-vs-torch parity itself; the member's weights are views."""
    stack = SeedStack("sac", OBS_DIM, ACTION_DIM, TINY, (1, 2))
    path = export_policy(
        stack.members[1].policy_module(), tmp_path / "m1.onnx", "stand", 50.0, "sac", "0" * 12
    )
    assert path.exists()
