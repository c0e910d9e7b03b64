"""The experiment's outputs: markdown tables (normalised scores, mean ± population std over
seeds; the controls; the sim-vs-real rank correlation), raw CSVs and plots."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import numpy as np

from h2o_learning.algorithms import ALGORITHMS, algorithm_info
from h2o_learning.experiment.data_summary import (
    dataset_rows,
    datasets_section,
    write_datasets_csv,
)
from h2o_learning.experiment.plan import NO_GAP, Preset, RunSpec
from h2o_learning.experiment.scores import SCORE_WINDOW, References, window_mean
from h2o_learning.gap.metrics import rank_correlation
from h2o_learning.training.metrics_log import EPOCH, REAL_RETURN, SIM_RETURN, read_metrics

RUN_FIELDS = ("key", "method", "gap", "dataset", "seed", "epochs", "minutes")
SCORE_REAL, SCORE_SIM = "score/real", "score/sim"
"""A run's normalised score (mean of its last SCORE_WINDOW evaluations) in real / its sim."""
WINDOW_REAL, WINDOW_SIM = "window/real_return", "window/sim_return"
"""A run's raw return, mean of its last SCORE_WINDOW evaluations, in real / its sim."""
CONTROLS = {
    "control/weight_mean": "train/weight_mean",
    "control/disc_sas_acc": "train/disc_sas_acc",
}
"""runs.csv column -> the training metric it averages over a run's last SCORE_WINDOW epochs
(H2O's mean importance weight of sim samples and its s-a-s' discriminator accuracy)."""
CRITICS = {
    "critic/q_real_mean": "train/q_real_mean",
    "critic/target_q_mean": "train/target_q_mean",
}
"""runs.csv column -> the critic statistic it averages over a run's last SCORE_WINDOW epochs
(mean Q on a batch's real samples, for methods that train on them; mean TD target of every
method): a value far above the largest discounted return is a diverging critic."""


def scored_records(
    records: list[dict[str, Any]], runs: Path, refs: dict[str, References]
) -> list[dict[str, Any]]:
    """``records`` with each run's scores and control metrics added, from its ``metrics.csv``
    (real scored against ``refs[NO_GAP]``, sim against the run's gap profile)."""
    out = []
    for rec in records:
        path = runs / rec["key"] / "metrics.csv"
        rows = read_metrics(path) if path.is_file() else []
        real, sim = window_mean(rows, REAL_RETURN), window_mean(rows, SIM_RETURN)
        extra = {SCORE_REAL: refs[NO_GAP].score(real), WINDOW_REAL: real, WINDOW_SIM: sim}
        if rec.get("gap") in refs:
            extra[SCORE_SIM] = refs[rec["gap"]].score(sim)
        for column, metric in (CONTROLS | CRITICS).items():
            extra[column] = window_mean(rows, metric)
        out.append({**rec, **{k: v for k, v in extra.items() if math.isfinite(v)}})
    return out


def cell_values(
    records: list[dict[str, Any]], specs: list[RunSpec], preset: Preset, metric: str
) -> dict[tuple[str, str, str], list[float]]:
    """(dataset, gap, method) -> the metric over the finished seeds (SAC/CQL fill a row or
    column of cells, as in the paper's table)."""
    by_key = {s.key: s for s in specs}
    out: dict[tuple[str, str, str], list[float]] = {}
    for rec in records:
        spec, value = by_key.get(rec["key"]), rec.get(metric)
        if spec is None or value is None or not math.isfinite(value):
            continue
        for dataset, gap in spec.cells(preset):
            out.setdefault((dataset, gap, spec.method), []).append(float(value))
    return out


def markdown_table(
    preset: Preset,
    values: dict[tuple[str, str, str], list[float]],
    bold_best: bool,
    methods: tuple[str, ...] | None = None,
    digits: int = 0,
) -> str:
    """Rows (dataset, gap), columns ``methods`` (default: the preset's); ``mean ± std`` with the
    population std over seeds (numpy's default, ddof 0) at ``digits`` decimals; ``(n=k)`` when
    seeds are missing."""
    methods = methods or preset.methods
    labels = [algorithm_info(m).label for m in methods]
    header = "| dataset | gap | " + " | ".join(labels) + " |"
    lines = [header, "|---|---|" + "---|" * len(methods)]
    for dataset in preset.datasets:
        for gap in preset.gaps:
            cells = [values.get((dataset, gap, m), []) for m in methods]
            means = [float(np.mean(v)) if v else -math.inf for v in cells]
            best = int(np.argmax(means)) if bold_best and any(v for v in cells) else -1
            texts = [_cell(v, len(preset.seeds), i == best, digits) for i, v in enumerate(cells)]
            lines.append(f"| {dataset} | {gap} | " + " | ".join(texts) + " |")
    return "\n".join(lines)


