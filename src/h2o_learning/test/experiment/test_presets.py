"""Every shipped experiment preset loads, plans its runs and builds every run's config (a typo in
a preset fails here, not minutes into a grid)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from h2o_learning.experiment.plan import (
    CANDIDATE_GAPS,
    Preset,
    dataset_settings,
    load_preset,
    plan_runs,
    plan_tasks,
    run_config,
    train_command_range,
)
from h2o_learning.experiment.runner import _preset_names, dataset_paths
from h2o_robot_bridge.errors import ConfigError


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
    for name in (
        "move_micro",
        "move_quick",
        "move_quick_resid",
        "move_long",
        "focused",
        "focused_resid",
    ):
        preset = load_preset(name)
        data = preset.dataset_command_range
        trained = train_command_range(preset)
        assert data is not None and trained is not None, name
        assert data.forward[1] < trained.forward[1], name  # fast commands only in sim
        assert preset.dataset_track_fraction < 1.0, name


def test_method_train_reaches_only_its_method(tmp_path: Path) -> None:
    preset = load_preset("focused")
    paths = dataset_paths(preset, tmp_path)
    algos = {
        s.method: run_config(preset, s, paths, tmp_path / "runs").algo for s in plan_runs(preset)
    }
    assert algos["darc_plus"].disc_noise_std == 1.0 and algos["darc_plus"].darc_warmup_steps > 0
    assert algos["h2o"].disc_noise_std == 0.1 and algos["h2o"].darc_warmup_steps == 0
    assert {a.hidden for a in algos.values()} == {(64, 64)}  # the shared section still applies


def test_method_train_must_name_a_method_of_the_grid() -> None:
    with pytest.raises(ConfigError, match="method_train names 'h2o'"):
        Preset(name="x", methods=("sac",), method_train={"h2o": {"algo": {}}})
    with pytest.raises(ConfigError, match="may hold loop, algo, env"):
        Preset(name="x", methods=("sac",), method_train={"sac": {"data": {}}})


@pytest.mark.parametrize("size", [1, 2, 3, 5])
def test_tasks_stack_the_seeds_of_stackable_methods_only(size: int) -> None:
    preset = Preset(
        name="x", methods=("sac", "cql", "h2o"), gaps=("real", "gravity_x2"),
        datasets=("medium",), seeds=(0, 1, 2, 3, 4), stack_seeds=size,
    )  # fmt: skip
    runs = plan_runs(preset)
    tasks = plan_tasks(preset, runs)
    assert sorted(s.key for t in tasks for s in t) == sorted(s.key for s in runs)  # each once
    for task in tasks:
        first = task[0]
        assert len(task) <= (size if first.method != "cql" else 1)
        assert {(s.method, s.gap, s.dataset) for s in task} == {(first.method, first.gap,
                                                                first.dataset)}  # fmt: skip
        assert len({s.seed for s in task}) == len(task)
    stacks = [t for t in tasks if t[0].method == "sac" and t[0].gap == "real"]
    assert [len(t) for t in stacks] == [min(size, 5 - i) for i in range(0, 5, size)]
    with pytest.raises(ConfigError, match="stack_seeds >= 1"):
        Preset(name="x", stack_seeds=0)


def test_focused_resid_is_focused_h2o_with_the_residual_penalty_only(tmp_path: Path) -> None:
    # Its table is read next to focused's SAC / CQL / DARC+ columns: only the penalty may differ.
    base, resid = load_preset("focused"), load_preset("focused_resid")
    assert dataset_settings(resid) == dataset_settings(base)
    paths = dataset_paths(base, tmp_path)  # one data folder: focused's datasets, copied
    h2o = {s.key: s for s in plan_runs(base) if s.method == "h2o"}
    specs = plan_runs(resid)
    assert {s.key for s in specs} == set(h2o)
    for spec in specs:
        ours = run_config(resid, spec, paths, tmp_path / "runs")
        theirs = run_config(base, h2o[spec.key], paths, tmp_path / "runs")
        assert ours.algo.disc_residual_l2 == 1.0 and theirs.algo.disc_residual_l2 == 0.0
        assert replace(ours, algo=replace(ours.algo, disc_residual_l2=0.0)) == theirs
    assert {len(t) for t in plan_tasks(resid, specs)} == {3}  # each gap's seeds: one stack


def test_gap_calibration_is_focused_sac_in_other_simulators(tmp_path: Path) -> None:
    # Its shares are read next to focused's: the same SAC run but for the sim profile.
    base, calib = load_preset("focused"), load_preset("gap_calibration")
    paths = dataset_paths(base, tmp_path)
    sac = next(s for s in plan_runs(base) if s.method == "sac" and s.gap == "gravity_x2")
    theirs = run_config(base, sac, paths, tmp_path / "runs")
    specs = plan_runs(calib)
    assert {s.gap for s in specs} == set(CANDIDATE_GAPS) and {s.method for s in specs} == {"sac"}
    for spec in specs:
        ours = run_config(calib, spec, paths, tmp_path / "runs")
        assert ours.env.sim_dynamics == spec.gap != theirs.env.sim_dynamics
        same_sim = replace(ours.env, sim_dynamics=theirs.env.sim_dynamics)
        assert replace(ours, env=same_sim, seed=theirs.seed, name=theirs.name) == theirs
    assert {len(t) for t in plan_tasks(calib, specs)} == {3}
