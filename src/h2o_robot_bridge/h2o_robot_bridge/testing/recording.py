"""Waiting on a live recording's progress (system tests): its durable rows, not a sleep."""

from __future__ import annotations

import time
from pathlib import Path

from h2o_robot_bridge.dataset.chunked import MANIFEST, partial_dir, read_chunks


def flushed_rows(out: Path) -> int:
    """Rows the recorder writing ``out`` has made durable so far (0 before its manifest)."""
    folder = partial_dir(out)
    # The folder exists a moment before its manifest (written atomically).
    return read_chunks(folder).size if (folder / MANIFEST).exists() else 0


def wait_for_rows(out: Path, at_least: int, timeout: float, poll: float = 0.1) -> int:
    """Poll until the recording of ``out`` has ``at_least`` durable rows or ``timeout`` [s]
    passed; returns the last count (the caller asserts on it, so a timeout reads clearly)."""
    deadline = time.monotonic() + timeout
    rows = flushed_rows(out)
    while rows < at_least and time.monotonic() < deadline:
        time.sleep(poll)
        rows = flushed_rows(out)
    return rows
