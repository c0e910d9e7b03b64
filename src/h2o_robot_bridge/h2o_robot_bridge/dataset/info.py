"""Dataset inspection: size, episodes, returns, rates, gaps and per-field statistics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from h2o_robot_bridge.contract import ACTION_NAMES, OBS_FIELDS, OBS_SLICES
from h2o_robot_bridge.dataset.schema import Dataset, discontinuities, episode_bounds


def _stats(x: np.ndarray) -> dict[str, float]:
    if not x.size:
        return {
            "mean": float("nan"),
            "std": float("nan"),
            "min": float("nan"),
            "max": float("nan"),
        }
    return {
        "mean": float(np.mean(x)),
        "std": float(np.std(x)),
        "min": float(np.min(x)),
        "max": float(np.max(x)),
    }


def _command_span(data: Dataset) -> dict[str, list[float]] | None:
    """Smallest and largest command of the rows, per axis (None for an empty dataset)."""
    if data.size == 0:
        return None
    cmd = data.observations[:, OBS_SLICES["command"]].astype(np.float64)
    lo, hi = cmd.min(axis=0), cmd.max(axis=0)
    return {
        "forward": [round(float(lo[0]), 4), round(float(hi[0]), 4)],
        "yaw": [round(float(lo[1]), 4), round(float(hi[1]), 4)],
    }


def dataset_info(data: Dataset, path: str | Path | None = None) -> dict[str, Any]:
    """Summary of a dataset as a JSON-friendly dict.

    Keys: ``rows``, ``file_bytes``, ``task``, ``control_hz``, ``duration_s``, ``episodes``
    (count, falls, truncations, length stats [rows]), ``returns`` (per-episode sum of rewards),
    ``reward`` (per-row stats), ``discontinuities`` (rows inside an episode whose
    ``next_observation`` is not the next row's ``observation``: 0 for a well-formed dataset),
    ``gaps`` (from the conversion record, if any), ``observations`` (per-field stats),
    ``actions`` (per-joint stats), ``source``.
    """
    meta = data.meta
    hz = float(meta.get("control_hz", float("nan")))
    bounds = episode_bounds(data)
    lengths = np.array([b - a for a, b in bounds], dtype=float)
    returns = np.array([data.rewards[a:b].sum() for a, b in bounds], dtype=float)
    conversion = meta.get("conversion", {}).get("align", {})
    return {
        "path": str(path) if path is not None else None,
        "rows": data.size,
        "file_bytes": Path(path).stat().st_size if path is not None else None,
        "task": meta.get("task"),
        "command": meta.get("command"),
        "command_range": meta.get("command_range"),
        "commands_seen": _command_span(data),
        "control_hz": hz,
        "duration_s": data.size / hz if hz > 0 else None,
        "episodes": {
            "count": len(bounds),
            "falls": int(data.terminals.sum()),
            "truncations": int(data.timeouts.sum()),
            "length": _stats(lengths),
        },
        "returns": _stats(returns),
        "reward": _stats(data.rewards),
        "discontinuities": int(discontinuities(data).size),
        "gaps": {
            "lost_transitions": conversion.get("lost_transitions", {}),
            "dropped_ticks": conversion.get("dropped_ticks", {}),
            "measured_tick_rate_hz": conversion.get("tick_rate_hz"),
            "max_tick_interval_s": conversion.get("max_tick_interval_s"),
        },
        "observations": {
            name: _stats(data.observations[:, OBS_SLICES[name]]) for name, _ in OBS_FIELDS
        },
        "actions": {name: _stats(data.actions[:, i]) for i, name in enumerate(ACTION_NAMES)},
        "source": meta.get("source", {}),
        "created": meta.get("created"),
    }


def _rate(gaps: dict[str, Any]) -> str:
    hz, worst = gaps.get("measured_tick_rate_hz"), gaps.get("max_tick_interval_s")
    if hz is None:
        return "n/a (not converted from a log)"
    return f"{hz:.2f} Hz, longest interval {1e3 * (worst or 0.0):.1f} ms"


def format_info(info: dict[str, Any]) -> str:
    """Human-readable text of :func:`dataset_info`."""

    def s(d: dict[str, float], unit: str = "") -> str:
        return (
            f"mean {d['mean']:.4g}{unit} std {d['std']:.4g} min {d['min']:.4g} max {d['max']:.4g}"
        )

    ep = info["episodes"]
    size = f", {info['file_bytes'] / 1e6:.2f} MB" if info["file_bytes"] is not None else ""
    lines = [
        f"dataset: {info['path']}{size}",
        f"task: {info['task']} (command {info['command']}), control rate {info['control_hz']} Hz,"
        f" {info['rows']} transitions = {info['duration_s']:.1f} s",
        f"commands in the rows: {info['commands_seen']}"
        + (f" (drawn from {info['command_range']})" if info["command_range"] else ""),
        f"source: {info['source']}  created {info['created']}",
        f"episodes: {ep['count']} ({ep['falls']} falls, {ep['truncations']} truncations); "
        f"length [rows] {s(ep['length'])}",
        f"returns: {s(info['returns'])}",
        f"reward per step: {s(info['reward'])}",
        f"discontinuities inside episodes: {info['discontinuities']}",
        f"gaps (conversion): lost transitions {info['gaps']['lost_transitions'] or 'none'}, "
        f"dropped ticks {info['gaps']['dropped_ticks'] or 'none'}",
        f"measured tick rate: {_rate(info['gaps'])}",
        "observations:",
    ]
    lines += [f"  {k:18s} {s(v)}" for k, v in info["observations"].items()]
    lines.append("actions:")
    lines += [f"  {k:18s} {s(v)}" for k, v in info["actions"].items()]
    return "\n".join(lines)
