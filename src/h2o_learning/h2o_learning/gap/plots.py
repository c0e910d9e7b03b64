"""The report's pictures (matplotlib with the Agg backend, imported only when plotting)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from h2o_learning.gap.discriminator import DiscriminatorView
from h2o_learning.gap.metrics import PREDICTED_NAMES, Gap


def _pyplot() -> Any:
    import matplotlib  # noqa: PLC0415 - slow import, only when plotting

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    return plt


def per_dimension(gap: Gap, profile: str, path: Path, other: Gap | None = None) -> None:
    """Bar chart of nRMSE per predicted element (and a second profile's, e.g. after
    calibration)."""
    plt = _pyplot()
    y = np.arange(len(PREDICTED_NAMES))
    fig, ax = plt.subplots(figsize=(7, 5))
    h = 0.4 if other is not None else 0.8
    ax.barh(y - (h / 2 if other is not None else 0), gap.nrmse, h, label=profile)
    if other is not None:
        ax.barh(y + h / 2, other.nrmse, h, label="calibrated")
        ax.legend()
    ax.axvline(1.0, color="k", lw=0.8, ls="--")
    ax.set_yticks(y, PREDICTED_NAMES, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("nRMSE (replay RMSE / RMS real one-tick change; 1 = 'no change')")
    ax.set_title(f"one-tick replay gap per element, dynamics {profile}")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def regions(rows: list[dict[str, Any]], tolerance: float, path: Path) -> None:
    """Share of transitions within tolerance per region bin, one panel per variable."""
    plt = _pyplot()
    variables = list(dict.fromkeys(r["variable"] for r in rows))
    fig, axes = plt.subplots(1, max(len(variables), 1), figsize=(10, 3.2), squeeze=False)
    for ax, var in zip(axes[0], variables, strict=False):
        mine = [r for r in rows if r["variable"] == var]
        ax.bar(range(len(mine)), [100 * r["within_share"] for r in mine])
        ax.set_xticks(range(len(mine)), [r["bin"] for r in mine], rotation=30, fontsize=7)
        for i, r in enumerate(mine):
            ax.text(i, 2, f"n={r['n']}", ha="center", fontsize=6)
        ax.set_ylim(0, 100)
        ax.set_title(var, fontsize=9)
    axes[0][0].set_ylabel(f"% within tolerance {tolerance:g}")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def h2o_vs_replay(score: NDArray, disc: DiscriminatorView, path: Path) -> None:
    """Scatter of the replay score against H2O's u and w on the same transitions."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    for ax, values, name in ((axes[0], disc.u, "H2O u"), (axes[1], disc.weight, "H2O w")):
        ax.scatter(np.maximum(score, 1e-4), values, s=3, alpha=0.4)  # log axis: no 0
        ax.set_xscale("log")
        ax.set_xlabel("replay score (worst element error / RMS one-tick change)")
        ax.set_ylabel(name)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
