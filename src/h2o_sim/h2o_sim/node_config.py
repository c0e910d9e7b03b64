"""Parameters of the ``wheel_legged_sim`` node as one validated, frozen config (no rclpy).

The node declares the parameters listed in :data:`NODE_PARAMETERS` plus one parameter per
dynamics knob of the chosen profile (:func:`profile_knobs`, defaults taken from the profile),
reads them back and calls :func:`make_config`. Everything that can be wrong with a parameter
is found here, before the node creates a publisher, so a bad launch exits without publishing.

Which parameters may change while the node runs (``ros2 param set``) is decided here as well:
:func:`runtime_change_error` gives the reason a change is refused.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from h2o_robot_bridge.contract import DEFAULT_TIMING, RobotTopics, Timing
from h2o_robot_bridge.contract.topics import topic_parameters, topics_from_parameters
from h2o_robot_bridge.errors import ConfigError
from h2o_sim.dynamics import DynamicsProfile, load_profile

ParamValue = bool | int | float | str


@dataclass(frozen=True)
class ParamSpec:
    """One node parameter.

    Attributes:
        name: ROS parameter name.
        default: default value; its type is the parameter's type (numbers accept int or float).
        description: shown by ``ros2 param describe``.
        runtime: may change while the node runs.
    """

    name: str
    default: ParamValue
    description: str
    runtime: bool = False


SIM_TOPICS = {
    "joint_states": "sensor_msgs/JointState output",
    "imu": "sensor_msgs/Imu output",
    "ground_truth_odom": "nav_msgs/Odometry output: ground truth (the exact world pose)",
    "clock": "rosgraph_msgs/Clock output (sim time)",
    "joint_commands": "sensor_msgs/JointState input",
    "reset": "std_msgs/Empty output on every reset (episode boundary)",
}
"""The topics the node uses (``<name>_topic`` parameters), with their descriptions."""

NODE_PARAMETERS: tuple[ParamSpec, ...] = (
    ParamSpec("dynamics", "real", "dynamics profile: a name in config/dynamics or a YAML path"),
    ParamSpec("control_hz", DEFAULT_TIMING.control_hz, "control rate: one state per tick"),
    ParamSpec("physics_hz", DEFAULT_TIMING.physics_hz, "physics rate, a multiple of control_hz"),
    ParamSpec(
        "real_time_factor",
        1.0,
        "sim seconds per wall second; 0 = as fast as possible (free-running)",
        runtime=True,
    ),
    ParamSpec(
        "lockstep",
        False,
        "step only once the command answering the last sample is in (needs use_sim_time)",
    ),
    ParamSpec(
        "lockstep_timeout",
        0.5,
        "lockstep: wall seconds to wait for that command before stepping with the held one",
    ),
    ParamSpec(
        "wait_for_commander",
        False,
        "real time: hold the robot at its first sample until a commander answers one (a "
        "command stamped with that sample's stamp)",
    ),
    ParamSpec("seed", 0, "seed of the simulator's random generator; -1 = fresh entropy"),
    ParamSpec("gui", False, "open the PyBullet GUI (needs a display)"),
    ParamSpec(
        "command_timeout",
        0.5,
        "sim seconds without a valid command before the safe action is applied; 0 = never",
        runtime=True,
    ),
    *(
        ParamSpec(name, default, SIM_TOPICS[name.removesuffix("_topic")])
        for name, default in topic_parameters(SIM_TOPICS).items()
    ),
    ParamSpec("base_frame", "base_link", "child frame of ground_truth/odom, frame of imu/data"),
    ParamSpec("odom_frame", "odom", "frame of ground_truth/odom poses (the world)"),
)
"""Parameters every instance declares (the dynamics knobs come on top, per profile)."""

PARAMETER_NAMES = tuple(p.name for p in NODE_PARAMETERS)
_SPECS = {p.name: p for p in NODE_PARAMETERS}
_TOPIC_PARAMS = tuple(n for n in PARAMETER_NAMES if n.endswith("_topic"))
_FRAME_PARAMS = ("base_frame", "odom_frame")


@dataclass(frozen=True)
class SimNodeConfig:
    """Everything the node needs, validated.

    Attributes:
        dynamics: the ``dynamics`` parameter as given (profile name or path).
        profile: the resolved profile, knob parameters applied as overrides.
        timing: control and physics rates.
        real_time_factor: sim seconds per wall second; 0 = as fast as possible (ignored in
            lockstep).
        lockstep: after publishing a sample, step only once a valid command stamped at or after
            that sample's stamp is in (then at once), or after ``lockstep_timeout``.
        lockstep_timeout: wall seconds to wait in lockstep before stepping with the held
            command (a lockstep miss) [s].
        wait_for_commander: hold the robot at its first sample (republished) until a command
            answering it arrives (real time with wall-clock stamps only).
        seed: simulator seed, ``None`` for fresh entropy.
        gui: PyBullet GUI.
        command_timeout: sim seconds without a valid command before the safe action [s]; 0 =
            hold the last command forever.
        use_sim_time: stamp messages with sim time (else wall time).
        topics: topic names.
        base_frame, odom_frame: frame ids.
    """

    dynamics: str
    profile: DynamicsProfile
    timing: Timing
    real_time_factor: float
    lockstep: bool
    lockstep_timeout: float
    wait_for_commander: bool
    seed: int | None
    gui: bool
    command_timeout: float
    use_sim_time: bool
    topics: RobotTopics
    base_frame: str
    odom_frame: str


def profile_knobs(profile: DynamicsProfile) -> dict[str, ParamValue]:
    """The profile's numeric knobs (name -> value), each exposed as a node parameter."""
    return dict(profile.knobs())


