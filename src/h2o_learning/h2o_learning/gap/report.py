"""``h2o-gap report``: replay a real dataset in one dynamics profile and write what it shows.

Outputs in the report folder:

- ``summary.md``: the share of transitions predicted within tolerance, the elements and state
  regions with the largest gap, and (with an H2O checkpoint) how the discriminators' u and w
  line up with the replay gap;
- ``per_dimension.csv``: per predicted element, RMSE [its units], RMS real one-tick change and
  their ratio (nRMSE);
- ``regions.csv``: per bin of tilt, forward speed and commanded speed: transitions, share within
  tolerance, mean and median score (and mean u, w);
- ``transitions.csv``: per replayed transition, its score and region variables (and u, w);
- ``gap_per_dimension.png``, ``gap_regions.png`` (and ``h2o_vs_replay.png``).

The numbers are defined in :mod:`.metrics`; the replay in :mod:`.replay`.
"""

from __future__ import annotations

import csv
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from h2o_learning.gap import metrics, plots
from h2o_learning.gap.discriminator import DiscriminatorView
from h2o_learning.gap.metrics import Gap, Region
from h2o_learning.gap.replay import RANDOM_KNOBS, Replayer, action_mismatch
from h2o_robot_bridge import config_files
from h2o_robot_bridge.contract import Timing
from h2o_robot_bridge.dataset import Dataset
from h2o_robot_bridge.errors import ConfigError
from h2o_sim.dynamics import DynamicsProfile

PACKAGE = "h2o_learning"
DEFAULT_CONFIG = "gap/report.yaml"
EDGE_KEYS = {
    "tilt_deg": "tilt_edges_deg",
    "forward_vel": "speed_edges",
    "command.forward_vel": "command_edges",
}
"""Region variable (:func:`metrics.region_variables`) -> its config key."""


@dataclass(frozen=True)
class ReportConfig:
    """How the gap is scored and binned (``config/gap/report.yaml``).

    Attributes:
        tolerance: a transition is predicted when its score (worst element error over that
            element's RMS real one-tick change) is at most this.
        tilt_edges_deg: inner bin edges of the base tilt of s [deg].
        speed_edges: inner bin edges of the odometry forward speed of s [m/s].
        command_edges: inner bin edges of the commanded forward speed [m/s].
        max_transitions: replay at most this many rows, evenly spaced (None: all).
    """

    tolerance: float = 0.5
    tilt_edges_deg: tuple[float, ...] = (2.0, 5.0, 10.0, 20.0)
    speed_edges: tuple[float, ...] = (-0.5, -0.1, 0.1, 0.5)
    command_edges: tuple[float, ...] = (-0.5, -0.1, 0.1, 0.5)
    max_transitions: int | None = None

    def __post_init__(self) -> None:
        if not (np.isfinite(self.tolerance) and self.tolerance > 0):
            raise ConfigError(f"gap report: tolerance must be > 0, got {self.tolerance!r}")
        for key in EDGE_KEYS.values():
            edges = getattr(self, key)
            if not all(np.isfinite(edges)) or list(edges) != sorted(set(edges)):
                raise ConfigError(f"gap report: {key} must be increasing numbers, got {edges}")
        check_max_transitions(self.max_transitions, "gap report")

    @classmethod
    def load(cls, path: str | Path | None = None) -> ReportConfig:
        """From a YAML file (default: the shipped ``config/gap/report.yaml``); missing keys take
        the defaults, unknown keys are errors."""
        if path is None:
            path = config_files.config_file(PACKAGE, DEFAULT_CONFIG)
        data = config_files.load_yaml_mapping(path, "gap report config", empty_ok=True)
        known = {"tolerance", "max_transitions", *EDGE_KEYS.values()}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"{path}: unknown keys {unknown}; known: {sorted(known)}")
        try:
            for key in EDGE_KEYS.values():
                if key in data:
                    data[key] = tuple(float(x) for x in data[key])
            if "tolerance" in data:
                data["tolerance"] = float(data["tolerance"])
        except (TypeError, ValueError) as err:
            raise ConfigError(f"{path}: {err}") from err
        return cls(**data)

    def edges(self) -> dict[str, list[float]]:
        """Inner bin edges by region variable."""
        return {var: list(getattr(self, key)) for var, key in EDGE_KEYS.items()}


def check_max_transitions(n: object, where: str) -> None:
    """Raise ConfigError unless ``n`` is a whole number >= 1 or None (a row limit)."""
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise ConfigError(f"{where}: max_transitions must be >= 1 or null, got {n!r}")


def sample_rows(n: int, limit: int | None) -> NDArray[np.intp]:
    """At most ``limit`` row indices of ``n``, evenly spaced, increasing (all if None)."""
    if limit is None or limit >= n:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, limit).round().astype(np.intp))


