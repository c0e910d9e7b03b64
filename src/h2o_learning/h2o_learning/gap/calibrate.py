"""``h2o-gap calibrate``: fit dynamics knobs to real data by minimising the replay gap.

The objective of a candidate profile is :meth:`.metrics.Gap.loss`, a robust mean of the
replay errors of the calibration rows, each element divided by its RMS real one-tick change
(the scale is fixed from the data once, so every candidate is measured with the same ruler). CMA-ES
(``cma``) searches the chosen knobs, each mapped linearly from its ``[low, high]`` range
(``config/gap/calibrate.yaml``) to [0, 1]; a candidate outside [0, 1] is evaluated at the
nearest bound plus a quadratic penalty (pycma's own box bounds do not handle one knob).
``latency_steps`` is rounded to whole physics steps.

Only knobs the one-tick replay can see are fittable (:data:`FITTABLE`): the random ones
(noise, jitter, pushes) are off in replay (:mod:`.replay`).
"""

from __future__ import annotations

import csv
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import yaml
from numpy.typing import NDArray

from h2o_learning.gap import metrics
from h2o_learning.gap.replay import RANDOM_KNOBS, Replayer
from h2o_learning.gap.report import check_max_transitions, dataset_timing, sample_rows
from h2o_robot_bridge import config_files
from h2o_robot_bridge.dataset import Dataset
from h2o_robot_bridge.errors import ConfigError
from h2o_sim.dynamics import INTEGER_KNOBS, DynamicsProfile, knob_names

PACKAGE = "h2o_learning"
DEFAULT_CONFIG = "gap/calibrate.yaml"
FITTABLE: tuple[str, ...] = tuple(
    k for k in knob_names() if k not in RANDOM_KNOBS and not k.startswith("push_")
)
"""Knobs a one-tick replay responds to (pushes' timing is moot with pushes off)."""
OUT_OF_BOUNDS_PENALTY = 10.0
"""Loss added per squared [0, 1]-unit a candidate lies outside its range."""


def resolve_knob(name: str) -> str:
    """The knob called ``name``: a :data:`FITTABLE` name, or one without its ``_scale``
    suffix (``gravity`` -> ``gravity_scale``).

    Raises:
        ConfigError: unknown, or not fittable by replay.
    """
    name = name.strip()
    for candidate in (name, f"{name}_scale"):
        if candidate in FITTABLE:
            return candidate
    if name in knob_names():
        raise ConfigError(
            f"knob {name!r} cannot be calibrated by one-tick replay (random or off in replay); "
            f"fittable: {list(FITTABLE)}"
        )
    raise ConfigError(f"unknown dynamics knob {name!r}; fittable: {list(FITTABLE)}")


@dataclass(frozen=True)
class CalibrationConfig:
    """Search settings (``config/gap/calibrate.yaml``).

    Attributes:
        bounds: knob -> (low, high), the search range of each knob that may be fitted.
        sigma0: initial CMA-ES step size in [0, 1] units.
        max_transitions: calibration rows (evenly spaced; None: all).
        seed: CMA-ES seed.
    """

    bounds: dict[str, tuple[float, float]]
    sigma0: float = 0.25
    max_transitions: int | None = 2000
    seed: int = 0

    def __post_init__(self) -> None:
        for name, (low, high) in self.bounds.items():
            if name not in FITTABLE:
                raise ConfigError(f"calibrate bounds: {name!r} is not a fittable knob")
            if not (math.isfinite(low) and math.isfinite(high) and 0 <= low < high):
                raise ConfigError(
                    f"calibrate bounds.{name}: need 0 <= low < high, not {low, high}"
                )
        if not (math.isfinite(self.sigma0) and 0 < self.sigma0 <= 1):
            raise ConfigError(f"calibrate: sigma0 must be in (0, 1], got {self.sigma0}")
        check_max_transitions(self.max_transitions, "calibrate")

    @classmethod
    def load(cls, path: str | Path | None = None) -> CalibrationConfig:
        """From YAML (default: the shipped ``config/gap/calibrate.yaml``)."""
        if path is None:
            path = config_files.config_file(PACKAGE, DEFAULT_CONFIG)
        data = config_files.load_yaml_mapping(path, "gap calibrate config")
        unknown = sorted(set(data) - {"bounds", "sigma0", "max_transitions", "seed"})
        if unknown:
            raise ConfigError(f"{path}: unknown keys {unknown}")
        try:
            bounds = {str(k): (float(v[0]), float(v[1])) for k, v in data["bounds"].items()}
            return cls(
                bounds,
                float(data.get("sigma0", 0.25)),
                data.get("max_transitions", 2000),
                int(data.get("seed", 0)),
            )
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as err:
            raise ConfigError(f"{path}: bad calibration config ({err!r})") from err


class Evaluation(NamedTuple):
    """One candidate: its number (0: the start), knob values and objective."""

    number: int
    values: dict[str, float]
    loss: float


