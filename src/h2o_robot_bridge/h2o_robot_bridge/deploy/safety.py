"""The safety layer between a policy and the robot: guards, latches, and output shaping.

The safe action is the contract's :data:`~h2o_robot_bridge.contract.SAFE_ACTION`: leg joints
hold their default standing pose (PD targets at the defaults) and wheels get zero torque (the
robot coasts; any wheel damping is the motor driver's job). It is sent, immediately and without
rate limiting or fading, whenever the runner cannot trust its inputs or outputs:

- a stale or missing input (per-input maximum age: the watchdog),
- a non-finite observation or action (never forwarded),
- a latch: the tilt cut-off (base tilt above ``tilt_limit``) or the e-stop (``/h2o/estop``
  true). Latches persist until :meth:`SafetyLayer.release` succeeds, which needs the e-stop
  de-asserted (last ``/h2o/estop`` message false) and the tilt back under the limit.

Otherwise the policy action is clipped to [-1, 1], faded in from the safe action over
``soft_start`` seconds after every safe period (start-up included), and rate limited to
``max_action_rate`` action units per second. The fade applies to the leg joints only unless
``soft_start_wheels`` is set (fading in the balance torque of a wheel-legged robot drops it).
:func:`check_command` is the last gate: every command the runner emits is finite and within the
joint limits.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from h2o_robot_bridge.contract import SAFE_ACTION, JointCommand, action_to_command, robot
from h2o_robot_bridge.errors import ConfigError, H2OError


class UnsafeCommandError(H2OError):
    """A joint command is non-finite or outside the contract's limits (a bug if ever raised)."""


@dataclass(frozen=True)
class SafetyConfig:
    """Guard thresholds.

    Attributes:
        control_hz: nominal tick rate [Hz] (bounds the rate limiter's time step).
        joint_state_max_age: oldest usable ``/joint_states`` reading [s].
        imu_max_age: oldest usable ``/imu/data`` reading [s].
        tilt_limit: base tilt that latches the safe action [rad].
        soft_start: fade-in time from the safe action to the policy action [s]; 0 = none.
        soft_start_wheels: fade the wheel torques in too. Off by default: a balancing robot
            needs its full balance torque at once (fading it in lets it fall); the legs' PD
            targets are what must not jump.
        max_action_rate: largest change of any action element per second [1/s]; 0 = no limit.
    """

    control_hz: float = 100.0
    joint_state_max_age: float = 0.05
    imu_max_age: float = 0.05
    tilt_limit: float = 0.5
    soft_start: float = 1.0
    soft_start_wheels: bool = False
    max_action_rate: float = 50.0

    def __post_init__(self) -> None:
        positive = ("control_hz", "joint_state_max_age", "imu_max_age", "tilt_limit")
        for name in positive:
            value = getattr(self, name)
            if not (np.isfinite(value) and value > 0):
                raise ConfigError(f"safety: {name} must be a positive number, got {value!r}")
        for name in ("soft_start", "max_action_rate"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value >= 0):
                raise ConfigError(f"safety: {name} must be >= 0, got {value!r}")
        if self.tilt_limit >= np.pi:
            raise ConfigError(f"safety: tilt_limit {self.tilt_limit} rad is not a cut-off")


_LEGS = np.array(robot.LEG_JOINT_IDS)
_WHEELS = np.array(robot.WHEEL_JOINT_IDS)
_LEG_LOWER, _LEG_UPPER = robot.LOWER[_LEGS], robot.UPPER[_LEGS]
_WHEEL_MAX = robot.MAX_EFFORT[_WHEELS]


def check_command(command: JointCommand) -> None:
    """Raise :class:`UnsafeCommandError` unless ``command`` is finite and within limits.

    Leg positions must lie in [lower, upper], wheel efforts in [-max_effort, max_effort]; the
    fields that do not apply (wheel position, leg effort) must be NaN, as on ``/joint_commands``.
    Runs every tick, so the common (valid) case is a few vectorised comparisons: NaN and inf
    fail the range tests because the limits are finite.
    """
    pos, eff = np.asarray(command.position), np.asarray(command.effort)
    leg_pos, wheel_eff = pos[_LEGS], eff[_WHEELS]
    in_range = ((leg_pos >= _LEG_LOWER) & (leg_pos <= _LEG_UPPER)).all() and (
        np.abs(wheel_eff) <= _WHEEL_MAX
    ).all()
    if in_range and np.isnan(pos[_WHEELS]).all() and np.isnan(eff[_LEGS]).all():
        return
    if not (np.isfinite(leg_pos).all() and np.isfinite(wheel_eff).all()):
        raise UnsafeCommandError(f"non-finite command: position {pos}, effort {eff}")
    if not in_range:
        raise UnsafeCommandError(f"command outside limits: legs {leg_pos}, wheels {wheel_eff}")
    raise UnsafeCommandError("fields that do not apply must be NaN")


