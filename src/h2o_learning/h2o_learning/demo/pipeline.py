"""``h2o-demo`` (``make demo``): the whole job on one machine, no robot needed.

The simulator's ``real`` profile stands in for the robot (the paper's sim-to-sim protocol):

1. **collect**: ``wheel_legged_sim`` (``real``), ``policy_runner`` (classical controller with
   exploration noise), ``dataset_recorder`` and the demo's supervisor (resets after falls) run as
   separate processes over DDS on a private ``ROS_DOMAIN_ID``; the recorder writes the real
   dataset.
2. **train**: H2O with the ``gravity_x2`` simulator online and that dataset offline (the trainer
   API); a sim-only SAC baseline trains at the same time in a second process.
3. **export**: each run's ``<task>.onnx``, the epoch ``train.export`` names (``best``: the
   highest in-process ``real`` return at the trainer's evaluations; the run folder's
   ``export.json`` says which and why), checked by the runner's own loader (``OnnxPolicy``).
4. **evaluate**: each policy (and the classical controller) through the deploy runner's core
   in-process (no DDS, :class:`~h2o_learning.training.evaluation.RunnerEvaluator`) on ``real``,
   the number the deployment is compared with, and on the perturbed ``real`` profiles of the
   config's ``evaluate.robustness`` (actuation delay, mass, motors, grip, sensor noise).
5. **deploy**: each policy (and the classical controller) through ``policy_runner`` on the
   ``real`` simulator node over DDS; the supervisor measures time upright and return with the
   contract task from what it observes on the topics.
6. **report**: the tables (printed and ``table.md``: deployed vs in-process, robustness),
   ``results.json`` and plots.

Everything lands in the report folder (``--out``, default ``report/``)::

    dataset/real.h5 collect.json       the recorded dataset and the collection report
    runs/<algorithm>/                  run folders (config, checkpoints, metrics.csv, curves,
                                       best_/last_stand.onnx, export.json)
    policies/stand.onnx                H2O's policy (and <algorithm>_stand.onnx for baselines)
    deploy/<policy>.json               per-policy deployment reports (episodes, tilt traces)
    logs/<stage>/*.log                 every process's output
    table.md results.json *.png        the results

A failing stage stops the demo with a message naming the stage and its log; what was produced
before stays in the report folder.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import shutil
import sys
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from h2o_learning.demo.config import DemoConfig, load_demo_config, train_config
from h2o_learning.demo.graph import (
    GraphError,
    recorder_process,
    run_graph,
    runner_process,
    sim_process,
    supervisor_process,
)
from h2o_learning.demo.report import render_robustness, render_table, write_plots
from h2o_learning.training.config_schema import to_dict
from h2o_learning.training.selection import ExportRecord
from h2o_robot_bridge.errors import H2OError
from h2o_robot_bridge.testing.processes import clean_shared_memory, free_domain_id

CLASSICAL = "classical"


class DemoError(H2OError):
    """A stage failed; names the stage and the log to read."""

    def __init__(self, stage: str, message: str, log: Path | None = None) -> None:
        where = f"\n  log: {log}" if log is not None else ""
        super().__init__(f"stage '{stage}' failed: {message}{where}")
        self.stage, self.log = stage, log


@dataclass(frozen=True)
class ReportFolder:
    """Paths of the report folder (see the module docstring)."""

    root: Path

    @property
    def dataset(self) -> Path:
        return self.root / "dataset" / "real.h5"

    @property
    def runs(self) -> Path:
        return self.root / "runs"

    @property
    def policies(self) -> Path:
        return self.root / "policies"

    @property
    def deploy(self) -> Path:
        return self.root / "deploy"

    def logs(self, stage: str) -> Path:
        """Log folder of a stage."""
        path = self.root / "logs" / stage
        path.mkdir(parents=True, exist_ok=True)
        return path


@dataclass(frozen=True)
class TrainOutcome:
    """One finished training run."""

    algorithm: str
    run_dir: Path
    policy: Path
    """``<task>.onnx``: the policy the training config's ``run.export`` names."""
    epochs: int
    finished: bool
    metrics: dict[str, float]
    export: ExportRecord
    """Which epoch ``policy`` holds and why (the run's ``export.json``)."""


