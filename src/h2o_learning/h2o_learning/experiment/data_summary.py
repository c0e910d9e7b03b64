"""The behaviour datasets of a grid, documented next to its table: what each holds and how good
its behaviour is (episodes, falls, returns, reward per row, commands covered), from
:func:`~h2o_robot_bridge.dataset.dataset_info`, the summary ``h2o-dataset info`` prints."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from h2o_robot_bridge.dataset import load_dataset
from h2o_robot_bridge.dataset.info import dataset_info

DATASET_FIELDS = (
    "kind", "rows", "episodes", "falls", "return_mean", "return_std", "episode_rows_mean",
    "reward_per_row", "forward_min", "forward_max", "yaw_min", "yaw_max", "behaviour",
)  # fmt: skip
"""Columns of ``datasets.csv`` (returns are per episode: sums of the rows' rewards)."""


def dataset_rows(paths: dict[str, Path]) -> list[dict[str, Any]]:
    """One row per dataset (``kind`` -> file), in kind order."""
    return [_row(kind, path) for kind, path in sorted(paths.items())]


def _row(kind: str, path: Path) -> dict[str, Any]:
    info = dataset_info(load_dataset(path), path)
    episodes, span = info["episodes"], info["commands_seen"] or {}
    stretches = info["source"].get("stretches", [])
    behaviour = "; ".join(
        f"{s.get('steps')} rows noise {s.get('noise_std')} random {s.get('random_from')}->"
        f"{s.get('random_to')} tracking {s.get('track_fraction', 1.0)}"
        for s in stretches
    )
    forward, yaw = span.get("forward", [None, None]), span.get("yaw", [None, None])
    return {
        "kind": kind,
        "rows": info["rows"],
        "episodes": episodes["count"],
        "falls": episodes["falls"],
        "return_mean": info["returns"]["mean"],
        "return_std": info["returns"]["std"],
        "episode_rows_mean": episodes["length"]["mean"],
        "reward_per_row": info["reward"]["mean"],
        "forward_min": forward[0],
        "forward_max": forward[1],
        "yaw_min": yaw[0],
        "yaw_max": yaw[1],
        "behaviour": behaviour,
    }


def datasets_section(rows: list[dict[str, Any]]) -> list[str]:
    """Markdown lines: the datasets' table (empty without datasets)."""
    if not rows:
        return []
    lines = [
        "## Behaviour datasets (the `real` data; per-episode returns, mean ± population std)",
        "",
        "| dataset | rows | episodes (falls) | return | rows per episode | reward per row "
        "| forward command [m/s] | yaw command [rad/s] |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['kind']} | {r['rows']} | {r['episodes']} ({r['falls']}) "
            f"| {r['return_mean']:.0f} ± {r['return_std']:.0f} | {r['episode_rows_mean']:.0f} "
            f"| {r['reward_per_row']:.3f} | {r['forward_min']} to {r['forward_max']} "
            f"| {r['yaw_min']} to {r['yaw_max']} |"
        )
    lines += ["", "Behaviours (`h2o-collect` stretches of the classical controller):", ""]
    return [*lines, *(f"- `{r['kind']}`: {r['behaviour']}" for r in rows), ""]


def write_datasets_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    """``datasets.csv``: :data:`DATASET_FIELDS` per dataset."""
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(DATASET_FIELDS))
        writer.writeheader()
        writer.writerows(rows)