SAFE_COMMAND = action_to_command(SAFE_ACTION)
check_command(SAFE_COMMAND)  # the fallback itself must pass the gate


class SafetyLayer:
    """Latches, trip counters and output shaping (fade-in, rate limit) for one runner.

    Times are seconds on one monotonic clock supplied by the caller.
    """

    def __init__(self, config: SafetyConfig) -> None:
        self.config = config
        self._fade_mask = np.ones(len(SAFE_ACTION), dtype=bool)
        if not config.soft_start_wheels:
            self._fade_mask[list(robot.WHEEL_JOINT_IDS)] = False
        self.trips: Counter[str] = Counter()
        """How often each guard put the runner into the safe action (counted on change)."""
        self.latched: str | None = None
        self.estop_asserted = False
        self._last_output = SAFE_ACTION.copy()
        self._last_time: float | None = None
        self._active_since: float | None = None  # None while the safe action is out
        self._safe_guard: str | None = None  # the guard behind the current safe period

    @property
    def last_output(self) -> NDArray[np.float64]:
        """The action (ACTION_DIM,) emitted at the last tick (the safe action before any)."""
        return self._last_output

    @property
    def is_safe(self) -> bool:
        """True while the safe action is out (also before the first policy action)."""
        return self._active_since is None

    def set_estop(self, asserted: bool) -> None:
        """Apply an ``/h2o/estop`` message: true latches, false only allows a later release."""
        self.estop_asserted = bool(asserted)
        if asserted:
            self.latched = "estop"

    def latch_tilt(self, tilt: float) -> str:
        """Latch the tilt cut-off (tilt [rad] is above the limit); returns the reason."""
        if self.latched is None:
            self.latched = "tilt"
        return f"tilt {tilt:.3f} rad > limit {self.config.tilt_limit:.3f} rad (latched)"

    def release(self, tilt: float | None) -> tuple[bool, str]:
        """Try to clear a latch; ``tilt`` is the current base tilt [rad] (None if unknown).

        Returns:
            (success, message). Fails while the e-stop is asserted or the tilt is unknown or
            still above the limit; the policy then fades in again from the safe action.
        """
        if self.latched is None:
            return True, "nothing latched"
        if self.estop_asserted:
            return False, "e-stop still asserted: publish false on the e-stop topic first"
        if tilt is None or not np.isfinite(tilt):
            return False, "tilt unknown (no fresh IMU): cannot release"
        if tilt > self.config.tilt_limit:
            return False, f"tilt {tilt:.3f} rad still above limit {self.config.tilt_limit:.3f}"
        was, self.latched = self.latched, None
        return True, f"released {was} latch"

    def safe(self, now: float, guard: str) -> NDArray[np.float64]:
        """Emit the safe action because ``guard`` fired (counted when the guard changes)."""
        if guard != self._safe_guard:
            self.trips[guard] += 1
            self._safe_guard = guard
        self._active_since = None
        self._last_time = now
        self._last_output = SAFE_ACTION.copy()
        return self._last_output

    def shape(self, now: float, action: ArrayLike) -> NDArray[np.float64]:
        """Clip, fade in and rate limit a finite policy action (ACTION_DIM,)."""
        target = np.clip(np.asarray(action, dtype=np.float64), -1.0, 1.0)
        cfg = self.config
        if self._active_since is None:
            self._active_since = now
            self._safe_guard = None
        if cfg.soft_start > 0:
            fade = min(1.0, max(0.0, (now - self._active_since) / cfg.soft_start))
            faded = SAFE_ACTION + fade * (target - SAFE_ACTION)
            target = np.where(self._fade_mask, faded, target)
        if cfg.max_action_rate > 0:
            # Late ticks may move further, but never more than two nominal periods' worth; the
            # very first tick has no elapsed time and stays at the safe action.
            elapsed = 0.0 if self._last_time is None else now - self._last_time
            dt = min(max(elapsed, 0.0), 2.0 / cfg.control_hz)
            step = cfg.max_action_rate * dt
            target = self._last_output + np.clip(target - self._last_output, -step, step)
        self._last_time = now
        self._last_output = target
        return target