def profile_from_parameter(dynamics: Any) -> DynamicsProfile:
    """The profile named by the ``dynamics`` parameter, without overrides.

    Raises:
        ConfigError: not a string, unknown name, unreadable or invalid file.
    """
    if not isinstance(dynamics, str) or not dynamics.strip():
        raise ConfigError(f"parameter 'dynamics' must be a profile name or path, got {dynamics!r}")
    return load_profile(dynamics.strip())


def make_config(
    values: Mapping[str, Any], environ: Mapping[str, str] | None = None
) -> SimNodeConfig:
    """Validate parameter values and build the config.

    Args:
        values: parameter name -> value: the entries of :data:`NODE_PARAMETERS` (missing ones
            take their defaults), ``use_sim_time``, and any knob of the profile (see
            :func:`profile_knobs`), which override the profile's values.
        environ: environment to check for a display when ``gui`` is set (default os.environ).

    Raises:
        ConfigError: every problem found, one per line.
    """
    env = os.environ if environ is None else environ
    # Raw values (defaults, then the caller's): each one's type is checked below.
    merged: dict[str, Any] = {p.name: p.default for p in NODE_PARAMETERS}
    merged["use_sim_time"] = False
    merged.update(values)
    profile = profile_from_parameter(merged["dynamics"])
    known_knobs = profile_knobs(profile)
    unknown = sorted(set(merged) - set(PARAMETER_NAMES) - set(known_knobs) - {"use_sim_time"})
    if unknown:
        raise ConfigError(
            f"unknown parameters {unknown}; node parameters: {list(PARAMETER_NAMES)}, "
            f"dynamics knobs: {sorted(known_knobs)}"
        )
    errors: list[str] = []
    control_hz = _number(merged, "control_hz", errors, positive=True)
    physics_hz = _number(merged, "physics_hz", errors, positive=True)
    rtf = _number(merged, "real_time_factor", errors)
    timeout = _number(merged, "command_timeout", errors)
    lockstep_timeout = _number(merged, "lockstep_timeout", errors, positive=True)
    for name in _TOPIC_PARAMS + _FRAME_PARAMS:
        if not isinstance(merged[name], str) or not merged[name].strip():
            errors.append(f"{name} must be a non-empty string, got {merged[name]!r}")
    for name in ("gui", "use_sim_time", "lockstep", "wait_for_commander"):
        if not isinstance(merged[name], bool):
            errors.append(f"{name} must be true or false, got {merged[name]!r}")
    if merged["lockstep"] is True and merged["use_sim_time"] is not True:
        # The runner answers a sample with its stamp and lockstep compares stamps: wall stamps
        # would change when a sample is republished, and a lockstep sim is not in wall time.
        errors.append("lockstep needs use_sim_time:=true (samples stamped in sim time)")
    if merged["wait_for_commander"] is True and (merged["lockstep"] or merged["use_sim_time"]):
        errors.append(
            "wait_for_commander needs real-time pacing with wall-clock stamps (lockstep waits "
            "for every answer anyway; sim-time stamps do not change when the held sample is "
            "republished)"
        )
    seed = merged["seed"]
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < -1:
        errors.append(f"seed must be an integer >= 0 (or -1 for fresh entropy), got {seed!r}")
    if merged["gui"] is True and not (env.get("DISPLAY") or env.get("WAYLAND_DISPLAY")):
        errors.append("gui is true but no display is available (DISPLAY is not set)")
    if errors:
        raise ConfigError("invalid wheel_legged_sim parameters:\n  " + "\n  ".join(errors))
    timing = Timing(control_hz=control_hz, physics_hz=physics_hz)
    overrides = {k: merged[k] for k in known_knobs if k in merged}
    resolved = load_profile(merged["dynamics"].strip(), overrides or None)
    return SimNodeConfig(
        dynamics=merged["dynamics"].strip(),
        profile=resolved,
        timing=timing,
        real_time_factor=rtf,
        lockstep=merged["lockstep"],
        lockstep_timeout=lockstep_timeout,
        wait_for_commander=merged["wait_for_commander"],
        seed=None if seed == -1 else seed,
        gui=merged["gui"],
        command_timeout=timeout,
        use_sim_time=merged["use_sim_time"],
        topics=topics_from_parameters(merged, SIM_TOPICS),
        base_frame=merged["base_frame"].strip(),
        odom_frame=merged["odom_frame"].strip(),
    )


