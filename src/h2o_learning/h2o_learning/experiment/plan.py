"""The experiment's presets and its grid of runs (pure: no training here).

A preset (``config/experiment/<name>.yaml``) names the methods, sim gaps, real datasets and
seeds, the behaviour-dataset size, the worker count and the training budget (``train`` sections
merged over ``config/train/h2o_stand.yaml``). The grid follows the paper's table: SAC never sees
the real dataset, so it runs once per (gap, seed) and its cell repeats across datasets; CQL
never sees the simulator, so it runs once per (dataset, seed) and repeats across gaps (which
data each method uses is its ``uses_real``/``uses_sim`` in the algorithm registry).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from h2o_learning.algorithms import ALGORITHMS, algorithm_info
from h2o_learning.training.config import TrainConfig, config_from_dict, deep_merge, load_raw
from h2o_learning.training.config_schema import from_dict
from h2o_robot_bridge.config_files import config_file, load_yaml_mapping
from h2o_robot_bridge.contract import CommandRange, get_task
from h2o_robot_bridge.errors import ConfigError

METHODS = tuple(ALGORITHMS)
CANDIDATE_GAPS = ("gravity_x0.5", "motor_x2")
"""Gaps where the simulator is easier than the robot (the paper's are harder or noisier): what
they cost a sim-only policy is measured by the ``gap_calibration`` preset."""
NO_GAP = "real"
"""The control gap: the simulator runs the robot's own profile (sim = real), where H2O's
importance weights should be ~1 and H2O should match SAC trained in ``real``."""
GAPS = (NO_GAP, "gravity_x2", "friction_x0.3", "joint_noise", *CANDIDATE_GAPS)
DATASETS = ("medium", "medium-replay", "medium-expert")
TRAIN_SECTIONS = frozenset({"loop", "algo", "env"})
"""The training-config sections a preset's ``train`` and ``method_train`` may set."""
STATS_DATASET = "medium"
"""SAC trains in the simulator only; its observation normaliser takes this dataset's statistics
(as ``config/train/sac_stand.yaml`` does), nothing else of the real data."""


@dataclass(frozen=True)
class Preset:
    """An experiment preset (see the module docstring).

    Attributes:
        name: preset name (the file name).
        methods, gaps, datasets: the grid (subsets of METHODS, GAPS, DATASETS).
        seeds: training seeds (>= 3 for the published tables).
        dataset_steps: transitions per behaviour dataset (``h2o-collect``, ``real`` profile).
        dataset_seed: seed of the behaviour datasets (fixed, like D4RL's files).
        dataset_command_range: each behaviour episode's command drawn from it (e.g. only slow
            forward speeds: the data cover part of what the runs are asked to do); None: the
            task's one command.
        dataset_track_fraction: the medium behaviour's controller tracks this fraction of
            the command (``h2o-collect --track-fraction``: a mediocre behaviour below 1).
        workers: parallel training processes (one torch thread each).
        stack_seeds: up to this many seeds of one (method, gap, dataset) train in one of
            those processes as a seed stack (SAC and H2O; the others always alone), which
            batches their gradient steps (``bench/train_speed.py``); 1: every run alone.
        estimated_minutes: documented wall time of the whole preset on 2 cores.
        task: contract task.
        base: training config the runs start from.
        train: ``loop``/``algo``/... sections merged over ``base``.
        method_train: per method, sections merged over ``train`` for that method's runs only
            (e.g. DARC's own classifier noise and warm-up for ``darc_plus`` while H2O keeps
            the spec's discriminators).
    """

    name: str
    methods: tuple[str, ...] = METHODS
    gaps: tuple[str, ...] = GAPS
    datasets: tuple[str, ...] = DATASETS
    seeds: tuple[int, ...] = (0, 1, 2)
    dataset_steps: int = 20000
    dataset_seed: int = 0
    dataset_command_range: CommandRange | None = None
    dataset_track_fraction: float = 1.0
    workers: int = 2
    stack_seeds: int = 1
    estimated_minutes: float = 0.0
    task: str = "stand"
    base: str = "h2o_stand"
    train: dict[str, Any] = field(default_factory=dict)
    method_train: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for key, allowed in (("methods", METHODS), ("gaps", GAPS), ("datasets", DATASETS)):
            bad = [v for v in getattr(self, key) if v not in allowed]
            if bad or not getattr(self, key):
                raise ConfigError(f"{self.name}: {key} {bad or '[]'} not in {list(allowed)}")
        if not self.seeds:
            raise ConfigError(f"{self.name}: seeds is empty")
        if self.dataset_steps < 10 or self.workers < 1 or self.stack_seeds < 1:
            raise ConfigError(
                f"{self.name}: dataset_steps >= 10, workers >= 1 and stack_seeds >= 1 required"
            )
        unknown = set(self.train) - TRAIN_SECTIONS
        if unknown:
            raise ConfigError(f"{self.name}: train may hold loop, algo, env; got {unknown}")
        for method, sections in self.method_train.items():
            if method not in self.methods:
                raise ConfigError(f"{self.name}: method_train names {method!r}, not a method")
            if not isinstance(sections, dict) or set(sections) - TRAIN_SECTIONS:
                raise ConfigError(f"{self.name}: method_train.{method} may hold loop, algo, env")
        if self.dataset_command_range is not None:
            self.dataset_command_range.check(get_task(self.task))
        if not 0.0 <= self.dataset_track_fraction <= 1.0:
            raise ConfigError(f"{self.name}: dataset_track_fraction must be in [0, 1]")


def load_preset(name_or_path: str) -> Preset:
    """A shipped preset (``micro``, ``quick``, ``full``) or a YAML file.

    Raises:
        ConfigError: not found, bad YAML, unknown key or bad value.
    """
    path = Path(name_or_path)
    if not path.is_file():
        try:
            path = config_file("h2o_learning", f"experiment/{path.stem}.yaml")
        except ConfigError as err:
            raise ConfigError(f"experiment preset {name_or_path!r} not found: {err}") from err
    raw = load_yaml_mapping(path, "experiment preset")
    return from_dict(Preset, {"name": path.stem, **raw})


@dataclass(frozen=True)
class RunSpec:
    """One training run of the grid.

    Attributes:
        method: algorithm name.
        gap: sim dynamics profile (None for CQL: no simulator).
        dataset: real dataset kind (None for SAC: no real data).
        seed: training seed.
    """

    method: str
    gap: str | None
    dataset: str | None
    seed: int

    @property
    def key(self) -> str:
        """Folder-safe unique name, e.g. ``h2o__gravity_x2__medium__s0``."""
        return f"{self.method}__{self.gap or 'nosim'}__{self.dataset or 'nodata'}__s{self.seed}"

    def cells(self, preset: Preset) -> list[tuple[str, str]]:
        """The (dataset, gap) table cells this run's result fills."""
        datasets = preset.datasets if self.dataset is None else (self.dataset,)
        gaps = preset.gaps if self.gap is None else (self.gap,)
        return [(d, g) for d in datasets for g in gaps]


def plan_runs(preset: Preset) -> list[RunSpec]:
    """Every run the preset needs, each once (seed-major, so early results cover the grid)."""
    runs: list[RunSpec] = []
    for seed in preset.seeds:
        for method in preset.methods:
            info = algorithm_info(method)
            gaps = preset.gaps if info.uses_sim else (None,)
            datasets = preset.datasets if info.uses_real else (None,)
            runs += [RunSpec(method, g, d, seed) for d in datasets for g in gaps]
    return runs


def plan_tasks(preset: Preset, runs: list[RunSpec]) -> list[list[RunSpec]]:
    """``runs`` as the grid's tasks: stacks of up to ``preset.stack_seeds`` seeds of one
    stackable (method, gap, dataset), every other run alone; in the order of each task's
    first run."""
    tasks: list[list[RunSpec]] = []
    open_stacks: dict[tuple[str, str | None, str | None], list[RunSpec]] = {}
    for spec in runs:
        key = (spec.method, spec.gap, spec.dataset)
        stack = open_stacks.get(key)
        if stack is not None and len(stack) < preset.stack_seeds:
            stack.append(spec)
            continue
        task = [spec]
        tasks.append(task)
        if preset.stack_seeds > 1 and algorithm_info(spec.method).stackable:
            open_stacks[key] = task
    return tasks


def run_config(
    preset: Preset, spec: RunSpec, datasets: dict[str, Path], root: Path
) -> TrainConfig:
    """The training config of one run (threads 1, no progress bar: several run at once)."""
    data = spec.dataset or (STATS_DATASET if STATS_DATASET in datasets else None)
    top: dict[str, Any] = {
        "name": spec.key,
        "algorithm": spec.method,
        "seed": spec.seed,
        "env": {"task": preset.task, "eval_dynamics": "real"},
        "data": {"path": str(datasets[data]) if data else None},
        "run": {"root": str(root), "threads": 1, "progress": False, "tensorboard": False},
    }
    if spec.gap is not None:
        top["env"]["sim_dynamics"] = spec.gap
    train = deep_merge(preset.train, preset.method_train.get(spec.method, {}))
    merged = deep_merge(deep_merge(load_raw(preset.base), train), top)
    # No simulator to evaluate "in sim" (CQL): the first gap stands in for its env section.
    if not algorithm_info(spec.method).uses_sim:
        merged["loop"]["eval_sim"] = False
    return config_from_dict(merged)


def eval_settings(preset: Preset) -> tuple[int, int | None]:
    """(episodes per evaluation, episode cap in ticks or None) of the preset's runs."""
    loop = _base_config(preset).loop
    return loop.eval_episodes, loop.eval_max_steps


def dataset_settings(preset: Preset) -> dict[str, Any]:
    """What the preset's behaviour datasets are collected with (the run configs name only the
    files' paths, so a finished run records these too: see ``check_finished_configs``)."""
    drawn = preset.dataset_command_range
    return {
        "steps": preset.dataset_steps,
        "seed": preset.dataset_seed,
        "task": preset.task,
        "command_range": None if drawn is None else drawn.to_list(),
        "track_fraction": preset.dataset_track_fraction,
    }


def train_command_range(preset: Preset) -> CommandRange | None:
    """The command range the preset's runs train and evaluate on (None: one command)."""
    return _base_config(preset).env.command_range


def _base_config(preset: Preset) -> TrainConfig:
    base = deep_merge(load_raw(preset.base), preset.train)
    base.setdefault("env", {})["task"] = preset.task
    return config_from_dict(base)
