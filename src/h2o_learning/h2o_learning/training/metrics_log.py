"""Per-epoch metrics: ``metrics.csv`` (always), TensorBoard (optional), learning-curve PNGs.

Metric names are ``section/name`` (``train/critic_loss``, ``eval_real/return_mean``,
``eval_sim/return_mean``, ``rollout/episode_return``); the CSV has one row per epoch and one
column per name ever logged (empty where a metric was not logged that epoch, e.g. evaluation).
On resume the rows after the checkpoint's epoch are dropped, so the files match an
uninterrupted run.
"""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path
from typing import Any

EPOCH = "epoch"
REAL_RETURN = "eval_real/return_mean"
SIM_RETURN = "eval_sim/return_mean"
DIAGNOSTICS = (
    "train/disc_sas_acc",
    "train/weight_mean",
    "train/u_mean",
)
"""Plotted (all on a 0..1-ish scale) in a third panel when the algorithm reports them (H2O,
DARC); Q on real vs sim data and the rest are in metrics.csv and TensorBoard."""


class MetricsLog:
    """Collects per-epoch metric rows and writes them to CSV, TensorBoard and a PNG.

    Args:
        csv_path: ``metrics.csv``.
        tb_dir: TensorBoard folder, or None for no TensorBoard.
        resume_epoch: if given, keep only rows up to this epoch from an existing CSV and purge
            later TensorBoard steps.
    """

    def __init__(
        self, csv_path: Path, tb_dir: Path | None = None, resume_epoch: int | None = None
    ) -> None:
        self.csv_path = Path(csv_path)
        self.rows: list[dict[str, float]] = []
        if resume_epoch is not None and self.csv_path.is_file():
            self.rows = [r for r in read_metrics(self.csv_path) if r[EPOCH] <= resume_epoch]
        self._writer = None
        if tb_dir is not None:
            from torch.utils.tensorboard import SummaryWriter  # noqa: PLC0415 - slow import

            purge = None if resume_epoch is None else resume_epoch + 1
            self._writer = SummaryWriter(str(tb_dir), purge_step=purge)

    def log(self, epoch: int, metrics: dict[str, float]) -> None:
        """Record one epoch's metrics (finite or not) and rewrite the CSV."""
        row = {EPOCH: float(epoch), **{k: float(v) for k, v in metrics.items()}}
        self.rows.append(row)
        if self._writer is not None:
            for key, value in metrics.items():
                self._writer.add_scalar(key, float(value), global_step=epoch)
            self._writer.flush()
        write_metrics(self.csv_path, self.rows)

    def close(self) -> None:
        """Flush and close TensorBoard."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def write_metrics(path: Path, rows: list[dict[str, float]]) -> None:
    """Write rows (union of keys as columns, ``epoch`` first) atomically."""
    keys = sorted({k for r in rows for k in r} - {EPOCH})
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=[EPOCH, *keys], restval="")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _text(v) for k, v in row.items()})
    os.replace(tmp, path)


def read_metrics(path: Path) -> list[dict[str, float]]:
    """Rows of a ``metrics.csv``; empty cells are left out of a row."""
    with open(path, newline="") as fh:
        return [
            {k: float(v) for k, v in row.items() if v not in ("", None)}
            for row in csv.DictReader(fh)
        ]


def _text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else repr(value)


def plot_curves(rows: list[dict[str, float]], path: Path, title: str = "") -> Path | None:
    """Learning curves PNG: evaluation return (real vs sim), training losses and, for DARC/H2O,
    the dynamics-gap diagnostics per epoch.

    Returns the path, or None when there is nothing to plot yet.
    """
    if not rows:
        return None
    import matplotlib  # noqa: PLC0415 - slow import, only when plotting

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    diag = [k for k in DIAGNOSTICS if any(k in r for r in rows)]
    fig, axes = plt.subplots(1, 3 if diag else 2, figsize=(16 if diag else 11, 4))
    ax_eval, ax_loss = axes[0], axes[1]
    for key, label in ((REAL_RETURN, "real (eval)"), (SIM_RETURN, "sim (eval)")):
        xs, ys = _series(rows, key)
        if xs:
            ax_eval.plot(xs, ys, marker="o", label=label)
    ax_eval.set(xlabel="epoch", ylabel="episode return", title="evaluation return")
    ax_eval.legend(loc="best")
    for key in sorted({k for r in rows for k in r if k.startswith("train/") and "loss" in k}):
        xs, ys = _series(rows, key)
        ax_loss.plot(xs, ys, label=key.removeprefix("train/"))
    ax_loss.set(xlabel="epoch", title="training losses (epoch mean)", yscale="symlog")
    if ax_loss.lines:
        ax_loss.legend(loc="best", fontsize="small")
    if diag:
        for key in diag:
            xs, ys = _series(rows, key)
            axes[2].plot(xs, ys, label=key.removeprefix("train/"))
        axes[2].set(xlabel="epoch", title="dynamics-gap diagnostics (epoch mean)")
        axes[2].legend(loc="best", fontsize="small")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def _series(rows: list[dict[str, Any]], key: str) -> tuple[list[float], list[float]]:
    pairs = [(r[EPOCH], r[key]) for r in rows if key in r and math.isfinite(r[key])]
    return [p[0] for p in pairs], [p[1] for p in pairs]
