"""When things happen: control rate, physics rate and the latency model.

One control *tick* every ``1 / control_hz`` seconds. At a tick the observation is built from the
latest sensor readings (sampled at the tick, before the new action); the action computed from
it is applied from that tick on, delayed by ``latency_steps`` physics steps, and held until the
next tick. A transition ``(o_t, a_t, r_t, o_{t+1})`` therefore spans exactly one control period.
"""

from __future__ import annotations

from dataclasses import dataclass

from h2o_robot_bridge.errors import ConfigError

DEFAULT_CONTROL_HZ = 100.0
DEFAULT_PHYSICS_HZ = 1000.0


@dataclass(frozen=True)
class Timing:
    """Control and physics rates.

    Attributes:
        control_hz: policy rate [Hz].
        physics_hz: simulator / PD loop rate [Hz]; an integer multiple of ``control_hz``.
    """

    control_hz: float = DEFAULT_CONTROL_HZ
    physics_hz: float = DEFAULT_PHYSICS_HZ

    def __post_init__(self) -> None:
        if not (self.control_hz > 0 and self.physics_hz > 0):
            raise ConfigError(
                f"rates must be positive, got control_hz={self.control_hz}, "
                f"physics_hz={self.physics_hz}"
            )
        ratio = self.physics_hz / self.control_hz
        if abs(ratio - round(ratio)) > 1e-9 or round(ratio) < 1:
            raise ConfigError(
                f"physics_hz ({self.physics_hz}) must be an integer multiple of "
                f"control_hz ({self.control_hz})"
            )

    @property
    def control_dt(self) -> float:
        """Control period [s]."""
        return 1.0 / self.control_hz

    @property
    def physics_dt(self) -> float:
        """Physics step [s]."""
        return 1.0 / self.physics_hz

    @property
    def decimation(self) -> int:
        """Physics steps per control tick."""
        return int(round(self.physics_hz / self.control_hz))


DEFAULT_TIMING = Timing()
"""The contract's timing (100 Hz control, 1 kHz physics): what the sim, the env, evaluation
and the trainer use unless a caller passes its own :class:`Timing`."""