def _number(
    values: Mapping[str, Any], name: str, errors: list[str], positive: bool = False
) -> float:
    """``values[name]`` as a float; appends to ``errors`` (and returns NaN) when invalid."""
    value = values[name]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        errors.append(f"{name} must be a finite number, got {value!r}")
        return math.nan
    if positive and value <= 0:
        errors.append(f"{name} must be > 0, got {value}")
    elif not positive and value < 0:
        errors.append(f"{name} must be >= 0, got {value}")
    return float(value)


def _check_rtf(rtf: float) -> None:
    if not (math.isfinite(rtf) and rtf >= 0):
        raise ConfigError(f"real_time_factor must be >= 0 (0 = as fast as possible), got {rtf}")


def _check_timeout(timeout: float) -> None:
    if not (math.isfinite(timeout) and timeout >= 0):
        raise ConfigError(f"command_timeout must be >= 0 s (0 = never), got {timeout}")


def describe(config: SimNodeConfig) -> str:
    """One log line: profile, knobs off nominal, rates, pace, stamps."""
    nominal = DynamicsProfile().knobs()
    changed = {k: v for k, v in config.profile.knobs().items() if v != nominal[k]}
    knobs = ", ".join(f"{k}={v:g}" for k, v in changed.items()) or "all nominal"
    pace = f"real_time_factor {config.real_time_factor or 'as fast as possible'}"
    if config.lockstep:
        pace = f"lockstep (timeout {config.lockstep_timeout:g} s)"
    return (
        f"dynamics {config.dynamics!r} ({knobs}), control {config.timing.control_hz:g} Hz, "
        f"physics {config.timing.physics_hz:g} Hz, {pace}, "
        f"stamps: {'sim' if config.use_sim_time else 'wall'} time"
    )


def runtime_number(name: str, value: Any) -> float:
    """Validate a new value of a runtime-changeable node parameter (not a knob).

    Raises:
        ConfigError: not a number, or out of range.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{name} must be a number, got {value!r}")
    value = float(value)
    {"real_time_factor": _check_rtf, "command_timeout": _check_timeout}[name](value)
    return value


def runtime_change_error(name: str, knobs: Mapping[str, Any]) -> str | None:
    """Why parameter ``name`` may not change while the node runs, or ``None`` if it may.

    Knobs are changeable as far as the simulator allows (it raises with its own reason).
    """
    if name in knobs or (name in _SPECS and _SPECS[name].runtime):
        return None
    if name == "use_sim_time":
        return "use_sim_time cannot change while the sim runs; restart the node"
    if name in _SPECS:
        return f"parameter {name!r} is fixed at start-up; restart the node with the new value"
    return f"unknown parameter {name!r}"


def runtime_changes_error(changes: Mapping[str, Any], profile: DynamicsProfile) -> str | None:
    """Why a set of parameter changes must be refused as a whole, or ``None`` to accept it.

    Everything is checked before anything is applied, so a refused
    ``ros2 param set``/``set_parameters_atomically`` leaves the simulator untouched.

    Args:
        changes: parameter name -> new value.
        profile: the simulator's current dynamics (knob values are validated against it).
    """
    knobs = profile_knobs(profile)
    try:
        for name, value in changes.items():
            reason = runtime_change_error(name, knobs)
            if reason is not None:
                return reason
            if name not in knobs:
                runtime_number(name, value)
        profile.replace(**{k: v for k, v in changes.items() if k in knobs})
    except ConfigError as err:
        return str(err)
    return None