def banner(step: int, name: str, text: str) -> None:
    """A stage banner on stdout."""
    print(f"\n=== [{step}/6] {name}: {text}", flush=True)


def _bar(total: int, desc: str, unit: str) -> Any:
    from tqdm import tqdm  # noqa: PLC0415

    return tqdm(total=total, desc=desc, unit=unit, mininterval=0.5, dynamic_ncols=True)


# ------------------------------------------------------------------------------- collect
def collect(cfg: DemoConfig, folder: ReportFolder, domain_id: int) -> Path:
    """Stage 1: record the real dataset over DDS; returns its path (validated)."""
    from h2o_robot_bridge.dataset import load_dataset  # noqa: PLC0415
    from h2o_robot_bridge.dataset.info import dataset_info  # noqa: PLC0415

    c, logs = cfg.collect, folder.logs("collect")
    folder.dataset.parent.mkdir(parents=True, exist_ok=True)
    report = folder.dataset.parent / "collect.json"
    nodes = [
        runner_process(logs, domain_id, CLASSICAL, cfg.trigger, c.noise_std),
        recorder_process(logs, domain_id, folder.dataset, cfg.task),
        sim_process(logs, domain_id, c.sim_seed),
    ]
    sup = supervisor_process(
        logs, domain_id, report, "collect", transitions=c.transitions, task=cfg.task
    )
    with _bar(c.transitions, "collecting (DDS)", "tick") as bar:
        try:
            run_graph(nodes, sup, c.timeout, lambda n, _e: bar.update(n - bar.n))
        except GraphError as err:
            raise DemoError("collect", str(err), err.log) from err
    try:
        data = load_dataset(folder.dataset, task=cfg.task)
    except H2OError as err:
        raise DemoError("collect", f"recorded dataset invalid: {err}", nodes[1].log_path) from err
    info = dataset_info(data, folder.dataset)
    ep = info["episodes"]
    print(
        f"dataset {folder.dataset}: {data.size} transitions, {ep['count']} episodes "
        f"({ep['falls']} falls), mean reward {float(data.rewards.mean()):.3f}"
    )
    return folder.dataset


# --------------------------------------------------------------------------------- train
def _train_worker(
    raw: dict[str, Any], run_dir: str, deadline: float, log: str, quiet: bool, result: str
) -> None:
    """A training process: train until done or ``deadline`` (epoch time), export, report."""
    import os  # noqa: PLC0415

    from h2o_learning.training.config import config_from_dict  # noqa: PLC0415
    from h2o_learning.training.trainer import Trainer  # noqa: PLC0415

    with open(log, "a") as fh:
        if quiet:  # the baseline's progress goes to its log; H2O's bar to the terminal
            os.dup2(fh.fileno(), 1)
            os.dup2(fh.fileno(), 2)
        try:
            trainer = Trainer(config_from_dict(raw), run_dir)
            try:
                out = trainer.run(should_stop=lambda: time.time() > deadline, export=True)
                record = out.export or trainer.export_policies()  # stopped at the time cap
            finally:
                trainer.close()
            policy = trainer.folder.root / record.policy
            payload = {"ok": True, "policy": str(policy), "epochs": out.epochs}
            payload.update(export=record.to_dict())
            payload.update(finished=out.finished, metrics=out.last_metrics)
        except BaseException as err:  # reported to the parent, which names this log
            fh.write(traceback.format_exc())
            fh.flush()
            payload = {"ok": False, "error": f"{type(err).__name__}: {err}"}
        Path(result).write_text(json.dumps(payload))


