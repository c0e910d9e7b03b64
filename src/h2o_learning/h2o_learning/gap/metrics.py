"""The gap numbers: per observation element, per transition, per state region (pure numpy).

Notation, for N real transitions and the D predicted observation elements
(:data:`PREDICTED_NAMES`: everything but the command and the previous action, which the control
loop sets rather than the dynamics):

- ``e[i, d] = sim s'[i, d] - real s'[i, d]``, the replay error (N, D);
- ``scale[d] = sqrt(mean_i (real s'[i, d] - s[i, d])^2)``, the RMS real one-tick change: what
  the dimension moves in one control period, in its own units (N.B. "no change" as a
  prediction scores a normalised RMSE of exactly 1);
- ``rmse[d] = sqrt(mean_i e[i, d]^2)`` and ``nrmse[d] = rmse[d] / scale[d]``;
- ``score[i] = max_d |e[i, d]| / scale[d]``, the transition's worst normalised error;
- transition i is *predicted within tolerance* tau when ``score[i] <= tau``, i.e. every
  element's error is at most tau times that element's typical one-tick change;
- the calibration loss ``mean_{i,d} log(1 + (e[i, d] / scale[d])^2)`` (:meth:`Gap.loss`).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from h2o_robot_bridge.contract import OBS_NAMES, OBS_SLICES, tilt_from_projected_gravity

LOOP_FIELDS = ("command", "prev_action")
"""Observation fields the control loop sets (not predicted by the dynamics)."""

PREDICTED_DIMS: NDArray[np.intp] = np.array(
    [
        i
        for name, sl in OBS_SLICES.items()
        if name not in LOOP_FIELDS
        for i in range(sl.start, sl.stop)
    ]
)
"""Indices of the predicted observation elements."""
PREDICTED_NAMES: tuple[str, ...] = tuple(OBS_NAMES[i] for i in PREDICTED_DIMS)

SCALE_FLOOR = 1e-6
"""Smallest ``scale`` (an element that never moves would divide by zero)."""


class Gap(NamedTuple):
    """Replay errors of N transitions on the D predicted elements.

    Attributes:
        errors: (N, D) sim minus real next observation.
        scale: (D,) RMS real one-tick change (floored at :data:`SCALE_FLOOR`).
    """

    errors: NDArray[np.float64]
    scale: NDArray[np.float64]

    @property
    def rmse(self) -> NDArray[np.float64]:
        """(D,) root-mean-square error, in each element's units."""
        return np.sqrt(np.mean(self.errors**2, axis=0))

    @property
    def nrmse(self) -> NDArray[np.float64]:
        """(D,) RMSE over the RMS real change (1: as wrong as "nothing changes")."""
        return self.rmse / self.scale

    @property
    def score(self) -> NDArray[np.float64]:
        """(N,) worst normalised error of each transition."""
        return np.max(np.abs(self.errors) / self.scale, axis=1)

    def within(self, tolerance: float) -> NDArray[np.bool_]:
        """(N,) True where the transition is predicted within ``tolerance``."""
        return self.score <= tolerance

    def loss(self) -> float:
        """Calibration's objective: the mean over transitions and elements of
        ``log(1 + (e / scale)^2)`` (0 for a perfect simulator).

        Robust (Cauchy) rather than squared: transitions replay cannot start right (a wheel
        slipping at s, docs/gap.md) keep large errors at the true dynamics, and squared they
        outweigh the rest. Measured on 2000 gentle rows: the mean squared error was lower at
        gravity 0.95 / motor strength 0.94 (0.1030) than at the truth (0.1045); this loss is
        lowest at the truth (0.0203 vs 0.0209).
        """
        return float(np.mean(np.log1p((self.errors / self.scale) ** 2)))


