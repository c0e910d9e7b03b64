"""Build a run's parts from its config, validating everything before training starts.

- :func:`load_real_data`: the offline real dataset, checked against the contract, the task,
  the command (or command range) and the control rate;
- :func:`data_stats`: observation normalisation statistics and the state std used by H2O's u;
- :func:`build_algorithm`: the algorithm with those statistics;
- :func:`check_env_spaces`: the simulator env's spaces match the contract;
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from h2o_learning.algorithms import algorithm_info, make_algorithm, next_state_noise_std
from h2o_learning.algorithms.protocol import Algorithm
from h2o_learning.training.config import TrainConfig
from h2o_robot_bridge.contract import (
    ACTION_DIM,
    DEFAULT_TIMING,
    OBS_DIM,
    OBS_SLICES,
    Timing,
    get_task,
)
from h2o_robot_bridge.dataset import Dataset, load_dataset
from h2o_robot_bridge.errors import ConfigError, ContractMismatchError, DatasetError


class DataStats(NamedTuple):
    """Statistics handed to the algorithm (each (OBS_DIM,) float32, or None without data)."""

    obs_mean: NDArray[np.float32] | None
    obs_std: NDArray[np.float32] | None
    state_std: NDArray[np.float32] | None


def command_of(config: TrainConfig) -> tuple[float, float]:
    """The task command of the run: the config's, else the task default."""
    task = get_task(config.env.task)
    if config.env.command is None:
        return task.command
    forward, yaw = config.env.command
    return forward, yaw


def load_real_data(config: TrainConfig, timing: Timing = DEFAULT_TIMING) -> Dataset | None:
    """The real dataset if the config names one (required for the real-data algorithms),
    checked against the run's control ``timing``.

    Raises:
        ConfigError: no ``data.path`` for an algorithm that needs it.
        DatasetError / ContractMismatchError: the file is missing, corrupt, or recorded for
            another contract, task, command or control rate.
    """
    path = config.data.path
    if path is None:
        if algorithm_info(config.algorithm).uses_real:
            raise ConfigError(
                f"{config.algorithm} trains on the real dataset but data.path is not set; "
                "make one with 'h2o-collect --kind medium --steps 20000 -o medium.h5' and pass "
                "--set data.path=medium.h5"
            )
        return None
    if not Path(path).is_file():
        raise DatasetError(
            f"data.path {path!r} not found (cwd {Path.cwd()}); make one with "
            f"'h2o-collect --kind medium --steps 20000 -o {path}'"
        )
    data = load_dataset(path, task=config.env.task)
    _check_matches_run(data, config, path, timing)
    return data


def _check_matches_run(data: Dataset, config: TrainConfig, path: str, timing: Timing) -> None:
    if data.size == 0:
        raise DatasetError(f"{path}: dataset holds no transitions")
    hz = float(data.meta["control_hz"])
    if not np.isclose(hz, timing.control_hz):
        raise ContractMismatchError(
            f"{path}: recorded at {hz} Hz, the simulator runs at {timing.control_hz} Hz"
        )
    _check_commands(data, config, path)
    if data.observations.shape[1:] != (OBS_DIM,) or data.actions.shape[1:] != (ACTION_DIM,):
        raise ContractMismatchError(
            f"{path}: shapes {data.observations.shape}/{data.actions.shape} do not match the "
            f"contract ({OBS_DIM} observations, {ACTION_DIM} actions)"
        )


def _check_commands(data: Dataset, config: TrainConfig, path: str) -> None:
    """A one-command run needs data recorded under that command; a run over a command range
    takes data under any commands the deploy runner passes (often only part of the range)."""
    drawn = data.meta.get("command_range")
    if config.env.command_range is None:
        want = command_of(config)
        got = tuple(float(c) for c in data.meta["command"])
        if drawn is not None:
            raise ContractMismatchError(
                f"{path}: recorded with commands drawn from {drawn}, this run uses the one "
                f"command {want} (set env.command_range)"
            )
        if not np.allclose(got, want):
            raise ContractMismatchError(
                f"{path}: recorded with command {got}, this run uses {want} (set env.command)"
            )
        return
    limit = np.asarray(get_task(config.env.task).max_command)
    cmd = data.observations[:, OBS_SLICES["command"]]
    if not (np.all(np.isfinite(cmd)) and np.all(np.abs(cmd) <= limit + 1e-6)):
        raise ContractMismatchError(
            f"{path}: rows hold commands beyond the task's +-{limit.tolist()} (or not finite)"
        )


