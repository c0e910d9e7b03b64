"""When the policy runner ticks, and what stamp its command carries (pure: no rclpy).

The ``policy_runner`` node feeds every decoded sensor message and every control-timer callback
to one :class:`TickTrigger` (wall-clock monotonic times, the same ``now`` it passes to the
:class:`~h2o_robot_bridge.deploy.runner.PolicyRunner`) and ticks when it answers True.

Trigger kinds (:data:`TRIGGERS`):

- ``sensors``: one tick per sensor sample, as soon as both a joint state and an IMU message
  with header stamps newer than those used at the last tick have arrived (either order), and
  they belong to one sample: stamps less than half a sample period apart (else the older one
  waits for its partner; without this, one lost joint state would pair every later joint
  state with the IMU sample before it, for good). A republished sample (same stamp) never
  ticks twice. If the robot publishes faster than the
  control rate, every n-th sample ticks, n = floor(control period / sample period + 0.1), the
  sample period being the median spacing of the last 64 joint-state stamps (n = 1 at equal
  rates, so a late sample never costs a tick; n = 2 needs samples at least 1.9 times the control
  rate over most of that window: a simulator catching up after a stall, with a burst of samples
  6 ms apart, no longer makes a 100 Hz runner skip every other sample).
- ``joint_states`` / ``imu``: one tick per message of that topic.
- ``timer``: every control-timer callback ticks (the sensor and control clocks beat).

Watchdog: with a message trigger the timer ticks only when no message tick happened for longer
than the input max age (``joint_state_max_age`` / ``imu_max_age``; the smaller one for
``sensors``): the runner then sends the safe action anyway, because every input it used is at
least that old. It keeps ticking at the control rate while that lasts, so the safe action keeps
flowing, and a sample that is merely late never causes an extra tick on old inputs.

A starved runner is not a silent robot: when a timer callback comes more than
:data:`STARVED_PERIODS` control periods after the previous one, the runner's process did not run
meanwhile, and the sensor messages that arrived in that time are still queued behind the timer.
That callback then does not tick the watchdog (the queued messages tick next, fresh); the next
timer callback decides as usual. At most one callback in a row is passed over this way, so a
dead sensor on a starved machine costs at most one more control period, and a runner that is
late on every callback still sends the safe action at half the control rate. (Measured: a
runner process held off the CPU for 32 ms by two busy processes on 2 cores tripped its 30 ms
IMU watchdog with fresh messages waiting.)

Command stamps (:meth:`TickTrigger.command_stamp`): a command computed from fresh sensor
readings carries the header stamp of the newest sample it used (so a recorder pairs it with
exactly that sample, and a lockstep simulator knows which sample it answers); a safe action sent
because inputs are stale or missing carries the node clock's now. A node clock at 0 (with
``use_sim_time``, sim time not started) gives no stamp: nothing is published then.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from dataclasses import dataclass

from h2o_robot_bridge.errors import ConfigError

TRIGGERS = ("sensors", "timer", "joint_states", "imu")
"""Trigger kinds, the default first."""
SPACING_WINDOW = 64
"""Joint-state stamp spacings kept to estimate the sample period."""
MIN_SPACINGS = 4
"""Spacings needed before the sample period is trusted (until then every sample ticks)."""
STARVED_PERIODS = 2.0
"""A timer callback this many control periods after the previous one means the process was
starved (normal jitter stays well inside one period)."""


@dataclass(frozen=True)
class _Sample:
    """The newest message of one input: header stamp [ns] and receive time [s]."""

    stamp: int
    receipt: float


class TickTrigger:
    """Decides the runner's ticks and its command stamps.

    Args:
        kind: one of :data:`TRIGGERS`.
        control_hz: control rate [Hz] (the timer's rate and the ``sensors`` decimation).
        joint_state_max_age: the runner's joint-state max age [s].
        imu_max_age: the runner's IMU max age [s].
    """

    def __init__(
        self, kind: str, control_hz: float, joint_state_max_age: float, imu_max_age: float
    ) -> None:
        if kind not in TRIGGERS:
            raise ConfigError(f"trigger must be one of {TRIGGERS}, got {kind!r}")
        if not (math.isfinite(control_hz) and control_hz > 0):
            raise ConfigError(f"control_hz must be > 0, got {control_hz}")
        self.kind = kind
        self.period_ns = round(1e9 / control_hz)
        self.max_ages = {"joint_states": joint_state_max_age, "imu": imu_max_age}
        self.watchdog_age = {
            "joint_states": joint_state_max_age,
            "imu": imu_max_age,
            "sensors": min(joint_state_max_age, imu_max_age),
        }.get(kind, math.inf)
        self._joints: _Sample | None = None
        self._imu: _Sample | None = None
        self._used = (-1, -1)  # stamps [ns] (joint state, IMU) of the last sensor pair
        self._skipped = math.inf  # sensor pairs not ticked since the last tick
        self._spacings: deque[int] = deque(maxlen=SPACING_WINDOW)
        self._last_message_tick = -math.inf  # [s]
        self._last_timer = math.nan  # [s] the previous timer callback (NaN: none yet)
        self._passed_over = False  # the previous timer callback was passed over as starved
        self.message_ticks = 0
        self.watchdog_ticks = 0
        self.starved_timer_calls = 0

    # --- inputs -------------------------------------------------------------------------------
    def on_joint_state(self, now: float, stamp_ns: int) -> bool:
        """A joint state with header stamp ``stamp_ns`` [ns] received at ``now`` [s]; True:
        tick now."""
        if self._joints is not None and stamp_ns > self._joints.stamp:
            self._spacings.append(stamp_ns - self._joints.stamp)
        self._joints = _Sample(stamp_ns, now)
        return self._after_message(now, "joint_states")

    def on_imu(self, now: float, stamp_ns: int) -> bool:
        """An IMU message with header stamp ``stamp_ns`` [ns] received at ``now`` [s]; True:
        tick now."""
        self._imu = _Sample(stamp_ns, now)
        return self._after_message(now, "imu")

    def timer(self, now: float) -> bool:
        """A control-timer callback at ``now`` [s]; True: tick now (``timer``, or watchdog)."""
        if self.kind == "timer":
            return True
        starved = now - self._last_timer > STARVED_PERIODS * self.period_ns * 1e-9
        self._last_timer = now
        if now - self._last_message_tick <= self.watchdog_age:
            self._passed_over = False
            return False
        if starved and not self._passed_over:  # fresh messages may be queued behind this call
            self._passed_over = True
            self.starved_timer_calls += 1
            return False
        self._passed_over = False
        self.watchdog_ticks += 1
        self._skipped = math.inf  # the next complete sensor pair ticks at once
        return True

    # --- stamps -------------------------------------------------------------------------------
    def fresh(self, now: float) -> bool:
        """Both inputs received and within their max age at ``now`` [s] (the runner's test)."""
        samples = {"joint_states": self._joints, "imu": self._imu}
        return all(
            s is not None and now - s.receipt <= self.max_ages[name] for name, s in samples.items()
        )

    def command_stamp(self, now: float, clock_now_ns: int) -> int | None:
        """Stamp [ns] of the command of a tick at ``now`` [s]: the newest sensor stamp when the
        inputs are fresh, else the node clock ``clock_now_ns``; None when that clock is 0."""
        if self.fresh(now):
            assert self._joints is not None and self._imu is not None  # fresh() checked
            return max(self._joints.stamp, self._imu.stamp)
        return clock_now_ns if clock_now_ns > 0 else None

    # --- internals ----------------------------------------------------------------------------
    def decimation(self) -> int:
        """Sensor samples per ``sensors`` tick: 1 unless the robot publishes faster."""
        if len(self._spacings) < MIN_SPACINGS:
            return 1
        ratio = self.period_ns / statistics.median(self._spacings)
        return max(1, math.floor(ratio + 0.1))

    def _sample_period_ns(self) -> float:
        """Sensor sample period [ns]: the median stamp spacing once known, else the control
        period."""
        if len(self._spacings) < MIN_SPACINGS:
            return float(self.period_ns)
        return float(statistics.median(self._spacings))

    def _after_message(self, now: float, topic: str) -> bool:
        if self.kind == topic:
            return self._message_tick(now)
        if self.kind != "sensors" or self._joints is None or self._imu is None:
            return False
        if self._joints.stamp <= self._used[0] or self._imu.stamp <= self._used[1]:
            return False  # one of the two is not newer than at the last pair
        if 2 * abs(self._joints.stamp - self._imu.stamp) >= self._sample_period_ns():
            return False  # not one sample: the newer one waits for its partner
        self._used = (self._joints.stamp, self._imu.stamp)
        if self._skipped + 1 < self.decimation():
            self._skipped += 1
            return False
        return self._message_tick(now)

    def _message_tick(self, now: float) -> bool:
        self._last_message_tick = now
        self._skipped = 0
        self.message_ticks += 1
        return True