def _cell(values: list[float], seeds: int, bold: bool, digits: int = 0) -> str:
    if not values:
        return "–"
    text = f"{np.mean(values):.{digits}f} ± {np.std(values):.{digits}f}"
    text = f"**{text}**" if bold else text
    return text if len(values) >= seeds else f"{text} (n={len(values)})"


def budget_text(preset: Preset) -> str:
    """One line describing the training budget of the preset."""
    loop, algo = preset.train.get("loop", {}), preset.train.get("algo", {})
    parts = [f"{k}={v}" for k, v in {**loop, **algo}.items()]
    return (
        f"preset `{preset.name}`: seeds {list(preset.seeds)}, datasets of "
        f"{preset.dataset_steps} transitions, overrides of `{preset.base}`: " + ", ".join(parts)
    )


def write_results(
    preset: Preset,
    records: list[dict[str, Any]],
    specs: list[RunSpec],
    runs: Path,
    out: Path,
    refs: dict[str, References],
    datasets: dict[str, Path] | None = None,
) -> str:
    """``table.md``, ``runs.csv``, ``curves.csv``, ``curves.png``, ``real_vs_sim.png`` (and
    ``datasets.csv``) in ``out``; returns the markdown of ``table.md``. ``refs``: the score
    references of ``real`` and of each gap profile
    (:func:`~h2o_learning.experiment.runner.ensure_references`); ``datasets``: the behaviour
    datasets (kind -> file) the runs trained on, documented in both."""
    out.mkdir(parents=True, exist_ok=True)
    data_rows = dataset_rows(datasets or {})
    records = scored_records(records, runs, refs)
    std = "mean ± population std (ddof 0) over seeds"
    window = f"each run's mean over its last {SCORE_WINDOW} evaluations"
    text = "\n".join(
        [
            f"# Experiment `{preset.name}`: {len(records)}/{len(specs)} runs finished",
            "",
            budget_text(preset) + ".",
            "",
            f"## Score in `real` (the robot): 0 = random policy, 100 = classical controller; "
            f"{window}, {std} (best mean in bold)",
            "",
            markdown_table(preset, cell_values(records, specs, preset, SCORE_REAL), True),
            "",
            f"## The same policies scored in their simulator profile (the gap's dynamics, "
            f"against the references in that profile), {std}",
            "",
            markdown_table(preset, cell_values(records, specs, preset, SCORE_SIM), False),
            "",
            f"## Raw return in `real` at the last evaluation, {std}",
            "",
            markdown_table(preset, cell_values(records, specs, preset, REAL_RETURN), False),
            "",
            *_gap_cost_section(preset, records),
            *_controls_section(preset, records, specs),
            *_critics_section(preset, records, specs),
            *_rank_section(preset, records),
            *datasets_section(data_rows),
            "## Score references (mean return over the runs' evaluation seeds)",
            "",
            references_table(refs),
            "",
            "SAC never sees real data (one run per gap and seed, repeated down its column); "
            "CQL never sees the simulator (one run per dataset and seed; no sim evaluation).",
        ]
    )
    (out / "table.md").write_text(text + "\n")
    _write_runs_csv(out / "runs.csv", records)
    if data_rows:
        write_datasets_csv(out / "datasets.csv", data_rows)
    curves = _curve_rows(runs, records, refs[NO_GAP])
    _write_curves_csv(out / "curves.csv", curves)
    _plot_curves(out / "curves.png", preset, specs, curves)
    _plot_real_vs_sim(out / "real_vs_sim.png", records)
    return text


