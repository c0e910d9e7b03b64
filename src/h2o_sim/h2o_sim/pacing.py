"""Wall-clock pacing of control ticks for the sim node (pure: the caller passes ``now``).

With ``real_time_factor`` r > 0 one tick (one control period ``dt`` of sim time) is due every
``dt / r`` wall seconds. Deadlines advance by exactly one period per tick, so a late tick does
not shift the ones after it; when the loop falls more than ``max_lag_ticks`` periods behind
(a long stall, or a machine too slow for r) it drops the backlog, counts an overrun, and
restarts from ``now`` instead of bursting to catch up. Within that backlog it catches up at
most at twice the rate: a tick is never due sooner than ``min_gap`` (half a period) after the
previous one was published, so a commander always has that long to answer a sample (in a burst
of back-to-back ticks the commands answering the burst's samples would act late, or be
overwritten before any step applies them). With r = 0 every tick is due at once.

In lockstep (:class:`LockstepGate`) the pace is the commander's instead: after publishing a
sample the sim steps as soon as the command answering it is in, or after a timeout.

A real-time sim may also hold the robot at its first sample until a commander is in the loop
(:class:`StartGate`, node parameter ``wait_for_commander``): the physics does not start before
a command computed from one of its samples came back, so a commander whose subscriptions DDS
discovery matched late (seconds, on a loaded machine) does not find a robot that already fell
while it could not see it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import NamedTuple

REPUBLISH_PERIOD = 0.1
"""Lockstep, before the first answer: wall seconds between republications of the current
sample (DDS discovery can drop the first messages) [s]."""


@dataclass
class Pacer:
    """When is the next tick due?

    Attributes:
        control_dt: sim seconds per tick [s].
        real_time_factor: sim seconds per wall second; 0 = as fast as possible.
        max_lag_ticks: backlog (in ticks) tolerated before resynchronising.
        min_gap: shortest wall time between a tick and the next, in periods (catching up).
        overruns: how many times the backlog was dropped.
    """

    control_dt: float
    real_time_factor: float = 1.0
    max_lag_ticks: int = 5
    min_gap: float = 0.5
    overruns: int = 0
    _next: float | None = field(default=None, repr=False)  # the grid deadline [s]
    _earliest: float = field(default=-math.inf, repr=False)  # previous tick + min gap [s]

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
        return max(0.0, self._next - now, self._earliest - now)

    def tick_done(self, now: float) -> None:
        """Record that a tick ran at wall time ``now``; schedule the next one."""
        period = self.period
        if period == 0.0:
            return
        if self._next is None:
            self._next = now
        self._next += period
        self._earliest = now + self.min_gap * period
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


class LockstepDecision(NamedTuple):
    """What the lockstep loop does now.

    Attributes:
        step: step the simulator now.
        miss: this step happens without an answer (timeout): count and log it.
        republish: publish the current sample again (same stamp) before the first answer.
        wait: when nothing is due: wall seconds until something may be [s].
    """

    step: bool
    miss: bool
    republish: bool
    wait: float


@dataclass
class LockstepGate:
    """When a lockstep sim steps (pure: the caller passes wall time ``now`` [s]).

    After :meth:`published` (sample k is out) the sim waits until the caller reports the answer
    to sample k (see :meth:`h2o_sim.sim_runner.SimRunner.answered`), then steps at once; after
    ``timeout`` wall seconds without one it steps with the held command and counts a miss.
    Before the very first answer it waits without a timeout (the commander may still be
    starting) and asks for the sample to be republished every ``republish_period``.

    Attributes:
        timeout: wall seconds to wait for an answer once the loop runs [s].
        republish_period: wall seconds between republications before the first answer [s].
        misses: steps taken on a timeout.
    """

    timeout: float
    republish_period: float = REPUBLISH_PERIOD
    misses: int = 0
    _published: float = field(default=-math.inf, repr=False)
    _next_republish: float = field(default=math.inf, repr=False)
    _started: bool = field(default=False, repr=False)

    def published(self, now: float) -> None:
        """The current sample went out at wall time ``now``."""
        self._published = now
        self._next_republish = now + self.republish_period

    def poll(self, now: float, answered: bool) -> LockstepDecision:
        """Decide at wall time ``now`` given whether the current sample is answered."""
        if answered:
            self._started = True
            return LockstepDecision(True, False, False, 0.0)
        if not self._started:
            republish = now >= self._next_republish
            if republish:
                self._next_republish = now + self.republish_period
            return LockstepDecision(False, False, republish, max(0.0, self._next_republish - now))
        left = self._published + self.timeout - now
        if left <= 0.0:
            self.misses += 1
            return LockstepDecision(True, True, False, 0.0)
        return LockstepDecision(False, False, False, left)


@dataclass
class StartGate:
    """Hold a real-time sim at its first sample until a commander answers one (pure: the caller
    passes wall time ``now`` [s] and integer-nanosecond stamps).

    An *answer* is a valid command whose header stamp equals the stamp of the sample published
    last (a commander stamps a command computed from fresh readings with that sample's stamp;
    a commander's safe action on missing inputs carries its clock's now and does not count).
    Until then the caller republishes the unchanged state every ``republish_period`` with a
    new wall-clock stamp, so that a commander which matched late, or whose first answer was
    lost, gets a new sample to answer. The gate opens once and stays open.

    Attributes:
        republish_period: wall seconds between republications while closed [s].
        is_open: a commander answered: pace normally from now on.
        republished: republications so far.
    """

    republish_period: float = REPUBLISH_PERIOD
    is_open: bool = False
    republished: int = 0
    _sample_ns: int | None = field(default=None, repr=False)
    _next_republish: float = field(default=math.inf, repr=False)

    def published(self, now: float, stamp_ns: int) -> None:
        """A sample stamped ``stamp_ns`` [ns] went out at wall time ``now`` [s]."""
        self._sample_ns = stamp_ns
        self._next_republish = now + self.republish_period

    def on_command(self, stamp_ns: int) -> bool:
        """A valid command stamped ``stamp_ns`` [ns] came in; True if it opened the gate."""
        if self.is_open or self._sample_ns is None or stamp_ns != self._sample_ns:
            return False
        self.is_open = True
        return True

    def poll(self, now: float) -> tuple[bool, float]:
        """(republish now, wall seconds until the next republication [s]) while closed."""
        if now >= self._next_republish:
            self.republished += 1
            return True, 0.0
        return False, max(0.0, self._next_republish - now)
