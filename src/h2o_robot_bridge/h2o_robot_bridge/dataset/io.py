"""Read and write datasets as HDF5 files with the D4RL keys at the root.

Layout of ``name.h5``::

    /observations        (N, OBS_DIM) float32
    /actions             (N, ACTION_DIM) float32
    /rewards             (N,) float32
    /next_observations   (N, OBS_DIM) float32
    /terminals           (N,) bool
    /timeouts            (N,) bool
    /stamps/<name>       (N,) float64, optional: the header stamps [s] of the samples each
                         row was built from, one array per name of ``STAMP_KEYS``
                         (``joint_commands``, ``joint_states``, ..., ``next_cmd_vel``)
    attrs["h2o_meta"]    metadata as JSON text (see :mod:`.schema`)

d4rl-style loaders (``h5py`` over the root keys) read it as is. Files are written to a temporary
name in the same folder, flushed to disk and renamed, so a crash never leaves a half-written
dataset under the final name.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from h2o_robot_bridge.dataset.schema import (
    KEYS,
    STAMP_KEYS,
    Dataset,
    from_arrays,
    validate_dataset,
)
from h2o_robot_bridge.errors import DatasetError

META_ATTR = "h2o_meta"
STAMPS_GROUP = "stamps"


def fsync_dir(path: Path) -> None:
    """Make a rename inside folder ``path`` durable (POSIX; a no-op where unsupported)."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def check_writable(path: str | os.PathLike, overwrite: bool) -> Path:
    """``path`` as a Path; refuse an existing file unless ``overwrite`` (never a folder)."""
    path = Path(path)
    if path.is_dir():
        raise DatasetError(f"{path} is a folder, expected a dataset file name")
    if path.exists() and not overwrite:
        raise DatasetError(
            f"{path} exists; refusing to overwrite it (pass overwrite / --overwrite)"
        )
    return path


def save_dataset(path: str | os.PathLike, data: Dataset, overwrite: bool = False) -> Path:
    """Validate ``data`` and write it to ``path`` atomically.

    Args:
        path: target file (``.h5`` by convention); its folder is created.
        data: the dataset (validated first: an invalid dataset is never written).
        overwrite: replace an existing file.

    Returns:
        The path written.

    Raises:
        DatasetError: invalid data, or ``path`` exists and ``overwrite`` is False.
        ContractMismatchError: the metadata describes another robot contract.
    """
    path = check_writable(path, overwrite)
    validate_dataset(data, str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with h5py.File(tmp, "w") as f:
            for key in KEYS:
                f.create_dataset(key, data=getattr(data, key))
            if data.stamps is not None:
                group = f.create_group(STAMPS_GROUP)
                group.attrs["units"] = "s (header clock; NaN: no sample used)"
                for i, name in enumerate(STAMP_KEYS):
                    group.create_dataset(name, data=data.stamps[:, i])
            f.attrs[META_ATTR] = json.dumps(data.meta)
            f.flush()
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        if path.exists() and not overwrite:  # someone else wrote it meanwhile
            raise DatasetError(f"{path} appeared while writing; refusing to overwrite it")
        os.replace(tmp, path)
        fsync_dir(path.parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return path


def read_meta(path: str | os.PathLike) -> dict[str, Any]:
    """Only the metadata of a dataset file (cheap; no validation beyond JSON)."""
    with _open(Path(path)) as f:
        return _meta(f, Path(path))


def load_dataset(path: str | os.PathLike, task: str | None = None) -> Dataset:
    """Read and validate a dataset file.

    Args:
        path: an ``.h5`` file written by :func:`save_dataset` (or the recorder / converters).
        task: if given, the dataset must have been recorded for this task.

    Raises:
        ContractMismatchError: recorded under another robot contract (or by another tool).
        DatasetError: missing file, not HDF5, missing keys, bad shapes/dtypes, non-finite
            values, actions outside [-1, 1], or another task.
    """
    path = Path(path)
    with _open(path) as f:
        meta = _meta(f, path)
        missing = [k for k in KEYS if k not in f]
        if missing:
            raise DatasetError(f"{path}: missing keys {missing} (has {sorted(f.keys())})")
        raw = {k: f[k][()] for k in KEYS}
        if STAMPS_GROUP in f:
            raw["stamps"] = _stamps(f[STAMPS_GROUP], path)
    for key in ("terminals", "timeouts"):
        if raw[key].dtype != np.bool_ and not np.isin(raw[key], (0, 1)).all():
            raise DatasetError(f"{path}: {key} holds values other than 0/1")
    for key in ("observations", "actions", "rewards", "next_observations"):
        if raw[key].dtype.kind != "f":
            raise DatasetError(f"{path}: {key} has dtype {raw[key].dtype}, expected float")
    data = from_arrays(raw, meta)
    validate_dataset(data, str(path), task)
    return data


def _stamps(group: Any, path: Path) -> np.ndarray:
    missing = [k for k in STAMP_KEYS if k not in group]
    if missing:
        raise DatasetError(f"{path}: {STAMPS_GROUP}/ lacks {missing}")
    cols = [np.asarray(group[k][()]) for k in STAMP_KEYS]
    if any(c.dtype.kind != "f" or c.ndim != 1 or c.shape != cols[0].shape for c in cols):
        raise DatasetError(f"{path}: {STAMPS_GROUP}/ arrays must be 1-D floats of one length")
    return np.stack(cols, axis=1).astype(np.float64)


def _open(path: Path) -> h5py.File:
    if not path.is_file():
        raise DatasetError(f"dataset {path} not found")
    try:
        return h5py.File(path, "r")
    except OSError as err:
        raise DatasetError(f"{path} is not a readable HDF5 file: {err}") from err


def _meta(f: h5py.File, path: Path) -> dict[str, Any]:
    text = f.attrs.get(META_ATTR)
    if text is None:
        raise DatasetError(
            f"{path}: no {META_ATTR!r} metadata attribute (not written by h2o; a plain D4RL "
            "file lacks the robot contract and cannot be checked)"
        )
    try:
        meta = json.loads(text)
    except (TypeError, ValueError) as err:
        raise DatasetError(f"{path}: metadata is not valid JSON: {err}") from err
    if not isinstance(meta, dict):
        raise DatasetError(f"{path}: metadata is not a JSON object")
    return meta
