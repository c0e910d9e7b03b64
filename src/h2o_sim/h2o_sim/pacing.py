"""Wall-clock pacing of control ticks for the sim node (pure: the caller passes ``now``).

With ``real_time_factor`` r > 0 one tick (one control period ``dt`` of sim time) is due every
``dt / r`` wall seconds. Deadlines advance by exactly one period per tick, so a late tick does
not shift the ones after it; when the loop falls more than ``max_lag_ticks`` periods behind
(a long stall, or a machine too slow for r) it drops the backlog, counts an overrun, and
restarts from ``now`` instead of bursting to catch up. With r = 0 every tick is due at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Pacer:
    """When is the next tick due?

    Attributes:
        control_dt: sim seconds per tick [s].
        real_time_factor: sim seconds per wall second; 0 = as fast as possible.
        max_lag_ticks: backlog (in ticks) tolerated before resynchronising.
        overruns: how many times the backlog was dropped.
    """

    control_dt: float
    real_time_factor: float = 1.0
    max_lag_ticks: int = 5
    overruns: int = 0
    _next: float | None = field(default=None, repr=False)

    @property
    def period(self) -> float:
        """Wall seconds per tick [s]; 0 when as fast as possible."""
        if self.real_time_factor <= 0:
            return 0.0
        return self.control_dt / self.real_time_factor

    def set_real_time_factor(self, rtf: float, now: float) -> None:
        """Change the pace; the next tick is due one new period after ``now``."""
        self.real_time_factor = rtf
        self._next = now + self.period

    def wait_time(self, now: float) -> float:
        """Wall seconds until the next tick is due (0 if due now) [s]."""
        if self._next is None or self.period == 0.0:
            return 0.0
        return max(0.0, self._next - now)

    def tick_done(self, now: float) -> None:
        """Record that a tick ran at wall time ``now``; schedule the next one."""
        period = self.period
        if period == 0.0:
            return
        if self._next is None:
            self._next = now
        self._next += period
        if now - self._next > self.max_lag_ticks * period:
            self.overruns += 1
            self._next = now + period


@dataclass
class RealTimeFactorMeter:
    """Achieved real-time factor: sim time advanced per wall time elapsed since ``start``."""

    sim_start: float = 0.0
    wall_start: float = 0.0

    def start(self, sim_time: float, wall_time: float) -> None:
        """Begin a measurement window."""
        self.sim_start, self.wall_start = sim_time, wall_time

    def value(self, sim_time: float, wall_time: float) -> float:
        """Sim seconds per wall second since :meth:`start` (0 before any wall time passed)."""
        wall = wall_time - self.wall_start
        return (sim_time - self.sim_start) / wall if wall > 0 else 0.0
