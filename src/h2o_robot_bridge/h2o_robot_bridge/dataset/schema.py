"""The offline dataset: its record type, metadata and validation (the only place that knows them).

A dataset holds N transitions ``(o, a, r, o', terminal, timeout)`` under the D4RL key names.
Episodes are the runs of rows between flags: row i ends an episode when ``terminals[i]`` (a fall,
no bootstrapping) or ``timeouts[i]`` (a truncation: time limit, a gap in the log, a reset, the
end of the recording). Every dataset's last row ends an episode.

Metadata (a JSON-serialisable dict saved with the arrays) holds :func:`contract_metadata` plus
``format``, ``task``, ``command``, ``control_hz``, ``source`` (free-form dict: dynamics profile
or robot id, bag path, topics, ...) and ``created`` (ISO 8601, UTC).
"""

from __future__ import annotations

import datetime as _dt
import json
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from h2o_robot_bridge.contract import (
    ACTION_DIM,
    OBS_DIM,
    CommandRange,
    check_contract_metadata,
    contract_metadata,
    get_task,
)
from h2o_robot_bridge.errors import ConfigError, DatasetError

FORMAT = "h2o-dataset/1"
"""Version of this layout; bumped when the file layout or a key changes meaning."""

KEYS: tuple[str, ...] = (
    "observations",
    "actions",
    "rewards",
    "next_observations",
    "terminals",
    "timeouts",
)
"""Array keys, in :class:`Dataset` field order (the D4RL names)."""

STAMP_FIELDS: tuple[str, ...] = ("joint_commands", "joint_states", "imu", "cmd_vel")
"""The samples an observation is built from, in the order of its stamps."""

STAMPS_PER_OBS = len(STAMP_FIELDS)

STAMP_KEYS: tuple[str, ...] = (*STAMP_FIELDS, *(f"next_{k}" for k in STAMP_FIELDS))
"""Columns of :attr:`Dataset.stamps`: the stamps behind ``observations`` then behind
``next_observations`` (the tick, i.e. the command sent, and the sensor samples and command used
at it; NaN where none was used, e.g. the task's default command)."""

ACTION_TOLERANCE = 1e-5
"""Actions may exceed [-1, 1] by this much (float32 rounding of scaled commands)."""


class Dataset(NamedTuple):
    """N transitions, D4RL keys, plus metadata.

    Attributes:
        observations: (N, OBS_DIM) float32, contract observation layout.
        actions: (N, ACTION_DIM) float32 in [-1, 1]: the clean action that was commanded.
        rewards: (N,) float32, the contract task's reward of each transition.
        next_observations: (N, OBS_DIM) float32.
        terminals: (N,) bool, True where the transition ends in a fall (no bootstrapping).
        timeouts: (N,) bool, True where the episode was truncated after this row (time limit,
            gap, reset, end of log); never True together with ``terminals``.
        meta: metadata dict (see the module docstring).
        stamps: optional (N, len(STAMP_KEYS)) float64, the raw header stamps [s] of the
            samples each row was built from (:data:`STAMP_KEYS`), for auditing the alignment;
            None where the rows do not come from a log (simulation, older files).
    """

    observations: NDArray[np.float32]
    actions: NDArray[np.float32]
    rewards: NDArray[np.float32]
    next_observations: NDArray[np.float32]
    terminals: NDArray[np.bool_]
    timeouts: NDArray[np.bool_]
    meta: dict[str, Any]
    stamps: NDArray[np.float64] | None = None

    @property
    def size(self) -> int:
        """Number of transitions (``len(data)`` is the tuple's field count, 8: use this)."""
        return int(self.observations.shape[0])

    def arrays(self, stamps: bool = False) -> dict[str, NDArray]:
        """The six arrays by D4RL key (plus ``stamps`` if asked for and present)."""
        out = {k: getattr(self, k) for k in KEYS}
        if stamps and self.stamps is not None:
            out["stamps"] = self.stamps
        return out


