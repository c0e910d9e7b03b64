"""The demo's config (``config/demo/demo.yaml``): typed sections, budgets, training configs.

A budget (``--budget tiny|demo``) is a mapping under ``budgets:`` merged over the rest of the
file, section by section. Unknown keys and wrong types raise :class:`ConfigError` naming the
dotted key (the same strict loader as the training configs).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from h2o_learning.algorithms import ALGORITHMS
from h2o_learning.training.config import (
    ExportChoice,
    TrainConfig,
    config_from_dict,
    deep_merge,
    load_raw,
)
from h2o_learning.training.config_schema import from_dict
from h2o_robot_bridge.config_files import config_file, load_yaml_mapping
from h2o_robot_bridge.contract import get_task
from h2o_robot_bridge.deploy.config import TRIGGERS
from h2o_robot_bridge.errors import ConfigError

PACKAGE = "h2o_learning"

DEFAULT_CONFIG = "demo/demo.yaml"


@dataclass(frozen=True)
class CollectStage:
    """Recording the real dataset over DDS.

    Attributes:
        noise_std: exploration noise around the classical controller [action units].
        transitions: scored control ticks to drive before stopping.
        sim_seed: seed of the simulator node.
        timeout: wall-clock limit of the stage [s].
    """

    noise_std: float = 0.2
    transitions: int = 5000
    sim_seed: int = 0
    timeout: float = 300.0

    def __post_init__(self) -> None:
        if not self.noise_std >= 0:
            raise ConfigError(f"collect.noise_std must be >= 0, got {self.noise_std}")
        if self.transitions < 10:
            raise ConfigError(f"collect.transitions must be >= 10, got {self.transitions}")
        if not self.timeout > 0:
            raise ConfigError(f"collect.timeout must be > 0, got {self.timeout}")


@dataclass(frozen=True)
class TrainStage:
    """Training H2O (and baselines) with the trainer.

    Attributes:
        base: training config (``config/train`` name or path) the runs start from.
        sim_dynamics: dynamics profile of the simulator the learners roll out in.
        baselines: other algorithms trained at the same time (``sac``, ``cql``, ...).
        max_minutes: wall-clock cap per run; a run stops after the epoch that passes it and
            exports what it has.
        threads: torch threads per training process.
        sim_randomize: knob ranges drawn at every reset of the training simulator
            (``env.sim_randomize`` of the training config: e.g. the actuation delay).
        export: which epoch each run deploys (the runs' ``run.export``): ``best``, the one
            with the highest in-process ``real`` return at the trainer's evaluations, or
            ``last``; the run folder's ``export.json`` says which and why.
        loop, algo: overrides of the base config's ``loop`` and ``algo`` sections.
    """

    base: str = "h2o_stand"
    sim_dynamics: str = "gravity_x2"
    baselines: tuple[str, ...] = ("sac",)
    max_minutes: float = 7.5
    threads: int = 1
    sim_randomize: dict[str, tuple[float, float]] = field(default_factory=dict)
    export: ExportChoice = "best"
    loop: dict[str, Any] = field(default_factory=dict)
    algo: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in self.baselines:
            if name not in ALGORITHMS or name == "h2o":
                raise ConfigError(
                    f"train.baselines: {name!r} is not a baseline; known: "
                    f"{sorted(set(ALGORITHMS) - {'h2o'})}"
                )
        if not self.max_minutes > 0:
            raise ConfigError(f"train.max_minutes must be > 0, got {self.max_minutes}")
        if self.threads < 1:
            raise ConfigError(f"train.threads must be >= 1, got {self.threads}")


@dataclass(frozen=True)
class DeployStage:
    """Evaluating each policy through policy_runner on the ``real`` simulator node.

    Attributes:
        episodes: evaluation episodes per policy.
        time_limit_steps: control ticks per episode (None: the task's limit).
        sim_seed: simulator seed (the same initial states for every policy).
        timeout: wall-clock limit per policy [s].
    """

    episodes: int = 3
    time_limit_steps: int | None = None
    sim_seed: int = 100
    timeout: float = 150.0

    def __post_init__(self) -> None:
        if self.episodes < 1:
            raise ConfigError(f"deploy.episodes must be >= 1, got {self.episodes}")
        if self.time_limit_steps is not None and self.time_limit_steps < 1:
            raise ConfigError(f"deploy.time_limit_steps must be >= 1, got {self.time_limit_steps}")
        if not self.timeout > 0:
            raise ConfigError(f"deploy.timeout must be > 0, got {self.timeout}")


@dataclass(frozen=True)
class EvaluateStage:
    """In-process evaluation of each policy through the deploy runner core (no DDS).

    Attributes:
        episodes: episodes per policy on the ``real`` profile (the number the DDS deployment
            is compared with).
        robustness: perturbed ``real`` profiles, name -> dynamics knobs (e.g.
            ``{latency_steps: 10}``); each policy is evaluated on every one.
        robustness_episodes: episodes per policy and perturbed profile.
        seed: seed of the evaluation episodes' initial states.
    """

    episodes: int = 10
    robustness: dict[str, dict[str, float]] = field(default_factory=dict)
    robustness_episodes: int = 5
    seed: int = 0

    def __post_init__(self) -> None:
        if self.episodes < 1 or self.robustness_episodes < 1:
            raise ConfigError("evaluate.episodes and evaluate.robustness_episodes must be >= 1")


@dataclass(frozen=True)
class DemoConfig:
    """The whole demo (see ``config/demo/demo.yaml``).

    Attributes:
        seed: seed of the training runs.
        task: contract task.
        trigger: ``policy_runner``'s trigger in the DDS stages (``sensors``, ``timer``,
            ``imu``, ``joint_states``).
    """

    seed: int = 0
    task: str = "stand"
    trigger: str = "sensors"
    collect: CollectStage = field(default_factory=CollectStage)
    train: TrainStage = field(default_factory=TrainStage)
    evaluate: EvaluateStage = field(default_factory=EvaluateStage)
    deploy: DeployStage = field(default_factory=DeployStage)

    def __post_init__(self) -> None:
        get_task(self.task)
        if self.trigger not in TRIGGERS:
            raise ConfigError(f"trigger must be one of {TRIGGERS}, got {self.trigger!r}")
        if self.seed < 0:
            raise ConfigError(f"seed must be >= 0, got {self.seed}")


def resolve_demo_config(path: str | Path | None) -> Path:
    """The config file: a path, or the shipped ``config/demo/demo.yaml`` when None."""
    if path is None:
        return config_file(PACKAGE, DEFAULT_CONFIG)
    if not Path(path).is_file():
        raise ConfigError(f"demo config {str(path)!r} not found")
    return Path(path)


def load_demo_config(path: str | Path | None = None, budget: str = "demo") -> DemoConfig:
    """Load the demo config with budget ``budget`` merged in.

    Raises:
        ConfigError: unreadable file, unknown budget, unknown key or bad value.
    """
    file = resolve_demo_config(path)
    raw = load_yaml_mapping(file, "demo config")
    budgets = raw.pop("budgets", None) or {}
    if budget not in budgets:
        raise ConfigError(f"{file}: unknown budget {budget!r}; known: {sorted(budgets)}")
    return from_dict(DemoConfig, deep_merge(raw, budgets[budget] or {}))


def train_config(demo: DemoConfig, algorithm: str, dataset: Path, run_root: Path) -> TrainConfig:
    """The training config of one demo run (the base config with the demo's sections)."""
    t = demo.train
    top = {
        "name": f"demo_{algorithm}",
        "algorithm": algorithm,
        "seed": demo.seed,
        "env": {
            "task": demo.task,
            "sim_dynamics": t.sim_dynamics,
            "sim_randomize": {k: list(v) for k, v in t.sim_randomize.items()},
            "eval_dynamics": "real",
        },
        "data": {"path": str(dataset)},
        "loop": dict(t.loop),
        "algo": dict(t.algo),
        "run": {
            "root": str(run_root),
            "threads": t.threads,
            "progress": True,
            "tensorboard": True,
            "export": t.export,
        },
    }
    return config_from_dict(deep_merge(load_raw(t.base), top))
