"""Our CQL and SAC against d3rlpy's on the same data, budget and networks, evaluated the same way.

For every dataset, seed and learner: ``--steps`` gradient steps on *identical* mini-batches
(indices drawn once per seed from the dataset and fed to both libraries), then ``--episodes``
deterministic episodes on the ``real`` profile through the deploy runner core
(:class:`~h2o_learning.training.evaluation.RunnerEvaluator`, the same seeded episodes for every
policy). SAC here is the off-policy learner alone on the logged data (no env collection): the
core CQL builds on, without the conservative term.

Learners: ``ours_cql``, ``ours_sac`` (this package, ``AlgorithmConfig`` defaults plus ``--set``)
and ``d3rlpy_cql``, ``d3rlpy_sac`` (the ``d3rlpy`` package's defaults plus ``--d3rlpy-set``).
Both get ``--hidden`` layers, batch 256, CQL weight 5 and 10 sampled actions.

Datasets (``--data NAME=PATH``; default: the three first below under ``--data-dir``, made
when missing): ``medium`` and ``medium-replay`` collected in-process (``h2o-collect``, 5000
rows, seed 0); ``dds``, the demo's collection stage recorded over DDS (classical controller +
N(0, 0.2), ~5000 rows); ``medium-delay10``, ``medium`` on a robot with 10 ms (one control
period) of actuation delay, which evaluation on ``real`` does not have.

Prints a table (mean +- std over seeds of the per-seed mean return; falls over all episodes)
and writes ``<out>/<tag>.json`` and ``<out>/<tag>.md``. Needs the bench extras
(``make bench-setup``: d3rlpy). Run:
``.venv/bin/python bench/learner_parity.py --tag before [--jobs 2]``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing as mp
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

LEARNERS = ("ours_cql", "ours_sac", "d3rlpy_cql", "d3rlpy_sac")
DEFAULT_DATA = ("medium", "medium-replay", "dds")


@dataclass(frozen=True)
class Job:
    """One training + evaluation run."""

    learner: str
    dataset: str
    path: str
    seed: int
    steps: int
    hidden: tuple[int, ...]
    episodes: int
    ours: dict[str, Any]
    theirs: dict[str, Any]
    eval_overrides: dict[str, float]
    normalize: bool
    variant: str = ""

    @property
    def label(self) -> str:
        """Column name: the learner, with the ablation variant if any."""
        return f"{self.learner}[{self.variant}]" if self.variant else self.learner


def _batches(n: int, steps: int, batch: int, seed: int) -> np.ndarray:
    """(steps, batch) row indices: the same for every learner at this seed."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(19,)))
    return rng.integers(0, n, size=(steps, batch))


def _train_ours(job: Job, data: Any, idx: np.ndarray) -> Any:
    """Train this package's CQL or SAC; returns an obs -> action function."""
    import torch  # noqa: PLC0415

    from h2o_learning.algorithms import AlgorithmConfig, make_algorithm  # noqa: PLC0415
    from h2o_learning.algorithms.protocol import Batch  # noqa: PLC0415

    name = job.learner.removeprefix("ours_")
    cfg = AlgorithmConfig.from_dict({"hidden": list(job.hidden), **job.ours})
    obs = data.observations.astype(np.float64)
    mean, std = (obs.mean(0), obs.std(0)) if job.normalize else (None, None)
    algo = make_algorithm(name, obs.shape[1], data.actions.shape[1], cfg, mean, std, seed=job.seed)
    arrays = [
        torch.as_tensor(a, dtype=torch.float32)
        for a in (
            data.observations,
            data.actions,
            data.rewards,
            data.next_observations,
            data.terminals.astype(np.float32),
        )
    ]
    for rows in idx:
        take = torch.as_tensor(rows)
        batch = Batch(*(a[take] for a in arrays))
        if name == "cql":
            algo.update(real=batch, sim=None)
        else:
            algo.update(real=None, sim=batch)
    return lambda o: algo.act(o, deterministic=True).numpy()


