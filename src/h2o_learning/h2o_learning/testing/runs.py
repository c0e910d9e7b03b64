"""Helpers of the trainer's tests: a run of seconds, and comparing runs exactly."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import torch

from h2o_learning.training.config import TrainConfig, load_config

TINY = [
    "loop.sim_steps_per_epoch=60",
    "loop.grad_steps_per_epoch=8",
    "loop.warmup_steps=30",
    "loop.eval_every=2",
    "loop.eval_max_steps=25",
    "algo.hidden=[16, 16]",
    "algo.disc_hidden=[16, 16]",
    "algo.batch_size=16",
    "algo.disc_batch_size=16",
    "run.progress=false",
    "run.tensorboard=false",
]


def tiny(data: Path | None, *extra: str, algorithm: str = "h2o") -> TrainConfig:
    """``smoke_h2o`` at :data:`TINY` (epochs of 60 sim and 8 gradient steps) on ``data``."""
    sets = [*TINY, f"algorithm={algorithm}", f"data.path={data or 'null'}", *extra]
    return load_config("smoke_h2o", sets)


def assert_same_state(a: Any, b: Any, where: str = "state") -> None:
    """Nested dicts/lists of tensors and values are exactly equal (``where`` names the first
    difference)."""
    if isinstance(a, dict):
        assert set(a) == set(b), where
        for k in a:
            assert_same_state(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same_state(x, y, f"{where}[{i}]")
    elif torch.is_tensor(a):
        assert torch.equal(a, b), where
    else:
        assert a == b, where


def metric_rows(path: Path) -> list[dict[str, str]]:
    """The rows of a run's ``metrics.csv``."""
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))