def utc_now() -> str:
    """Current time as ISO 8601 UTC text (the ``created`` field)."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def make_meta(
    task: str,
    control_hz: float,
    source: dict[str, Any] | None = None,
    command: tuple[float, float] | None = None,
    command_range: CommandRange | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """Metadata for a new dataset.

    Args:
        task: contract task name (``stand``, ``move_straight``); checked.
        control_hz: control rate the transitions were taken at [Hz].
        source: where the data comes from, e.g. ``{"kind": "bag", "path": ..., "topics": ...}``
            or ``{"kind": "sim", "dynamics": "real", "behaviour": "medium"}``.
        command: task command (forward speed [m/s], yaw rate [rad/s]); the task default if None.
        command_range: the range each episode's command was drawn from, if it was
            (``command_range``: ``[[forward low, high], [yaw low, high]]``; ``command`` is then
            only the default); the rows' observations hold the command of each row.
        extra: further JSON-serialisable keys (e.g. ``conversion`` statistics).
    """
    spec = get_task(task)
    if not control_hz > 0:
        raise ConfigError(f"control_hz must be positive, got {control_hz}")
    meta: dict[str, Any] = {
        "format": FORMAT,
        **contract_metadata(),
        "task": task,
        "command": [float(c) for c in (spec.command if command is None else command)],
        "control_hz": float(control_hz),
        "source": dict(source or {}),
        "created": utc_now(),
    }
    if command_range is not None:
        meta["command_range"] = command_range.check(spec).to_list()
    meta.update(extra)
    json.dumps(meta)  # fail here, not at save time, on non-serialisable metadata
    return meta


def empty_dataset(meta: dict[str, Any], stamps: bool = False) -> Dataset:
    """A dataset with zero rows and the given metadata (and an empty stamps array)."""
    return Dataset(
        np.zeros((0, OBS_DIM), np.float32),
        np.zeros((0, ACTION_DIM), np.float32),
        np.zeros((0,), np.float32),
        np.zeros((0, OBS_DIM), np.float32),
        np.zeros((0,), bool),
        np.zeros((0,), bool),
        meta,
        np.zeros((0, len(STAMP_KEYS))) if stamps else None,
    )


def from_arrays(arrays: dict[str, Any], meta: dict[str, Any]) -> Dataset:
    """Build a :class:`Dataset` from arrays by key, cast to the schema dtypes (no checks).

    Float arrays become float32, flags bool (any nonzero value is True), ``stamps`` (optional)
    float64.
    """
    stamps = arrays.get("stamps")
    try:
        return Dataset(
            np.asarray(arrays["observations"], dtype=np.float32),
            np.asarray(arrays["actions"], dtype=np.float32),
            np.asarray(arrays["rewards"], dtype=np.float32).reshape(-1),
            np.asarray(arrays["next_observations"], dtype=np.float32),
            np.asarray(arrays["terminals"]).astype(bool).reshape(-1),
            np.asarray(arrays["timeouts"]).astype(bool).reshape(-1),
            meta,
            None if stamps is None else np.asarray(stamps, dtype=np.float64),
        )
    except KeyError as err:
        raise DatasetError(f"dataset lacks key {err.args[0]!r} (has {sorted(arrays)})") from err
    except (TypeError, ValueError) as err:
        raise DatasetError(f"dataset arrays cannot be converted: {err}") from err


def concat_datasets(parts: list[Dataset], meta: dict[str, Any] | None = None) -> Dataset:
    """Rows of ``parts`` one after another (metadata of the first unless given)."""
    if not parts:
        if meta is None:
            raise DatasetError("nothing to concatenate")
        return empty_dataset(meta)
    arrays = {k: np.concatenate([getattr(p, k) for p in parts]) for k in KEYS}
    # Stamps survive only if every part has them (a partial audit trail would mislead).
    held = [p.stamps for p in parts if p.stamps is not None]
    stamps = np.concatenate(held) if len(held) == len(parts) else None
    return Dataset(**arrays, meta=parts[0].meta if meta is None else meta, stamps=stamps)


def close_last_episode(data: Dataset) -> Dataset:
    """Mark the last row as a truncation unless it already ends an episode (end of log)."""
    if data.size and not (data.terminals[-1] or data.timeouts[-1]):
        timeouts = data.timeouts.copy()
        timeouts[-1] = True
        return data._replace(timeouts=timeouts)
    return data


def episode_bounds(data: Dataset) -> list[tuple[int, int]]:
    """``[(start, stop), ...]`` row ranges of the episodes (stop exclusive), in order; an
    empty dataset has none."""
    if not data.size:
        return []
    ends = np.flatnonzero(data.terminals | data.timeouts) + 1
    if data.size and (not ends.size or ends[-1] != data.size):
        ends = np.append(ends, data.size)  # an unfinished last episode still counts
    starts = np.concatenate([[0], ends[:-1]])
    return [(int(a), int(b)) for a, b in zip(starts, ends, strict=True)]


def discontinuities(data: Dataset) -> NDArray[np.intp]:
    """Rows i inside an episode with ``next_observations[i] != observations[i + 1]``.

    Exact comparison (the converters copy the same float32 values into both places); a row that
    ends an episode is never one, its successor starts a new episode. Returns (K,) row indices,
    ascending.
    """
    if data.size < 2:
        return np.zeros(0, dtype=np.intp)
    inside = ~(data.terminals | data.timeouts)[:-1]
    jumps = np.any(data.next_observations[:-1] != data.observations[1:], axis=1)
    return np.flatnonzero(jumps & inside)


def validate_dataset(data: Dataset, what: str = "dataset", task: str | None = None) -> None:
    """Check shapes, dtypes, finite values, action range, flags, the contract and the task.

    Args:
        data: the dataset.
        what: its name in error messages (e.g. the file path).
        task: if given, the metadata's task must equal it.

    Raises:
        ContractMismatchError: the metadata describes another robot contract.
        DatasetError: anything else is wrong (the message names the key and the problem).
    """
    meta = data.meta
    if not isinstance(meta, dict):
        raise DatasetError(f"{what}: metadata is {type(meta).__name__}, not a dict")
    if meta.get("format") != FORMAT:
        raise DatasetError(f"{what}: format is {meta.get('format')!r}, expected {FORMAT!r}")
    check_contract_metadata(meta, what)
    for key in ("task", "command", "control_hz", "source", "created"):
        if key not in meta:
            raise DatasetError(f"{what}: metadata lacks {key!r}")
    if task is not None and meta["task"] != task:
        raise DatasetError(f"{what}: recorded for task {meta['task']!r}, not {task!r}")
    _check_arrays(data, what)


def _check_arrays(data: Dataset, what: str) -> None:
    n = data.size
    shapes = {
        "observations": (n, OBS_DIM),
        "actions": (n, ACTION_DIM),
        "rewards": (n,),
        "next_observations": (n, OBS_DIM),
        "terminals": (n,),
        "timeouts": (n,),
    }
    for key, shape in shapes.items():
        arr = getattr(data, key)
        want = np.bool_ if key in ("terminals", "timeouts") else np.float32
        if not isinstance(arr, np.ndarray) or arr.dtype != want:
            got = getattr(arr, "dtype", type(arr).__name__)
            raise DatasetError(f"{what}: {key} has dtype {got}, expected {np.dtype(want)}")
        if arr.shape != shape:
            raise DatasetError(f"{what}: {key} has shape {arr.shape}, expected {shape}")
        if want is np.float32 and not np.all(np.isfinite(arr)):
            row = int(np.flatnonzero(~np.isfinite(arr.reshape(n, -1)).all(axis=1))[0])
            raise DatasetError(f"{what}: {key} has non-finite values (first at row {row})")
    if n and np.max(np.abs(data.actions)) > 1.0 + ACTION_TOLERANCE:
        row = int(np.argmax(np.max(np.abs(data.actions), axis=1)))
        raise DatasetError(f"{what}: actions outside [-1, 1] (first worst at row {row})")
    if data.stamps is not None:
        st = data.stamps
        if not isinstance(st, np.ndarray) or st.dtype != np.float64:
            raise DatasetError(f"{what}: stamps have dtype {getattr(st, 'dtype', None)}")
        if st.shape != (n, len(STAMP_KEYS)):
            raise DatasetError(
                f"{what}: stamps have shape {st.shape}, expected {(n, len(STAMP_KEYS))}"
            )
    both = data.terminals & data.timeouts
    if both.any():
        raise DatasetError(
            f"{what}: row {int(np.flatnonzero(both)[0])} is both terminal and timeout"
        )