class GapReport(NamedTuple):
    """One replay of a dataset in one profile, and its numbers.

    Attributes:
        dataset: where the data came from (for the summary).
        data: the dataset.
        profile: the dynamics replayed (random knobs off).
        rows: (n,) dataset rows replayed.
        predicted: (n, OBS_DIM) the sim's s' of those rows.
        gap: their :class:`Gap` (scale from the replayed rows).
        config: scoring and bins.
        seconds: replay wall time [s].
        disc: H2O's u and w on the same rows, if a checkpoint was given.
    """

    dataset: str
    data: Dataset
    profile: DynamicsProfile
    rows: NDArray[np.intp]
    predicted: NDArray[np.float32]
    gap: Gap
    config: ReportConfig
    seconds: float
    disc: DiscriminatorView | None = None

    @property
    def within(self) -> NDArray[np.bool_]:
        """(n,) predicted within the tolerance."""
        return self.gap.within(self.config.tolerance)

    def regions(self) -> list[Region]:
        """The state-region bins of the replayed rows (indices into ``rows``)."""
        return metrics.regions(self.data.observations[self.rows], self.config.edges())


def replay_dataset(
    data: Dataset,
    replayer: Replayer,
    rows: NDArray[np.intp],
    progress: bool = False,
    desc: str = "replaying",
) -> NDArray[np.float32]:
    """The replayer's predictions of ``rows`` (with a tqdm bar if ``progress``)."""
    if not progress:
        return replayer.predict(data, rows)
    from tqdm import tqdm  # noqa: PLC0415 - only for the CLI

    with tqdm(total=len(rows), unit="tr", desc=desc) as bar:
        return replayer.predict(data, rows, bar)


def make_report(
    dataset: str,
    data: Dataset,
    replayer: Replayer,
    config: ReportConfig,
    progress: bool = False,
) -> GapReport:
    """Replay ``data`` (``config.max_transitions`` rows) with the replayer's current profile."""
    rows = sample_rows(data.size, config.max_transitions)
    start = time.perf_counter()
    pred = replay_dataset(data, replayer, rows, progress, f"replay in {replayer.profile.name}")
    seconds = time.perf_counter() - start
    gap = metrics.compute_gap(data.observations[rows], data.next_observations[rows], pred)
    return GapReport(dataset, data, replayer.profile, rows, pred, gap, config, seconds)


def dataset_timing(data: Dataset) -> Timing:
    """The timing of a dataset's control rate (physics at the contract's default rate)."""
    return Timing(control_hz=float(data.meta["control_hz"]))


