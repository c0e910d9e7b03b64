"""Checkpoint files: an atomic write, a safe read (``weights_only``), and their checks.

A checkpoint is one ``torch.save`` of a plain dict (tensors, numbers, strings, lists, dicts):
nothing in it is unpickled as code. Keys written by the trainer:

- ``format``: :data:`CHECKPOINT_FORMAT`; ``contract``: :func:`contract_metadata`;
- ``config`` (the resolved config as a dict) and ``config_hash``;
- ``epoch`` (epochs completed), ``env_steps``, ``episodes``, ``grad_steps``;
- ``algorithm``: the algorithm's ``state_dict()``; ``sim_buffer``: the online buffer's;
- ``rng``: numpy generator state and torch generator states;
- ``dataset``: path, size and fingerprint of the real dataset used;
- ``selection`` (only in :data:`BEST_CHECKPOINT`): the metric and value it was selected on.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from h2o_robot_bridge.contract import check_contract_metadata, contract_metadata
from h2o_robot_bridge.errors import ContractMismatchError, H2OError

CHECKPOINT_FORMAT = "h2o-checkpoint/1"
REQUIRED_KEYS = ("format", "contract", "config", "config_hash", "epoch", "algorithm")
BEST_CHECKPOINT = "best.pt"
"""The best evaluated epoch's checkpoint, next to the epoch checkpoints (never pruned)."""


class CheckpointError(H2OError):
    """A checkpoint file is missing, corrupt, or not an h2o training checkpoint."""


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> Path:
    """Write ``payload`` (plus format and contract keys) atomically: tmp file, fsync, rename.

    A kill during the write leaves the previous checkpoint intact.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    full = {"format": CHECKPOINT_FORMAT, "contract": contract_metadata(), **payload}
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        torch.save(full, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return path


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read and check a checkpoint (``torch.load(..., weights_only=True)``, CPU tensors).

    Raises:
        CheckpointError: missing, unreadable/corrupt, wrong format, or keys missing.
        ContractMismatchError: written under another robot contract.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} not found")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for truncated/garbage files
        raise CheckpointError(
            f"{path}: not a readable checkpoint ({type(err).__name__}: "
            f"{str(err).splitlines()[0] if str(err) else ''})"
        ) from err
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        got = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise CheckpointError(f"{path}: format {got!r}, expected {CHECKPOINT_FORMAT!r}")
    missing = [k for k in REQUIRED_KEYS if k not in payload]
    if missing:
        raise CheckpointError(f"{path}: missing keys {missing}")
    try:
        check_contract_metadata(payload["contract"], str(path))
    except ContractMismatchError:
        raise
    except Exception as err:
        raise CheckpointError(f"{path}: bad contract metadata: {err}") from err
    return payload


def checkpoint_name(epoch: int) -> str:
    """File name of the checkpoint after ``epoch`` epochs."""
    return f"epoch_{epoch:05d}.pt"


def checkpoint_epoch(path: str | Path) -> int:
    """The epoch of a checkpoint file named by :func:`checkpoint_name`.

    Raises:
        CheckpointError: another name.
    """
    stem = Path(path).stem
    try:
        return int(stem.removeprefix("epoch_"))
    except ValueError:
        raise CheckpointError(f"{path}: not an epoch checkpoint (epoch_NNNNN.pt)") from None


def latest_checkpoint(folder: str | Path) -> Path | None:
    """The checkpoint with the most epochs in ``folder``, or None."""
    found = sorted(Path(folder).glob("epoch_*.pt"))
    return found[-1] if found else None
