"""``h2o-experiment``: the paper's table (docs/algorithm.md) on our robot, on Ray.

Methods SAC (sim only), CQL (real only), DARC, DARC+ and H2O; sim gaps ``gravity_x2``,
``friction_x0.3``, ``joint_noise`` (the paper's), ``gravity_x0.5`` and ``motor_x2`` (candidates
where the simulator is easier) and the no-gap control ``real`` (sim = real); real datasets
``medium``, ``medium-replay``, ``medium-expert`` (``h2o-collect`` on the ``real`` profile);
several seeds. Every policy is evaluated in the ``real`` profile (the robot) and, separately, in
its sim profile, to show (or refute) the paper's "simulation-based evaluation can be very
misleading".

    h2o-experiment --preset micro            # < 1 min: the test's well-formed table
    h2o-experiment --preset quick            # < 1 hour on 2 cores
    h2o-experiment --preset controls         # the no-gap control vs gravity x2 (~8 min)
    h2o-experiment --preset focused          # >= 100 epochs, the focused grid (30 runs, ~5 h)
    h2o-experiment --preset gap_calibration  # what 2 candidate gaps cost sim-only SAC (~30 min)
    h2o-experiment --preset full             # the reference budget (see config/experiment)
    h2o-experiment --preset quick --report-only --results docs/results

Each run is a Ray task with one CPU: a local Ray instance by default (no setup; ``--workers`` runs
at once), or an existing cluster with ``--address`` (``--out`` on storage all nodes see).
Runs go to ``--out`` (default ``runs/experiment_<preset>``), one folder per run; a finished run
holds ``result.json`` and is skipped when the command is run again (resumable: an interrupted
run continues from its newest checkpoint). Results (``--results``, default ``<out>/results``):
``table.md`` (normalised scores, 0 = random policy, 100 = classical controller, mean ± std over
seeds, real and sim evaluation; the no-gap control and H2O's importance weights; the rank
correlation of sim and real scores), ``runs.csv`` (one row per run),
``curves.csv`` (every evaluation of every run), ``curves.png`` and ``real_vs_sim.png``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from h2o_learning.experiment.plan import (
    NO_GAP,
    Preset,
    RunSpec,
    dataset_settings,
    eval_settings,
    load_preset,
    plan_runs,
    plan_tasks,
    run_config,
    train_command_range,
)
from h2o_learning.experiment.report import write_results
from h2o_learning.experiment.scores import References, measure_references, references_from_dict
from h2o_robot_bridge.errors import H2OError

RESULT = "result.json"
REFERENCES = "references.json"


class ExperimentError(H2OError, RuntimeError):
    """The grid cannot run (e.g. Ray cannot start, or the cluster address is unreachable)."""


def dataset_paths(preset: Preset, out: Path) -> dict[str, Path]:
    """Where the preset's behaviour datasets live under ``out`` (collected or not)."""
    return {kind: out / "datasets" / f"{kind}.h5" for kind in sorted({*preset.datasets, "medium"})}


def ensure_datasets(preset: Preset, out: Path) -> dict[str, Path]:
    """The behaviour datasets of the preset, collected once (kept across invocations)."""
    from h2o_robot_bridge.dataset import load_dataset, save_dataset  # noqa: PLC0415
    from h2o_sim.collect import collect_dataset  # noqa: PLC0415

    (out / "datasets").mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    drawn = preset.dataset_command_range
    for kind, path in dataset_paths(preset, out).items():
        if path.is_file() and _dataset_matches(load_dataset(path), preset):
            paths[kind] = path
            continue
        print(f"collecting dataset {kind} ({preset.dataset_steps} steps, real profile)")
        data = collect_dataset(
            kind,
            preset.dataset_steps,
            preset.task,
            preset.dataset_seed,
            command_range=drawn,
            track_fraction=preset.dataset_track_fraction,
        )
        paths[kind] = save_dataset(path, data, overwrite=True)
    return paths


def _dataset_matches(data: Any, preset: Preset) -> bool:
    """Whether a kept dataset was collected with the preset's settings (size, task, commands,
    tracking fraction); one that was not is collected again."""
    drawn = preset.dataset_command_range
    fractions = {s.get("track_fraction", 1.0) for s in data.meta["source"].get("stretches", [])}
    return bool(
        data.size == preset.dataset_steps
        and data.meta["task"] == preset.task
        and data.meta.get("command_range") == (None if drawn is None else drawn.to_list())
        and fractions <= {1.0, preset.dataset_track_fraction}
    )


