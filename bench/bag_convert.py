"""Benchmark: bag -> dataset conversion vs the raw rosbags read+deserialise rate, same bag.

Writes a rosbag2 with ~100k robot messages (joint states, IMU, joint commands at 100 Hz, i.e.
~33k control ticks), then measures in one run:

- raw: ``AnyReader.messages`` + ``typestore.deserialize_cdr`` of every message (the limit);
- convert: ``convert_bag`` (read, lenient decode, field extraction, alignment, rewards), i.e.
  everything ``h2o-dataset from-bag`` does except writing the HDF5 file;

and prints both rates in messages per second and their ratio (goal >= 0.5).

    python bench/bag_convert.py [--messages 100000] [--storage sqlite3|mcap] [--repeat 2]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from h2o_robot_bridge.contract import ACTION_DIM, NUM_JOINTS, action_to_command
from h2o_robot_bridge.dataset.align import AlignConfig
from h2o_robot_bridge.dataset.bag.convert import convert_bag
from h2o_robot_bridge.dataset.bag.writer import RobotBagWriter


def write_bag(path: Path, messages: int, storage: str, steps_back: int = 0) -> None:
    """A 100 Hz robot log with ``messages`` messages (3 per tick), small random motions; with
    ``steps_back``, the header clock goes back 0.3 s that many times (evenly spaced from 10%
    of the log on: the converter then decides message by message from there)."""
    ticks = messages // 3
    rng = np.random.default_rng(0)
    at = set(np.linspace(ticks // 10, ticks - 1, steps_back, dtype=int).tolist())
    back = 0.0
    with RobotBagWriter(path, storage) as w:  # type: ignore[arg-type]
        for k in range(ticks):
            back += 0.3 if k in at else 0.0
            log_t = 1000.0 + 0.01 * k  # receive times move forward
            t = log_t - back
            tilt = 0.05 * np.sin(0.01 * k)
            quat = (0.0, np.sin(tilt / 2), 0.0, np.cos(tilt / 2))
            js = rng.normal(0, 0.1, NUM_JOINTS), rng.normal(0, 1, NUM_JOINTS)
            w.write_joint_states(t, *js, log_t=log_t)
            w.write_imu(t, quat, rng.normal(0, 0.1, 3), log_t=log_t)
            cmd = action_to_command(rng.uniform(-1, 1, ACTION_DIM))
            w.write_joint_commands(t, cmd, log_t=log_t)


def raw_read(path: Path) -> int:
    """Read and deserialise every message (the baseline); returns the count."""
    from rosbags.highlevel import AnyReader
    from rosbags.typesys import Stores, get_typestore

    n = 0
    with AnyReader([path], default_typestore=get_typestore(Stores.ROS2_KILTED)) as reader:
        for conn, _, raw in reader.messages():
            reader.deserialize(raw, conn.msgtype)
            n += 1
    return n


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=100_000, help="messages in the bag")
    parser.add_argument("--storage", choices=("sqlite3", "mcap"), default="sqlite3")
    parser.add_argument("--repeat", type=int, default=2, help="best of N runs of each")
    parser.add_argument(
        "--steps-back",
        type=int,
        default=0,
        help="header clock steps back of 0.3 s in the log (clock splits; default none)",
    )
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="h2o-bench-"))
    try:
        bag = tmp / "bag"
        t0 = time.perf_counter()
        write_bag(bag, args.messages, args.storage, args.steps_back)
        print(
            f"wrote {args.messages} messages ({args.storage}) in {time.perf_counter() - t0:.1f} s"
        )
        raw_s, conv_s = [], []
        rows = n = splits = 0
        for _ in range(args.repeat):  # interleaved, so machine load hits both alike
            t0 = time.perf_counter()
            n = raw_read(bag)
            raw_s.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            conv = convert_bag(bag, AlignConfig())
            rows, splits = conv.data.size, len(conv.align.splits)
            conv_s.append(time.perf_counter() - t0)
        raw_rate, conv_rate = n / min(raw_s), n / min(conv_s)
        print(f"raw rosbags read+deserialise: {raw_rate:10.0f} msg/s ({min(raw_s):.2f} s)")
        print(
            f"convert_bag (to {rows} rows, {splits} clock splits): {conv_rate:10.0f} msg/s "
            f"({min(conv_s):.2f} s)"
        )
        print(f"ratio convert/raw: {conv_rate / raw_rate:.2f}x (goal >= 0.5x)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
