"""Checkpoint files: round trip, atomic write, corrupt/foreign files refused clearly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from h2o_learning.training.checkpoint import (
    CHECKPOINT_FORMAT,
    CheckpointError,
    latest_checkpoint,
    load_checkpoint,
    save_checkpoint,
)
from h2o_robot_bridge.contract import contract_metadata
from h2o_robot_bridge.errors import ContractMismatchError, H2OError


def payload() -> dict:
    rng = np.random.default_rng(5)
    rng.random(3)
    return {
        "config": {"name": "x", "algorithm": "sac"},
        "config_hash": "abc",
        "epoch": 3,
        "algorithm": {"w": torch.arange(6.0).reshape(2, 3), "steps": 7},
        "rng": {"numpy": rng.bit_generator.state, "torch": torch.get_rng_state()},
    }


def test_round_trip_keeps_tensors_and_rng_state(tmp_path: Path) -> None:
    path = save_checkpoint(tmp_path / "c" / "epoch_00003.pt", payload())
    loaded = load_checkpoint(path)
    assert loaded["format"] == CHECKPOINT_FORMAT and loaded["contract"] == contract_metadata()
    assert torch.equal(loaded["algorithm"]["w"], torch.arange(6.0).reshape(2, 3))
    rng = np.random.default_rng()
    rng.bit_generator.state = loaded["rng"]["numpy"]
    original = np.random.default_rng(5)
    original.random(3)
    assert rng.random() == original.random()
    assert not list(path.parent.glob("*.tmp"))


def test_latest_checkpoint_picks_most_epochs(tmp_path: Path) -> None:
    assert latest_checkpoint(tmp_path) is None
    for epoch in (2, 10, 9):
        save_checkpoint(tmp_path / f"epoch_{epoch:05d}.pt", payload())
    assert latest_checkpoint(tmp_path).name == "epoch_00010.pt"


@pytest.mark.parametrize("kind", ["garbage", "truncated", "empty"])
def test_corrupt_files_raise_checkpoint_error(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "bad.pt"
    if kind == "garbage":
        path.write_bytes(b"this is not a checkpoint" * 10)
    elif kind == "truncated":
        good = save_checkpoint(tmp_path / "good.pt", payload()).read_bytes()
        path.write_bytes(good[: len(good) // 2])
    else:
        path.write_bytes(b"")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "nope.pt")


def test_foreign_torch_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "weights.pt"
    torch.save({"state_dict": {"w": torch.zeros(2)}}, path)
    with pytest.raises(CheckpointError, match="format"):
        load_checkpoint(path)


def test_pickled_code_is_never_executed(tmp_path: Path) -> None:
    path = tmp_path / "evil.pt"
    torch.save({"format": CHECKPOINT_FORMAT, "obj": Path("/x")}, path)  # a non-tensor class
    with pytest.raises(CheckpointError):
        load_checkpoint(path)


def test_other_contract_is_refused(tmp_path: Path) -> None:
    path = save_checkpoint(tmp_path / "c.pt", payload())
    data = torch.load(path, weights_only=True)
    data["contract"] = {**data["contract"], "contract_version": "other-robot/9"}
    torch.save(data, path)
    with pytest.raises(ContractMismatchError, match="contract_version"):
        load_checkpoint(path)


def test_missing_keys_are_named(tmp_path: Path) -> None:
    data = payload()
    del data["algorithm"]
    path = save_checkpoint(tmp_path / "c.pt", data)
    with pytest.raises(CheckpointError, match="algorithm"):
        load_checkpoint(path)
    assert issubclass(CheckpointError, H2OError)
