"""``h2o-gap``: when to trust your simulator, measured on real data (plain Python, no ROS).

Every h2o error (missing dataset, another contract, unknown profile or knob, bad config) is one
``h2o-gap: error: ...`` line and exit status 2, before anything is replayed or written.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from h2o_learning.gap.calibrate import (
    FITTABLE,
    Calibration,
    CalibrationConfig,
    calibrate,
    profile_yaml,
    resolve_knob,
    write_history,
)
from h2o_learning.gap.replay import Replayer
from h2o_learning.gap.report import (
    GapReport,
    ReportConfig,
    dataset_timing,
    make_report,
    write_report,
)
from h2o_learning.training.cli import add_dynamics_arguments, parse_overrides, run_cli
from h2o_robot_bridge.dataset import Dataset, load_dataset
from h2o_robot_bridge.errors import ConfigError
from h2o_sim.dynamics import DynamicsProfile, load_profile

DESCRIPTION = """\
Replay real transitions (s, a, s') in the simulator: set the sim to the state of s, apply a
through the env's control tick (the deployed control-loop model), compare the sim's s' with the
real one. The gap is per observation element and state region, independent of any policy."""

EPILOG = """\
examples:
  h2o-gap report --dataset real.h5 --dynamics gravity_x2 -o report/
  h2o-gap report --dataset real.h5 --dynamics real --checkpoint runs/h2o-a -o report/
  h2o-gap calibrate --dataset real.h5 --start gravity_x2 --knobs gravity,friction -o out/

Tolerance: a transition is "predicted" when every predicted element's error is at most
`tolerance` (config/gap/report.yaml, default 0.5) times that element's RMS real one-tick
change. What the observation cannot hold (yaw, position, height, slip, wheel angles, delay
queue) and how replay sets it: docs/gap.md.
"""


def build_parser() -> argparse.ArgumentParser:
    """Arguments of ``h2o-gap`` and its two commands."""
    p = argparse.ArgumentParser(
        prog="h2o-gap",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser(
        "report",
        help="the gap of one dynamics profile on a real dataset",
        description="Replay a real dataset in one dynamics profile; write summary.md, CSVs "
        "and plots.",
    )
    _common(r)
    add_dynamics_arguments(r)  # the profile to replay with
    r.add_argument(
        "--checkpoint",
        type=Path,
        help="an H2O run folder or checkpoint: show its discriminators' u and w beside the gap",
    )
    r.add_argument("--config", type=Path, help="report YAML (default config/gap/report.yaml)")
    c = sub.add_parser(
        "calibrate",
        help="fit dynamics knobs to a real dataset (CMA-ES on the replay gap)",
        description="Fit the chosen knobs of a start profile to minimise the replay gap; write "
        "calibrated.yaml (loadable as a dynamics profile), calibration.csv, before/ and after/ "
        "reports.",
    )
    _common(c)
    c.add_argument("--start", default="real", help="profile name or YAML file to start from")
    c.add_argument(
        "--knobs",
        required=True,
        help=f"comma-separated knobs to fit (a '_scale' suffix may be left out): {FITTABLE}",
    )
    c.add_argument(
        "--budget", type=int, default=60, help="objective evaluations (replays of the data), 60"
    )
    c.add_argument("--config", type=Path, help="search YAML (default config/gap/calibrate.yaml)")
    c.add_argument("--report-config", type=Path, help="report YAML for before/ and after/")
    return p


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", type=Path, required=True, help="real dataset (.h5, h2o format)")
    p.add_argument("-o", "--output", type=Path, required=True, help="folder to write into")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def _report(args: argparse.Namespace) -> int:
    config = ReportConfig.load(args.config)
    profile = load_profile(args.dynamics, parse_overrides(args.overrides) or None)
    data = load_dataset(args.dataset)
    algo = None
    if args.checkpoint is not None:
        from h2o_learning.gap.discriminator import h2o_from_checkpoint  # noqa: PLC0415

        algo = h2o_from_checkpoint(args.checkpoint)  # checked before the replay
    with Replayer(profile, data.meta["task"], dataset_timing(data)) as replayer:
        report = make_report(str(args.dataset), data, replayer, config, not args.quiet)
    if algo is not None:
        from h2o_learning.gap.discriminator import discriminator_view  # noqa: PLC0415

        rows = report.rows
        disc = discriminator_view(
            algo,
            data.observations[rows],
            data.actions[rows],
            report.predicted,
            str(args.checkpoint),
        )
        report = report._replace(disc=disc)
    out = write_report(report, args.output)
    _print_headline(report, out)
    return 0


def _print_headline(report: GapReport, out: Path) -> None:
    within = report.within
    print(
        f"{report.profile.name}: {100 * within.mean():.1f} % of {len(report.rows)} transitions "
        f"within tolerance {report.config.tolerance:g}, median score "
        f"{float(np.median(report.gap.score)):.3g}; wrote {out}/summary.md"
    )


def _calibrate(args: argparse.Namespace) -> int:
    knobs = tuple(dict.fromkeys(resolve_knob(k) for k in args.knobs.split(",") if k.strip()))
    if not knobs:
        raise ConfigError("--knobs: give at least one knob")
    search = CalibrationConfig.load(args.config)
    report_cfg = ReportConfig.load(args.report_config)
    start = load_profile(args.start)
    data = load_dataset(args.dataset)
    cal = calibrate(data, start, knobs, search, args.budget, not args.quiet)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    description = (
        f"calibrated by h2o-gap from {start.name} on {args.dataset.name} "
        f"({', '.join(knobs)}; {len(cal.history)} evaluations)"
    )
    (out / "calibrated.yaml").write_text(profile_yaml(cal.best, description))
    write_history(cal, out / "calibration.csv")
    fitted = load_profile(out / "calibrated.yaml")  # the file, as users will load it
    reports = _before_after(data, args.dataset, start, fitted, report_cfg, out, not args.quiet)
    (out / "summary.md").write_text(_calibration_summary(cal, fitted, reports, args.dataset))
    values = ", ".join(f"{k} {getattr(start, k):g} -> {getattr(fitted, k):.4g}" for k in knobs)
    print(
        f"calibrated {values}; loss {cal.start_loss:.4g} -> {cal.best_loss:.4g} "
        f"({len(cal.history)} evaluations, {cal.seconds:.0f} s); wrote {out}/calibrated.yaml"
    )
    return 0


def _before_after(
    data: Dataset,
    dataset: Path,
    start: DynamicsProfile,
    fitted: DynamicsProfile,
    config: ReportConfig,
    out: Path,
    progress: bool,
) -> tuple[GapReport, GapReport]:
    from h2o_learning.gap import plots  # noqa: PLC0415

    with Replayer(start, data.meta["task"], dataset_timing(data)) as replayer:
        before = make_report(str(dataset), data, replayer, config, progress)
        replayer.set_profile(fitted)
        after = make_report(str(dataset), data, replayer, config, progress)
    write_report(before, out / "before")
    write_report(after, out / "after")
    plots.per_dimension(before.gap, start.name, out / "gap_before_after.png", after.gap)
    return before, after


def _calibration_summary(
    cal: Calibration,
    fitted: DynamicsProfile,
    reports: tuple[GapReport, GapReport],
    dataset: Path,
) -> str:
    before, after = reports
    lines = [
        f"# Calibration of `{cal.start.name}` on `{dataset.name}`",
        "",
        f"CMA-ES on {len(cal.rows)} transitions, {len(cal.history)} evaluations, "
        f"{cal.seconds:.0f} s. Objective (mean log(1 + normalised replay error^2)): "
        f"{cal.start_loss:.4g} -> {cal.best_loss:.4g}.",
        "",
        "| knob | start | calibrated |",
        "|---|---|---|",
        *(f"| {k} | {getattr(cal.start, k):g} | {getattr(fitted, k):.4g} |" for k in cal.knobs),
        "",
        f"Within tolerance {before.config.tolerance:g} on all {len(before.rows)} replayed "
        f"transitions: {100 * before.within.mean():.1f} % before, "
        f"{100 * after.within.mean():.1f} % after.",
        "",
        "`calibrated.yaml` loads as a dynamics profile (`--dynamics out/calibrated.yaml`); "
        "reports: `before/summary.md`, `after/summary.md`; every evaluation: "
        "`calibration.csv`; per element: `gap_before_after.png`.",
        "",
    ]
    return "\n".join(lines)


def _command(args: argparse.Namespace) -> int:
    return _report(args) if args.command == "report" else _calibrate(args)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``h2o-gap``; errors print one clear line and exit 2."""
    return run_cli(_command, build_parser(), argv, "h2o-gap: error")


if __name__ == "__main__":
    sys.exit(main())