def sim_buffer_capacity(config: TrainConfig, data: Dataset | None) -> int:
    """Online buffer size: ``loop.sim_buffer_capacity``, else 10x the real dataset
    (reference), else room for every sim step of the run."""
    loop = config.loop
    if loop.sim_buffer_capacity is not None:
        return loop.sim_buffer_capacity
    if data is not None:
        return 10 * data.size
    return max(1, loop.epochs * loop.sim_steps_per_epoch)


def data_stats(config: TrainConfig, data: Dataset | None) -> DataStats:
    """Observation mean/std (for the normaliser) and the state std of H2O's u (the real
    states' std + 1e-3, or the reference's legacy variant when ``algo.legacy_u``)."""
    if data is None:
        return DataStats(None, None, None)
    obs = data.observations.astype(np.float64)
    mean = obs.mean(axis=0).astype(np.float32)
    std = obs.std(axis=0).astype(np.float32)
    state_std = next_state_noise_std(
        data.observations, config.algo.legacy_u, sim_buffer_capacity(config, data)
    )
    return DataStats(mean, std, state_std)


def build_algorithm(config: TrainConfig, stats: DataStats) -> Algorithm:
    """The configured algorithm for the robot's observation and action sizes."""
    return make_algorithm(
        config.algorithm,
        OBS_DIM,
        ACTION_DIM,
        config.algo,
        obs_mean=stats.obs_mean,
        obs_std=stats.obs_std,
        state_std=stats.state_std,
        seed=config.seed,
        device=config.run.device,
    )


def check_env_spaces(env: Any, what: str) -> None:
    """The env's observation and action spaces are the contract's.

    Raises:
        ContractMismatchError: naming the space that differs.
    """
    obs_shape = tuple(env.observation_space.shape)
    act_shape = tuple(env.action_space.shape)
    if obs_shape != (OBS_DIM,) or act_shape != (ACTION_DIM,):
        raise ContractMismatchError(
            f"{what}: env spaces obs {obs_shape} / action {act_shape}, contract has "
            f"({OBS_DIM},) / ({ACTION_DIM},)"
        )
    low, high = np.asarray(env.action_space.low), np.asarray(env.action_space.high)
    if not (np.allclose(low, -1.0) and np.allclose(high, 1.0)):
        raise ContractMismatchError(f"{what}: action space is not [-1, 1]^{ACTION_DIM}")


def resolve_checkpoint(path: str | Path) -> Path:
    """A checkpoint file, or the newest one of a run folder (``<run>`` or ``<run>/checkpoints``).

    Raises:
        CheckpointError: nothing found.
    """
    from h2o_learning.training.checkpoint import CheckpointError, latest_checkpoint  # noqa: PLC0415

    path = Path(path)
    if path.is_dir():
        found = latest_checkpoint(path / "checkpoints") or latest_checkpoint(path)
        if found is None:
            raise CheckpointError(f"no checkpoint (epoch_*.pt) in run folder {path}")
        return found
    return path


def algorithm_from_checkpoint(path: str | Path) -> tuple[TrainConfig, Algorithm, dict[str, Any]]:
    """Rebuild a run's algorithm from a checkpoint (file or run folder).

    Returns:
        (config, algorithm with the saved weights, the checkpoint payload).

    Raises:
        CheckpointError: missing/corrupt checkpoint or weights that do not fit.
        ContractMismatchError: written under another contract.
    """
    from h2o_learning.training.checkpoint import CheckpointError, load_checkpoint  # noqa: PLC0415
    from h2o_learning.training.config import config_from_dict  # noqa: PLC0415

    file = resolve_checkpoint(path)
    payload = load_checkpoint(file)
    try:
        config = config_from_dict(payload["config"])
    except ConfigError as err:
        raise CheckpointError(f"{file}: saved config is invalid: {err}") from err
    saved = payload.get("stats") or {}
    stats = DataStats(
        *(None if saved.get(k) is None else saved[k].numpy() for k in DataStats._fields)
    )
    algo = build_algorithm(config, stats)
    try:
        algo.load_state_dict(payload["algorithm"])
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        raise CheckpointError(f"{file}: weights do not fit {config.algorithm}: {err}") from err
    return config, algo, payload
