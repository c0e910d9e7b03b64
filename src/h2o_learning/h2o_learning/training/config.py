"""The training run's one typed config: sections, YAML loading, ``--set`` overrides, a hash.

A run is described by a YAML file under ``config/train/`` (see ``h2o_stand.yaml``)::

    name: h2o_stand          # required
    algorithm: h2o           # required: a name in the algorithm registry (sac, ..., h2o)
    seed: 0
    env:  {task, sim_dynamics, sim_overrides, sim_randomize, eval_dynamics, eval_overrides,
           command, command_range}
    data: {path}             # the offline real dataset (HDF5 from h2o-collect / h2o-dataset)
    loop: {epochs, sim_steps_per_epoch, grad_steps_per_epoch, ...}
    algo: {...}              # AlgorithmConfig fields (networks, learning rates, H2O terms)
    run:  {root, threads, progress, tensorboard, export, export_name}

A file may start from another with ``extends: other.yaml`` (resolved next to it); its keys then
override the base's, section by section. Unknown or missing keys and wrong types raise
:class:`ConfigError` naming the dotted key. :func:`config_hash` fingerprints everything that
changes what is learned (all sections but ``run``); it goes into checkpoints and the ONNX
metadata.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

import yaml

from h2o_learning.algorithms import ALGORITHMS, AlgorithmConfig
from h2o_learning.training.config_schema import from_dict, to_dict
from h2o_robot_bridge.config_files import config_file, load_yaml_mapping
from h2o_robot_bridge.contract import CommandRange, get_task
from h2o_robot_bridge.errors import ConfigError

PACKAGE = "h2o_learning"

ExportChoice = Literal["best", "last"]
"""Which epoch's policy a run deploys as ``<task>.onnx`` (``run.export``)."""
EXPORT_CHOICES: tuple[str, ...] = get_args(ExportChoice)


@dataclass(frozen=True)
class EnvConfig:
    """The simulator the learner rolls out in, and the evaluation environments.

    Attributes:
        task: contract task (``stand``, ``move_straight``).
        sim_dynamics: dynamics profile of the *sim* MDP (name in ``config/dynamics`` or a path).
        sim_overrides: profile knobs changed on top of ``sim_dynamics`` (e.g. gravity_scale).
        sim_randomize: knob ranges ``{knob: [low, high]}`` drawn afresh at every reset of the
            training sim env (domain randomisation: e.g. ``latency_steps: [0, 20]`` for an
            actuation delay of 0-2 control periods the user does not know exactly).
        eval_dynamics: profile standing in for the real robot (evaluation, logged as ``real``).
        eval_overrides: knobs on top of ``eval_dynamics`` (e.g. the robot's known delay).
        command: task command (forward speed [m/s], yaw rate [rad/s]); task default if null.
        command_range: ``{forward: [low, high], yaw: [low, high]}``: every training episode
            draws its command uniformly from it, and evaluations run on its fixed grid of
            commands (``CommandRange.grid``); null: the one ``command``. Not with ``command``.
    """

    task: str = "stand"
    sim_dynamics: str = "gravity_x2"
    sim_overrides: dict[str, float] = field(default_factory=dict)
    sim_randomize: dict[str, tuple[float, float]] = field(default_factory=dict)
    eval_dynamics: str = "real"
    eval_overrides: dict[str, float] = field(default_factory=dict)
    command: tuple[float, float] | None = None
    command_range: CommandRange | None = None

    def __post_init__(self) -> None:
        task = get_task(self.task)
        if self.command_range is not None:
            if self.command is not None:
                raise ConfigError("env.command and env.command_range: set one of them, not both")
            self.command_range.check(task)
        for name, (low, high) in self.sim_randomize.items():
            if not low <= high:
                raise ConfigError(f"env.sim_randomize.{name}: need low <= high, got {low, high}")


@dataclass(frozen=True)
class DataConfig:
    """The offline real dataset.

    Attributes:
        path: HDF5 dataset (D4RL keys, this contract). Required by algorithms that use real
            data (``uses_real`` in the algorithm registry); for the others it only provides
            observation statistics. Relative paths are relative to the working directory.
    """

    path: str | None = None