def train(cfg: DemoConfig, folder: ReportFolder, dataset: Path) -> dict[str, TrainOutcome]:
    """Stage 2: H2O (progress on the terminal) and the baselines, in parallel processes."""
    logs = folder.logs("train")
    deadline = time.time() + 60.0 * cfg.train.max_minutes
    ctx = multiprocessing.get_context("spawn")
    jobs: dict[str, tuple[Any, Path, Path, Path]] = {}
    for algorithm in ("h2o", *cfg.train.baselines):
        config = train_config(cfg, algorithm, dataset.resolve(), folder.runs.resolve())
        run_dir, log = folder.runs / algorithm, logs / f"{algorithm}.log"
        result = logs / f"{algorithm}.result.json"
        if run_dir.exists():
            shutil.rmtree(run_dir)  # a fresh run (the report folder is the demo's own)
        args = (to_dict(config), str(run_dir), deadline, str(log), algorithm != "h2o")
        proc = ctx.Process(target=_train_worker, args=(*args, str(result)), name=algorithm)
        proc.start()
        jobs[algorithm] = (proc, run_dir, log, result)
    print(f"training {', '.join(jobs)} (cap {cfg.train.max_minutes:g} min; logs in {logs})")
    try:
        return {name: _join(name, *job) for name, job in jobs.items()}
    finally:  # one failed (or Ctrl-C): do not leave the others training
        for proc, *_ in jobs.values():
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=10)


def _join(name: str, proc: Any, run_dir: Path, log: Path, result: Path) -> TrainOutcome:
    proc.join()
    if not result.is_file():
        raise DemoError("train", f"{name} training process died (exit {proc.exitcode})", log)
    payload = json.loads(result.read_text())
    if not payload["ok"]:
        raise DemoError("train", f"{name}: {payload['error']}", log)
    if not payload["finished"]:
        print(f"note: {name} stopped at the time cap after {payload['epochs']} epochs")
    metrics = {k: float(v) for k, v in payload["metrics"].items()}
    return TrainOutcome(
        name, run_dir, Path(payload["policy"]), payload["epochs"], payload["finished"], metrics,
        ExportRecord.from_dict(payload["export"]),
    )  # fmt: skip


# -------------------------------------------------------------------------------- export
def export(
    cfg: DemoConfig, folder: ReportFolder, runs: dict[str, TrainOutcome]
) -> dict[str, Path]:
    """Stage 3: copy each run's ONNX into ``policies/`` and load it with the runner's loader."""
    from h2o_robot_bridge.deploy.onnx_policy import OnnxPolicy  # noqa: PLC0415

    folder.policies.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {}
    for name, run in runs.items():
        target = folder.policies / (
            f"{cfg.task}.onnx" if name == "h2o" else f"{name}_{cfg.task}.onnx"
        )
        shutil.copyfile(run.policy, target)
        print(f"{name}: deploying {run.policy.name}, {run.export.reason}")
        try:
            policy = OnnxPolicy(target, task=cfg.task, control_hz=100.0)
        except H2OError as err:
            raise DemoError("export", f"{target} refused by OnnxPolicy: {err}") from err
        print(f"{target}: accepted by OnnxPolicy ({policy.name}, {policy.control_hz:g} Hz)")
        out[name] = target
    return out


# ------------------------------------------------------------------------------ evaluate
def load_demo_policies(cfg: DemoConfig, policies: dict[str, Path]) -> dict[str, Any]:
    """The classical controller and each exported policy as runner policies."""
    from h2o_robot_bridge.controllers import ClassicalController  # noqa: PLC0415
    from h2o_robot_bridge.deploy.onnx_policy import OnnxPolicy  # noqa: PLC0415

    out: dict[str, Any] = {CLASSICAL: ClassicalController.from_yaml(None, cfg.task, 100.0)}
    for name, path in policies.items():
        out[name] = OnnxPolicy(path, task=cfg.task, control_hz=100.0)
    return out


