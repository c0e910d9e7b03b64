"""Every shipped experiment preset loads, plans its runs and builds every run's config (a typo in
a preset fails here, not minutes into a grid)."""

from __future__ import annotations

from pathlib import Path

import pytest

from h2o_learning.experiment.plan import load_preset, plan_runs, run_config, train_command_range
from h2o_learning.experiment.runner import _preset_names, dataset_paths


@pytest.mark.parametrize("name", _preset_names())
def test_preset_builds_every_run_config(name: str, tmp_path: Path) -> None:
    preset = load_preset(name)
    specs = plan_runs(preset)
    assert specs, name
    paths = dataset_paths(preset, tmp_path)
    configs = [run_config(preset, s, paths, tmp_path / "runs") for s in specs]
    assert {c.env.task for c in configs} == {preset.task}
    assert len({s.key for s in specs}) == len(specs)  # no two runs share a folder


def test_the_move_presets_train_on_more_commands_than_their_data_hold() -> None:
    for name in ("move_micro", "move_quick", "move_quick_resid"):
        preset = load_preset(name)
        data = preset.dataset_command_range
        trained = train_command_range(preset)
        assert data is not None and trained is not None, name
        assert data.forward[1] < trained.forward[1], name  # fast commands only in sim
        assert preset.dataset_track_fraction < 1.0, name
