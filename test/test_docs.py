"""The README and docs stand on their own: links resolve, and the experiment numbers the README
quotes follow from the stored runs (``docs/results/runs.csv``).

Cheap (text and one CSV, no training). See ``docs/results/SOURCES.md`` for every claim's source.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
RESULTS = ROOT / "docs" / "results"
DOCS = sorted([README, *(ROOT / "docs").rglob("*.md"), *(ROOT / "test" / "fixtures").glob("*.md")])
LINK = re.compile(r"\]\(([^)\s]+)\)")
GAPS = ("gravity_x2", "friction_x0.3", "joint_noise")
DATASETS = ("medium", "medium-replay", "medium-expert")
METHODS = ("sac", "cql", "darc", "darc_plus", "h2o")


def cells() -> dict[tuple[str, str, str], tuple[float, float]]:
    """(method, dataset, gap) -> (mean, population std) of the seeds' final `real` returns.

    SAC has one run set per gap (no dataset), CQL one per dataset (no gap): both are repeated
    across the table, as the experiment's report does."""
    runs: dict[tuple[str, str, str], list[float]] = {}
    with open(RESULTS / "runs.csv", newline="") as f:
        for row in csv.DictReader(f):
            key = (row["method"], row["dataset"], row["gap"])
            runs.setdefault(key, []).append(float(row["eval_real/return_mean"]))
    out = {}
    for m in METHODS:
        for d in DATASETS:
            for g in GAPS:
                key = (m, "" if m == "sac" else d, "" if m == "cql" else g)
                values = np.array(runs[key])
                assert len(values) == 3, key
                out[(m, d, g)] = (float(values.mean()), float(values.std()))  # ddof 0
    return out


def margin_counts(a: str, b: str) -> tuple[int, int, int]:
    """Cells where a's mean is above b's; where by more than the larger of the two stds; where
    b's mean is above a's by more than the larger std."""
    c = cells()
    higher = counts_a = counts_b = 0
    for d in DATASETS:
        for g in GAPS:
            (ma, sa), (mb, sb) = c[(a, d, g)], c[(b, d, g)]
            higher += ma > mb
            counts_a += ma - mb > max(sa, sb)
            counts_b += mb - ma > max(sa, sb)
    return higher, counts_a, counts_b