def ensure_references(preset: Preset, out: Path) -> dict[str, References]:
    """The score references (random policy, classical controller) of ``real`` and of every gap
    profile, measured once with the runs' evaluation settings and kept in ``references.json``
    (measured again when the settings or the profiles change)."""
    from h2o_learning.training.evaluation import episode_limit, eval_seeds  # noqa: PLC0415
    from h2o_robot_bridge.contract import DEFAULT_TIMING, episode_commands  # noqa: PLC0415

    episodes, cap = eval_settings(preset)
    commands = episode_commands(train_command_range(preset), episodes)
    # One reference episode per distinct (reset seed, command) of the runs' evaluations.
    pairs = sorted(
        {
            (s, None if commands is None else commands[i])
            for seed in preset.seeds
            for i, s in enumerate(eval_seeds(seed, episodes))
        },
        key=lambda pair: (pair[0], pair[1] or ()),
    )
    seeds = [s for s, _ in pairs]
    limit = episode_limit(preset.task, DEFAULT_TIMING.control_hz, cap)
    settings: dict[str, Any] = {"task": preset.task, "seeds": seeds, "max_steps": limit}
    episode_cmds = None if commands is None else [c for _, c in pairs if c is not None]
    if episode_cmds is not None:
        settings["commands"] = [list(c) for c in episode_cmds]
    path = out / REFERENCES
    stored = json.loads(path.read_text()) if path.is_file() else {}
    refs = (
        references_from_dict(stored.get("profiles", {}))
        if stored.get("settings") == settings
        else {}
    )
    missing = [p for p in (NO_GAP, *preset.gaps) if p not in refs]
    for profile in dict.fromkeys(missing):
        print(f"measuring score references in {profile} ({len(seeds)} episodes each)")
        refs[profile] = measure_references(
            preset.task, profile, seeds, limit, commands=episode_cmds
        )
    if missing:
        out.mkdir(parents=True, exist_ok=True)
        profiles = {k: v.to_dict() for k, v in refs.items()}
        path.write_text(json.dumps({"settings": settings, "profiles": profiles}, indent=1))
    return refs


def run_task(job: tuple[Preset, list[RunSpec], dict[str, Path], Path]) -> list[dict[str, Any]]:
    """Train one task of the grid in a worker process: one run, or a seed stack of runs
    (:func:`~h2o_learning.experiment.plan.plan_tasks`); returns their result records.

    Resumes from the run folders' checkpoints when they hold some; writes each run's
    ``result.json`` last, so a folder without it is an unfinished run. An error fails every
    run of the task (each folder gets ``error.txt``).
    """
    preset, specs, datasets, root = job
    started = time.time()
    try:
        return _train(preset, specs, datasets, root, started)
    except BaseException as err:  # one failed task must not stop the grid
        records = []
        for spec in specs:
            run_dir = root / spec.key
            run_dir.mkdir(parents=True, exist_ok=True)
            (run_dir / "error.txt").write_text(traceback.format_exc())
            records.append({**_spec_record(spec), "error": f"{type(err).__name__}: {err}"})
        return records


def _train(
    preset: Preset, specs: list[RunSpec], datasets: dict[str, Path], root: Path, started: float
) -> list[dict[str, Any]]:
    import torch  # noqa: PLC0415

    from h2o_learning.training.config import config_hash  # noqa: PLC0415
    from h2o_learning.training.stacked import StackedTrainer  # noqa: PLC0415
    from h2o_learning.training.trainer import Trainer  # noqa: PLC0415

    torch.set_num_threads(1)
    configs = [run_config(preset, spec, datasets, root) for spec in specs]
    dirs = [root / spec.key for spec in specs]
    resume = any(_has_checkpoints(d) for d in dirs)
    for run_dir in dirs:
        if run_dir.exists() and not resume:
            shutil.rmtree(run_dir)
    trainer: Trainer | StackedTrainer
    if len(specs) == 1:
        trainer = Trainer(configs[0], dirs[0], resume=resume)
    else:
        trainer = StackedTrainer(configs, dirs, resume=resume)
    try:
        outs = trainer.run(export=False)
    finally:
        trainer.close()
    minutes = (time.time() - started) / 60.0
    records = []
    for spec, config, run_dir, out in zip(
        specs, configs, dirs, outs if isinstance(outs, list) else [outs], strict=True
    ):
        shutil.rmtree(run_dir / "checkpoints", ignore_errors=True)  # disk: ~100 runs
        record = {
            **_spec_record(spec),
            "config_hash": config_hash(config),
            "dataset_settings": dataset_settings(preset),
            "epochs": out.epochs,
            "minutes": minutes,  # of the task: a stack's runs share it
            "stack_seeds": [s.seed for s in specs] if len(specs) > 1 else None,
            **_eval_metrics(out.last_metrics),
        }
        (run_dir / RESULT).write_text(json.dumps(record))
        records.append(record)
    return records


def _has_checkpoints(run_dir: Path) -> bool:
    folder = run_dir / "checkpoints"
    return folder.is_dir() and any(folder.iterdir())


