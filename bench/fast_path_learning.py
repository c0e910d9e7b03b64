"""Learning check of H2O's speed paths: do they learn what the plain path learns?

Problem: the one-step bandit with a dynamics gap of the algorithm tests
(``h2o_learning.testing.toy_tasks``; real optimum a* = -s/2, sim optimum a* = +s, plain
mixing gives -s/5). Per seed (``--seeds``) and path, H2O trains ``--steps`` gradient steps on
the same real and sim data with the same batch stream; every ``--every`` steps it records the
slope of the deterministic policy (goal -0.5) and its expected reward in the *real* task
(``-E_s (s + 2 a(s))^2``, optimum 0). Paths:

- ``plain``: the default step (float32, serial).
- ``overlap``: ``disc_overlap: true`` (exact: its curve must equal plain's to the bit).
- ``bf16``: ``disc_precision: bfloat16`` (an approximation: its curve must stay within the
  seed-to-seed spread of plain's).
- ``stale``: ``disc_overlap`` with ``disc_stale_weights`` (w and omega from the
  discriminators before their step: one step of lag, so its curve must stay within the
  seed-to-seed spread of plain's).
- ``stack``: all seeds as one :class:`~h2o_learning.algorithms.stack.SeedStack` (member k is
  the run of seed k, to float rounding).

Writes ``docs/results/speed/fast_path_learning.csv`` (step, path, seed, slope, real_reward)
and ``.png`` (mean +- std over seeds per path), and prints the final values and, per path,
the largest gap between its mean curve and plain's against plain's seed spread.

Run: ``.venv/bin/python bench/fast_path_learning.py [--seeds 0 1 2 --steps 600]`` (~1 min).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import torch

from h2o_learning.algorithms import make_algorithm
from h2o_learning.algorithms.base import ActorCritic
from h2o_learning.algorithms.stack import SeedStack
from h2o_learning.testing.toy_tasks import (
    BANDIT,
    BANDIT_OBS_STD,
    REAL_GAIN,
    SIM_GAIN,
    bandit,
    policy_slope,
)
from h2o_learning.training.sampling import sample_batches

OUT = Path(__file__).resolve().parents[1] / "docs" / "results" / "speed"
SWITCHES: dict[str, dict[str, Any]] = {
    "plain": {},
    "overlap": {"disc_overlap": True},
    "bf16": {"disc_precision": "bfloat16"},
    "stale": {"disc_overlap": True, "disc_stale_weights": True},
}
S_GRID = torch.linspace(-0.8, 0.8, 101).unsqueeze(1)


def real_reward(algo: ActorCritic) -> float:
    """Expected reward of the deterministic policy in the real task, s uniform on the grid."""
    a = algo.act(S_GRID, deterministic=True)
    return float(-(S_GRID + REAL_GAIN * a).square().mean())


def curves(args: argparse.Namespace) -> list[tuple[int, str, int, float, float]]:
    """Rows (step, path, seed, slope, real reward) of every path and seed."""
    real, sim = bandit(2000, REAL_GAIN, 0), bandit(2000, SIM_GAIN, 1)
    rows = []
    for path, switches in SWITCHES.items():
        config = dataclasses.replace(BANDIT, **switches)
        for seed in args.seeds:
            algo = make_algorithm("h2o", 1, 1, config, obs_std=BANDIT_OBS_STD, seed=seed)
            gen = torch.Generator().manual_seed(1000 + seed)
            for step in range(args.steps + 1):
                if step % args.every == 0:
                    rows.append((step, path, seed, policy_slope(algo), real_reward(algo)))
                if step < args.steps:
                    algo.update(*sample_batches(algo, real, sim, gen))
        print(f"  trained {path}")
    stack = SeedStack("h2o", 1, 1, BANDIT, args.seeds, obs_std=BANDIT_OBS_STD)
    gens = [torch.Generator().manual_seed(1000 + s) for s in args.seeds]
    for step in range(args.steps + 1):
        if step % args.every == 0:
            for seed, member in zip(args.seeds, stack.members, strict=True):
                rows.append((step, "stack", seed, policy_slope(member), real_reward(member)))
        if step < args.steps:
            stack.update(
                [sample_batches(m, real, sim, g) for m, g in zip(stack.members, gens, strict=True)]
            )
    print("  trained stack")
    return rows


def summarise(rows: list[tuple[int, str, int, float, float]]) -> dict[str, np.ndarray]:
    """Per path: (steps, seeds, 2) array of (slope, real reward)."""
    out = {}
    for path in (*SWITCHES, "stack"):
        mine = [r for r in rows if r[1] == path]
        steps = sorted({r[0] for r in mine})
        seeds = sorted({r[2] for r in mine})
        table = {(r[0], r[2]): (r[3], r[4]) for r in mine}
        out[path] = np.array([[table[(t, s)] for s in seeds] for t in steps])
    return out


def plot(summary: dict[str, np.ndarray], steps: list[int], path: Path) -> None:
    """Mean +- std over seeds of both metrics, one line per path."""
    import matplotlib  # noqa: PLC0415 - slow import, only here

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    dash_dot_dot = (0, (3, 1, 1, 1, 1, 1))
    styles = {"plain": "-", "overlap": ":", "bf16": "--", "stack": "-.", "stale": dash_dot_dot}
    for name, data in summary.items():
        for i, ax in enumerate(axes):
            mean, std = data[:, :, i].mean(1), data[:, :, i].std(1)
            ax.plot(steps, mean, linestyle=styles[name], label=name)
            ax.fill_between(steps, mean - std, mean + std, alpha=0.15)
    axes[0].axhline(-0.5, color="k", lw=0.6)
    axes[0].set(title="policy slope (real optimum -0.5)", xlabel="gradient step")
    axes[1].set(title="real-task reward (optimum 0)", xlabel="gradient step")
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--every", type=int, default=25)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = curves(args)
    args.out.mkdir(parents=True, exist_ok=True)
    with (args.out / "fast_path_learning.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(("step", "path", "seed", "slope", "real_reward"))
        writer.writerows(rows)
    summary = summarise(rows)
    steps = sorted({r[0] for r in rows})
    plot(summary, steps, args.out / "fast_path_learning.png")
    plain = summary["plain"]
    spread = plain.std(1).max(0)  # largest seed std of plain over the curve, per metric
    print(f"{'path':<8} {'final slope':>16} {'final real reward':>20} {'max |mean - plain|':>22}")
    for name, data in summary.items():
        final = data[-1]
        gap = np.abs(data.mean(1) - plain.mean(1)).max(0)
        print(
            f"{name:<8} {final[:, 0].mean():>8.3f} +- {final[:, 0].std():.3f} "
            f"{final[:, 1].mean():>11.4f} +- {final[:, 1].std():.4f} "
            f"{gap[0]:>9.4f} / {gap[1]:.4f}"
        )
    print(
        f"plain's largest seed std along the curve: slope {spread[0]:.4f}, reward {spread[1]:.4f}"
    )
    print(f"overlap curve bitwise equal to plain's: {np.array_equal(summary['overlap'], plain)}")
    print(f"wrote {args.out / 'fast_path_learning.csv'} and .png")


if __name__ == "__main__":
    main()