def table_rows(text: str, first_header: str) -> list[str]:
    """The data rows of the first markdown table after the line containing ``first_header``."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if first_header in line)
    rows = []
    for line in lines[start + 1 :]:
        if line.startswith("| dataset"):
            continue
        if not line.startswith("|"):
            if rows:
                break
            continue
        if not line.startswith("|---"):
            rows.append(line.strip())
    return rows


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(doc: Path) -> None:
    for target in LINK.findall(doc.read_text()):
        if target.startswith(("http://", "https://", "#", "mailto:")):
            continue
        path = (doc.parent / target.split("#")[0]).resolve()
        assert path.exists(), f"{doc.relative_to(ROOT)}: broken link {target}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_docs_point_only_inside_the_repo(doc: Path) -> None:
    text = doc.read_text()
    assert "../shared" not in text and "shared/" not in text, doc


def test_readme_experiment_table_is_the_stored_one() -> None:
    readme = table_rows(README.read_text(), "Quick preset, return in `real`")
    stored = table_rows((RESULTS / "table.md").read_text(), "## Return evaluated in `real`")
    assert readme == stored and len(stored) == 9


def test_stored_table_cells_are_mean_and_population_std_of_runs_csv() -> None:
    c = cells()
    for row in table_rows((RESULTS / "table.md").read_text(), "## Return evaluated in `real`"):
        d, g, *values = [v.strip().strip("*") for v in row.strip("|").split("|")]
        for m, text in zip(METHODS, values, strict=True):
            mean, std = c[(m, d, g)]
            assert text == f"{mean:.0f} ± {std:.0f}", (m, d, g)


def test_readme_margin_counts() -> None:
    """'H2O against SAC / DARC / DARC+ / CQL' in the README and docs/results/README.md."""
    assert margin_counts("h2o", "sac") == (5, 1, 3)
    assert margin_counts("h2o", "darc") == (9, 9, 0)
    assert margin_counts("h2o", "darc_plus") == (5, 3, 1)
    assert margin_counts("cql", "h2o") == (9, 9, 0)
    c = cells()
    for d in DATASETS:  # CQL has the highest mean in every cell
        for g in GAPS:
            assert max(METHODS, key=lambda m: c[(m, d, g)][0]) == "cql"


def test_readme_sim_vs_real_counts() -> None:
    """Sim evaluation below `real` for gravity_x2 in 9 of 10 run sets, by more than the larger
    std for SAC and H2O on medium and medium-replay; within the larger std in 18 of 20 for the
    other gaps (CQL has no sim evaluation)."""
    runs: dict[tuple[str, str, str], list[tuple[float, float]]] = {}
    with open(RESULTS / "runs.csv", newline="") as f:
        for row in csv.DictReader(f):
            if row["method"] != "cql":
                key = (row["method"], row["dataset"], row["gap"])
                real, sim = float(row["eval_real/return_mean"]), float(row["eval_sim/return_mean"])
                runs.setdefault(key, []).append((real, sim))
    below, beyond, within = {}, {}, {}
    for (m, d, g), pairs in runs.items():
        real, sim = np.array(pairs).T
        larger = max(real.std(), sim.std())
        below[g] = below.get(g, 0) + (sim.mean() < real.mean())
        if abs(sim.mean() - real.mean()) > larger:
            beyond.setdefault(g, set()).add((m, d))
        else:
            within[g] = within.get(g, 0) + 1
    assert len(runs) == 30 and below["gravity_x2"] == 9
    assert beyond["gravity_x2"] == {("sac", ""), ("h2o", "medium"), ("h2o", "medium-replay")}
    assert within["friction_x0.3"] + within["joint_noise"] == 18


def test_readme_demo_discriminator_numbers() -> None:
    """The demo runs' last-epoch H2O statistics the README and docs/algorithm.md quote."""
    for seed in (0, 1, 2):
        m = json.loads((RESULTS / "demo" / f"seed{seed}" / "results.json").read_text())
        m = m["train"]["h2o"]["metrics"]
        assert 0.0205 <= m["train/weight_mean"] < 0.0225
        assert -3.955 < m["train/log_ratio_mean"] <= -3.935
        assert 0.99955 <= m["train/disc_sas_acc"] < 0.99975


def _controls(folder: str) -> dict[tuple[str, str], list[dict[str, str]]]:
    """(method, gap) -> the stored runs of a controls preset's ``runs.csv``."""
    out: dict[tuple[str, str], list[dict[str, str]]] = {}
    with open(RESULTS / folder / "runs.csv", newline="") as f:
        for row in csv.DictReader(f):
            out.setdefault((row["method"], row["gap"]), []).append(row)
    return out


def _stat(rows: list[dict[str, str]], column: str, digits: int) -> str:
    values = np.array([float(r[column]) for r in rows])
    assert len(values) == 3, column  # three seeds
    return f"{values.mean():.{digits}f} ± {values.std():.{digits}f}"  # population std


def test_readme_controls_table_is_the_stored_runs() -> None:
    plain = _controls("controls")
    variants = (
        ("default (input noise 0.1)", plain),
        ("input noise 1.0 (DARC's)", _controls("controls_noise")),
        ("input noise 2.0", _controls("controls_noise2")),
        ("residual penalty 1.0", _controls("controls_resid")),
        ("residual penalty 1.0, input noise 1.0", _controls("controls_resid_noise")),
        ("trained for 100 steps, then fixed", _controls("controls_early100")),
        ("trained for 200 steps, then fixed", _controls("controls_early200")),
        ("trained for 500 steps, then fixed", _controls("controls_early500")),
        ("trained for 2000 steps, then fixed", _controls("controls_early2000")),
    )
    expected = []
    for label, runs in variants:
        for gap, shown in (("real", "none (`real`)"), ("gravity_x2", "`gravity_x2`")):
            h2o, sac = runs[("h2o", gap)], plain[("sac", gap)]
            acc = np.mean([float(r["control/disc_sas_acc"]) for r in h2o])
            expected.append(
                f"| {label} | {shown} | {_stat(h2o, 'control/weight_mean', 3)} | {acc:.2f} | "
                f"{_stat(h2o, 'score/real', 0)} | {_stat(sac, 'score/real', 0)} |"
            )
    assert table_rows(README.read_text(), "| H2O discriminators |") == expected


