"""``h2o-experiment`` at the micro preset: the whole grid runs as local Ray tasks; every table
cell is the mean ± population std of the raw runs.csv it was built from, each run's result is
its own last logged evaluation, each score is its last evaluations normalised by the measured
references (random policy 0, classical controller 100), and the plots exist; a second call
resumes (finds everything finished) and bad presets are clear errors. The micro budget learns
nothing: these tests check the bookkeeping from run to table, not what the policies score."""

from __future__ import annotations

import csv
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from h2o_learning.experiment.plan import NO_GAP, load_preset, plan_runs
from h2o_learning.experiment.report import SCORE_REAL, SCORE_SIM
from h2o_learning.experiment.scores import SCORE_WINDOW
from h2o_learning.training.metrics_log import REAL_RETURN, SIM_RETURN, read_metrics
from h2o_robot_bridge.config_files import config_file
from h2o_robot_bridge.dataset import load_dataset
from h2o_robot_bridge.dataset.info import dataset_info
from h2o_robot_bridge.testing.processes import find_executable

CELL = re.compile(r"^(\*\*)?-?\d+ ± \d+(\*\*)?$")


def _experiment(
    *args: str, timeout: float = 240, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    argv = [find_executable("h2o-experiment"), *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env)


@pytest.fixture(scope="module")
def micro(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess]:
    out = tmp_path_factory.mktemp("experiment")
    return out, _experiment("--preset", "micro", "--out", str(out))


def _table_rows(markdown: str) -> list[list[list[str]]]:
    """The cells of each markdown table in the text (header and separator removed)."""
    tables, current = [], []
    for line in markdown.splitlines() + [""]:
        if line.startswith("|"):
            current.append([c.strip() for c in line.strip("|").split("|")])
        elif current:
            tables.append(current[2:])
            current = []
    return tables


def _runs(out: Path) -> list[dict[str, str]]:
    with open(out / "results" / "runs.csv") as fh:
        return list(csv.DictReader(fh))


def _expected_cell(runs: list[dict[str, str]], method: str, dataset: str, gap: str, metric: str):
    """(mean, population std) of ``metric`` over the runs filling a cell, from runs.csv alone:
    a run with no dataset (SAC) fills its gap's cells of every dataset, a run with no gap (CQL)
    its dataset's cells of every gap."""
    values = [
        float(r[metric])
        for r in runs
        if r["method"] == method
        and r["dataset"] in ("", dataset)
        and r["gap"] in ("", gap)
        and r[metric] != ""
    ]
    return (float(np.mean(values)), float(np.std(values))) if values else None


def test_micro_table_matches_the_raw_runs(micro) -> None:
    out, proc = micro
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    preset = load_preset("micro")
    text = (out / "results" / "table.md").read_text()
    assert f"{len(plan_runs(preset))}/{len(plan_runs(preset))} runs finished" in text
    assert "population std" in text  # the table says which std it prints
    header = "| dataset | gap | SAC | CQL | DARC | DARC+ | H2O |"
    # scores in real, scores in sim, raw returns in real; then the critics' TD targets
    assert text.count(header) == 4
    assert "`critic/target_q_mean`:" in text and "`critic/q_real_mean`:" in text
    runs = _runs(out)
    tables = _table_rows(text)[:3]
    for rows, metric in zip(tables, (SCORE_REAL, SCORE_SIM, REAL_RETURN), strict=True):
        assert {(r[0], r[1]) for r in rows} == {
            (d, g) for d in preset.datasets for g in preset.gaps
        }
        for row in rows:
            means = {}
            for method, cell in zip(preset.methods, row[2:], strict=True):
                want = _expected_cell(runs, method, row[0], row[1], metric)
                if want is None:  # CQL has no simulator to be evaluated in
                    assert metric == SCORE_SIM and method == "cql" and cell == "–", cell
                    continue
                assert CELL.match(cell), cell
                assert cell.strip("*") == f"{want[0]:.0f} ± {want[1]:.0f}", (method, cell, want)
                means[method] = (want[0], cell.startswith("**"))
            if metric == SCORE_REAL:  # the best mean, and only it, is bold
                best = max(means, key=lambda m: means[m][0])
                assert [m for m, (_, bold) in means.items() if bold] == [best], means


def test_micro_scores_are_the_last_evaluations_normalised_by_the_references(micro) -> None:
    out, _ = micro
    refs = json.loads((out / "references.json").read_text())["profiles"]
    assert set(refs) == {NO_GAP, "gravity_x2"}
    for ref in refs.values():  # the controller stands; random actions do worse
        assert ref["classical"] > ref["random"], ref
    runs = _runs(out)
    for r in runs:
        rows = read_metrics(out / "runs" / r["key"] / "metrics.csv")
        for metric, column, profile in ((REAL_RETURN, SCORE_REAL, NO_GAP),
                                        (SIM_RETURN, SCORE_SIM, r["gap"])):  # fmt: skip
            logged = [m[metric] for m in rows if metric in m][-SCORE_WINDOW:]
            if not logged:  # CQL: no sim evaluation, no sim score
                assert r["method"] == "cql" and r[column] == "", r
                continue
            ref = refs[profile]
            want = 100 * (np.mean(logged) - ref["random"]) / (ref["classical"] - ref["random"])
            assert float(r[column]) == pytest.approx(want, rel=1e-9), (r["key"], column)
    h2o = [r for r in runs if r["method"] == "h2o"]
    assert h2o and all(float(r["control/weight_mean"]) > 0 for r in h2o)
    assert all(r["control/weight_mean"] == "" for r in runs if r["method"] in ("sac", "cql"))


def test_micro_raw_csvs_and_plots(micro) -> None:
    out, _ = micro
    preset = load_preset("micro")
    runs = _runs(out)
    assert len(runs) == len(plan_runs(preset)) == 10
    assert {r["method"] for r in runs} == set(preset.methods)
    assert {r["seed"] for r in runs} == {"0", "1"}
    with open(out / "results" / "curves.csv") as fh:
        curves = list(csv.DictReader(fh))
    assert {c["key"] for c in curves} == {r["key"] for r in runs}
    for r in runs:
        # Each run's result is its last evaluation, as logged in its own metrics.csv.
        logged = [
            m for m in read_metrics(out / "runs" / r["key"] / "metrics.csv") if REAL_RETURN in m
        ]
        assert logged, r["key"]
        assert float(r[REAL_RETURN]) == pytest.approx(logged[-1][REAL_RETURN], rel=1e-9)
        mine = [c for c in curves if c["key"] == r["key"]]
        assert [float(c["real_return"]) for c in mine] == pytest.approx(
            [m[REAL_RETURN] for m in logged], rel=1e-9
        )
        # A return is a sum of per-step rewards over at most eval_max_steps steps.
        steps = preset.train["loop"]["eval_max_steps"]
        assert 0 < float(r["eval_real/length_mean"]) <= steps
    for name in ("curves.png", "real_vs_sim.png"):
        assert (out / "results" / name).stat().st_size > 1000
    assert (out / "datasets" / "medium.h5").is_file()
    # The behaviour data are documented with the table: what h2o-dataset info says of them.
    with open(out / "results" / "datasets.csv") as fh:
        (row,) = list(csv.DictReader(fh))
    info = dataset_info(load_dataset(out / "datasets" / "medium.h5"))
    assert row["kind"] == "medium" and int(row["rows"]) == info["rows"] == preset.dataset_steps
    assert int(row["episodes"]) == info["episodes"]["count"] >= 1
    assert float(row["return_mean"]) == pytest.approx(info["returns"]["mean"])
    assert "## Behaviour datasets" in (out / "results" / "table.md").read_text()


def test_micro_trains_the_seeds_of_sac_and_h2o_as_seed_stacks(micro) -> None:
    """``stack_seeds: 2``: SAC's and H2O's two seeds ran as one task each (a seed stack),
    still two runs with their own folders and results; the other methods ran alone."""
    out, _ = micro
    preset = load_preset("micro")
    assert preset.stack_seeds == 2
    stacked = {}
    for spec in plan_runs(preset):
        record = json.loads((out / "runs" / spec.key / "result.json").read_text())
        want = [0, 1] if spec.method in ("sac", "h2o") else None
        assert record["stack_seeds"] == want, spec.key
        if want:
            stacked.setdefault(spec.method, []).append(record[REAL_RETURN])
            assert not (out / "runs" / spec.key / "checkpoints").exists()
    for method, returns in stacked.items():
        assert len(returns) == 2 and returns[0] != returns[1], method  # two runs, not one


def test_second_call_resumes_without_training(micro) -> None:
    out, _ = micro
    proc = _experiment("--preset", "micro", "--out", str(out), timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "10 finished, 0 to run" in proc.stdout


def test_finished_runs_of_another_config_are_not_reused(micro, tmp_path: Path) -> None:
    # The same grid (same run keys) with one budget number changed, pointed at the micro runs:
    # skipping them as "finished" would put micro-budget results under this preset's name.
    out, _ = micro
    text = config_file("h2o_learning", "experiment/micro.yaml").read_text()
    edited = tmp_path / "micro.yaml"
    edited.write_text(text.replace("grad_steps_per_epoch: 10", "grad_steps_per_epoch: 11"))
    assert edited.read_text() != text
    table = (out / "results" / "table.md").stat().st_mtime_ns
    proc = _experiment("--preset", str(edited), "--out", str(out), timeout=120)
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "10 finished run(s)" in proc.stderr and "another config" in proc.stderr
    assert (out / "results" / "table.md").stat().st_mtime_ns == table  # no table written


def test_move_micro_runs_commanded_runs_on_slow_mediocre_data(tmp_path: Path) -> None:
    """A commanded task end to end through Ray: the behaviour data hold only the slow commands
    of the preset's data range and record the mediocre tracking fraction; the runs train on
    the wider range; every evaluation and both score references use the same spread commands."""
    from h2o_robot_bridge.contract import CommandRange, episode_commands
    from h2o_robot_bridge.dataset import load_dataset

    proc = _experiment("--preset", "move_micro", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    preset = load_preset("move_micro")
    assert preset.task == "move_straight" and preset.dataset_command_range is not None
    data = load_dataset(tmp_path / "datasets" / "medium.h5", task="move_straight")
    assert data.meta["command_range"] == preset.dataset_command_range.to_list()
    assert data.meta["source"]["stretches"][0]["track_fraction"] == 0.5
    train = CommandRange.parse(preset.train["env"]["command_range"])
    refs = json.loads((tmp_path / "references.json").read_text())
    want = [list(c) for c in episode_commands(train, 3)]  # one reference episode per run episode
    assert refs["settings"]["commands"] == want and len(refs["settings"]["seeds"]) == 3
    for run in plan_runs(preset):
        config = (tmp_path / "runs" / run.key / "config.yaml").read_text()
        assert "command_range" in config and "move_straight" in config
    text = (tmp_path / "results" / "table.md").read_text()
    assert "2/2 runs finished" in text


def test_bad_preset_is_a_clear_error(tmp_path: Path) -> None:
    proc = _experiment("--preset", "huge", "--out", str(tmp_path), timeout=60)
    assert proc.returncode == 2 and "preset 'huge' not found" in proc.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("methods: [sac, ppo]\n")
    proc = _experiment("--preset", str(bad), "--out", str(tmp_path), timeout=60)
    assert proc.returncode == 2 and "ppo" in proc.stderr


def test_runs_on_an_existing_ray_cluster(tmp_path: Path) -> None:
    # A one-node "cluster" started like a user's head node, then the grid sent to it by address.
    # --block keeps the head in the foreground: stopping this process stops exactly its cluster
    # (`ray stop` would stop every Ray instance on the machine).
    # Token authentication, as Ray clusters use it (their default from Ray 2.59): the head and
    # the driver share a token, here a fresh one, so nothing is read from ~/.ray.
    port = 20000 + os.getpid() % 20000
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(16)}
    # A short session folder: Ray's socket paths must fit in 107 bytes (pytest's do not).
    ray_tmp = Path(tempfile.mkdtemp(prefix="h2oray"))
    log_path = tmp_path / "head.log"  # a file: an unread pipe would fill and block the head
    with open(log_path, "w") as log:
        head = subprocess.Popen(
            [find_executable("ray"), "start", "--head", "--block", f"--port={port}",
             "--num-cpus=2", "--include-dashboard=false", f"--temp-dir={ray_tmp}"],
            stdout=log, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
    try:
        _wait_for_port(port, head, log_path)
        out = tmp_path / "exp"
        proc = _experiment(
            "--preset", "micro", "--out", str(out), "--address", f"127.0.0.1:{port}",
            "--max-runs", "1", timeout=240, env=env,
        )  # fmt: skip
        assert "on the Ray cluster at 127.0.0.1" in proc.stdout, proc.stdout + proc.stderr
        # The run finished on the cluster, gathered into --out like a local one; the rest
        # remain (exit 1: not every run is done).
        assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
        assert len(list((out / "runs").glob("*/result.json"))) == 1
        assert len(_runs(out)) == 1
    finally:
        head.terminate()
        head.wait(timeout=60)
        shutil.rmtree(ray_tmp, ignore_errors=True)


def _wait_for_port(port: int, head: subprocess.Popen, log: Path, timeout: float = 60.0) -> None:
    """Until the head's GCS accepts connections (or the head died: its log says why)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert head.poll() is None, log.read_text()[-3000:]
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1.0).close()
            return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"the Ray head did not listen on {port} in {timeout} s")


def test_an_unreachable_cluster_is_a_clear_error_at_once(tmp_path: Path) -> None:
    proc = _experiment(
        "--preset", "micro", "--out", str(tmp_path), "--address", "127.0.0.1:1", timeout=120
    )
    assert proc.returncode == 2 and "no Ray cluster answers at 127.0.0.1:1" in proc.stderr
