"""Action shaping between a policy and the robot: clip, fade in, rate limit, per control tick.

This is the one definition of what happens to a policy action before it reaches the motors.
The deploy runner's safety layer (:class:`~h2o_robot_bridge.deploy.safety.SafetyLayer`) uses it
on the robot, and the simulator env (``h2o_sim.env.WheelLeggedEnv``) imports it, so a policy is
trained and evaluated with exactly the shaping it meets when deployed.

Shaping is defined per control *tick* (one period of the contract timing), not per wall second:
the env, in-process evaluation and the deployed node then shape the same action sequence
identically whatever the wall clock's jitter. A late tick therefore moves no further than an
on-time one (the conservative choice on a robot).

- clip to [-1, 1];
- fade in: on the k-th tick of an active period (k = 0 on the first tick after a held action,
  start-up included) the leg elements are ``A + min(1, k / n) (a - A)`` with
  ``n = soft_start * control_hz`` ticks, where the anchor ``A`` is the action held last (the
  safe action at start-up: ``SAFE``, so the env and a runner start alike); the wheels only
  with ``soft_start_wheels`` (fading in a balancing robot's wheel torque drops it);
- a handover (:meth:`ActionShaper.handover`: the runner switching between the policy and its
  fallback) restarts the fade from the last output, over its own number of ticks: the legs'
  targets do not jump when the source of the actions changes (bumpless transfer);
- rate limit: no element moves more than ``max_action_rate / control_hz`` per tick from the
  previous output (the safe action before any).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from h2o_robot_bridge.contract import SAFE_ACTION, robot
from h2o_robot_bridge.errors import ConfigError


@dataclass(frozen=True)
class ShapingConfig:
    """How actions are shaped (the deploy defaults, ``config/bridge/deploy.yaml``).

    Attributes:
        control_hz: control rate [Hz]: turns the two rates below into per-tick amounts.
        soft_start: fade-in time from the safe action [s]; 0 = none.
        soft_start_wheels: fade the wheel torques in too (off: legs only).
        max_action_rate: largest change of any action element per second [1/s]; 0 = no limit.
    """

    control_hz: float = 100.0
    soft_start: float = 1.0
    soft_start_wheels: bool = False
    max_action_rate: float = 50.0

    def __post_init__(self) -> None:
        if not (np.isfinite(self.control_hz) and self.control_hz > 0):
            raise ConfigError(f"shaping: control_hz must be > 0, got {self.control_hz!r}")
        for name in ("soft_start", "max_action_rate"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value >= 0):
                raise ConfigError(f"shaping: {name} must be >= 0, got {value!r}")

    @property
    def fade_ticks(self) -> float:
        """Ticks of the fade-in (0: none)."""
        return self.soft_start * self.control_hz

    @property
    def max_step(self) -> float:
        """Largest change per tick [action units] (0: no limit)."""
        return self.max_action_rate / self.control_hz

    def to_dict(self) -> dict[str, float | bool]:
        """JSON-ready (saved with policies and run configs)."""
        return {
            "control_hz": float(self.control_hz),
            "soft_start": float(self.soft_start),
            "soft_start_wheels": bool(self.soft_start_wheels),
            "max_action_rate": float(self.max_action_rate),
        }


NO_SHAPING = ShapingConfig(soft_start=0.0, max_action_rate=0.0)
"""Clip only (tests and ablations: the env without the deploy shaping)."""


class ActionShaper:
    """The shaping state of one control loop (one runner, one env).

    Call :meth:`shape` with the policy action at every active tick and :meth:`hold_safe` (or
    :meth:`hold`) at every tick a fixed action goes out instead.
    """

    def __init__(self, config: ShapingConfig) -> None:
        self.config = config
        self._fade = np.ones(len(SAFE_ACTION), dtype=bool)
        if not config.soft_start_wheels:
            self._fade[list(robot.WHEEL_JOINT_IDS)] = False
        self.reset()

    def reset(self) -> None:
        """Back to the start-up state: the safe action out, the next action fades in."""
        self._last = SAFE_ACTION.copy()
        self._active_ticks: int | None = None  # None while a held action is out
        self._anchor = SAFE_ACTION.copy()  # what the legs fade in from
        self._fade_ticks = self.config.fade_ticks

    @property
    def last_output(self) -> NDArray[np.float64]:
        """The action (ACTION_DIM,) emitted at the last tick (the safe action before any)."""
        return self._last

    @property
    def is_safe(self) -> bool:
        """True while a held action (the safe action, a stop) is out, also before the first
        policy action."""
        return self._active_ticks is None

    def hold_safe(self) -> NDArray[np.float64]:
        """Emit the safe action this tick (no shaping: a fault must act at once)."""
        return self.hold(SAFE_ACTION)

    def hold(self, action: ArrayLike) -> NDArray[np.float64]:
        """Emit ``action`` (ACTION_DIM,) unshaped this tick (the caller shapes it, e.g. the
        controlled stop); the next :meth:`shape` fades in from it over ``soft_start``."""
        self._active_ticks = None
        self._last = np.clip(np.asarray(action, dtype=np.float64), -1.0, 1.0)
        self._anchor = self._last.copy()
        self._fade_ticks = self.config.fade_ticks
        return self._last

    def handover(self, fade_ticks: float) -> None:
        """A new source of actions takes over from the next tick: fade its legs in from the
        last output over ``fade_ticks`` ticks (0: at once; rate limiting still applies)."""
        self._active_ticks = -1  # the next shape() is tick 0 of the fade; not a held action
        self._anchor = self._last.copy()
        self._fade_ticks = float(fade_ticks)

    def shape(self, action: ArrayLike) -> NDArray[np.float64]:
        """Clip, fade in and rate limit a finite action (ACTION_DIM,); returns the output."""
        target = np.minimum(np.maximum(np.asarray(action, dtype=np.float64), -1.0), 1.0)
        cfg = self.config
        k = 0 if self._active_ticks is None else self._active_ticks + 1
        self._active_ticks = k
        n = self._fade_ticks
        if n > 0 and k < n:
            faded = self._anchor + (k / n) * (target - self._anchor)
            target = np.where(self._fade, faded, target)
        step = cfg.max_step
        if step > 0:
            # minimum/maximum: np.clip's result (finite inputs), a fraction of its overhead.
            target = self._last + np.minimum(np.maximum(target - self._last, -step), step)
        self._last = target
        return target


def shaping_mismatch(trained: object, deployed: ShapingConfig) -> str | None:
    """Why a policy's training shaping (``extra.shaping`` of its metadata) differs from the
    runner's, or None when they agree or the policy does not say (an older export)."""
    if not isinstance(trained, dict):
        return None
    ours = deployed.to_dict()
    diff = {k: (trained.get(k), v) for k, v in ours.items() if trained.get(k) != v}
    if not diff:
        return None
    parts = ", ".join(f"{k}: trained {a!r}, here {b!r}" for k, (a, b) in diff.items())
    return f"the policy was trained with other action shaping ({parts})"
