"""The runner's graded response: policy, fallback controller, controlled stop.

A balancing robot falls in about 0.4 s without balance control, so "stop" must not be the
first answer to every fault. The runner is at one of these levels each tick:

``waiting``
    no complete set of sensor readings yet (start-up): the contract's safe action (legs at
    the default pose, wheels 0 N m). Nothing can balance without sensors.
``policy``
    the learned policy (or whatever the ``policy`` parameter names) commands.
``fallback``
    the policy misbehaved (a non-finite or out-of-envelope action, an exception, a compute
    time over the deadline several ticks in a row, or the base tilt above the soft limit
    ``fallback.tilt``): the fallback controller (the classical balance controller) commands,
    from the same trusted sensors. The transfer is bumpless for the legs (their targets fade
    from the last output to the fallback's over ``handover_time``; the wheels get the
    fallback's balance torque at once, rate limited). The runner hands back to the policy only
    on request (the ``~/resume_policy`` service) or, if ``recover_after`` > 0, once the policy
    has been healthy (finite, in-envelope actions, tilt under the soft limit) for that long.
``stop``
    the controlled stop (:class:`ControlledStop`): when the sensors the fallback needs are
    stale or invalid, the observation is non-finite, on e-stop (or a lost e-stop heartbeat)
    and on the hard tilt cut-off. Wheels: velocity damping (torque ``-wheel_damping *``
    wheel speed from the latest joint state while it is fresh, else 0 N m); legs: a crouch,
    moving from the last output to the ``crouch`` pose in ``crouch_time``. It does not
    balance: a wheel-legged robot in the stop sits down (or tips over) at low speed with its
    body lowered, instead of rolling away or falling from full height with its legs stiff.
    When the cause clears (fresh sensors, a released latch) the level before the stop resumes,
    its legs fading in from the stop pose over ``soft_start``.

The fallback is the last level that keeps the robot up; ``fallback.controller: none`` turns
it off: then only a non-finite action or an exception is a policy fault, giving the stop for
that tick (the soft tilt, envelope and deadline checks only decide a handover; without them the
runner shapes actions exactly as the env does). Evaluation runs this way: it measures the
policy alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from h2o_robot_bridge.contract import ACTION_DIM, SAFE_ACTION, robot
from h2o_robot_bridge.errors import ConfigError

LEVELS = ("waiting", "policy", "fallback", "stop")
FALLBACK_CONTROLLERS = ("classical", "none")


@dataclass(frozen=True)
class FallbackConfig:
    """When the fallback controller takes over and how it hands back.

    Attributes:
        controller: ``classical`` (the classical balance controller, shipped gains) or
            ``none`` (no fallback: policy faults go to the stop).
        tilt: soft tilt limit [rad]: above it the fallback takes over (must be under the hard
            ``tilt_limit`` of the safety layer).
        action_envelope: a raw policy action element beyond +-this is a fault (policies
            output [-1, 1]; clipping would hide a diverged network).
        compute_deadline: a policy step longer than this [s] is a deadline miss ...
        deadline_misses: ... and this many in a row hand over to the fallback (0: off).
        recover_after: hand back to the policy after it was healthy for this long [s]
            (0: only on request, the default).
        handover_time: the legs fade between the two controllers over this long [s].
    """

    controller: str = "classical"
    tilt: float = 0.3
    action_envelope: float = 1.0
    compute_deadline: float = 0.02
    deadline_misses: int = 3
    recover_after: float = 0.0
    handover_time: float = 0.2

    def __post_init__(self) -> None:
        if self.controller not in FALLBACK_CONTROLLERS:
            raise ConfigError(
                f"fallback controller must be one of {FALLBACK_CONTROLLERS}, "
                f"got {self.controller!r}"
            )
        for name in ("tilt", "action_envelope", "compute_deadline"):
            _positive(name, getattr(self, name))
        for name in ("recover_after", "handover_time"):
            _non_negative(name, getattr(self, name))
        misses = self.deadline_misses
        if isinstance(misses, bool) or int(misses) != misses or misses < 0:
            raise ConfigError(f"deadline_misses must be an integer >= 0, got {misses!r}")

    @property
    def enabled(self) -> bool:
        """Whether a fallback controller exists."""
        return self.controller != "none"


@dataclass(frozen=True)
class StopConfig:
    """The controlled stop.

    Attributes:
        crouch: (hip, knee) leg action of the stop pose (contract action units: target =
            default + 0.5 rad * action; (1, -1) folds hip 0.5 rad and knee -0.5 rad beyond the
            default, keeping each wheel under its hip with the body lowered).
        crouch_time: time from the default pose to the crouch [s] (the legs move at that
            pace from wherever they are).
        wheel_damping: wheel torque per wheel speed [N m s/rad] (clipped to the torque limit).
    """

    crouch: tuple[float, float] = (1.0, -1.0)
    crouch_time: float = 1.0
    wheel_damping: float = 0.3

    def __post_init__(self) -> None:
        if len(self.crouch) != 2 or not all(
            np.isfinite(c) and -1.0 <= c <= 1.0 for c in self.crouch
        ):
            raise ConfigError(f"stop crouch must be two actions in [-1, 1], got {self.crouch!r}")
        _positive("crouch_time", self.crouch_time)
        _non_negative("wheel_damping", self.wheel_damping)


_LEGS = np.array(robot.LEG_JOINT_IDS)
_WHEELS = np.array(robot.WHEEL_JOINT_IDS)
_WHEEL_MAX = robot.MAX_EFFORT[_WHEELS]


class ControlledStop:
    """The stop action, tick by tick.

    Args:
        config: the stop's pose, pace and damping.
        control_hz: tick rate [Hz].
    """

    def __init__(self, config: StopConfig, control_hz: float) -> None:
        self.config = config
        self.target = SAFE_ACTION.copy()
        for i in robot.HIP_JOINT_IDS:
            self.target[i] = config.crouch[0]
        for i in robot.KNEE_JOINT_IDS:
            self.target[i] = config.crouch[1]
        span = float(np.abs(self.target[_LEGS] - SAFE_ACTION[_LEGS]).max())
        self._step = span / (config.crouch_time * control_hz) if span > 0 else np.inf

    def action(
        self, last: NDArray[np.float64], wheel_speed: NDArray[np.float64] | None
    ) -> NDArray[np.float64]:
        """The stop action (ACTION_DIM,) after the output ``last``.

        Args:
            last: the action emitted at the previous tick.
            wheel_speed: (2,) wheel joint speeds [rad/s] from a fresh joint state, or None
                (stale: the wheels get no torque).
        """
        out = np.empty(ACTION_DIM)
        legs = last[_LEGS]
        out[_LEGS] = legs + np.clip(self.target[_LEGS] - legs, -self._step, self._step)
        if wheel_speed is None or not np.isfinite(wheel_speed).all():
            out[_WHEELS] = 0.0
        else:
            torque = -self.config.wheel_damping * np.asarray(wheel_speed, dtype=np.float64)
            out[_WHEELS] = np.clip(torque / _WHEEL_MAX, -1.0, 1.0)
        return out


def _positive(name: str, value: float) -> None:
    if not (np.isfinite(value) and value > 0):
        raise ConfigError(f"{name} must be a positive number, got {value!r}")


def _non_negative(name: str, value: float) -> None:
    if not (np.isfinite(value) and value >= 0):
        raise ConfigError(f"{name} must be >= 0, got {value!r}")
