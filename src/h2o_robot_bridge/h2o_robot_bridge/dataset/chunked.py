"""Crash-safe dataset writing: durable chunks while recording, one ``.h5`` file on clean close.

While recording ``out.h5`` the writer keeps a folder ``out.h5.partial/``::

    manifest.json          metadata and the target name (written once, atomically)
    chunk_000000.npz       rows of one flush (written to a temporary name, fsynced, renamed)
    chunk_000001.npz       ...

A chunk exists under its final name only once it is complete on disk, so the complete chunks
are exactly the files named ``chunk_*.npz`` (in name order; no list to keep up to date, so a
flush costs one file and a long recording no growing rewrite). A SIGKILL or a power cut loses
at most the rows appended since the last flush (``flush_interval`` seconds, default
0.5 s). :meth:`ChunkedWriter.close` concatenates the chunks into ``out.h5`` (atomically, via
:func:`save_dataset`) and removes the folder; :func:`recover` does the same for a folder left by
a crashed recorder (``h2o-dataset recover out.h5.partial -o out.h5``). Chunks are ``.npz``
files read with ``allow_pickle=False``.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from h2o_robot_bridge.dataset.io import check_writable, fsync_dir, save_dataset
from h2o_robot_bridge.dataset.schema import (
    KEYS,
    Dataset,
    close_last_episode,
    concat_datasets,
    empty_dataset,
    from_arrays,
    validate_dataset,
)
from h2o_robot_bridge.errors import DatasetError

PARTIAL_SUFFIX = ".partial"
MANIFEST = "manifest.json"


def partial_dir(path: str | os.PathLike) -> Path:
    """The chunk folder used while recording dataset ``path``."""
    path = Path(path)
    return path.with_name(path.name + PARTIAL_SUFFIX)


def _write_atomic(path: Path, write: Any) -> None:
    """Write through ``write(file_object)`` to a temporary name, fsync, rename into place."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as fh:
        write(fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


class ChunkedWriter:
    """Append transitions; flushed rows survive a crash; :meth:`close` finalises the dataset.

    Args:
        path: final dataset file (must not exist unless ``overwrite``).
        meta: dataset metadata (:func:`make_meta`); checked against the contract now.
        flush_interval: seconds between automatic flushes in :meth:`append` (and the bound on
            what a crash can lose, provided rows keep arriving or :meth:`flush_if_due` is
            called, as the recorder node does from a timer).
        overwrite: allow replacing an existing dataset at ``path`` on close.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        meta: dict[str, Any],
        flush_interval: float = 0.5,
        overwrite: bool = False,
    ) -> None:
        self.path = check_writable(path, overwrite)
        self.overwrite = overwrite
        self.flush_interval = float(flush_interval)
        self.meta = dict(meta)
        validate_dataset(empty_dataset(self.meta), str(self.path))
        self.dir = partial_dir(self.path)
        if self.dir.exists():
            raise DatasetError(
                f"{self.dir} exists (an unfinished recording?); recover it with "
                f"'h2o-dataset recover {self.dir} -o OUT' or remove it"
            )
        self.dir.mkdir(parents=True)
        self._chunks = 0
        self._pending: list[Dataset] = []
        self._last_flush = time.monotonic()
        self.rows_flushed = 0
        self.closed = False
        self._write_manifest()

    @property
    def rows_pending(self) -> int:
        """Rows appended but not yet durable."""
        return sum(p.size for p in self._pending)

    def append(self, rows: Dataset) -> None:
        """Queue rows (their ``meta`` is ignored); flush if ``flush_interval`` has passed."""
        if self.closed:
            raise DatasetError(f"{self.path}: writer is closed")
        if rows.size:
            self._pending.append(rows)
        self.flush_if_due()

    def flush_if_due(self) -> bool:
        """Flush when ``flush_interval`` seconds passed since the last flush; True if done."""
        if time.monotonic() - self._last_flush >= self.flush_interval:
            self.flush()
            return True
        return False

    def flush(self) -> None:
        """Make every appended row durable (one chunk file)."""
        self._last_flush = time.monotonic()
        if not self._pending:
            return
        rows = concat_datasets(self._pending, self.meta)
        validate_dataset(rows, f"{self.path} (chunk)")
        name = f"chunk_{self._chunks:06d}.npz"
        _write_atomic(
            self.dir / name,
            # numpy's stub: a **kwds key might be its allow_pickle: bool parameter (none is)
            lambda fh: np.savez(fh, **rows.arrays(stamps=True)),  # type: ignore[arg-type]
        )
        self._pending = []
        self._chunks += 1
        self.rows_flushed += rows.size

    def close(self) -> Path:
        """Flush, write the final dataset (last row marked as end of log), remove the chunks."""
        if self.closed:
            return self.path
        self.flush()
        data = read_chunks(self.dir)._replace(meta=self.meta)  # meta may have grown since
        save_dataset(self.path, close_last_episode(data), overwrite=self.overwrite)
        shutil.rmtree(self.dir)
        self.closed = True
        return self.path

    def _write_manifest(self) -> None:
        manifest = {"meta": self.meta, "target": self.path.name}
        text = json.dumps(manifest, indent=1).encode()
        _write_atomic(self.dir / MANIFEST, lambda fh: fh.write(text))


def read_chunks(folder: str | os.PathLike) -> Dataset:
    """All complete chunks of a recording folder as one dataset (not finalised).

    Every ``chunk_*.npz`` file is complete (it was renamed into place only once written).

    Raises:
        DatasetError: no manifest, or a chunk is unreadable or invalid.
    """
    folder = Path(folder)
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
        meta = manifest["meta"]
    except (OSError, ValueError, KeyError) as err:
        raise DatasetError(f"{folder}: no readable {MANIFEST} (not a recording folder?)") from err
    names = sorted(p.name for p in folder.glob("chunk_*.npz"))
    parts = []
    for name in names:
        try:
            with np.load(folder / name, allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in KEYS}
                if "stamps" in npz.files:
                    arrays["stamps"] = npz["stamps"]
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:
            raise DatasetError(f"{folder / name}: unreadable chunk: {err}") from err
        part = from_arrays(arrays, meta)
        validate_dataset(part, str(folder / name))
        parts.append(part)
    return concat_datasets(parts, meta)


def recover(folder: str | os.PathLike, out: str | os.PathLike, overwrite: bool = False) -> Path:
    """Turn the chunk folder of an interrupted recording into a valid dataset at ``out``.

    The folder is left in place (delete it once the result is checked).

    Raises:
        DatasetError: nothing recoverable (no manifest, no rows) or ``out`` exists.
    """
    check_writable(out, overwrite)
    data = read_chunks(folder)
    if not data.size:
        raise DatasetError(f"{folder}: no complete chunk was written before the interruption")
    meta = dict(data.meta)
    meta["recovered_from"] = str(Path(folder).resolve())
    return save_dataset(out, close_last_episode(data._replace(meta=meta)), overwrite=overwrite)