def _eval_metrics(metrics: dict[str, float]) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items() if k.startswith(("eval_real/", "eval_sim/"))}


def _spec_record(spec: RunSpec) -> dict[str, Any]:
    return {"key": spec.key, "method": spec.method, "gap": spec.gap, "dataset": spec.dataset,
            "seed": spec.seed}  # fmt: skip


def check_finished_configs(
    preset: Preset, specs: list[RunSpec], datasets: dict[str, Path], root: Path
) -> None:
    """A finished run is skipped only if it was trained with this preset's config of it.

    Raises:
        ExperimentError: a finished run in ``root`` has another config (another preset, or this
            one edited): its result would enter the table under the wrong budget.
    """
    from h2o_learning.training.config import config_hash  # noqa: PLC0415

    stale = []
    data = dataset_settings(preset)
    for spec in specs:
        path = root / spec.key / RESULT
        if path.is_file():
            record = json.loads(path.read_text())
            have = record.get("config_hash")
            want = config_hash(run_config(preset, spec, datasets, root))
            if have != want:
                trained = have or "before runs recorded their config"
                stale.append(f"{spec.key} (trained {trained}, preset {want})")
            elif not _same_data(record.get("dataset_settings"), data):
                # Same config and dataset path, other data in the file: not the same run.
                stale.append(f"{spec.key} (its data: {record.get('dataset_settings')})")
    if stale:
        raise ExperimentError(
            f"{len(stale)} finished run(s) in {root} were trained with another config: "
            + ", ".join(stale[:3])
            + ("..." if len(stale) > 3 else "")
            + "; give another --out, or delete those run folders to train them again"
        )


def _same_data(recorded: dict[str, Any] | None, want: dict[str, Any]) -> bool:
    """Whether a finished run's recorded dataset settings are the preset's. Runs from before
    these were recorded had no command range and full tracking: only those settings match."""
    if recorded is None:
        return want["command_range"] is None and want["track_fraction"] == 1.0
    return recorded == want


def finished_records(root: Path, specs: list[RunSpec]) -> list[dict[str, Any]]:
    """Result records of the finished runs among ``specs``."""
    out = []
    for spec in specs:
        path = root / spec.key / RESULT
        if path.is_file():
            out.append(json.loads(path.read_text()))
    return out


def run_grid(
    preset: Preset,
    out: Path,
    workers: int,
    max_runs: int | None = None,
    address: str | None = None,
) -> list[str]:
    """Train every unfinished run as a Ray task (one CPU each); returns the errors (run: message).

    Args:
        workers: runs at once on this machine (the local Ray instance's CPUs); ignored with
            ``address``, where the cluster's CPUs decide.
        address: a running Ray cluster (``ray start --head`` / ``auto``); None starts a local
            instance for this call. On a cluster ``out`` must be a folder every node sees (a
            shared file system): runs read their dataset and write their folder there, so
            results are gathered, and runs resumed, exactly as on one machine.
    """
    from tqdm import tqdm  # noqa: PLC0415

    if address is not None:
        _check_reachable(address)  # before minutes of dataset collection
    root = out / "runs"
    specs = plan_runs(preset)
    # Before collecting: a refused grid must not overwrite the data its finished runs used.
    check_finished_configs(preset, specs, dataset_paths(preset, out), root)
    datasets = ensure_datasets(preset, out)
    todo = [s for s in specs if not (root / s.key / RESULT).is_file()][:max_runs]
    where = f"the Ray cluster at {address}" if address else f"{workers} local Ray worker(s)"
    print(f"{preset.name}: {len(specs)} runs, {len(specs) - len(todo)} finished, "
          f"{len(todo)} to run on {where}")  # fmt: skip
    errors: list[str] = []
    if not todo:
        return errors
    ray = _start_ray(workers, address)
    try:
        # One CPU per task, a run or a seed stack (run_task pins torch to one thread); a fresh
        # worker process every few tasks, as PyBullet and torch keep memory a long process
        # does not give back.
        task = ray.remote(num_cpus=1, max_calls=4, max_retries=0)(run_task)
        tasks = plan_tasks(preset, todo)
        keys = {task.remote((preset, t, datasets, root)): t for t in tasks}
        pending = list(keys)
        with tqdm(total=len(todo), unit="run") as bar:
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                try:
                    records = ray.get(done[0])
                except ray.exceptions.RayError as err:  # the worker process itself died
                    message = f"{type(err).__name__}: {err}"
                    records = [{"key": s.key, "error": message} for s in keys[done[0]]]
                for record in records:
                    if "error" in record:
                        errors.append(f"{record['key']}: {record['error']}")
                        bar.write(
                            f"FAILED {record['key']}: {record['error']} ({root / record['key']})"
                        )
                    bar.set_postfix_str(record["key"], refresh=False)
                    bar.update(1)
    finally:
        ray.shutdown()  # a local instance stops; on a cluster, this driver disconnects
    return errors


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """Fail fast on a ``HOST:PORT`` no cluster answers (``ray.init`` waits minutes for it).

    Raises:
        ExperimentError: nothing accepts connections there.
    """
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or "://" in address:
        return  # "auto", "ray://...": Ray resolves these itself
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as err:
        raise ExperimentError(
            f"no Ray cluster answers at {address} ({err}); start one there with "
            "'ray start --head --port PORT', or drop --address to run on this machine"
        ) from err


