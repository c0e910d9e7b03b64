"""``h2o-dataset``: convert bags, recover interrupted recordings, inspect, plot, export datasets.

Examples::

    h2o-dataset from-bag rosbag2_2026_11_25 -o real.h5 --task stand
    h2o-dataset from-bag rosbag2_r1 -o r1.h5 --namespace /r1   # reads /r1/joint_states, ...
    h2o-dataset recover real.h5.partial -o real.h5
    h2o-dataset info real.h5
    h2o-dataset plot real.h5 --episode 0 -o ep0.png
    h2o-dataset export real.h5 --format minari --dataset-id h2o/stand-real-v0
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from h2o_robot_bridge.contract import ACTION_DIM, OBS_DIM, TASKS
from h2o_robot_bridge.dataset.align import AlignConfig
from h2o_robot_bridge.dataset.bag.convert import convert_bag
from h2o_robot_bridge.dataset.bag.reader import BAG_TOPICS, BagTopics
from h2o_robot_bridge.dataset.chunked import recover
from h2o_robot_bridge.dataset.info import dataset_info, format_info
from h2o_robot_bridge.dataset.io import check_writable, load_dataset, save_dataset
from h2o_robot_bridge.errors import H2OError


def _from_bag(args: argparse.Namespace) -> int:
    check_writable(args.output, args.overwrite)  # fail before reading a large bag
    config = AlignConfig(
        task=args.task,
        control_hz=args.control_hz,
        max_age=args.max_age,
        max_tick_interval=args.max_tick_interval,
        split_window=args.split_window,
        resume_after_fall=args.resume_after_fall,
        time_limit=not args.no_time_limit,
        allow_repeated_samples=args.allow_repeated_samples,
    )
    topics = BagTopics.from_parameters(vars(args)).resolved(args.namespace)
    source = {"robot": args.robot_id} if args.robot_id else {}
    conv = convert_bag(
        args.bag,
        config,
        topics,
        time_source=args.time,
        strict=args.strict,
        progress=not args.quiet,
        source=source,
    )
    print(conv.summary())
    path = save_dataset(args.output, conv.data, overwrite=args.overwrite)
    print(f"wrote {conv.data.size} transitions to {path}")
    return 0


def _recover(args: argparse.Namespace) -> int:
    path = recover(args.folder, args.output, overwrite=args.overwrite)
    data = load_dataset(path)
    print(f"recovered {data.size} transitions from {args.folder} into {path}")
    return 0


def _info(args: argparse.Namespace) -> int:
    info = dataset_info(load_dataset(args.path), args.path)
    print(json.dumps(info, indent=1) if args.json else format_info(info))
    return 0


def _plot(args: argparse.Namespace) -> int:
    from h2o_robot_bridge.dataset.plot import plot_episode

    out = plot_episode(load_dataset(args.path), args.episode, args.output, title=args.path)
    print(f"wrote {out}")
    return 0


def _export(args: argparse.Namespace) -> int:
    # Imported on use, as for plot: no other command needs it.
    from h2o_robot_bridge.dataset.interop import export_minari

    data = load_dataset(args.path)
    out = export_minari(data, args.dataset_id, root=args.root, overwrite=args.overwrite)
    split = f", {out.splits} split at discontinuities" if out.splits else ""
    print(
        f"wrote {data.size} transitions in {len(out.episodes)} episodes{split} to Minari "
        f"dataset {out.dataset_id} at {out.path}"
    )
    if out.splits:
        print(
            "note: a discontinuity is a row whose next_observation is not the next row's "
            "observation; Minari chains observations, so its episode was cut there and ends "
            "as a truncation (metadata h2o_export lists every episode's rows)"
        )
    return 0


_EXPORT_HELP = f"""\
Write the dataset in another offline-RL format.

