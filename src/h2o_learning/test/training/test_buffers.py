"""ReplayBuffer: storage, ring overwrite, seeded sampling, validation, state round trip."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch

from h2o_learning.training.buffers import ReplayBuffer
from h2o_robot_bridge.errors import DatasetError


def arrays(n: int, seed: int = 0) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    return (
        rng.normal(size=(n, 3)),
        rng.uniform(-1, 1, (n, 2)),
        rng.normal(size=n),
        rng.normal(size=(n, 3)),
        (rng.random(n) < 0.3).astype(np.float64),
    )


def test_from_arrays_stores_float32_tensors() -> None:
    data = arrays(10)
    buf = ReplayBuffer.from_arrays(*data)
    assert len(buf) == 10 and buf.capacity == 10
    assert buf.obs.dtype == torch.float32
    np.testing.assert_allclose(buf.obs.numpy(), data[0].astype(np.float32))
    np.testing.assert_allclose(buf.terminal.numpy(), data[4])


def test_add_one_transition_and_ring_overwrite() -> None:
    buf = ReplayBuffer(3, 2, capacity=4)
    for i in range(6):
        buf.add(np.full(3, i), np.full(2, -i / 10), float(i), np.full(3, i + 1), i == 5)
    assert len(buf) == 4
    # rows hold transitions 4, 5, 2, 3 (the two oldest were overwritten)
    assert buf.reward.tolist() == [4.0, 5.0, 2.0, 3.0]
    assert buf.obs[:, 0].tolist() == [4.0, 5.0, 2.0, 3.0]
    assert buf.terminal.tolist() == [0.0, 1.0, 0.0, 0.0]


def test_add_batch_larger_than_capacity_keeps_the_newest() -> None:
    buf = ReplayBuffer(3, 2, capacity=3)
    data = arrays(5)
    buf.add_batch(*data)
    assert sorted(buf.reward.tolist()) == sorted(data[2][-3:].astype(np.float32).tolist())


def test_sample_is_seeded_and_within_the_filled_part() -> None:
    buf = ReplayBuffer(3, 2, capacity=100)
    buf.add_batch(*arrays(7))
    b1 = buf.sample(50, torch.Generator().manual_seed(3))
    b2 = buf.sample(50, torch.Generator().manual_seed(3))
    for x, y in zip(b1, b2, strict=True):
        assert torch.equal(x, y)
    assert b1.obs.shape == (50, 3) and b1.action.shape == (50, 2) and b1.reward.shape == (50,)
    stored = {tuple(row) for row in buf.observations().tolist()}
    assert {tuple(row) for row in b1.obs.tolist()} <= stored
    # rows stay aligned: each sampled obs comes with its own reward
    stored_rewards = buf.reward[: len(buf)].tolist()
    lookup = dict(zip(map(tuple, buf.observations().tolist()), stored_rewards, strict=True))
    sampled = zip(b1.obs.tolist(), b1.reward.tolist(), strict=True)
    assert all(lookup[tuple(o)] == r for o, r in sampled)


def test_bad_input_is_a_dataset_error() -> None:
    buf = ReplayBuffer(3, 2, capacity=5)
    obs, act, rew, nxt, term = arrays(4)
    with pytest.raises(DatasetError, match="action"):
        buf.add_batch(obs, act[:, :1], rew, nxt, term)
    with pytest.raises(DatasetError, match="rows"):
        buf.add_batch(obs, act, rew[:3], nxt, term)
    bad = obs.copy()
    bad[1, 1] = np.nan
    with pytest.raises(DatasetError, match="NaN"):
        buf.add_batch(bad, act, rew, nxt, term)
    with pytest.raises(DatasetError, match="empty"):
        buf.sample(1, torch.Generator())
    with pytest.raises(DatasetError):
        ReplayBuffer.from_arrays(np.zeros((0, 3)), np.zeros((0, 2)), [], np.zeros((0, 3)), [])
    assert len(buf) == 0  # nothing partially written


def test_state_dict_round_trip_through_torch_save() -> None:
    buf = ReplayBuffer(3, 2, capacity=6)
    buf.add_batch(*arrays(8))
    blob = io.BytesIO()
    torch.save(buf.state_dict(), blob)
    blob.seek(0)
    other = ReplayBuffer(3, 2, capacity=6)
    other.load_state_dict(torch.load(blob, weights_only=True))
    for name in ("obs", "action", "reward", "next_obs", "terminal"):
        assert torch.equal(getattr(buf, name), getattr(other, name))
    # the write position came along: the next add lands in the same row
    for b in (buf, other):
        b.add(np.ones(3), np.zeros(2), 9.0, np.ones(3), False)
    assert torch.equal(buf.reward, other.reward)
    with pytest.raises(DatasetError, match="capacity"):
        ReplayBuffer(3, 2, capacity=7).load_state_dict(buf.state_dict())
    with pytest.raises(DatasetError, match="corrupt"):
        other.load_state_dict({"obs": buf.obs})
