"""A finished run is reused only with the preset's config *and* its data: the run config names
a dataset by path, so the dataset's settings are recorded and compared too."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from h2o_learning.experiment.plan import (
    Preset,
    dataset_settings,
    load_preset,
    plan_runs,
    run_config,
)
from h2o_learning.experiment.runner import (
    RESULT,
    ExperimentError,
    check_finished_configs,
    dataset_paths,
)
from h2o_learning.training.config import config_hash
from h2o_robot_bridge.contract import CommandRange


def _finish(preset: Preset, out: Path, data: dict | None) -> None:
    """Write each run's result record as a finished run of ``preset`` would (no training)."""
    root, paths = out / "runs", dataset_paths(preset, out)
    for spec in plan_runs(preset):
        record = {
            "key": spec.key,
            "config_hash": config_hash(run_config(preset, spec, paths, root)),
        }
        if data is not None:
            record["dataset_settings"] = data
        (root / spec.key).mkdir(parents=True)
        (root / spec.key / RESULT).write_text(json.dumps(record))


def _check(preset: Preset, out: Path) -> None:
    check_finished_configs(preset, plan_runs(preset), dataset_paths(preset, out), out / "runs")


def test_runs_with_the_presets_data_are_reused(tmp_path: Path) -> None:
    preset = load_preset("move_micro")
    _finish(preset, tmp_path, dataset_settings(preset))
    _check(preset, tmp_path)  # no error


@pytest.mark.parametrize(
    "change",
    [
        {"dataset_track_fraction": 0.8},
        {"dataset_command_range": CommandRange(forward=(0.0, 0.4), yaw=(-0.5, 0.5))},
        {"dataset_steps": 999},
        {"dataset_seed": 7},
    ],
)
def test_runs_of_other_data_are_refused(tmp_path: Path, change: dict) -> None:
    trained = load_preset("move_micro")
    _finish(trained, tmp_path, dataset_settings(trained))
    edited = dataclasses.replace(trained, **change)
    with pytest.raises(ExperimentError, match="another config") as err:
        _check(edited, tmp_path)
    assert "its data" in str(err.value)


def test_runs_from_before_data_were_recorded(tmp_path: Path) -> None:
    # Old records had no dataset settings; their data had one command and full tracking.
    plain = load_preset("micro")
    _finish(plain, tmp_path / "plain", None)
    _check(plain, tmp_path / "plain")
    ranged = load_preset("move_micro")
    _finish(ranged, tmp_path / "ranged", None)
    with pytest.raises(ExperimentError, match="its data"):
        _check(ranged, tmp_path / "ranged")
