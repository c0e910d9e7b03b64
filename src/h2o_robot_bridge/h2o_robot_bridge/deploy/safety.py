"""The safety layer between a policy and the robot: guards, latches, and output shaping.

Guards (what the runner checks every tick, see :mod:`h2o_robot_bridge.deploy.runner`):

- a stale or missing input (per-input maximum age: the watchdog),
- a non-finite observation (never forwarded),
- latches: the hard tilt cut-off (base tilt above ``tilt_limit``), the e-stop (``/h2o/estop``
  true) and, in heartbeat mode (``estop_heartbeat`` > 0), an e-stop heartbeat lost (no
  ``false`` on the e-stop topic for that long, as wireless e-stops work). Latches persist
  until :meth:`SafetyLayer.release` succeeds, which needs the e-stop de-asserted (last
  message false, heartbeat fresh) and the tilt back under the limit.

What the runner then sends is graded (policy, fallback controller, controlled stop:
:mod:`h2o_robot_bridge.deploy.levels`); the contract's safe action (legs at the default pose,
wheels 0 N m) only goes out before the first complete set of sensor readings.

Every policy or fallback action is shaped by
:class:`~h2o_robot_bridge.deploy.shaping.ActionShaper` (clipped to [-1, 1], faded in over
``soft_start`` seconds after every held period, rate limited to ``max_action_rate`` per
second, all counted in control ticks): the same code the simulator env runs, so training sees
the deployed shaping. :func:`check_command` is the last gate: every command the runner emits
is finite and within the joint limits.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from h2o_robot_bridge.contract import SAFE_ACTION, JointCommand, action_to_command, robot
from h2o_robot_bridge.deploy.shaping import ActionShaper, ShapingConfig
from h2o_robot_bridge.errors import ConfigError, H2OError


class UnsafeCommandError(H2OError):
    """A joint command is non-finite or outside the contract's limits (a bug if ever raised)."""