def _train_d3rlpy(job: Job, data: Any, idx: np.ndarray) -> Any:
    """Train d3rlpy's CQL or SAC on the same index batches; returns an obs -> action function."""
    import d3rlpy  # noqa: PLC0415
    from d3rlpy.dataset import TransitionMiniBatch  # noqa: PLC0415

    d3rlpy.seed(job.seed)
    encoder = d3rlpy.models.VectorEncoderFactory(hidden_units=list(job.hidden))
    theirs = dict(job.theirs)
    common: dict[str, Any] = {
        "actor_encoder_factory": encoder,
        "critic_encoder_factory": encoder,
        "batch_size": idx.shape[1],
    }
    if theirs.pop("observation_scaler", None) == "standard":  # the dataset's mean and std
        obs64 = data.observations.astype(np.float64)
        common["observation_scaler"] = d3rlpy.preprocessing.StandardObservationScaler(
            mean=obs64.mean(0).astype(np.float32), std=obs64.std(0).astype(np.float32)
        )
    if job.learner == "d3rlpy_cql":
        config: Any = d3rlpy.algos.CQLConfig(
            **common, conservative_weight=5.0, n_action_samples=10, **theirs
        )
    else:
        config = d3rlpy.algos.SACConfig(**common, **theirs)
    algo = config.create(device="cpu:0")
    algo.create_impl((data.observations.shape[1],), data.actions.shape[1])
    obs, act = data.observations, data.actions
    rew = data.rewards.astype(np.float32)[:, None]
    nxt, term = data.next_observations, data.terminals.astype(np.float32)[:, None]
    ones = np.ones((idx.shape[1], 1), np.float32)
    for rows in idx:
        algo.update(
            TransitionMiniBatch(
                observations=obs[rows],
                actions=act[rows],
                rewards=rew[rows],
                next_observations=nxt[rows],
                next_actions=act[rows],  # unused by CQL/SAC
                terminals=term[rows],
                intervals=ones,
                transitions=[],
            )
        )
    return lambda o: algo.predict(np.asarray(o, np.float32)[None])[0].astype(np.float32)


def run_job(job: Job) -> dict[str, Any]:
    """Train one learner on one dataset at one seed and evaluate it through the runner."""
    import torch  # noqa: PLC0415

    from h2o_learning.training.evaluation import (  # noqa: PLC0415
        RunnerEvaluator,
        TorchPolicy,
        eval_seeds,
    )
    from h2o_robot_bridge.contract import DEFAULT_TIMING  # noqa: PLC0415
    from h2o_robot_bridge.dataset import load_dataset  # noqa: PLC0415

    torch.set_num_threads(1)
    data = load_dataset(job.path, task="stand")
    idx = _batches(data.size, job.steps, 256, job.seed)
    start = time.perf_counter()
    train = _train_ours if job.learner.startswith("ours_") else _train_d3rlpy
    act = train(job, data, idx)
    train_s = time.perf_counter() - start
    evaluator = RunnerEvaluator("stand", "real", overrides=job.eval_overrides or None)
    try:
        policy = TorchPolicy(act, "stand", DEFAULT_TIMING.control_hz, job.learner)
        result = evaluator.run(policy, eval_seeds(0, job.episodes))
    finally:
        evaluator.close()
    return {
        "learner": job.label,
        "dataset": job.dataset,
        "seed": job.seed,
        "returns": [float(r) for r in result.returns],
        "falls": int(result.falls.sum()),
        "train_s": round(train_s, 1),
    }


# --------------------------------------------------------------------------------- data
def ensure_datasets(specs: Sequence[str], data_dir: Path) -> dict[str, Path]:
    """NAME=PATH pairs (or default names, made under ``data_dir`` when missing)."""
    out: dict[str, Path] = {}
    for spec in specs:
        name, _, path = spec.partition("=")
        out[name] = Path(path) if path else data_dir / f"{name}.h5"
        if not out[name].exists():
            _make_dataset(name, out[name])
    return out


