"""H2O's evaluation curve at the demo budget: does it collapse between evaluations?

Trains H2O exactly as ``make demo`` does (``config/demo/demo.yaml``, budget ``demo``: the
``gravity_x2`` simulator online, the recorded DDS dataset offline, 12 epochs of 1000 + 1000
steps, 5 runner episodes on ``real`` after every epoch) for ``--seeds``, once per ``--variant``
(``AlgorithmConfig`` changes on top of the demo's), two runs at a time with one thread each.

The measure, per run, on the curve ``R_1 .. R_E`` of evaluation returns:

- **collapses**: evaluations with ``R_t < 0.5 * max(R_1 .. R_t-1)``, i.e. the policy lost more
  than half of the best return it had already reached;
- **worst ratio**: ``min_t R_t / max(R_1 .. R_t-1)`` over ``t >= 2`` (1.0: never went down);
- **best**, **last** and how many evaluations stood (no fall in any episode).

Prints a table (per variant: collapses per run, mean worst ratio, best, last) and writes
``<out>/<tag>.json``. Run:
``.venv/bin/python bench/h2o_stability.py --data bench/data/dds.h5 --tag demo_budget``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

COLLAPSE = 0.5  # an evaluation below this fraction of the best so far is a collapse


def curve_measures(returns: Sequence[float]) -> dict[str, float]:
    """Collapses, worst ratio, best and last of one evaluation curve (see the docstring)."""
    r = np.asarray(returns, dtype=np.float64)
    best_before = np.maximum.accumulate(r)[:-1]
    ratios = r[1:] / np.maximum(best_before, 1e-9)
    return {
        "collapses": float(np.sum(ratios < COLLAPSE)),
        "worst_ratio": float(ratios.min()) if ratios.size else 1.0,
        "best": float(r.max()),
        "last": float(r[-1]),
    }


def run_one(job: tuple[str, dict[str, Any], int, str, str, str]) -> dict[str, Any]:
    """Train one H2O run at the demo budget; its evaluation curve and measures."""
    from h2o_learning.demo.config import load_demo_config, train_config  # noqa: PLC0415
    from h2o_learning.training.config import config_from_dict  # noqa: PLC0415
    from h2o_learning.training.config_schema import to_dict  # noqa: PLC0415
    from h2o_learning.training.trainer import Trainer  # noqa: PLC0415

    variant, algo, seed, data, root, budget = job
    demo = load_demo_config(budget=budget)
    base = train_config(demo, "h2o", Path(data).resolve(), Path(root))
    raw = to_dict(base)
    raw["seed"] = seed
    raw["algo"] = {**raw["algo"], **algo}
    raw["run"] = {**raw["run"], "threads": 1, "progress": False, "tensorboard": False}
    config = config_from_dict(raw)
    run_dir = Path(root) / f"{variant or 'default'}_seed{seed}"
    Trainer(config, run_dir=run_dir).run(export=False)
    return read_run(run_dir, variant, seed)


def read_run(run_dir: Path, variant: str, seed: int) -> dict[str, Any]:
    """The evaluation curve of a finished run folder and its measures."""
    import csv  # noqa: PLC0415

    from h2o_learning.training.metrics_log import REAL_RETURN  # noqa: PLC0415

    with (run_dir / "metrics.csv").open() as f:
        rows = list(csv.DictReader(f))
    curve = [float(r[REAL_RETURN]) for r in rows if r.get(REAL_RETURN)]
    falls = [float(r["eval_real/fall_rate"]) for r in rows if r.get("eval_real/fall_rate")]
    return {
        "variant": variant,
        "seed": seed,
        "curve": curve,
        "fall_rates": falls,
        "stood": sum(f == 0.0 for f in falls),
        **curve_measures(curve),
    }


def report(rows: list[dict[str, Any]]) -> str:
    """Markdown table, one row per variant (mean ± std over its runs)."""
    head = "| variant | runs | collapses per run | worst ratio | evaluations standing |"
    lines = [head + " best | last |", "|---" * 7 + "|"]
    for variant in dict.fromkeys(r["variant"] for r in rows):
        g = [r for r in rows if r["variant"] == variant]
        cells = [
            f"{np.mean([r[k] for r in g]):.{d}f} ± {np.std([r[k] for r in g]):.{d}f}"
            for k, d in (("collapses", 1), ("worst_ratio", 2))
        ]
        cells.append(f"{sum(r['stood'] for r in g)}/{sum(len(r['curve']) for r in g)}")
        cells += [f"{np.mean([r[k] for r in g]):.0f}" for k in ("best", "last")]
        lines.append(f"| {variant or 'default'} | {len(g)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    """One panel per variant: every seed's evaluation curve (return after each epoch)."""
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    variants = list(dict.fromkeys(r["variant"] for r in rows))
    fig, axes = plt.subplots(1, len(variants), figsize=(5 * len(variants), 3.5), sharey=True)
    for ax, variant in zip(np.atleast_1d(axes), variants, strict=True):
        for r in sorted((r for r in rows if r["variant"] == variant), key=lambda r: r["seed"]):
            ax.plot(
                range(1, len(r["curve"]) + 1), r["curve"], marker="o", label=f"seed {r['seed']}"
            )
        ax.set_title(variant or "default")
        ax.set_xlabel("epoch (1000 gradient steps)")
        ax.grid(alpha=0.3)
    np.atleast_1d(axes)[0].set_ylabel("runner return on real (5 episodes)")
    np.atleast_1d(axes)[0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> None:
    # The same --variant and KEY=VALUE parsing as the parity bench (this folder is on sys.path).
    from learner_parity import _pairs, add_variant_argument  # noqa: PLC0415

    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--data", required=True, help="the real dataset (the demo's DDS recording)")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    add_variant_argument(
        p, "AlgorithmConfig changes on top of the demo's (default: the demo as it is)"
    )
    p.add_argument("--runs", default="/tmp/h2o_stability", help="run folders")
    p.add_argument("--budget", default="demo", help="the demo config's budget (tiny: a smoke run)")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument(
        "--summarise-only",
        action="store_true",
        help="no training: read the finished run folders <runs>/<variant>_seed<N>/",
    )
    p.add_argument("--tag", default="run")
    p.add_argument("--out", type=Path, default=Path("docs/results/learner_parity"))
    args = p.parse_args(argv)

    variants = [(v[0], _pairs(v[1:])) for v in args.variant] or [("", {})]
    jobs = [(n, a, s, args.data, args.runs, args.budget) for n, a in variants for s in args.seeds]
    if args.summarise_only:
        rows = [read_run(Path(r) / f"{n or 'default'}_seed{s}", n, s) for n, _, s, _, r, _ in jobs]
    else:
        rows = []
        with mp.get_context("spawn").Pool(args.jobs) as pool:
            for row in pool.imap_unordered(run_one, jobs):
                rows.append(row)
                curve = [round(x) for x in row["curve"]]
                print(f"{row['variant'] or 'default'} seed {row['seed']}: {curve}", flush=True)
    text = report(rows)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.tag}.json").write_text(
        json.dumps({"args": vars(args) | {"out": str(args.out)}, "runs": rows}, indent=1)
    )
    (args.out / f"{args.tag}.md").write_text(text + "\n")
    plot(rows, args.out / f"{args.tag}.png")


if __name__ == "__main__":
    main()
