"""Crash-safe writing: chunks, finalisation, recovery, and a real SIGKILL mid-recording."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from h2o_robot_bridge.dataset import KEYS, episode_bounds, load_dataset, make_meta
from h2o_robot_bridge.dataset.chunked import (
    ChunkedWriter,
    partial_dir,
    read_chunks,
    recover,
)
from h2o_robot_bridge.errors import DatasetError
from h2o_robot_bridge.testing.dataset_rows import rows_block

CHILD = str(Path(__file__).with_name("chunk_writer_child.py"))


def meta() -> dict:
    return make_meta("stand", 100.0, {"kind": "test"})


def test_close_writes_one_file_and_removes_chunks(tmp_path: Path) -> None:
    out = tmp_path / "rec.h5"
    writer = ChunkedWriter(out, meta(), flush_interval=0.0)  # every append flushes
    for start in range(0, 30, 10):
        writer.append(rows_block(start, 10, writer.meta))
    assert writer.rows_flushed == 30 and writer.rows_pending == 0
    assert len(list(partial_dir(out).glob("chunk_*.npz"))) == 3
    writer.close()
    assert not partial_dir(out).exists()
    data = load_dataset(out)
    want = rows_block(0, 30, writer.meta)
    for key in KEYS:
        if key != "timeouts":
            np.testing.assert_array_equal(getattr(data, key), getattr(want, key))
    assert data.timeouts[-1] and not data.timeouts[:-1].any()  # end of log closes the episode


def test_rows_wait_for_the_flush_interval(tmp_path: Path) -> None:
    writer = ChunkedWriter(tmp_path / "rec.h5", meta(), flush_interval=60.0)
    writer.append(rows_block(0, 5, writer.meta))
    assert writer.rows_flushed == 0 and writer.rows_pending == 5
    assert read_chunks(writer.dir).size == 0
    writer.flush()
    assert read_chunks(writer.dir).size == 5


def test_refuses_existing_dataset_and_folder(tmp_path: Path) -> None:
    out = tmp_path / "rec.h5"
    out.write_bytes(b"precious")
    with pytest.raises(DatasetError, match="overwrite"):
        ChunkedWriter(out, meta())
    assert out.read_bytes() == b"precious"
    ChunkedWriter(tmp_path / "b.h5", meta())  # left unfinished on purpose
    with pytest.raises(DatasetError, match="recover"):
        ChunkedWriter(tmp_path / "b.h5", meta())


def test_recover_ignores_unfinished_chunk(tmp_path: Path) -> None:
    out = tmp_path / "rec.h5"
    writer = ChunkedWriter(out, meta(), flush_interval=0.0)
    writer.append(rows_block(0, 8, writer.meta))
    writer.append(rows_block(8, 8, writer.meta))
    # A crash while writing the third chunk leaves only its temporary file.
    (writer.dir / ".chunk_000002.npz.tmp").write_bytes(b"PK\x03\x04half a chunk")
    got = load_dataset(recover(writer.dir, tmp_path / "r.h5"))
    assert got.size == 16 and "recovered_from" in got.meta
    np.testing.assert_array_equal(got.observations, rows_block(0, 16, got.meta).observations)
    assert got.timeouts[-1]
    with pytest.raises(DatasetError, match="overwrite"):
        recover(writer.dir, tmp_path / "r.h5")


def test_corrupt_chunk_is_reported(tmp_path: Path) -> None:
    writer = ChunkedWriter(tmp_path / "rec.h5", meta(), flush_interval=0.0)
    writer.append(rows_block(0, 8, writer.meta))
    (writer.dir / "chunk_000000.npz").write_bytes(b"PK\x03\x04garbage")
    with pytest.raises(DatasetError, match="unreadable chunk"):
        recover(writer.dir, tmp_path / "r.h5")


def test_recover_empty_or_foreign_folder(tmp_path: Path) -> None:
    writer = ChunkedWriter(tmp_path / "rec.h5", meta())
    with pytest.raises(DatasetError, match="no complete chunk"):
        recover(writer.dir, tmp_path / "r.h5")
    with pytest.raises(DatasetError, match="manifest"):
        recover(tmp_path, tmp_path / "r.h5")


def test_sigkill_loses_only_unflushed_rows(tmp_path: Path) -> None:
    out = tmp_path / "rec.h5"
    child = subprocess.Popen(
        [sys.executable, CHILD, str(out), "3"], stdout=subprocess.PIPE, text=True
    )
    flushed = 0
    try:
        deadline = time.monotonic() + 60
        while flushed < 120 and time.monotonic() < deadline:
            line = child.stdout.readline()
            assert line, "child exited early"
            flushed = int(line.split()[1])
        time.sleep(0.05)  # kill somewhere between flushes
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
        rest = child.stdout.read().split()  # flushes reported after our last read
        child.stdout.close()
    flushed = max([flushed] + [int(x) for x in rest[1::2]])
    assert flushed >= 120
    assert not out.exists()  # never finalised
    data = load_dataset(recover(partial_dir(out), tmp_path / "recovered.h5"))
    # Every flushed row is there, in order, exactly; at most one more chunk (the one being
    # reported when the kill came, ~30 rows at 0.1 s per flush) beyond that.
    assert flushed <= data.size <= flushed + 60
    want = rows_block(0, data.size, data.meta)
    np.testing.assert_array_equal(data.observations, want.observations)
    np.testing.assert_array_equal(data.terminals, want.terminals)
    assert data.timeouts[-1] or data.terminals[-1]
    assert sum(b - a for a, b in episode_bounds(data)) == data.size
