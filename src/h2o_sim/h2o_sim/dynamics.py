"""Dynamics profiles: the knobs that make a simulator "real" or "unreal".

A profile is a frozen, validated :class:`DynamicsProfile`; the YAML files in
``config/dynamics/`` hold only the knobs that differ from nominal. The simulator applies a
profile in-process (``setGravity``, ``changeDynamics``, its own torque law), never by editing
files, so simulators with different profiles can share one process.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from h2o_robot_bridge import config_files
from h2o_robot_bridge.errors import ConfigError

PACKAGE = "h2o_sim"


INTEGER_KNOBS = ("latency_steps", "latency_jitter_steps")
"""Knobs counted in whole physics steps."""


@dataclass(frozen=True)
class DynamicsProfile:
    """All dynamics knobs of the simulator (nominal values are the defaults).

    Attributes:
        name: profile name (file stem), for logs and dataset metadata.
        gravity_scale: gravity = 9.81 m/s^2 * scale.
        friction_scale: scales the wheels' lateral friction coefficient.
        mass_scale: scales every link's mass and inertia.
        motor_strength: scales every motor torque and torque limit (PD output and wheel torque).
        joint_damping: viscous friction in every joint [N m s/rad], passive (not reported as
            motor effort).
        latency_steps: actuation delay [physics steps]: a command acts this many physics steps
            after the control tick that produced it (sensing to actuation, as on a robot).
        latency_jitter_steps: extra actuation delay drawn per tick, uniform in
            {0, ..., latency_jitter_steps} physics steps; commands never overtake each other.
        action_noise_std: std of N(0, sigma) added to the *executed* action (in [-1, 1] action
            units, before clipping); the clean action is what is reported and recorded.
        sensor_noise_std: std of Gaussian noise on gyro [rad/s], joint velocities [rad/s] and
            accelerometer [m/s^2]; a tenth of it [rad] on joint positions and orientation.
        push_force: magnitude of random horizontal pushes on the base [N] (0: none).
        push_interval: time between pushes [s].
        push_duration: how long each push lasts [s].
        description: free text.
    """

    name: str = "custom"
    gravity_scale: float = 1.0
    friction_scale: float = 1.0
    mass_scale: float = 1.0
    motor_strength: float = 1.0
    joint_damping: float = 0.0
    latency_steps: int = 0
    latency_jitter_steps: int = 0
    action_noise_std: float = 0.0
    sensor_noise_std: float = 0.0
    push_force: float = 0.0
    push_interval: float = 2.0
    push_duration: float = 0.1
    description: str = ""

    def __post_init__(self) -> None:
        for key in knob_names():
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"dynamics {self.name!r}: {key} must be a number, got {value!r}")
            if not math.isfinite(value) or value < 0:
                raise ConfigError(
                    f"dynamics {self.name!r}: {key} must be finite and >= 0, got {value}"
                )
        for key in ("mass_scale", "push_interval"):
            if getattr(self, key) <= 0:
                raise ConfigError(f"dynamics {self.name!r}: {key} must be > 0")
        for key in INTEGER_KNOBS:
            value = getattr(self, key)
            if float(value) != int(value):
                raise ConfigError(
                    f"dynamics {self.name!r}: {key} must be a whole number of physics "
                    f"steps, got {value}"
                )
            object.__setattr__(self, key, int(value))
        if not isinstance(self.name, str) or not isinstance(self.description, str):
            raise ConfigError("dynamics: name and description must be strings")

    def replace(self, **changes: Any) -> DynamicsProfile:
        """A copy with some knobs changed (validated; unknown knob -> ConfigError)."""
        _check_keys(changes, f"dynamics {self.name!r}")
        return dataclasses.replace(self, **changes)

    def knobs(self) -> dict[str, float]:
        """Every numeric knob and its value (for metadata and logs)."""
        return {k: getattr(self, k) for k in knob_names()}

    def to_dict(self) -> dict[str, Any]:
        """Everything, JSON/YAML serialisable; ``profile_from_dict`` reads it back."""
        return dataclasses.asdict(self)


def knob_names() -> tuple[str, ...]:
    """Names of the numeric knobs (every field except name and description)."""
    return tuple(
        f.name
        for f in dataclasses.fields(DynamicsProfile)
        if f.name not in ("name", "description")
    )


def _check_keys(data: dict[str, Any], where: str) -> None:
    known = {f.name for f in dataclasses.fields(DynamicsProfile)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown dynamics keys {unknown}; known: {sorted(known)}")


def profile_from_dict(data: dict[str, Any], name: str = "custom") -> DynamicsProfile:
    """Validate a mapping of knobs (missing knobs take nominal values)."""
    if not isinstance(data, dict):
        raise ConfigError(f"dynamics {name!r}: expected a mapping, got {type(data).__name__}")
    _check_keys(data, f"dynamics {name!r}")
    return DynamicsProfile(**{"name": name, **data})


def profile_names() -> list[str]:
    """Names of the profiles shipped in ``config/dynamics/``."""
    folder = config_files.config_dir(PACKAGE, "dynamics")
    return sorted(p.stem for p in folder.glob("*.yaml"))


def load_profile(
    name_or_path: str | Path, overrides: dict[str, Any] | None = None
) -> DynamicsProfile:
    """A profile by name (``config/dynamics/<name>.yaml``) or by YAML file path.

    Args:
        name_or_path: ``"real"``, ``"gravity_x2"``, ... or a path to a YAML file.
        overrides: knobs replacing the file's values (e.g. ``{"latency_steps": 3}``).

    Raises:
        ConfigError: unknown name (known ones listed), unreadable file, unknown key, bad value.
    """
    text = str(name_or_path)
    path = Path(text)
    if text.endswith((".yaml", ".yml")) or path.is_file():
        if not path.is_file():
            raise ConfigError(f"dynamics file {path} does not exist")
        name = path.stem
    else:
        name = text
        try:
            path = config_files.config_file(PACKAGE, f"dynamics/{name}.yaml")
        except ConfigError as err:
            try:
                known = profile_names()
            except ConfigError:
                known = []
            raise ConfigError(f"unknown dynamics profile {name!r}; known: {known}") from err
    data = config_files.load_yaml_mapping(path, "dynamics file", empty_ok=True)
    profile = profile_from_dict({"name": name, **data}, name)
    return profile.replace(**overrides) if overrides else profile


def resolve_profile(
    profile: DynamicsProfile | str | Path, overrides: dict[str, Any] | None = None
) -> DynamicsProfile:
    """A profile object as is, or loaded by name/path; overrides applied either way."""
    if isinstance(profile, DynamicsProfile):
        return profile.replace(**overrides) if overrides else profile
    return load_profile(profile, overrides)
