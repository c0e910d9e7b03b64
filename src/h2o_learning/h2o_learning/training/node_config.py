"""The ``h2o_trainer`` node's parameters as one validated, frozen config (no rclpy).

The node declares :data:`PARAMETERS`, reads them back and calls :func:`node_config`; tests do
the same with plain values. Every problem is found here, before any training starts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from h2o_learning.training.config import TrainConfig, load_config

PARAMETERS: dict[str, Any] = {
    "config": "h2o_stand.yaml",  # a path or a name in config/train
    "dataset": "",  # real dataset path; overrides data.path when not empty
    "overrides": [""],  # section.key=value, as h2o-train --set ([""]: ROS needs a typed list)
    "run_dir": "",  # empty: <run.root>/<name>-<time>
    "resume": False,  # continue the run in run_dir from its newest checkpoint
    "export": True,  # export the policies (<task>.onnx: run.export's) into the run folder
}
"""The node's ROS parameters and their defaults."""


@dataclass(frozen=True)
class TrainerNodeConfig:
    """The node's parameters, resolved into a training config."""

    train: TrainConfig
    run_dir: str | None
    resume: bool
    export: bool


def node_config(values: Mapping[str, Any]) -> TrainerNodeConfig:
    """Validate parameter values (missing ones take :data:`PARAMETERS`' defaults).

    Raises:
        ConfigError: a bad config name, override or value (the message names it).
    """
    p = {**PARAMETERS, **values}
    sets = [s for s in (p["overrides"] or []) if s.strip()]
    if p["dataset"].strip():
        sets.append(f"data.path={p['dataset'].strip()}")
    train = load_config(p["config"], sets)
    return TrainerNodeConfig(train, p["run_dir"].strip() or None, bool(p["resume"]), p["export"])
