"""Control-loop timing statistics (pure numpy; the node turns them into ``/diagnostics``).

Per tick the node records when the tick started, when its command was published and when the
newest sensor reading it used was received, all in seconds on one monotonic clock:

- loop period: time between consecutive tick starts;
- deadline miss: a period longer than ``deadline_factor`` nominal periods (a late tick);
- latency: sensor receipt -> command publish (the age of the data behind a command);
- compute: tick start -> command publish.

Statistics cover a sliding window of the last ``window`` ticks; counters cover the whole run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class Percentiles:
    """p50 / p99 / max of a sample [s] (NaN when empty)."""

    p50: float
    p99: float
    max: float

    @classmethod
    def of(cls, values: NDArray[np.float64]) -> Percentiles:
        """Percentiles of ``values`` (any shape)."""
        v = np.asarray(values, dtype=np.float64).ravel()
        if v.size == 0:
            return cls(float("nan"), float("nan"), float("nan"))
        p50, p99 = np.percentile(v, [50.0, 99.0])
        return cls(float(p50), float(p99), float(v.max()))


class _Ring:
    """Fixed-size float ring buffer."""

    def __init__(self, size: int) -> None:
        self._data = np.empty(size)
        self._n = 0

    def push(self, value: float) -> None:
        self._data[self._n % self._data.size] = value
        self._n += 1

    def values(self) -> NDArray[np.float64]:
        return self._data[: min(self._n, self._data.size)]


class LoopStats:
    """Records ticks and summarises them.

    Args:
        control_hz: nominal rate [Hz].
        window: ticks kept for percentiles.
        deadline_factor: a period above ``deadline_factor / control_hz`` counts as a miss.
    """

    def __init__(self, control_hz: float, window: int = 10000, deadline_factor: float = 1.5):
        self.period_nominal = 1.0 / control_hz
        self.deadline = deadline_factor * self.period_nominal
        self._periods = _Ring(window)
        self._latency = _Ring(window)
        self._compute = _Ring(window)
        self.ticks = 0
        self.deadline_misses = 0
        self._first_start: float | None = None
        self._last_start: float | None = None

    def record(self, start: float, published: float, sensor_receipt: float | None) -> None:
        """One tick: its start, its publish time and its newest sensor receipt (None: none)."""
        if self._last_start is not None:
            period = start - self._last_start
            self._periods.push(period)
            if period > self.deadline:
                self.deadline_misses += 1
        else:
            self._first_start = start
        self._last_start = start
        self.ticks += 1
        self._compute.push(published - start)
        if sensor_receipt is not None:
            self._latency.push(published - sensor_receipt)

    def achieved_hz(self) -> float:
        """Ticks per second since the first tick (NaN before two ticks)."""
        if self._first_start is None or self._last_start is None or self.ticks < 2:
            return float("nan")
        return (self.ticks - 1) / max(self._last_start - self._first_start, 1e-12)

    def period(self) -> Percentiles:
        """Loop period percentiles over the window [s]."""
        return Percentiles.of(self._periods.values())

    def latency(self) -> Percentiles:
        """Sensor receipt -> publish percentiles over the window [s]."""
        return Percentiles.of(self._latency.values())

    def compute(self) -> Percentiles:
        """Tick start -> publish percentiles over the window [s]."""
        return Percentiles.of(self._compute.values())

    def summary(self, trips: Mapping[str, int] | None = None) -> dict[str, float]:
        """Flat name -> value dict (times in microseconds), plus ``trip.<guard>`` counters."""
        out: dict[str, float] = {
            "ticks": float(self.ticks),
            "rate_hz": self.achieved_hz(),
            "deadline_misses": float(self.deadline_misses),
        }
        for name, pct in (
            ("period", self.period()),
            ("latency", self.latency()),
            ("compute", self.compute()),
        ):
            out[f"{name}_p50_us"] = pct.p50 * 1e6
            out[f"{name}_p99_us"] = pct.p99 * 1e6
            out[f"{name}_max_us"] = pct.max * 1e6
        for guard, count in sorted((trips or {}).items()):
            out[f"trip.{guard}"] = float(count)
        return out
