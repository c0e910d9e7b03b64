"""The experiment's outputs: markdown tables (mean ± population std over seeds), raw CSVs and
plots."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import numpy as np

from h2o_learning.algorithms import ALGORITHMS, algorithm_info
from h2o_learning.experiment.plan import Preset, RunSpec
from h2o_learning.training.metrics_log import EPOCH, REAL_RETURN, SIM_RETURN, read_metrics

RUN_FIELDS = ("key", "method", "gap", "dataset", "seed", "epochs", "minutes")


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
    preset: Preset, values: dict[tuple[str, str, str], list[float]], bold_best: bool
) -> str:
    """Rows (dataset, gap), columns methods; ``mean ± std`` with the population std over seeds
    (numpy's default, ddof 0); ``(n=k)`` when seeds are missing."""
    labels = [algorithm_info(m).label for m in preset.methods]
    header = "| dataset | gap | " + " | ".join(labels) + " |"
    lines = [header, "|---|---|" + "---|" * len(preset.methods)]
    for dataset in preset.datasets:
        for gap in preset.gaps:
            cells = [values.get((dataset, gap, m), []) for m in preset.methods]
            means = [float(np.mean(v)) if v else -math.inf for v in cells]
            best = int(np.argmax(means)) if bold_best and any(v for v in cells) else -1
            texts = [_cell(v, len(preset.seeds), i == best) for i, v in enumerate(cells)]
            lines.append(f"| {dataset} | {gap} | " + " | ".join(texts) + " |")
    return "\n".join(lines)


def _cell(values: list[float], seeds: int, bold: bool) -> str:
    if not values:
        return "–"
    text = f"{np.mean(values):.0f} ± {np.std(values):.0f}"
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
    preset: Preset, records: list[dict[str, Any]], specs: list[RunSpec], runs: Path, out: Path
) -> str:
    """``table.md``, ``runs.csv``, ``curves.csv``, ``curves.png``, ``real_vs_sim.png`` in
    ``out``; returns the markdown of ``table.md``."""
    out.mkdir(parents=True, exist_ok=True)
    real = cell_values(records, specs, preset, REAL_RETURN)
    sim = cell_values(records, specs, preset, SIM_RETURN)
    text = "\n".join(
        [
            f"# Experiment `{preset.name}`: {len(records)}/{len(specs)} runs finished",
            "",
            budget_text(preset) + ".",
            "",
            "## Return evaluated in `real` (the robot), mean ± population std (ddof 0) over seeds "
            "(best mean in bold)",
            "",
            markdown_table(preset, real, bold_best=True),
            "",
            "## The same policies evaluated in their simulator profile (the gap's dynamics), "
            "mean ± population std",
            "",
            markdown_table(preset, sim, bold_best=False),
            "",
            "SAC never sees real data (one run per gap and seed, repeated down its column); "
            "CQL never sees the simulator (one run per dataset and seed; no sim evaluation).",
        ]
    )
    (out / "table.md").write_text(text + "\n")
    _write_runs_csv(out / "runs.csv", records)
    curves = _curve_rows(runs, records)
    _write_curves_csv(out / "curves.csv", curves)
    _plot_curves(out / "curves.png", preset, specs, curves)
    _plot_real_vs_sim(out / "real_vs_sim.png", records)
    return text


def _write_runs_csv(path: Path, records: list[dict[str, Any]]) -> None:
    metrics = sorted({k for r in records for k in r if "/" in k})
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=[*RUN_FIELDS, *metrics], extrasaction="ignore")
        writer.writeheader()
        for rec in sorted(records, key=lambda r: r["key"]):
            writer.writerow(rec)


def _curve_rows(runs: Path, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
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
                             "sim_return": m.get(SIM_RETURN, "")})  # fmt: skip
    return rows


def _write_curves_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    fields = ["key", "method", "gap", "dataset", "seed", "epoch", "real_return", "sim_return"]
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
    """Mean real-evaluation return over seeds vs epoch, one panel per (dataset, gap)."""
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
                        curve.setdefault(r["epoch"], []).append(r["real_return"])
                if curve:
                    xs = sorted(curve)
                    ax.plot(xs, [np.mean(curve[x]) for x in xs], marker="o", color=f"C{k}",
                            label=algorithm_info(method).label)  # fmt: skip
            ax.set_title(f"{dataset} / {gap}", fontsize="small")
            ax.set_xlabel("epoch")
            if j == 0:
                ax.set_ylabel("return (real)")
    axes[0][0].legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def _plot_real_vs_sim(path: Path, records: list[dict[str, Any]]) -> None:
    """Each run's final return in its sim profile (x) vs in ``real`` (y)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.5, 5))
    for k, (method, info) in enumerate(ALGORITHMS.items()):
        pts = [(r[SIM_RETURN], r[REAL_RETURN]) for r in records
               if r["method"] == method and SIM_RETURN in r and REAL_RETURN in r]  # fmt: skip
        if pts:
            xs, ys = zip(*pts, strict=True)
            ax.scatter(xs, ys, color=f"C{k}", label=info.label, alpha=0.7)
    lims = ax.get_xlim()
    ax.plot(lims, lims, "k--", lw=0.8, label="real = sim")
    ax.set(xlabel="return evaluated in the sim profile", ylabel="return evaluated in real",
           title="is evaluating in the simulator misleading?")  # fmt: skip
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