def evaluate(
    cfg: DemoConfig, folder: ReportFolder, policies: dict[str, Path]
) -> dict[str, dict[str, Any]]:
    """Stage 4: each policy through the deploy runner core in-process (no DDS) on ``real``
    and on every perturbed profile of ``evaluate.robustness``; returns
    ``{"real": {policy: metrics}, "robustness": {policy: {profile: metrics}}}``."""
    from h2o_learning.training.evaluation import RunnerEvaluator, eval_seeds  # noqa: PLC0415

    e, limit = cfg.evaluate, cfg.deploy.time_limit_steps
    runners = load_demo_policies(cfg, policies)
    profiles = {"real": ({}, e.episodes), **{k: (v, e.robustness_episodes)
                                             for k, v in e.robustness.items()}}  # fmt: skip
    out: dict[str, dict[str, Any]] = {"real": {}, "robustness": {n: {} for n in runners}}
    with _bar(len(runners) * len(profiles), "evaluating (in-process runner)", "profile") as bar:
        for profile, (knobs, episodes) in profiles.items():
            evaluator = RunnerEvaluator(cfg.task, "real", dict(knobs) or None)
            try:
                for name, policy in runners.items():
                    result = evaluator.run(policy, eval_seeds(e.seed, episodes), limit)
                    metrics = {**result.metrics("eval"), "episodes": episodes,
                               "falls": int(result.falls.sum())}  # fmt: skip
                    metrics = {k.removeprefix("eval/"): v for k, v in metrics.items()}
                    if profile == "real":
                        out["real"][name] = metrics
                    else:
                        out["robustness"][name][profile] = {**metrics, "knobs": dict(knobs)}
                    bar.update(1)
            finally:
                evaluator.close()
    (folder.root / "evaluate.json").write_text(json.dumps(out, indent=1))
    return out


# -------------------------------------------------------------------------------- deploy
def deploy(
    cfg: DemoConfig, folder: ReportFolder, policies: dict[str, Path], domain_id: int
) -> dict[str, dict[str, Any]]:
    """Stage 4: the classical controller and each policy through policy_runner on the
    ``real`` sim node over DDS; returns the supervisor's report per policy."""
    folder.deploy.mkdir(parents=True, exist_ok=True)
    specs = {CLASSICAL: CLASSICAL, **{k: str(v.resolve()) for k, v in policies.items()}}
    return {name: _deploy_one(cfg, folder, name, spec, domain_id) for name, spec in specs.items()}


def _deploy_one(
    cfg: DemoConfig, folder: ReportFolder, name: str, policy: str, domain_id: int
) -> dict[str, Any]:
    d = cfg.deploy
    logs, report_path = folder.logs(f"deploy_{name}"), folder.deploy / f"{name}.json"
    nodes = [
        runner_process(logs, domain_id, policy, cfg.trigger),
        sim_process(logs, domain_id, d.sim_seed),
    ]
    options = {"episodes": d.episodes, "task": cfg.task, "time_limit": d.time_limit_steps or -1}
    sup = supervisor_process(logs, domain_id, report_path, "evaluate", **options)
    with _bar(d.episodes, f"deploying {name} (DDS)", "episode") as bar:
        try:
            run_graph(nodes, sup, d.timeout, lambda _n, e: bar.update(e - bar.n))
        except GraphError as err:
            raise DemoError("deploy", f"{name}: {err}", err.log) from err
    return json.loads(report_path.read_text())


# -------------------------------------------------------------------------------- report
def last_evaluation(run_dir: Path) -> tuple[int, float] | None:
    """(epoch, return) of the trainer's newest in-process evaluation in ``real``, if any."""
    from h2o_learning.training.metrics_log import EPOCH, REAL_RETURN, read_metrics  # noqa: PLC0415

    path = Path(run_dir) / "metrics.csv"
    rows = [r for r in read_metrics(path) if REAL_RETURN in r] if path.is_file() else []
    return (int(rows[-1][EPOCH]), rows[-1][REAL_RETURN]) if rows else None


def report(
    cfg: DemoConfig,
    folder: ReportFolder,
    runs: dict[str, TrainOutcome],
    deployed: dict[str, dict[str, Any]],
    evaluated: dict[str, dict[str, Any]],
    started: float,
) -> str:
    """Stage 6: table.md, results.json, plots; returns the tables."""
    train_eval = {name: last_evaluation(run.run_dir) for name, run in runs.items()}
    epochs = {n: r.epochs for n, r in runs.items()}
    chosen = {n: r.export.epoch for n, r in runs.items()}
    table = render_table(cfg, deployed, evaluated["real"], train_eval, epochs, chosen)
    table += "\n\n" + render_robustness(cfg, evaluated["robustness"])
    (folder.root / "table.md").write_text(table + "\n")
    results = {
        "config": to_dict(cfg),
        "minutes": (time.time() - started) / 60.0,
        "evaluate": evaluated,
        "deploy": {k: {**v, "trace": None} for k, v in deployed.items()},
        "train": {
            n: {
                "epochs": r.epochs,
                "finished": r.finished,
                "metrics": r.metrics,
                "run_dir": str(r.run_dir),
                "export": r.export.to_dict(),
            }
            for n, r in runs.items()
        },  # fmt: skip
    }
    (folder.root / "results.json").write_text(json.dumps(results, indent=1))
    write_plots(folder.root, deployed, {n: r.run_dir for n, r in runs.items()}, folder.dataset)
    return table