minari: a local Minari dataset (the minari package, requirements/interop.txt) under --root
(default $MINARI_DATASETS_PATH or ~/.minari/datasets). Each episode holds T+1 observations
(o_0..o_T: the rows' observations and the last next_observation), T actions and rewards,
terminations = terminals (falls), truncations = timeouts. An episode whose next_observation
differs from the following row's observation somewhere (a discontinuity) is split there and
its first part ends as a truncation; the command says so. Spaces: the contract's observation
Box(-inf, inf, ({OBS_DIM},)) and action Box(-1, 1, ({ACTION_DIM},)), float32. The h2o metadata
(contract, task, source, ...) is in the dataset metadata, key h2o_meta. Read it with:

  MINARI_DATASETS_PATH=ROOT python -c "import minari; minari.load_dataset('ID')"

For d3rlpy, there is no file to write: h2o_robot_bridge.dataset.interop.to_d3rlpy(data)
builds its MDPDataset in memory (README.md, "Using the data in other tools").
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="h2o-dataset",
        description="Offline RL datasets (HDF5, D4RL keys) from robot logs: convert rosbag2 "
        "files, recover interrupted recordings, inspect and plot.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser(
        "from-bag",
        help="convert a rosbag2 (sqlite3 or MCAP) into a dataset",
        description="Align /joint_states, /imu/data, /cmd_vel and /joint_commands of a rosbag2 "
        "at the control rate (one row per command sent) and write a dataset. Prints what was "
        "read, dropped and why.",
    )
    p.add_argument("bag", help="rosbag2 folder (or a single .mcap/.db3 file)")
    p.add_argument("-o", "--output", required=True, help="dataset file to write (.h5)")
    p.add_argument("--task", default="stand", choices=sorted(TASKS), help="contract task")
    p.add_argument("--control-hz", type=float, default=100.0, help="control rate [Hz]")
    p.add_argument(
        "--max-age",
        type=float,
        default=None,
        help="max age of joint state / IMU at a command [s] (default 2.5 control periods)",
    )
    p.add_argument(
        "--max-tick-interval",
        type=float,
        default=None,
        help="longest time between two commands of one transition [s] (default 1.5 periods)",
    )
    p.add_argument(
        "--split-window",
        type=float,
        default=0.1,
        help="a stamp going back in any stream (any amount: a clock restart, a reordered "
        "message) splits the log there; other streams showing the same step back within "
        "this many seconds [s] belong to the same split (default 0.1)",
    )
    p.add_argument(
        "--resume-after-fall",
        choices=("upright", "reset"),
        default="upright",
        help="after a fall, start a new episode once upright again, or only at a reset message",
    )
    p.add_argument(
        "--no-time-limit",
        action="store_true",
        help="do not truncate episodes at the task's time limit",
    )
    p.add_argument(
        "--allow-repeated-samples",
        action="store_true",
        help="keep ticks that see the same sensor sample as the previous tick (dropped by "
        "default: sensor and control clocks beating)",
    )
    p.add_argument(
        "--time",
        choices=("header", "receive"),
        default="header",
        help="align on header stamps (default) or on the bag's receive times",
    )
    p.add_argument(
        "--namespace",
        default="",
        help="namespace the robot ran in (e.g. /r1): relative topic names are read under it "
        "(/r1/joint_states); default: the root (/joint_states)",
    )
    topics = BagTopics()
    for name in BAG_TOPICS:
        p.add_argument(
            f"--{name.replace('_', '-')}-topic",
            default=getattr(topics, name),
            help=f"topic name (default {getattr(topics, name)}, under --namespace; an absolute "
            "name is read as given)",
        )
    p.add_argument("--robot-id", default="", help="robot id saved in the metadata")
    p.add_argument(
        "--strict",
        action="store_true",
        help="fail on an undecodable message or a truncated bag instead of reporting it",
    )
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_from_bag)

    p = sub.add_parser(
        "recover",
        help="turn the chunk folder of an interrupted recording into a dataset",
        description="A recorder killed mid-run leaves OUT.h5.partial/ (durable chunks). This "
        "writes every complete chunk into a valid dataset; the last row is marked truncated.",
    )
    p.add_argument("folder", help="the .partial folder")
    p.add_argument("-o", "--output", required=True, help="dataset file to write (.h5)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.set_defaults(func=_recover)

    p = sub.add_parser(
        "info",
        help="size, episodes, returns, rates, gaps and statistics of a dataset",
    )
    p.add_argument("path", help="dataset file (.h5)")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(func=_info)

    p = sub.add_parser("plot", help="plot one episode (observations, actions, rewards) as PNG")
    p.add_argument("path", help="dataset file (.h5)")
    p.add_argument("--episode", type=int, default=0, help="episode index (negative: from end)")
    p.add_argument("-o", "--output", required=True, help="PNG file to write")
    p.set_defaults(func=_plot)

    p = sub.add_parser(
        "export",
        help="write a dataset in another offline-RL format (Minari)",
        description=_EXPORT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("path", help="dataset file (.h5)")
    p.add_argument("--format", required=True, choices=("minari",), help="target format")
    p.add_argument(
        "--dataset-id",
        required=True,
        help="Minari id, (namespace/)name-vN, e.g. h2o/stand-real-v0",
    )
    p.add_argument(
        "--root",
        default=None,
        help="Minari datasets folder (default $MINARI_DATASETS_PATH or ~/.minari/datasets)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace an existing dataset id")
    p.set_defaults(func=_export)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``h2o-dataset``; errors print one clear line and exit 2."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except H2OError as err:
        print(f"h2o-dataset {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