class Calibration(NamedTuple):
    """The result of a search.

    Attributes:
        knobs: the fitted knob names.
        start, best: the start profile and the best one found.
        history: every evaluation, in order (the start first).
        rows: (n,) dataset rows the objective used.
        seconds: wall time [s].
    """

    knobs: tuple[str, ...]
    start: DynamicsProfile
    best: DynamicsProfile
    history: list[Evaluation]
    rows: NDArray[np.intp]
    seconds: float

    @property
    def start_loss(self) -> float:
        """Objective of the start profile."""
        return self.history[0].loss

    @property
    def best_loss(self) -> float:
        """Objective of the best profile."""
        return min(e.loss for e in self.history)


class _Space:
    """The [0, 1]^k search space of some knobs and its map to profiles."""

    def __init__(self, start: DynamicsProfile, knobs: tuple[str, ...], cfg: CalibrationConfig):
        missing = [k for k in knobs if k not in cfg.bounds]
        if missing:
            raise ConfigError(f"no search range for {missing} in the calibration config")
        self.start, self.knobs = start, knobs
        self.low = np.array([cfg.bounds[k][0] for k in knobs])
        self.high = np.array([cfg.bounds[k][1] for k in knobs])

    def encode(self, profile: DynamicsProfile) -> NDArray[np.float64]:
        values = np.array([float(getattr(profile, k)) for k in self.knobs])
        x = (values - self.low) / (self.high - self.low)
        if np.any(x < 0) or np.any(x > 1):
            raise ConfigError(
                f"start profile {profile.name!r} lies outside the search ranges: "
                f"{dict(zip(self.knobs, values.tolist(), strict=True))}"
            )
        return x

    def decode(self, x: NDArray) -> tuple[DynamicsProfile, float]:
        """(profile at the clipped point, penalty for leaving [0, 1])."""
        x = np.asarray(x, dtype=np.float64)
        inside = np.clip(x, 0.0, 1.0)
        values = self.low + inside * (self.high - self.low)
        changes: dict[str, Any] = {}
        for k, v in zip(self.knobs, values.tolist(), strict=True):
            changes[k] = int(round(v)) if k in INTEGER_KNOBS else float(v)
        penalty = OUT_OF_BOUNDS_PENALTY * float(np.sum((x - inside) ** 2))
        return self.start.replace(name="calibrated", **changes), penalty


def calibrate(
    data: Dataset,
    start: DynamicsProfile,
    knobs: tuple[str, ...],
    config: CalibrationConfig,
    budget: int,
    progress: bool = False,
) -> Calibration:
    """Fit ``knobs`` of ``start`` to ``data`` with at most ``budget`` objective evaluations.

    Raises:
        ConfigError: no knob, a budget below 2, or the start outside the search ranges.
    """
    import cma  # noqa: PLC0415 - only this command needs it

    if not knobs:
        raise ConfigError("calibrate: give at least one knob (--knobs)")
    if budget < 2:
        raise ConfigError(f"calibrate: --budget must be >= 2 evaluations, got {budget}")
    space = _Space(start, knobs, config)
    x0 = space.encode(start)
    rows = sample_rows(data.size, config.max_transitions)
    obs, nxt = data.observations[rows], data.next_observations[rows]
    scale = metrics.change_scale(obs, nxt)
    history: list[Evaluation] = []
    bar = _bar(budget, progress)
    t0 = time.perf_counter()
    with Replayer(start, data.meta["task"], dataset_timing(data)) as replayer:

        def objective(profile: DynamicsProfile, penalty: float = 0.0) -> float:
            replayer.set_profile(profile)
            pred = replayer.predict(data, rows)
            loss = metrics.compute_gap(obs, nxt, pred, scale).loss() + penalty
            history.append(Evaluation(len(history), {k: getattr(profile, k) for k in knobs}, loss))
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{min(e.loss for e in history):.4g}")
            return loss

        objective(start)
        options = {"seed": config.seed + 1, "verbose": -9}  # cma: seed 0 means "random"
        es = cma.CMAEvolutionStrategy(x0.tolist(), config.sigma0, options)
        while len(history) + es.popsize <= budget and not es.stop():
            xs = es.ask()
            es.tell(xs, [objective(*space.decode(x)) for x in xs])
    if bar is not None:
        bar.close()
    best = min(history, key=lambda e: e.loss)
    return Calibration(
        knobs,
        start,
        start.replace(name="calibrated", **best.values),
        history,
        rows,
        time.perf_counter() - t0,
    )


def _bar(total: int, progress: bool) -> Any:
    if not progress:
        return None
    from tqdm import tqdm  # noqa: PLC0415

    return tqdm(total=total, unit="eval", desc="calibrating")


def profile_yaml(profile: DynamicsProfile, description: str) -> str:
    """YAML text of ``profile`` that ``load_profile`` reads back: the knobs that differ from
    nominal (the name is the file's stem)."""
    nominal = DynamicsProfile()
    knobs = {k: v for k, v in profile.knobs().items() if v != getattr(nominal, k)}
    return yaml.safe_dump({"description": description, **knobs}, sort_keys=False)


def write_history(cal: Calibration, path: Path) -> None:
    """``calibration.csv``: evaluation, knob values, loss (the start is evaluation 0)."""
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["evaluation", *cal.knobs, "loss"])
        for e in cal.history:
            w.writerow([e.number, *(f"{e.values[k]:.6g}" for k in cal.knobs), f"{e.loss:.6g}"])