def run_demo(cfg: DemoConfig, out: Path, domain_id: int) -> str:
    """All stages; returns the table. Raises :class:`DemoError` naming the failed stage."""
    started = time.time()
    folder = ReportFolder(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "demo_config.yaml").write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))
    try:
        banner(1, "collect", f"{cfg.collect.transitions} ticks of the noisy classical "
               "controller on the 'real' robot over DDS")  # fmt: skip
        dataset = _stage("collect", collect, cfg, folder, domain_id)
        algos = ", ".join(("h2o", *cfg.train.baselines))
        banner(2, "train", f"{algos} with the {cfg.train.sim_dynamics} simulator")
        runs = _stage("train", train, cfg, folder, dataset)
        banner(3, "export", "ONNX policies, checked by the policy runner's loader")
        policies = _stage("export", export, cfg, folder, runs)
        n_profiles = 1 + len(cfg.evaluate.robustness)
        banner(4, "evaluate", f"each policy through the runner core in-process on 'real' and "
               f"{n_profiles - 1} perturbed profiles")  # fmt: skip
        evaluated = _stage("evaluate", evaluate, cfg, folder, policies)
        banner(5, "deploy", f"{cfg.deploy.episodes} episodes per policy on the 'real' robot")
        deployed = _stage("deploy", deploy, cfg, folder, policies, domain_id)
        banner(6, "report", str(out))
        return _stage("report", report, cfg, folder, runs, deployed, evaluated, started)
    finally:
        clean_shared_memory()


def _stage(name: str, fn: Any, *args: Any) -> Any:
    """Run one stage; any h2o error becomes a :class:`DemoError` naming the stage."""
    try:
        return fn(*args)
    except DemoError:
        raise
    except H2OError as err:
        raise DemoError(name, f"{type(err).__name__}: {err}") from err


def build_parser() -> argparse.ArgumentParser:
    """Arguments of ``h2o-demo``."""
    parser = argparse.ArgumentParser(
        prog="h2o-demo",
        description=__doc__.split("\n\n")[0] + " Records a real dataset over DDS, trains H2O "
        "(and a sim-only SAC baseline), deploys the ONNX policies over DDS and prints a table "
        "against the classical controller.",
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--config", default=None, help="demo config (default: config/demo/demo.yaml)"
    )
    parser.add_argument("--out", type=Path, default=Path("report"), help="report folder")
    parser.add_argument(
        "--budget", default="demo", help="budget in the config: demo (<= 15 min) or tiny (test)"
    )
    parser.add_argument("--domain-id", type=int, default=None, help="ROS_DOMAIN_ID (private)")
    parser.add_argument(
        "--seed", type=int, default=None, help="seed of the training runs (default: the config's)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``h2o-demo``: 0 on success, 1 when a stage failed, 2 on bad config."""
    args = build_parser().parse_args(argv)
    try:
        cfg = load_demo_config(args.config, args.budget)
        if args.seed is not None:
            cfg = replace(cfg, seed=args.seed)
    except H2OError as err:
        print(f"h2o-demo: error: {err}", file=sys.stderr)
        return 2
    domain_id = args.domain_id if args.domain_id is not None else free_domain_id()
    start = time.time()
    try:
        table = run_demo(cfg, args.out, domain_id)
    except DemoError as err:
        print(f"\nh2o-demo: {err}\n  artifacts so far: {args.out}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"\nh2o-demo: interrupted; artifacts so far: {args.out}", file=sys.stderr)
        return 130
    print(f"\n{table}\n\nreport: {args.out}  ({(time.time() - start) / 60:.1f} min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