def gap_costs(preset: Preset, records: list[dict[str, Any]]) -> dict[str, list[float]]:
    """Gap -> each sim-only run's share of its return lost when moved from its simulator to
    ``real``, ``1 - real / sim`` of its window means (SAC: it never sees real data, so this is
    what the gap costs a policy that trusts the simulator; the no-gap row is 0 by design)."""
    sim_only = {m for m in preset.methods if not algorithm_info(m).uses_real}
    out: dict[str, list[float]] = {}
    for rec in records:
        real, sim = rec.get(WINDOW_REAL), rec.get(WINDOW_SIM)
        if rec["method"] in sim_only and real is not None and sim is not None and sim > 0:
            out.setdefault(rec["gap"], []).append(1.0 - real / sim)
    return out


def _gap_cost_section(preset: Preset, records: list[dict[str, Any]]) -> list[str]:
    costs = gap_costs(preset, records)
    if not costs:
        return []
    rows = [
        f"| {gap} | {100 * np.mean(costs[gap]):.0f} ± {100 * np.std(costs[gap]):.0f} % "
        f"| {len(costs[gap])} |"
        for gap in preset.gaps
        if gap in costs
    ]
    return [
        "## What each gap costs a policy that trusts the simulator: the share of a sim-only "
        f"run's return (last {SCORE_WINDOW} evaluations) lost in `real` against its simulator, "
        "mean ± population std over runs",
        "",
        "| gap | share lost | runs |",
        "|---|---|---|",
        *rows,
        "",
    ]


def _controls_section(
    preset: Preset, records: list[dict[str, Any]], specs: list[RunSpec]
) -> list[str]:
    """H2O's importance weight and discriminator accuracy per cell (the controls: ~1 and ~0.5
    where sim = real, low and high where the dynamics differ)."""
    if "h2o" not in preset.methods:
        return []
    lines = [
        f"## Controls: H2O's mean importance weight w of sim samples and its s-a-s' "
        f"discriminator accuracy (last {SCORE_WINDOW} epochs), mean ± population std",
        "",
        f"With gap `{NO_GAP}` (sim = real) a weight that measures the dynamics gap is ~1 and the "
        "accuracy ~0.5; where the dynamics differ, the weight is below 1. "
        + ("This grid has the no-gap row." if NO_GAP in preset.gaps else
           "This grid has no no-gap row: the control is not run."),
        "",
    ]  # fmt: skip
    for column, digits in (("control/weight_mean", 3), ("control/disc_sas_acc", 2)):
        values = cell_values(records, specs, preset, column)
        table = markdown_table(preset, values, False, ("h2o",), digits)
        lines += [f"`{column}`:", "", table, ""]
    return lines


def _critics_section(
    preset: Preset, records: list[dict[str, Any]], specs: list[RunSpec]
) -> list[str]:
    """Each method's critic values per cell (a diverging critic shows here before in a score)."""
    tables: list[str] = []
    for column in CRITICS:
        values = cell_values(records, specs, preset, column)
        methods = tuple(m for m in preset.methods if any(k[2] == m for k in values))
        if methods:
            tables += [f"`{column}`:", "", markdown_table(preset, values, False, methods), ""]
    if not tables:
        return []
    return [
        f"## The critics: mean Q on real samples and mean TD target (last {SCORE_WINDOW} "
        "epochs), mean ± population std over seeds",
        "",
        "A discounted return is at most the largest reward per tick / (1 - gamma); a critic far "
        "above that diverges. Only the methods that train on real data have a Q on real samples.",
        "",
        *tables,
    ]


def rank_correlations(
    preset: Preset, records: list[dict[str, Any]]
) -> dict[str, tuple[float, int]]:
    """Gap -> (Spearman correlation of the runs' sim and real scores, runs): does ranking
    policies in the simulator rank them as the robot would? ``all``: every gap together."""
    out: dict[str, tuple[float, int]] = {}
    for gap in (*preset.gaps, "all"):
        pts = [(r[SCORE_SIM], r[SCORE_REAL]) for r in records
               if SCORE_SIM in r and SCORE_REAL in r and gap in ("all", r.get("gap"))]  # fmt: skip
        sim, real = (np.array(v) for v in zip(*pts, strict=True)) if pts else ([], [])
        out[gap] = (rank_correlation(np.asarray(sim), np.asarray(real)), len(pts))
    return out