def test_readme_move_table_is_the_stored_runs() -> None:
    runs = _controls("move_quick")
    resid = _controls("move_quick_resid")
    expected = []
    for gap, shown in (("real", "none (`real`)"), ("gravity_x2", "`gravity_x2`")):
        cells = [runs[(m, gap if m != "cql" else "")] for m in ("sac", "cql", "darc_plus", "h2o")]
        cells.append(resid[("h2o", gap)])
        expected.append(
            f"| {shown} | " + " | ".join(_stat(c, "score/real", 0) for c in cells) + " |"
        )
    assert table_rows(README.read_text(), "| move_quick gap |") == expected
    behaviour = json.loads((RESULTS / "move_quick" / "behaviour.json").read_text())
    in_place = next(r for r in behaviour["rows"] if r["fraction"] == 0.0)
    assert round(in_place["score"]) == 77  # "balancing in place scores 77"


def _window_mean(rows: list[dict[str, str]], column: str) -> float:
    """Mean of ``column`` over a run's last 3 evaluations (the score window)."""
    rows = sorted(rows, key=lambda r: int(r["epoch"]))[-3:]
    return float(np.mean([float(r[column]) for r in rows]))


def test_readme_focused_table_is_the_stored_runs() -> None:
    runs = _controls("focused")
    resid = _controls("focused_resid")
    expected = []
    for gap, shown in (
        ("real", "none (`real`)"),
        ("gravity_x2", "`gravity_x2`"),
        ("friction_x0.3", "`friction_x0.3`"),
    ):
        cells = [runs[(m, gap if m != "cql" else "")] for m in ("sac", "cql", "darc_plus", "h2o")]
        cells.append(resid[("h2o", gap)])
        expected.append(
            f"| {shown} | " + " | ".join(_stat(c, "score/real", 0) for c in cells) + " |"
        )
    assert table_rows(README.read_text(), "| focused gap |") == expected
    # What each gap costs sim-only SAC: 1 - real / sim of its last 3 evaluations (curves.csv).
    curves: dict[str, list[dict[str, str]]] = {}
    with open(RESULTS / "focused" / "curves.csv", newline="") as f:
        for row in csv.DictReader(f):
            if row["method"] == "sac":
                curves.setdefault(row["key"], []).append(row)
    costs: dict[str, list[float]] = {}
    for rows in curves.values():
        real, sim = _window_mean(rows, "real_return"), _window_mean(rows, "sim_return")
        costs.setdefault(rows[0]["gap"], []).append(100 * (1 - real / sim))
    text = " ".join(README.read_text().split())
    for gap in ("gravity_x2", "friction_x0.3"):
        assert len(costs[gap]) == 3, gap
        quoted = f"{np.mean(costs[gap]):.0f} ± {np.std(costs[gap]):.0f} %"
        assert quoted in text, (gap, quoted)


def test_readme_gap_calibration_is_the_stored_runs() -> None:
    runs = _controls("gap_calibration")
    text = " ".join(README.read_text().split())
    for gap, label in (("gravity_x0.5", "gravity x0.5"), ("motor_x2", "motors x2")):
        rows = runs[("sac", gap)]
        real = np.array([float(r["window/real_return"]) for r in rows])
        sim = np.array([float(r["window/sim_return"]) for r in rows])
        cost = 100 * (1 - real / sim)
        assert f"{label} {cost.mean():.0f} ± {cost.std():.0f} %" in text, (gap, cost)
        assert _stat(rows, "score/real", 0) in text, gap