def compute_gap(
    obs: NDArray, next_obs: NDArray, predicted: NDArray, scale: NDArray | None = None
) -> Gap:
    """The :class:`Gap` of predictions (N, OBS_DIM) against real ``next_obs`` (N, OBS_DIM).

    Args:
        obs: (N, OBS_DIM) real s (for the scale).
        next_obs: (N, OBS_DIM) real s'.
        predicted: (N, OBS_DIM) the sim's s'.
        scale: (D,) a fixed scale (calibration keeps the whole dataset's); default: this
            data's RMS one-tick change.
    """
    real = np.asarray(next_obs, dtype=np.float64)[:, PREDICTED_DIMS]
    sim = np.asarray(predicted, dtype=np.float64)[:, PREDICTED_DIMS]
    if scale is None:
        scale = change_scale(obs, next_obs)
    return Gap(sim - real, np.asarray(scale, dtype=np.float64))


def change_scale(obs: NDArray, next_obs: NDArray) -> NDArray[np.float64]:
    """(D,) RMS real one-tick change of the predicted elements, floored."""
    change = (np.asarray(next_obs, np.float64) - np.asarray(obs, np.float64))[:, PREDICTED_DIMS]
    return np.maximum(np.sqrt(np.mean(change**2, axis=0)), SCALE_FLOOR)


class Region(NamedTuple):
    """One bin of one state variable.

    Attributes:
        variable: ``tilt_deg``, ``forward_vel`` or ``command.forward_vel``.
        label: the bin, e.g. ``[2, 5)``.
        rows: (n,) indices of the transitions whose s falls in it.
    """

    variable: str
    label: str
    rows: NDArray[np.intp]


def region_variables(obs: NDArray) -> dict[str, NDArray[np.float64]]:
    """The binned state variables of s (N, OBS_DIM): tilt [deg], odometry forward speed
    [m/s], commanded forward speed [m/s], each (N,)."""
    o = np.asarray(obs, dtype=np.float64)
    return {
        "tilt_deg": np.degrees(tilt_from_projected_gravity(o[:, OBS_SLICES["projected_gravity"]])),
        "forward_vel": o[:, OBS_SLICES["forward_vel"]][:, 0],
        "command.forward_vel": o[:, OBS_SLICES["command"]][:, 0],
    }


def bin_labels(edges: list[float]) -> list[str]:
    """Labels of the bins that inner ``edges`` make (open end bins): ``< a``, ``[a, b)``,
    ..., ``>= z``."""
    if not edges:
        return ["all"]
    out = [f"< {edges[0]:g}"]
    out += [f"[{a:g}, {b:g})" for a, b in zip(edges[:-1], edges[1:], strict=True)]
    return [*out, f">= {edges[-1]:g}"]


def regions(obs: NDArray, edges: dict[str, list[float]]) -> list[Region]:
    """The non-empty bins of each variable of :func:`region_variables` (edges by variable)."""
    out: list[Region] = []
    for name, values in region_variables(obs).items():
        cuts = list(edges.get(name, []))
        which = np.digitize(values, cuts)  # bin k holds edges[k-1] <= v < edges[k]
        for k, label in enumerate(bin_labels(cuts)):
            rows = np.flatnonzero(which == k)
            if rows.size:
                out.append(Region(name, label, rows))
    return out


def rank_correlation(a: NDArray, b: NDArray) -> float:
    """Spearman's rank correlation of two (N,) arrays (average ranks for ties); NaN if either
    is constant or N < 2."""
    x, y = _ranks(np.asarray(a, np.float64)), _ranks(np.asarray(b, np.float64))
    if x.size < 2 or x.std() == 0 or y.std() == 0:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1])


def _ranks(v: NDArray[np.float64]) -> NDArray[np.float64]:
    order = np.argsort(v, kind="stable")
    ranks = np.empty(v.size)
    ranks[order] = np.arange(v.size, dtype=np.float64)
    # Ties share the mean of their ranks.
    _, inverse, counts = np.unique(v, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=ranks)
    return sums[inverse] / counts[inverse]