def _make_dataset(name: str, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if name in ("medium", "medium-replay", "medium-delay10"):
        from h2o_robot_bridge.dataset import save_dataset  # noqa: PLC0415
        from h2o_sim.collect import collect_dataset  # noqa: PLC0415

        dynamics = "real"
        if name == "medium-delay10":  # the robot with one control period of actuation delay
            dynamics = str(path.with_suffix(".yaml"))
            Path(dynamics).write_text("description: real + 10 ms delay\nlatency_steps: 10\n")
        kind = name.removesuffix("-delay10")
        data = collect_dataset(kind, 5000, task="stand", seed=0, dynamics=dynamics, progress=True)
        save_dataset(path, data)
        return
    if name != "dds":
        raise SystemExit(f"no recipe for dataset {name!r}: pass {name}=PATH")
    from h2o_learning.demo.config import load_demo_config  # noqa: PLC0415
    from h2o_learning.demo.pipeline import ReportFolder, collect  # noqa: PLC0415
    from h2o_robot_bridge.testing.processes import free_domain_id  # noqa: PLC0415

    folder = ReportFolder(path.parent / "dds_collect")
    recorded = collect(load_demo_config(), folder, free_domain_id())
    recorded.replace(path)


# ------------------------------------------------------------------------------ report
def summarise(rows: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, float]]:
    """(dataset, learner) -> mean/std over seeds of the seed's mean return, falls, episodes."""
    out: dict[tuple[str, str], dict[str, float]] = {}
    for key in sorted({(r["dataset"], r["learner"]) for r in rows}):
        group = [r for r in rows if (r["dataset"], r["learner"]) == key]
        means = [float(np.mean(r["returns"])) for r in group]
        out[key] = {
            "mean": float(np.mean(means)),
            "std": float(np.std(means)),
            "falls": float(sum(r["falls"] for r in group)),
            "episodes": float(sum(len(r["returns"]) for r in group)),
            "seeds": float(len(group)),
            "train_s": float(np.mean([r["train_s"] for r in group])),
        }
    return out


