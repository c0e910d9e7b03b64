"""Plot one episode of a dataset (observations, actions, rewards over time) as a PNG."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from h2o_robot_bridge.contract import ACTION_NAMES, OBS_FIELDS, OBS_NAMES, OBS_SLICES
from h2o_robot_bridge.dataset.schema import Dataset, episode_bounds
from h2o_robot_bridge.errors import DatasetError

UNITS = {
    "projected_gravity": "[1]",
    "base_ang_vel": "[rad/s]",
    "leg_pos": "[rad]",
    "joint_vel": "[rad/s]",
    "forward_vel": "[m/s]",
    "command": "[m/s, rad/s]",
}


def plot_episode(data: Dataset, episode: int, out: str | Path, title: str = "") -> Path:
    """Draw episode ``episode`` (0-based; negative counts from the end) into ``out`` (PNG).

    Raises:
        DatasetError: no such episode.
    """
    import matplotlib

    matplotlib.use("Agg")  # files only: works without a display
    import matplotlib.pyplot as plt

    bounds = episode_bounds(data)
    if not -len(bounds) <= episode < len(bounds):
        raise DatasetError(f"episode {episode} does not exist (the dataset has {len(bounds)})")
    start, stop = bounds[episode]
    hz = float(data.meta.get("control_hz", 1.0))
    t = np.arange(stop - start) / hz
    fields = [name for name, _ in OBS_FIELDS if name != "prev_action"]
    fig, axes = plt.subplots(
        len(fields) + 2, 1, figsize=(10, 2.0 * (len(fields) + 2)), sharex=True
    )
    obs = data.observations[start:stop]
    for ax, name in zip(axes, fields, strict=False):
        sl = OBS_SLICES[name]
        for i in range(sl.start, sl.stop):
            ax.plot(t, obs[:, i], label=OBS_NAMES[i].split(".", 1)[-1], lw=1)
        ax.set_ylabel(f"{name}\n{UNITS.get(name, '')}", fontsize=8)
        ax.legend(fontsize=6, loc="upper right", ncol=3)
    ax = axes[-2]
    for i, name in enumerate(ACTION_NAMES):
        ax.plot(t, data.actions[start:stop, i], label=name, lw=1)
    ax.set_ylabel("action\n[-1, 1]", fontsize=8)
    ax.legend(fontsize=6, loc="upper right", ncol=3)
    ax = axes[-1]
    ax.plot(t, data.rewards[start:stop], color="k", lw=1)
    end = "fall" if data.terminals[stop - 1] else "truncated"
    ax.set_ylabel("reward", fontsize=8)
    ax.set_xlabel("time [s]")
    ret = float(data.rewards[start:stop].sum())
    fig.suptitle(
        f"{title} episode {episode}: {stop - start} steps, return {ret:.2f}, ends: {end}",
        fontsize=10,
    )
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=80)
    plt.close(fig)
    return out
