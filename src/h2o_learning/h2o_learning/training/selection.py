"""Model selection: which epoch's policy a run deploys as ``<task>.onnx``, and why.

Epochs are compared on one metric of the trainer's evaluation, :data:`SELECT_METRIC` (the mean
return of the deterministic policy through the deploy runner's core on the ``real`` profile,
over the run's fixed evaluation seeds). The best is the evaluated epoch with the highest value;
a tie keeps the earlier epoch (it reached that return with less training) and a NaN never wins.

``run.export`` names the one deployed: ``best`` (default: learning at small budgets is unstable
between evaluations, so the last epoch is often not the best) or ``last``. ``best`` with no
value to compare (no evaluation ran, e.g. a run stopped before its first) falls back to the
last epoch and says so. The choice and its reason are an :class:`ExportRecord`, written as
``<run>/export.json`` and into the ONNX metadata ``extra`` of ``<task>.onnx``.

The best is selected on the evaluation seeds themselves, so its return is optimistic: check it
on other episodes (``h2o-eval --seed N`` with N other than the run's seed) before trusting it.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from h2o_learning.training.config_schema import from_dict, to_dict
from h2o_learning.training.metrics_log import REAL_RETURN

SELECT_METRIC = REAL_RETURN
"""The metric the best epoch maximises."""

METRIC_LABELS = {REAL_RETURN: "real return"}
"""Words for a metric in the human ``reason``."""


@dataclass(frozen=True)
class Scored:
    """One evaluated epoch: ``epoch`` (epochs completed) and its metric ``value``."""

    epoch: int
    value: float


def improves(value: float, best: Scored | None) -> bool:
    """True when ``value`` beats the best so far: strictly higher (a tie keeps the earlier
    epoch); a NaN never does."""
    if math.isnan(value):
        return False
    return best is None or value > best.value


@dataclass(frozen=True)
class Criterion:
    """How epochs were compared: the metric and the evaluation behind it.

    Attributes:
        metric: metric name in ``metrics.csv`` (``eval_real/return_mean``).
        dynamics: the profile standing in for the robot (``env.eval_dynamics``).
        seeds: reset seeds of the evaluation episodes (fixed for the whole run).
    """

    metric: str
    dynamics: str
    seeds: tuple[int, ...]

    @property
    def label(self) -> str:
        """The metric in words (``real return``)."""
        return METRIC_LABELS.get(self.metric, self.metric)


@dataclass(frozen=True)
class ExportRecord:
    """Which epoch's policy a run exported as ``<task>.onnx`` and why (``export.json``).

    Attributes:
        requested: ``run.export`` (``best`` or ``last``).
        exported: what ``policy`` holds: ``best`` or ``last`` (``last`` when ``best`` was
            requested but no epoch had a value).
        epoch: the exported policy's epoch (epochs completed when it was taken).
        value: its ``metric`` value (None: that epoch was not evaluated).
        metric, eval_dynamics, eval_seeds, eval_episodes: the comparison (:class:`Criterion`).
        best_epoch, best_value: the best evaluated epoch (None: none).
        last_epoch, last_value: the final epoch and its value (None: not evaluated).
        policy: the deployed file (``<task>.onnx``); source: the file it copies
            (``best_<task>.onnx`` or ``last_<task>.onnx``).
        reason: one line for humans.
    """

    requested: str
    exported: str
    epoch: int
    value: float | None
    metric: str
    eval_dynamics: str
    eval_episodes: int
    eval_seeds: tuple[int, ...]
    best_epoch: int | None
    best_value: float | None
    last_epoch: int
    last_value: float | None
    policy: str
    source: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data."""
        data: dict[str, Any] = to_dict(self)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExportRecord:
        """Strict inverse of :meth:`to_dict` (ConfigError on unknown/missing keys)."""
        return from_dict(cls, data)


def policy_file(export_name: str, which: str) -> str:
    """File name of the ``best`` or ``last`` policy next to ``export_name``
    (``best_stand.onnx``)."""
    return f"{which}_{export_name}"


def decide(
    requested: str,
    criterion: Criterion,
    best: Scored | None,
    last_epoch: int,
    last_value: float | None,
    export_name: str,
) -> ExportRecord:
    """The export of a run that stopped after ``last_epoch`` epochs.

    Args:
        requested: ``run.export``.
        criterion: the metric and evaluation the epochs were compared on.
        best: the best evaluated epoch so far, or None.
        last_epoch: epochs completed.
        last_value: the metric of the last epoch, None when it was not evaluated.
        export_name: the deployed file's name (``<task>.onnx``).
    """
    chosen = best if requested == "best" else None
    exported = "last" if chosen is None else "best"
    epoch, value = (last_epoch, last_value) if chosen is None else (chosen.epoch, chosen.value)
    return ExportRecord(
        requested=requested,
        exported=exported,
        epoch=epoch,
        value=value,
        metric=criterion.metric,
        eval_dynamics=criterion.dynamics,
        eval_episodes=len(criterion.seeds),
        eval_seeds=criterion.seeds,
        best_epoch=None if best is None else best.epoch,
        best_value=None if best is None else best.value,
        last_epoch=last_epoch,
        last_value=last_value,
        policy=export_name,
        source=policy_file(export_name, exported),
        reason=reason(requested, criterion, best, last_epoch, last_value),
    )


def reason(
    requested: str,
    criterion: Criterion,
    best: Scored | None,
    last_epoch: int,
    last_value: float | None,
) -> str:
    """One line: what was exported and why (see :func:`decide` for the arguments)."""
    label, n = criterion.label, len(criterion.seeds)
    episodes = f"{n} runner episode{'' if n == 1 else 's'}"
    if requested == "best" and best is not None:
        last = "the last" if best.epoch == last_epoch else f"last epoch: {_value(last_value)}"
        return (
            f"best: epoch {best.epoch} of {last_epoch} had the highest {label} "
            f"{best.value:.1f} over {episodes} ({last})"
        )
    if requested == "best":
        return (
            f"last: best was asked, but no evaluation gave a {label} to compare epochs by; "
            f"exported the last epoch, {last_epoch}"
        )
    best_text = "none evaluated" if best is None else f"epoch {best.epoch}, {best.value:.1f}"
    return (
        f"last: run.export is 'last': epoch {last_epoch} ({label} {_value(last_value)}; "
        f"best: {best_text})"
    )


def _value(value: float | None) -> str:
    return "not evaluated" if value is None else f"{value:.1f}"


def write_record(path: str | Path, record: ExportRecord) -> Path:
    """Write ``export.json`` atomically (tmp file, rename)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(record.to_dict(), indent=1) + "\n")
    os.replace(tmp, path)
    return path


def read_record(path: str | Path) -> ExportRecord:
    """Read ``export.json`` (strict keys)."""
    return ExportRecord.from_dict(json.loads(Path(path).read_text()))


def best_payload(best: Scored, metric: str) -> dict[str, Any]:
    """The ``selection`` entry of the best checkpoint (``checkpoints/best.pt``)."""
    return {"metric": metric, "value": best.value}


def best_from_payload(payload: dict[str, Any], metric: str) -> Scored | None:
    """The best so far from a best checkpoint's payload; None when it was selected on another
    metric (its value is not comparable)."""
    saved = payload.get("selection") or {}
    if saved.get("metric") != metric:
        return None
    return Scored(int(payload["epoch"]), float(saved["value"]))
