"""The run folder: one directory per training run holding everything it produced.

Layout::

    <run>/config.yaml          resolved config (hash in its first line)
    <run>/checkpoints/         epoch_00010.pt ... (resumable; the newest few are kept) and
                               best.pt (the best evaluated epoch so far; never pruned)
    <run>/metrics.csv          one row per epoch (training losses, evaluation returns, ...)
    <run>/tb/                  TensorBoard event files
    <run>/curves.png           learning curves: evaluation return in real vs sim, losses
    <run>/best_<task>.onnx     the best evaluated epoch's policy (from checkpoints/best.pt)
    <run>/last_<task>.onnx     the final epoch's policy
    <run>/<task>.onnx          the deployed policy: a copy of the one ``run.export`` names,
                               the choice added to its metadata ``extra``
    <run>/export.json          which one that is, its epoch and return, and why

The last four are written at the end of the run (:mod:`h2o_learning.training.selection`).
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, replace
from pathlib import Path

import yaml

from h2o_learning.training.checkpoint import (
    BEST_CHECKPOINT,
    checkpoint_name,
    latest_checkpoint,
)
from h2o_learning.training.config import TrainConfig, config_from_dict, config_hash, save_config
from h2o_robot_bridge.errors import ConfigError


@dataclass(frozen=True)
class RunFolder:
    """Paths inside one run folder (see the module docstring)."""

    root: Path

    @property
    def config_path(self) -> Path:
        return self.root / "config.yaml"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def metrics_csv(self) -> Path:
        return self.root / "metrics.csv"

    @property
    def tensorboard(self) -> Path:
        return self.root / "tb"

    @property
    def curves_png(self) -> Path:
        return self.root / "curves.png"

    @property
    def best_checkpoint(self) -> Path:
        return self.checkpoints / BEST_CHECKPOINT

    @property
    def export_record(self) -> Path:
        return self.root / "export.json"

    def checkpoint(self, epoch: int) -> Path:
        """Path of the checkpoint after ``epoch`` epochs."""
        return self.checkpoints / checkpoint_name(epoch)

    def latest_checkpoint(self) -> Path | None:
        """The newest checkpoint, or None."""
        return latest_checkpoint(self.checkpoints)

    def prune_checkpoints(self, keep: int) -> None:
        """Delete all but the ``keep`` newest epoch checkpoints (``best.pt`` stays)."""
        found = sorted(self.checkpoints.glob("epoch_*.pt"))
        for old in found[: max(0, len(found) - keep)]:
            old.unlink()


def default_run_dir(config: TrainConfig, now: _dt.datetime | None = None) -> Path:
    """``<run.root>/<name>-<YYYYmmdd-HHMMSS>``."""
    stamp = (now or _dt.datetime.now()).strftime("%Y%m%d-%H%M%S")
    return Path(config.run.root) / f"{config.name}-{stamp}"


def open_run_folder(config: TrainConfig, run_dir: str | Path | None, resume: bool) -> RunFolder:
    """Create a new run folder, or reopen one to resume.

    A new run refuses a folder that already holds a run (config or checkpoints), so results are
    never mixed; ``resume`` requires one and a config with the same hash (``loop.epochs`` and
    the ``run`` section may differ, so a run can be extended).

    Raises:
        ConfigError: the folder state does not fit the request (message says what to do).
    """
    folder = RunFolder(Path(run_dir) if run_dir is not None else default_run_dir(config))
    if resume:
        _check_resumable(folder, config)
    else:
        if folder.config_path.exists() or folder.latest_checkpoint() is not None:
            raise ConfigError(
                f"run folder {folder.root} already holds a run; pass --resume to continue it "
                "or choose another --run-dir"
            )
        folder.root.mkdir(parents=True, exist_ok=True)
    folder.checkpoints.mkdir(parents=True, exist_ok=True)
    save_config(config, folder.config_path)
    return folder


def _check_resumable(folder: RunFolder, config: TrainConfig) -> None:
    if not folder.config_path.is_file():
        raise ConfigError(f"cannot resume: {folder.config_path} not found")
    saved = yaml.safe_load(folder.config_path.read_text())
    previous = config_from_dict(saved)
    if _resume_hash(previous) != _resume_hash(config):
        raise ConfigError(
            f"cannot resume {folder.root}: its config differs from this one in more than "
            "loop.epochs and run.* (start a new run instead)"
        )


def _resume_hash(config: TrainConfig) -> str:
    return config_hash(replace(config, loop=replace(config.loop, epochs=1)))
