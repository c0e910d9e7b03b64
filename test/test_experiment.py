"""``h2o-experiment`` at the micro preset: the whole grid runs in parallel processes and gives a
well-formed table (every cell mean ± std), the raw CSVs and the plots; a second call resumes
(finds everything finished) and bad presets are clear errors."""

from __future__ import annotations

import csv
import re
import subprocess
from pathlib import Path

import pytest

from h2o_learning.experiment.plan import load_preset, plan_runs
from h2o_robot_bridge.testing.processes import find_executable

CELL = re.compile(r"^(\*\*)?-?\d+ ± \d+(\*\*)?$")


def _experiment(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    argv = [find_executable("h2o-experiment"), *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)


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


def test_micro_table_is_well_formed(micro) -> None:
    out, proc = micro
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    preset = load_preset("micro")
    text = (out / "results" / "table.md").read_text()
    assert f"{len(plan_runs(preset))}/{len(plan_runs(preset))} runs finished" in text
    header = "| dataset | gap | SAC | CQL | DARC | DARC+ | H2O |"
    assert text.count(header) == 2
    real, sim = _table_rows(text)
    assert len(real) == len(preset.datasets) * len(preset.gaps)
    for row in real:
        assert row[0] in preset.datasets and row[1] in preset.gaps
        assert all(CELL.match(c) for c in row[2:]), row
        assert sum(c.startswith("**") for c in row[2:]) == 1  # the best is bold
    for row in sim:  # CQL has no simulator to be evaluated in
        assert row[3] == "–" and all(CELL.match(c) for i, c in enumerate(row[2:]) if i != 1)


def test_micro_raw_csvs_and_plots(micro) -> None:
    out, _ = micro
    preset = load_preset("micro")
    with open(out / "results" / "runs.csv") as fh:
        runs = list(csv.DictReader(fh))
    assert len(runs) == len(plan_runs(preset)) == 10
    assert {r["method"] for r in runs} == set(preset.methods)
    assert {r["seed"] for r in runs} == {"0", "1"}
    assert all(float(r["eval_real/return_mean"]) > 0 for r in runs)
    with open(out / "results" / "curves.csv") as fh:
        curves = list(csv.DictReader(fh))
    assert {c["key"] for c in curves} == {r["key"] for r in runs}
    for name in ("curves.png", "real_vs_sim.png"):
        assert (out / "results" / name).stat().st_size > 1000
    assert (out / "datasets" / "medium.h5").is_file()


def test_second_call_resumes_without_training(micro) -> None:
    out, _ = micro
    proc = _experiment("--preset", "micro", "--out", str(out), timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "10 finished, 0 to run" in proc.stdout


def test_bad_preset_is_a_clear_error(tmp_path: Path) -> None:
    proc = _experiment("--preset", "huge", "--out", str(tmp_path), timeout=60)
    assert proc.returncode == 2 and "preset 'huge' not found" in proc.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("methods: [sac, ppo]\n")
    proc = _experiment("--preset", str(bad), "--out", str(tmp_path), timeout=60)
    assert proc.returncode == 2 and "ppo" in proc.stderr