# --------------------------------------------------------------------------------- writing
def write_report(report: GapReport, folder: str | Path) -> Path:
    """Write the CSVs, plots and ``summary.md`` of ``report`` into ``folder`` (created)."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    _write_per_dimension(report, out / "per_dimension.csv")
    _write_regions(report, out / "regions.csv")
    _write_transitions(report, out / "transitions.csv")
    plots.per_dimension(report.gap, report.profile.name, out / "gap_per_dimension.png")
    plots.regions(region_rows(report), report.config.tolerance, out / "gap_regions.png")
    if report.disc is not None:
        plots.h2o_vs_replay(report.gap.score, report.disc, out / "h2o_vs_replay.png")
    (out / "summary.md").write_text(summary(report))
    return out


def _write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> None:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)


def _write_per_dimension(report: GapReport, path: Path) -> None:
    g = report.gap
    rows = [
        [name, f"{r:.6g}", f"{s:.6g}", f"{n:.6g}"]
        for name, r, s, n in zip(metrics.PREDICTED_NAMES, g.rmse, g.scale, g.nrmse, strict=True)
    ]
    _write_csv(path, ["element", "rmse", "rms_real_change", "nrmse"], rows)


def region_rows(report: GapReport) -> list[dict[str, Any]]:
    """One dict per region bin: variable, bin, n, within_share, mean_score, median_score
    (and mean_u, mean_w with a checkpoint)."""
    score, within, disc = report.gap.score, report.within, report.disc
    out = []
    for r in report.regions():
        row: dict[str, Any] = {
            "variable": r.variable,
            "bin": r.label,
            "n": int(r.rows.size),
            "within_share": float(within[r.rows].mean()),
            "mean_score": float(score[r.rows].mean()),
            "median_score": float(np.median(score[r.rows])),
        }
        if disc is not None:
            row["mean_u"] = float(disc.u[r.rows].mean())
            row["mean_w"] = float(disc.weight[r.rows].mean())
        out.append(row)
    return out


def _fmt(v: Any) -> str:
    return f"{v:.6g}" if isinstance(v, float) else str(v)


def _write_regions(report: GapReport, path: Path) -> None:
    rows = region_rows(report)
    header = list(rows[0]) if rows else ["variable", "bin", "n"]
    _write_csv(path, header, [[_fmt(r[k]) for k in header] for r in rows])


def _write_transitions(report: GapReport, path: Path) -> None:
    variables = metrics.region_variables(report.data.observations[report.rows])
    header = ["row", "score", "within", *variables]
    cols: list[NDArray] = [report.rows, report.gap.score, report.within, *variables.values()]
    if report.disc is not None:
        header += ["h2o_u", "h2o_w", "h2o_log_ratio"]
        cols += [report.disc.u, report.disc.weight, report.disc.log_ratio]
    rows = [[_fmt(c[i].item()) for c in cols] for i in range(len(report.rows))]
    _write_csv(path, header, rows)


def agreement(score: NDArray, within: NDArray, disc: DiscriminatorView) -> dict[str, float]:
    """How H2O's u and w line up with the replay score on the same transitions.

    Returns: Spearman correlations of the score with u (agreeing: > 0) and with w (agreeing:
    < 0), and the four shares of a 2 x 2 table: replay within tolerance or not x u below or
    above its median (agreeing cells: within & low u, outside & high u).
    """
    high_u = disc.u > np.median(disc.u)
    return {
        "spearman_score_u": metrics.rank_correlation(score, disc.u),
        "spearman_score_w": metrics.rank_correlation(score, disc.weight),
        "within_low_u": float(np.mean(within & ~high_u)),
        "within_high_u": float(np.mean(within & high_u)),
        "outside_low_u": float(np.mean(~within & ~high_u)),
        "outside_high_u": float(np.mean(~within & high_u)),
    }


def summary(report: GapReport) -> str:
    """The short markdown page a person reads first."""
    g, cfg, data = report.gap, report.config, report.data
    score, within = g.score, report.within
    source = data.meta.get("source", {})
    recorded = source.get("dynamics", source.get("robot", source.get("kind", "unknown")))
    knobs = {k: v for k, v in report.profile.knobs().items() if k not in RANDOM_KNOBS}
    nominal = DynamicsProfile()
    changed = (
        ", ".join(f"{k} {v:.4g}" for k, v in knobs.items() if v != getattr(nominal, k))
        or "nominal"
    )
    mismatch = float(action_mismatch(data)[report.rows].max())
    lines = [
        f"# Replay gap: `{Path(report.dataset).name}` in `{report.profile.name}`",
        "",
        f"{len(report.rows)} of {data.size} real transitions (task `{data.meta['task']}`, "
        f"recorded in `{recorded}`) replayed one control tick each in the simulator with "
        f"`{report.profile.name}` dynamics ({changed}; random knobs off) in "
        f"{report.seconds:.1f} s.",
        "",
        f"**{100 * within.mean():.1f} % of the transitions are predicted within tolerance** "
        f"(every predicted element within {cfg.tolerance:g} x its RMS real one-tick change). "
        f"Score (worst element error / its RMS one-tick change): median "
        f"{np.median(score):.3g}, 90th percentile {np.quantile(score, 0.9):.3g}.",
        "",
        "Largest gaps (per element, `per_dimension.csv` has all):",
        "",
        "| element | RMSE | RMS real change | nRMSE |",
        "|---|---|---|---|",
    ]
    order = np.argsort(-g.nrmse)[:5]
    for i in order:
        lines.append(
            f"| {metrics.PREDICTED_NAMES[i]} | {g.rmse[i]:.4g} | {g.scale[i]:.4g} | "
            f"{g.nrmse[i]:.3f} |"
        )
    rows = sorted(region_rows(report), key=lambda r: r["within_share"])
    lines += [
        "",
        "Least trustworthy regions (share within tolerance; `regions.csv` has all):",
        "",
        "| variable | bin | n | within | mean score |",
        "|---|---|---|---|---|",
    ]
    for r in rows[:4]:
        lines.append(
            f"| {r['variable']} | {r['bin']} | {r['n']} | {100 * r['within_share']:.1f} % | "
            f"{r['mean_score']:.3g} |"
        )
    if report.disc is not None:
        lines += _agreement_lines(report)
    lines += [
        "",
        f"Checks: max |s'.prev_action - a| = {mismatch:.2g} (0: the actions are what the robot "
        "received, as replay assumes). Wheel slip and wheels off the ground at s are not in "
        "the observation and show up as gap even for the true dynamics (docs/gap.md).",
        "",
        "Files: `per_dimension.csv`, `regions.csv`, `transitions.csv`, "
        "`gap_per_dimension.png`, `gap_regions.png`"
        + (", `h2o_vs_replay.png`." if report.disc is not None else "."),
        "",
    ]
    return "\n".join(lines)


def _agreement_lines(report: GapReport) -> list[str]:
    assert report.disc is not None
    a = agreement(report.gap.score, report.within, report.disc)
    return [
        "",
        f"H2O's discriminators (`{report.disc.checkpoint}`) on the same sim transitions "
        f"(s, a, sim s'): Spearman(score, u) = {a['spearman_score_u']:.2f} (agreeing: > 0), "
        f"Spearman(score, w) = {a['spearman_score_w']:.2f} (agreeing: < 0).",
        "",
        "| | u <= median | u > median |",
        "|---|---|---|",
        f"| replay within tolerance | {100 * a['within_low_u']:.1f} % (agree) | "
        f"{100 * a['within_high_u']:.1f} % |",
        f"| replay outside tolerance | {100 * a['outside_low_u']:.1f} % | "
        f"{100 * a['outside_high_u']:.1f} % (agree) |",
    ]