def _rank_section(preset: Preset, records: list[dict[str, Any]]) -> list[str]:
    rows = [f"| {gap} | {rho:.2f} | {n} |" for gap, (rho, n) in rank_correlations(
        preset, records).items()]  # fmt: skip
    return [
        "## Is evaluating in the simulator misleading? Spearman rank correlation of each run's "
        "sim score and real score (1: the simulator ranks policies as the robot does)",
        "",
        "| gap | Spearman | runs |",
        "|---|---|---|",
        *rows,
        "",
    ]


def references_table(refs: dict[str, References]) -> str:
    """Profile, random policy's return, classical controller's return, episodes."""
    lines = ["| profile | random policy (score 0) | classical controller (100) | episodes |",
             "|---|---|---|---|"]  # fmt: skip
    for name, ref in refs.items():
        lines.append(f"| {name} | {ref.random:.1f} | {ref.classical:.1f} | {ref.episodes} |")
    return "\n".join(lines)


def _write_runs_csv(path: Path, records: list[dict[str, Any]]) -> None:
    metrics = sorted({k for r in records for k in r if "/" in k})
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=[*RUN_FIELDS, *metrics], extrasaction="ignore")
        writer.writeheader()
        for rec in sorted(records, key=lambda r: r["key"]):
            writer.writerow(rec)


def _curve_rows(
    runs: Path, records: list[dict[str, Any]], real: References
) -> list[dict[str, Any]]:
    rows = []
    for rec in records:
        path = runs / rec["key"] / "metrics.csv"
        if not path.is_file():
            continue
        for m in read_metrics(path):
            if REAL_RETURN in m:
                rows.append({"key": rec["key"], "method": rec["method"], "gap": rec["gap"],
                             "dataset": rec["dataset"], "seed": rec["seed"],
                             "epoch": int(m[EPOCH]), "real_return": m[REAL_RETURN],
                             "real_score": real.score(m[REAL_RETURN]),
                             "sim_return": m.get(SIM_RETURN, "")})  # fmt: skip
    return rows


def _write_curves_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    fields = ["key", "method", "gap", "dataset", "seed", "epoch", "real_return", "real_score",
              "sim_return"]  # fmt: skip
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)


def _plt() -> Any:
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    return plt


def _plot_curves(
    path: Path, preset: Preset, specs: list[RunSpec], rows: list[dict[str, Any]]
) -> None:
    """Mean real-evaluation score over seeds vs epoch, one panel per (dataset, gap)."""
    plt = _plt()
    by_key = {s.key: s for s in specs}
    nd, ng = len(preset.datasets), len(preset.gaps)
    fig, axes = plt.subplots(nd, ng, figsize=(4.5 * ng, 3.2 * nd), squeeze=False, sharey=True)
    for i, dataset in enumerate(preset.datasets):
        for j, gap in enumerate(preset.gaps):
            ax = axes[i][j]
            for k, method in enumerate(preset.methods):
                curve: dict[int, list[float]] = {}
                for r in rows:
                    spec = by_key.get(r["key"])
                    if spec and spec.method == method and (dataset, gap) in spec.cells(preset):
                        curve.setdefault(r["epoch"], []).append(r["real_score"])
                if curve:
                    xs = sorted(curve)
                    ax.plot(xs, [np.mean(curve[x]) for x in xs], marker="o", color=f"C{k}",
                            label=algorithm_info(method).label)  # fmt: skip
            ax.set_title(f"{dataset} / {gap}", fontsize="small")
            ax.set_xlabel("epoch")
            if j == 0:
                ax.set_ylabel("score in real (100 = classical)")
    axes[0][0].legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def _plot_real_vs_sim(path: Path, records: list[dict[str, Any]]) -> None:
    """Each run's score in its sim profile (x) vs in ``real`` (y), one colour per method."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.5, 5))
    for k, (method, info) in enumerate(ALGORITHMS.items()):
        pts = [(r[SCORE_SIM], r[SCORE_REAL]) for r in records
               if r["method"] == method and SCORE_SIM in r and SCORE_REAL in r]  # fmt: skip
        if pts:
            xs, ys = zip(*pts, strict=True)
            ax.scatter(xs, ys, color=f"C{k}", label=info.label, alpha=0.7)
    lims = ax.get_xlim()
    ax.plot(lims, lims, "k--", lw=0.8, label="real = sim")
    ax.set(xlabel="score in the sim profile (100 = classical there)",
           ylabel="score in real (100 = classical)",
           title="is evaluating in the simulator misleading?")  # fmt: skip
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