@dataclass(frozen=True)
class SafetyConfig:
    """Guard thresholds.

    Attributes:
        control_hz: tick rate [Hz] (turns the shaping rates into per-tick amounts).
        joint_state_max_age: oldest usable ``/joint_states`` reading [s].
        imu_max_age: oldest usable ``/imu/data`` reading [s].
        tilt_limit: base tilt that latches the safe action [rad].
        soft_start: fade-in time from the safe action to the policy action [s]; 0 = none.
        soft_start_wheels: fade the wheel torques in too. Off by default: a balancing robot
            needs its full balance torque at once (fading it in lets it fall); the legs' PD
            targets are what must not jump.
        max_action_rate: largest change of any action element per second [1/s]; 0 = no limit.
        estop_heartbeat: heartbeat mode: the e-stop counts as asserted unless a ``false``
            arrived on the e-stop topic within this long [s]; 0 = off (plain e-stop).
    """

    control_hz: float = 100.0
    joint_state_max_age: float = 0.05
    imu_max_age: float = 0.05
    tilt_limit: float = 0.5
    soft_start: float = 1.0
    soft_start_wheels: bool = False
    max_action_rate: float = 50.0
    estop_heartbeat: float = 0.0

    def __post_init__(self) -> None:
        positive = ("control_hz", "joint_state_max_age", "imu_max_age", "tilt_limit")
        for name in positive:
            value = getattr(self, name)
            if not (np.isfinite(value) and value > 0):
                raise ConfigError(f"safety: {name} must be a positive number, got {value!r}")
        for name in ("soft_start", "max_action_rate", "estop_heartbeat"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value >= 0):
                raise ConfigError(f"safety: {name} must be >= 0, got {value!r}")
        if self.tilt_limit >= np.pi:
            raise ConfigError(f"safety: tilt_limit {self.tilt_limit} rad is not a cut-off")

    @property
    def shaping(self) -> ShapingConfig:
        """The action shaping these settings describe (what the env trains with)."""
        return ShapingConfig(
            self.control_hz, self.soft_start, self.soft_start_wheels, self.max_action_rate
        )


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
    """Latches, trip counters and the output shaping (:class:`ActionShaper`) of one runner."""

    def __init__(self, config: SafetyConfig) -> None:
        self.config = config
        self.shaper = ActionShaper(config.shaping)
        self.trips: Counter[str] = Counter()
        """How often each guard put the runner into the safe action (counted on change)."""
        self.latched: str | None = None
        self.estop_asserted = False
        self.estop_heard = False
        """Whether any e-stop message arrived (the e-stop state is known)."""
        self._heartbeat: float | None = None  # receive time of the last "false" [s]
        self._safe_guard: str | None = None  # the guard behind the current held period

    @property
    def last_output(self) -> NDArray[np.float64]:
        """The action (ACTION_DIM,) emitted at the last tick (the safe action before any)."""
        return self.shaper.last_output

    @property
    def is_safe(self) -> bool:
        """True while the safe action is out (also before the first policy action)."""
        return self.shaper.is_safe

    def set_estop(self, asserted: bool, now: float = 0.0) -> None:
        """Apply an ``/h2o/estop`` message received at ``now`` [s]: true latches, false only
        allows a later release (and, in heartbeat mode, is the heartbeat)."""
        self.estop_asserted = bool(asserted)
        self.estop_heard = True
        if asserted:
            self.latched = "estop"
        else:
            self._heartbeat = now

    def heartbeat_fault(self, now: float) -> str | None:
        """In heartbeat mode, why the e-stop counts as asserted at ``now`` [s] (None: it does
        not). A heartbeat lost after one was received latches the e-stop; before the first
        heartbeat the runner just waits (nothing to re-arm yet)."""
        timeout = self.config.estop_heartbeat
        if timeout <= 0:
            return None
        if self._heartbeat is None:
            return "waiting for the e-stop heartbeat"
        age = now - self._heartbeat
        if age > timeout:
            self.latched = "estop"
            return f"e-stop heartbeat lost ({age * 1e3:.0f} ms > {timeout * 1e3:.0f} ms, latched)"
        return None

    def latch_tilt(self, tilt: float) -> str:
        """Latch the tilt cut-off (tilt [rad] is above the limit); returns the reason."""
        if self.latched is None:
            self.latched = "tilt"
        return f"tilt {tilt:.3f} rad > limit {self.config.tilt_limit:.3f} rad (latched)"

    def release(self, tilt: float | None, now: float = 0.0) -> tuple[bool, str]:
        """Try to clear a latch at ``now`` [s]; ``tilt`` is the current base tilt [rad] (None
        if unknown).

        Returns:
            (success, message). Fails while the e-stop is asserted or the tilt is unknown or
            still above the limit; the policy then fades in again from the safe action.
        """
        if self.latched is None:
            return True, "nothing latched"
        if self.estop_asserted:
            return False, "e-stop still asserted: publish false on the e-stop topic first"
        if self.config.estop_heartbeat > 0 and (
            self._heartbeat is None or now - self._heartbeat > self.config.estop_heartbeat
        ):
            return False, "e-stop heartbeat not received: the e-stop is still asserted"
        if tilt is None or not np.isfinite(tilt):
            return False, "tilt unknown (no fresh IMU): cannot release"
        if tilt > self.config.tilt_limit:
            return False, f"tilt {tilt:.3f} rad still above limit {self.config.tilt_limit:.3f}"
        was, self.latched = self.latched, None
        return True, f"released {was} latch"

    def count(self, guard: str) -> None:
        """Count a trip of ``guard`` (once per held period: counted when the guard changes)."""
        if guard != self._safe_guard:
            self.trips[guard] += 1
            self._safe_guard = guard

    def safe(self, guard: str) -> NDArray[np.float64]:
        """Emit the safe action this tick because ``guard`` fired (counted when it changes)."""
        self.count(guard)
        return self.shaper.hold_safe()

    def hold(self, guard: str, action: ArrayLike) -> NDArray[np.float64]:
        """Emit ``action`` (ACTION_DIM,) unshaped this tick because ``guard`` fired (the
        controlled stop shapes its own action)."""
        self.count(guard)
        return self.shaper.hold(action)

    def shape(self, action: ArrayLike) -> NDArray[np.float64]:
        """Shape a finite policy or fallback action (ACTION_DIM,) for this tick."""
        self._safe_guard = None
        return self.shaper.shape(action)


class EstopWait:
    """When the start-up wait for the e-stop state ends (monotonic times [s]).

    A latched (transient-local) e-stop reaches a new runner only once DDS discovery matched
    the two, which on a loaded machine takes seconds. The runner holds the safe action until
    an e-stop message arrived, or until ``wait`` seconds passed after the latest of: the
    activation, the first sensor sample (the robot's side of the graph is discovered by then)
    and the discovery of an e-stop publisher (its latched message is then due).
    """

    def __init__(self, activated: float, wait: float) -> None:
        self.wait = wait
        self.deadline = activated + wait
        self._sensors = False
        self._publisher = False

    @property
    def has_sensors(self) -> bool:
        """Whether the first sensor sample was reported (the deadline can still move before:
        a late-discovered robot restarts the wait)."""
        return self._sensors

    def sensors_seen(self, seen: bool, now: float) -> None:
        """Report at ``now`` whether sensor samples have arrived."""
        if seen and not self._sensors:
            self._sensors = True
            self.deadline = max(self.deadline, now + self.wait)

    def publisher_seen(self, seen: bool, now: float) -> None:
        """Report at ``now`` whether an e-stop publisher is discovered."""
        if seen and not self._publisher:
            self._publisher = True
            self.deadline = max(self.deadline, now + self.wait)
