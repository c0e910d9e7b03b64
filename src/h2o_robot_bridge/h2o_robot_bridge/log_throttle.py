"""Log throttling decided before the logger is called (pure: no rclpy).

rclpy's ``throttle_duration_sec`` decides inside the logger call, after rclpy has looked up the
caller's frame: about 230 us per call on this project's 2-core VMs, throttled or not. A node
that logs per message then spends a quarter of a core on a flood of 1000 bad messages per
second and falls behind its good ones (measured: ``policy_runner`` under the deploy safety
test's IMU flood sent 5-12 commands in a 0.35 s window where 35 were due). :class:`LogThrottle`
answers "log now?" with one dict lookup and counts what it held back, so the line that is
logged says how many were suppressed.
"""

from __future__ import annotations


class LogThrottle:
    """At most one log line per key per ``period``.

    Args:
        period: minimum time between two lines of one key [s] (> 0).
    """

    def __init__(self, period: float) -> None:
        if not period > 0:
            raise ValueError(f"log throttle period must be > 0 s, got {period!r}")
        self.period = period
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def due(self, key: str, now: float) -> int | None:
        """Whether a line of ``key`` may be logged at ``now`` (monotonic [s]).

        Returns:
            None when it must not (the line is counted as suppressed); else the number of
            lines of ``key`` suppressed since the last one logged (0 for the first).
        """
        last = self._last.get(key)
        if last is not None and now - last < self.period:
            self._held[key] = self._held.get(key, 0) + 1
            return None
        self._last[key] = now
        return self._held.pop(key, 0)

    def note(self, key: str, now: float, text: str) -> str | None:
        """``text`` (with the suppressed count appended) when ``key`` is due, else None."""
        held = self.due(key, now)
        if held is None:
            return None
        return f"{text} (+{held} more since the last such line)" if held else text