def table(rows: list[dict[str, Any]], learners: Sequence[str]) -> str:
    """Markdown table: one row per dataset, one column per learner."""
    summary = summarise(rows)
    datasets = list(dict.fromkeys(r["dataset"] for r in rows))
    head = "| dataset | " + " | ".join(learners) + " |"
    lines = [head, "|---" * (len(learners) + 1) + "|"]
    for ds in datasets:
        cells = []
        for learner in learners:
            s = summary.get((ds, learner))
            cells.append(
                "-"
                if s is None
                else f"{s['mean']:.0f} ± {s['std']:.0f} ({s['falls']:.0f}/{s['episodes']:.0f})"
            )
        lines.append(f"| {ds} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _file_info(path: Path) -> dict[str, Any]:
    """Path, rows and sha256 of a dataset file (which data a table was measured on)."""
    import hashlib  # noqa: PLC0415

    from h2o_robot_bridge.dataset import load_dataset  # noqa: PLC0415

    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    return {"path": str(path), "rows": load_dataset(path, task="stand").size, "sha256": digest}


def _pairs(items: Sequence[str]) -> dict[str, Any]:
    """KEY=VALUE strings -> a dict with YAML-parsed values."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"expected KEY=VALUE, got {item!r}")
        parsed = yaml.safe_load(value)
        if isinstance(parsed, str):  # YAML 1.1 reads 1e-4 as text
            with contextlib.suppress(ValueError):
                parsed = float(parsed)
        out[key] = parsed
    return out


def add_variant_argument(p: argparse.ArgumentParser, help_text: str) -> None:
    """``--variant NAME [KEY=VALUE ...]``, repeatable (shared with ``h2o_stability.py``)."""
    p.add_argument(
        "--variant",
        nargs="+",
        action="append",
        default=[],
        metavar="NAME [KEY=VALUE ...]",
        help=help_text,
    )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--data", nargs="+", default=list(DEFAULT_DATA), help="NAME or NAME=PATH")
    p.add_argument("--data-dir", type=Path, default=Path("bench/data"), help="default datasets")
    p.add_argument("--learners", nargs="+", default=list(LEARNERS), choices=LEARNERS)
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--steps", type=int, default=5000, help="gradient steps per run")
    p.add_argument("--hidden", nargs="+", type=int, default=[64, 64], help="hidden sizes")
    p.add_argument("--episodes", type=int, default=10, help="runner episodes on real")
    p.add_argument("--set", nargs="*", default=[], help="our AlgorithmConfig KEY=VALUE")
    p.add_argument("--d3rlpy-set", nargs="*", default=[], help="d3rlpy config KEY=VALUE")
    p.add_argument("--no-normalize", action="store_true", help="ours without obs normalisation")
    p.add_argument("--eval-set", nargs="*", default=[], help="profile knobs at evaluation")
    add_variant_argument(
        p,
        "an ablation of our learners: a name, then AlgorithmConfig KEY=VALUE (or "
        "normalize=false); repeat for several, all run in one pool",
    )
    p.add_argument("--jobs", type=int, default=2, help="parallel processes (1 thread each)")
    p.add_argument("--tag", default="run", help="name of the result files")
    p.add_argument("--out", type=Path, default=Path("docs/results/learner_parity"))
    return p.parse_args(argv)


def make_jobs(args: argparse.Namespace, paths: dict[str, Path]) -> list[Job]:
    """Every (dataset, seed, learner) run, and each ``--variant`` of our learners."""
    base = _pairs(args.set)
    variants: list[tuple[str, dict[str, Any]]] = [("", base)]
    if args.variant:  # ablations only: the named variants of our learners
        variants = [(v[0], {**base, **_pairs(v[1:])}) for v in args.variant]
    jobs = []
    for name, path in paths.items():
        for seed in args.seeds:
            for learner in args.learners:
                mine = learner.startswith("ours_")
                theirs: list[tuple[str, dict[str, Any]]] = [(",".join(args.d3rlpy_set), {})]
                for variant, values in variants if mine else theirs:
                    ours = dict(values)
                    normalize = bool(ours.pop("normalize", not args.no_normalize))
                    jobs.append(
                        Job(
                            learner,
                            name,
                            str(path),
                            seed,
                            args.steps,
                            tuple(args.hidden),
                            args.episodes,
                            ours,
                            _pairs(args.d3rlpy_set),
                            {k: float(v) for k, v in _pairs(args.eval_set).items()},
                            normalize,
                            variant,
                        )
                    )
    return jobs


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    paths = ensure_datasets(args.data, args.data_dir)
    jobs = make_jobs(args, paths)
    from tqdm import tqdm  # noqa: PLC0415

    rows: list[dict[str, Any]] = []
    with mp.get_context("spawn").Pool(args.jobs) as pool:
        for row in tqdm(pool.imap_unordered(run_job, jobs), total=len(jobs), desc="runs"):
            rows.append(row)
            tqdm.write(
                f"{row['dataset']:>14} {row['learner']:>11} seed {row['seed']}: "
                f"{np.mean(row['returns']):7.1f} ({row['falls']} falls, {row['train_s']} s)"
            )
    text = table(rows, list(dict.fromkeys(j.label for j in jobs)))
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    meta = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    files = {name: _file_info(path) for name, path in paths.items()}
    record = {"args": meta, "datasets": files, "runs": rows}
    (args.out / f"{args.tag}.json").write_text(json.dumps(record, indent=1))
    (args.out / f"{args.tag}.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
