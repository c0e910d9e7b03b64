"""Child process for the crash test: appends deterministic rows forever, reports flushes.

Usage: python chunk_writer_child.py OUT.h5 ROWS_PER_APPEND
Prints ``FLUSHED <rows_flushed>`` after every flush (stdout, line-buffered).
"""

from __future__ import annotations

import sys
import time

from h2o_robot_bridge.dataset import make_meta
from h2o_robot_bridge.dataset.chunked import ChunkedWriter
from h2o_robot_bridge.testing.dataset_rows import rows_block


def main() -> None:
    out, per_append = sys.argv[1], int(sys.argv[2])
    writer = ChunkedWriter(out, make_meta("stand", 100.0, {"kind": "crash-test"}), 0.1)
    start = 0
    while True:
        before = writer.rows_flushed
        writer.append(rows_block(start, per_append, writer.meta))
        start += per_append
        if writer.rows_flushed != before:
            print(f"FLUSHED {writer.rows_flushed}", flush=True)
        time.sleep(0.01)


if __name__ == "__main__":
    main()
