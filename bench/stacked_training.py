"""Whole training runs per core-minute: K seeds trained alone, one after the other, against the
same K seeds trained as one seed stack (``h2o_learning.training.stacked``), in this run.

Each run is the real trainer: sim collection, gradient steps, evaluation through the deploy
runner, logs and checkpoints, at the focused preset's sizes (64-64 networks, batch 256, one
torch thread) with a shorter epoch (``--sim-steps`` sim + ``--grad-steps`` gradient steps).
Only the gradient steps are batched in a stack; collection and evaluation stay per run, so the
gain is below ``bench/train_speed.py``'s step-only one. Printed per method and K: run-epochs
per minute alone and stacked, and stacked / alone (> 1: the stack trains more runs per
core-hour), and each seed's final return in ``real`` alone and stacked (a learning check: the
same up to the float rounding of batched matmuls, which a chaotic task may grow). K = 1 is
the control (the stack's own overhead). Alone and stacked alternate
``--repeats`` times; the median is printed.

Run: ``.venv/bin/python bench/stacked_training.py [--k 1 3 --repeats 2]``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from h2o_learning.training.config import TrainConfig, load_config
from h2o_learning.training.metrics_log import REAL_RETURN
from h2o_learning.training.stacked import StackedTrainer
from h2o_learning.training.trainer import Trainer


def configs(method: str, data: Path, k: int, args: argparse.Namespace) -> list[TrainConfig]:
    """K configs of one grid cell (seeds 0..K-1) at the focused preset's sizes."""
    sets = [
        f"algorithm={method}",
        f"data.path={data}",
        f"loop.epochs={args.epochs}",
        f"loop.sim_steps_per_epoch={args.sim_steps}",
        f"loop.grad_steps_per_epoch={args.grad_steps}",
        "loop.warmup_steps=200",
        "loop.learning_starts=200",
        f"loop.eval_every={args.epochs}",
        "loop.eval_episodes=2",
        "loop.eval_max_steps=200",
        f"loop.checkpoint_every={args.epochs}",
        "loop.sim_buffer_capacity=20000",
        "algo.hidden=[64, 64]",
        "algo.disc_hidden=[64, 64]",
        "run.threads=1",
        "run.progress=false",
        "run.tensorboard=false",
    ]
    return [load_config("h2o_stand", [*sets, f"seed={s}", f"name=s{s}"]) for s in range(k)]


def alone(cfgs: list[TrainConfig], root: Path) -> tuple[float, list[float]]:
    """Seconds to train every config as its own run, one after the other; final returns."""
    start, returns = time.perf_counter(), []
    for i, config in enumerate(cfgs):
        trainer = Trainer(config, root / f"alone{i}")
        returns.append(trainer.run(export=False).last_metrics[REAL_RETURN])
        trainer.close()
    return time.perf_counter() - start, returns


def stacked(cfgs: list[TrainConfig], root: Path) -> tuple[float, list[float]]:
    """Seconds to train the configs as one seed stack; final returns."""
    start = time.perf_counter()
    trainer = StackedTrainer(cfgs, [root / f"stack{i}" for i in range(len(cfgs))])
    results = trainer.run(export=False)
    trainer.close()
    return time.perf_counter() - start, [r.last_metrics[REAL_RETURN] for r in results]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--methods", nargs="+", default=["sac", "h2o"])
    parser.add_argument("--k", nargs="+", type=int, default=[1, 3])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--sim-steps", type=int, default=500)
    parser.add_argument("--grad-steps", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(1)
    from h2o_robot_bridge.dataset import save_dataset  # noqa: PLC0415
    from h2o_sim.collect import collect_dataset  # noqa: PLC0415

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data = save_dataset(root / "medium.h5", collect_dataset("medium", 5000, seed=0))
        print(f"{args.epochs} epochs x ({args.sim_steps} sim + {args.grad_steps} gradient steps)"
              f", 64-64, one thread; median of {args.repeats}")  # fmt: skip
        for method in args.methods:  # untimed: imports, first allocations, kernel choices
            alone(configs(method, data, 1, args), root / f"warm_{method}")
            stacked(configs(method, data, 1, args), root / f"warm_{method}")
        print(f"{'method':<6} {'K':>2} {'alone ep/min':>13} {'stacked ep/min':>15} {'ratio':>6}"
              f"  final real return per seed, alone | stacked")  # fmt: skip
        for method in args.methods:
            for k in args.k:
                cfgs = configs(method, data, k, args)
                times: dict[str, list[float]] = {"alone": [], "stacked": []}
                for r in range(args.repeats):
                    seconds, solo = alone(cfgs, root / f"{method}{k}a{r}")
                    times["alone"].append(seconds)
                    seconds, joint = stacked(cfgs, root / f"{method}{k}s{r}")
                    times["stacked"].append(seconds)
                epochs = k * args.epochs
                rate = {n: epochs / (statistics.median(t) / 60.0) for n, t in times.items()}
                gain = rate["stacked"] / rate["alone"]
                print(f"{method:<6} {k:>2} {rate['alone']:>13.2f} {rate['stacked']:>15.2f} "
                      f"{gain:>6.2f}  {_fmt(solo)} | {_fmt(joint)}")  # fmt: skip


def _fmt(returns: list[float]) -> str:
    return " ".join(f"{r:.1f}" for r in returns)


if __name__ == "__main__":
    main()