def _start_ray(workers: int, address: str | None) -> Any:
    """``ray.init`` for this grid: local with ``workers`` CPUs, or connect to ``address``."""
    import logging  # noqa: PLC0415

    import ray  # noqa: PLC0415

    try:
        # Workers' output stays in the run folders and Ray's session logs: the progress bar is
        # the terminal's. A local instance gets ``workers`` CPUs; a cluster has its own.
        ray.init(
            address=address,
            num_cpus=workers if address is None else None,
            include_dashboard=False,
            logging_level=logging.WARNING,
            log_to_driver=False,
        )
    except (ConnectionError, RuntimeError, ValueError) as err:
        hint = (
            " (a cluster with token authentication, Ray's default for 'ray start' since 2.59, "
            "needs RAY_AUTH_MODE=token and its token: ~/.ray/auth_token or RAY_AUTH_TOKEN)"
            if address
            else ""
        )
        raise ExperimentError(
            f"cannot start or reach Ray ({address or 'local'}): {err}{hint}"
        ) from err
    return ray


def build_parser() -> argparse.ArgumentParser:
    """Arguments of ``h2o-experiment``."""
    parser = argparse.ArgumentParser(
        prog="h2o-experiment",
        description=__doc__.split("\n\n")[0] + " Trains the grid of methods x sim gaps x real "
        "datasets x seeds as Ray tasks (resumable) and writes the tables and plots.",
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--preset", default="quick", help=f"{', '.join(_preset_names())}, or a YAML file"
    )
    parser.add_argument("--out", type=Path, default=None, help="runs folder")
    parser.add_argument("--results", type=Path, default=None, help="tables/plots folder")
    parser.add_argument(
        "--workers", type=int, default=None, help="parallel runs on this machine (preset's)"
    )
    parser.add_argument(
        "--address",
        default=None,
        help="run the grid on an existing Ray cluster (e.g. 'auto' or HOST:6379, after "
        "'ray start --head' there); --out must then be on storage every node sees. "
        "Default: a local Ray instance with --workers CPUs, started and stopped by this command",
    )
    parser.add_argument("--max-runs", type=int, default=None, help="run at most N runs now")
    parser.add_argument(
        "--report-only", action="store_true", help="only (re)write the results of finished runs"
    )
    return parser


def _preset_names() -> list[str]:
    """The shipped presets (``config/experiment/*.yaml``), for ``--help``."""
    from h2o_robot_bridge.config_files import config_dir  # noqa: PLC0415
    from h2o_robot_bridge.errors import ConfigError  # noqa: PLC0415

    try:
        return sorted(p.stem for p in config_dir("h2o_learning", "experiment").glob("*.yaml"))
    except ConfigError:  # an installation without its config folder: help still prints
        return ["micro", "quick", "full"]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: 0 when every run finished, 1 if some failed or are left, 2 on bad input."""
    args = build_parser().parse_args(argv)
    try:
        preset = load_preset(args.preset)
        out = args.out or Path("runs") / f"experiment_{preset.name}"
        errors: list[str] = []
        started = time.time()
        if not args.report_only:
            workers = args.workers or preset.workers
            if workers < 1:
                raise ExperimentError(f"--workers must be >= 1, got {workers}")
            errors = run_grid(preset, out, workers, args.max_runs, args.address)
        specs = plan_runs(preset)
        records = finished_records(out / "runs", specs)
        results = args.results or out / "results"
        refs = ensure_references(preset, out)
        data = {k: p for k, p in dataset_paths(preset, out).items() if p.is_file()}
        table = write_results(preset, records, specs, out / "runs", results, refs, data)
    except H2OError as err:
        print(f"h2o-experiment: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("h2o-experiment: interrupted (finished runs are kept; run again to resume)")
        return 130
    print(f"\n{table}\n\nresults: {results}  ({(time.time() - started) / 60:.1f} min)")
    for line in errors:
        print(f"failed: {line}", file=sys.stderr)
    return 0 if len(records) == len(specs) and not errors else 1


if __name__ == "__main__":
    sys.exit(main())
