"""Fixtures of the trainer tests: a small real dataset recorded with ``h2o-collect``'s code."""

from __future__ import annotations

from pathlib import Path

import pytest

from h2o_robot_bridge.dataset import save_dataset


@pytest.fixture(scope="session")
def real_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 1500-transition ``medium`` stand dataset from the ``real`` profile."""
    from h2o_sim.collect import collect_dataset

    data = collect_dataset("medium", 1500, task="stand", seed=0)
    return save_dataset(tmp_path_factory.mktemp("data") / "medium.h5", data)