@dataclass(frozen=True)
class LoopConfig:
    """Counts of the training loop (docs/algorithm.md, "The loop"; reference values in brackets).

    Attributes:
        epochs: number of epochs [1000].
        sim_steps_per_epoch: sim env steps with the stochastic policy per epoch [1000].
        grad_steps_per_epoch: gradient steps per epoch [1000].
        warmup_steps: first sim steps taken with uniform random actions [0].
        learning_starts: no gradient step before the sim buffer holds this many transitions
            (sim algorithms; at least one sim batch is always required) [0].
        sim_buffer_capacity: online buffer size; null = 10x the real dataset (reference), or
            ``epochs * sim_steps_per_epoch`` without one.
        eval_every: evaluate every this many epochs (and after the last) [10].
        eval_episodes: deterministic episodes per evaluation and profile [5].
        eval_sim: also evaluate in the sim profile (logged separately from ``real``).
        eval_max_steps: cap on evaluation episode length; null = the task's time limit.
        checkpoint_every: save a checkpoint every this many epochs (and after the last).
    """

    epochs: int = 100
    sim_steps_per_epoch: int = 1000
    grad_steps_per_epoch: int = 1000
    warmup_steps: int = 0
    learning_starts: int = 0
    sim_buffer_capacity: int | None = None
    eval_every: int = 10
    eval_episodes: int = 5
    eval_sim: bool = True
    eval_max_steps: int | None = None
    checkpoint_every: int = 1

    def __post_init__(self) -> None:
        positive = ("epochs", "eval_every", "eval_episodes", "checkpoint_every")
        for name in positive:
            if getattr(self, name) < 1:
                raise ConfigError(f"loop.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("sim_steps_per_epoch", "grad_steps_per_epoch", "warmup_steps"):
            if getattr(self, name) < 0:
                raise ConfigError(f"loop.{name} must be >= 0, got {getattr(self, name)}")
        if self.learning_starts < 0:
            raise ConfigError(f"loop.learning_starts must be >= 0, got {self.learning_starts}")
        for name in ("sim_buffer_capacity", "eval_max_steps"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ConfigError(f"loop.{name} must be >= 1 or null, got {value}")


@dataclass(frozen=True)
class RunConfig:
    """Where and how the run is recorded (not part of the config hash).

    Attributes:
        root: folder under which ``<name>-<time>`` run folders are made (unless --run-dir).
        threads: torch intra-op threads; 0 keeps torch's default.
        device: torch device.
        progress: show a tqdm progress bar.
        tensorboard: write TensorBoard event files (``metrics.csv`` is always written).
        export: which epoch's policy ``export_name`` holds at the end: ``best``, the evaluated
            epoch with the highest runner evaluation return on ``real`` (ties: the earlier;
            the last epoch when no evaluation ran), or ``last``, the final epoch. Both are
            kept as ``best_<export_name>`` and ``last_<export_name>``; ``export.json`` says
            which was chosen and why (:mod:`h2o_learning.training.selection`).
        export_name: ONNX file written into the run folder at the end; null = ``<task>.onnx``.
    """

    root: str = "runs"
    threads: int = 0
    device: str = "cpu"
    progress: bool = True
    tensorboard: bool = True
    export: ExportChoice = "best"
    export_name: str | None = None

    def __post_init__(self) -> None:
        if self.threads < 0:
            raise ConfigError(f"run.threads must be >= 0, got {self.threads}")
        if self.export not in EXPORT_CHOICES:  # YAML is checked on load; this is for code
            raise ConfigError(
                f"run.export must be one of {list(EXPORT_CHOICES)}, got {self.export!r}"
            )


@dataclass(frozen=True)
class TrainConfig:
    """A whole training run (see the module docstring for the YAML layout)."""

    name: str
    algorithm: str
    seed: int = 0
    env: EnvConfig = field(default_factory=EnvConfig)
    data: DataConfig = field(default_factory=DataConfig)
    loop: LoopConfig = field(default_factory=LoopConfig)
    algo: AlgorithmConfig = field(default_factory=AlgorithmConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def __post_init__(self) -> None:
        if self.algorithm not in ALGORITHMS:
            raise ConfigError(f"algorithm {self.algorithm!r} unknown; known: {sorted(ALGORITHMS)}")
        if not self.name or "/" in self.name:
            raise ConfigError(f"name must be a non-empty file-name-safe string, got {self.name!r}")
        if self.seed < 0:
            raise ConfigError(f"seed must be >= 0, got {self.seed}")

    @property
    def export_name(self) -> str:
        """File name of the exported policy."""
        return self.run.export_name or f"{self.env.task}.onnx"


def config_to_dict(config: TrainConfig) -> dict[str, Any]:
    """The resolved config as plain data (what ``config.yaml`` in a run folder holds)."""
    return to_dict(config)


def config_from_dict(data: dict[str, Any]) -> TrainConfig:
    """Strict inverse of :func:`config_to_dict` (unknown/missing keys -> ConfigError)."""
    return from_dict(TrainConfig, data)


LATER_ALGO_DEFAULTS: dict[str, Any] = {"disc_residual_l2": 0.0, "disc_stale_weights": False}
LATER_ENV_DEFAULTS: dict[str, Any] = {"command_range": None}
"""Algorithm (and env) settings added after runs were first fingerprinted, with the value that
computes what runs without the setting computed: at that value they are left out of the
fingerprint, so earlier runs (finished experiment runs, checkpoints) still match the config they
were trained with."""


def learning_dict(data: dict[str, Any]) -> dict[str, Any]:
    """What of a config's plain data (:func:`config_to_dict`) changes what is learned: without
    ``run``, and without the :data:`LATER_ALGO_DEFAULTS` / :data:`LATER_ENV_DEFAULTS` settings
    at their neutral value."""
    out = {k: v for k, v in data.items() if k != "run"}
    for section, later in (("algo", LATER_ALGO_DEFAULTS), ("env", LATER_ENV_DEFAULTS)):
        values = dict(out.get(section, {}))
        for name, neutral in later.items():
            if name in values and values[name] == neutral:
                del values[name]
        out[section] = values
    return out


def config_hash(config: TrainConfig) -> str:
    """12 hex digits fingerprinting everything that changes what is learned
    (:func:`learning_dict`)."""
    text = json.dumps(learning_dict(config_to_dict(config)), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def resolve_config_path(name_or_path: str | Path) -> Path:
    """A config file: an existing path, else a name in the shipped ``config/train`` folder
    (``h2o_stand`` or ``h2o_stand.yaml``)."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    name = path.name if path.suffix in (".yaml", ".yml") else f"{path.name}.yaml"
    try:
        return config_file(PACKAGE, f"train/{name}")
    except ConfigError as err:
        raise ConfigError(f"training config {str(name_or_path)!r} not found: {err}") from err


def load_raw(path: str | Path, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """The YAML mapping of a config file with ``extends`` chains merged (base first)."""
    path = resolve_config_path(path).resolve()
    if path in _seen:
        raise ConfigError(f"{path}: 'extends' loop through {[str(p) for p in _seen]}")
    data = load_yaml_mapping(path, "training config")
    base_name = data.pop("extends", None)
    if base_name is None:
        return data
    local = path.parent / str(base_name)
    base = load_raw(local if local.is_file() else str(base_name), (*_seen, path))
    return deep_merge(base, data)


def deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """``top`` over ``base``; nested mappings merge key by key (new dict, inputs untouched)."""
    out = copy.deepcopy(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def apply_overrides(
    data: dict[str, Any], overrides: list[str] | tuple[str, ...]
) -> dict[str, Any]:
    """Apply ``a.b=c`` overrides (values parsed as YAML: ``3``, ``1e-3``, ``[64,64]``, ``null``).

    Keys are checked later by :func:`config_from_dict`, so a misspelt key still fails.
    """
    out = copy.deepcopy(data)
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"override {item!r} is not of the form section.key=value")
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise ConfigError(f"override {item!r}: value is not valid YAML: {err}") from err
        node = out
        parts = key.strip().split(".")
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"override {item!r}: {part!r} is not a section")
            node = child
        node[parts[-1]] = value
    return out


def load_config(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> TrainConfig:
    """Load, merge ``extends``, apply ``--set`` overrides and validate a training config."""
    return config_from_dict(apply_overrides(load_raw(path), overrides))


def save_config(config: TrainConfig, path: str | Path) -> Path:
    """Write the resolved config (with its hash as a comment) as YAML."""
    path = Path(path)
    header = f"# resolved h2o training config, hash {config_hash(config)}\n"
    path.write_text(header + yaml.safe_dump(config_to_dict(config), sort_keys=False))
    return path
