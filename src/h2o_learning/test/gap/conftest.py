"""Small real datasets for the gap tests: the ``real`` profile stands in for the robot, so the
true dynamics are known and replay and calibration can be checked exactly."""

from __future__ import annotations

from pathlib import Path

import pytest

from h2o_robot_bridge.dataset import Dataset, load_dataset, save_dataset

GENTLE = 400
"""Rows of the gentle dataset (the classical controller + N(0, 0.05): wheels mostly roll)."""


@pytest.fixture(scope="session")
def gentle_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``h2o-collect --kind expert --steps 400`` in ``real`` (stand task)."""
    from h2o_sim.collect import collect_dataset

    data = collect_dataset("expert", GENTLE, task="stand", seed=0)
    return save_dataset(tmp_path_factory.mktemp("gap") / "gentle.h5", data)


@pytest.fixture(scope="session")
def gentle(gentle_path: Path) -> Dataset:
    """The gentle dataset, loaded (read only)."""
    return load_dataset(gentle_path)
