"""A classical balance controller over the robot contract: cascaded PD on velocity and pitch.

Pure numpy, observation in, action out, so the robot-side policy runner can run it without a
simulator. It is the proof that the robot is controllable, the baseline every learned policy
must beat, and (with noise added by the dataset tools) the behaviour policy for datasets.

Control law (every tick, from the observation only)::

    v, v_c, w, w_c   forward speed, its command, yaw rate, its command   (observation)
    e_x             += (v - v_c) dt, clipped to +-max_pos_error          (position drift)
    pitch_ref        = clip(pitch_offset - k_vel (v - v_c) - k_pos e_x, +-max_pitch_ref)
    tau              = k_pitch (pitch - pitch_ref) + k_pitch_rate pitch_rate   (both wheels)
    e_yaw           += (w_c - w) dt, clipped to +-max_heading_error    (heading drift)
    tau_left/right   = tau / 2 -+ (k_yaw (w_c - w) + k_yaw_i e_yaw) / 2
    wheels           = tau_side / max_effort
    e_leg            = default - q_leg; i_leg += e_leg dt (clipped to +-max_leg_correction)
    leg targets      = default + clip(k_leg_p e_leg + k_leg_i i_leg, +-max_leg_correction)

The leg loop holds the default pose despite the PD joints' compliance. Without it, the
differential wheel traction of a turn bends the two legs opposite ways, the wheels stop being
coaxial, and turning then needs the wheels to scrub sideways (the robot cannot turn on the spot).

Why the signs: leaning forward (pitch > 0) is caught by driving the wheels forward (positive
torque). To speed up, the robot must first lean forward, so a speed deficit *raises* the pitch
reference and the pitch loop then drives the wheels back briefly, tipping the body forward.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from h2o_robot_bridge import config_files
from h2o_robot_bridge.contract import (
    ACTION_DIM,
    ACTION_SCALE,
    OBS_DIM,
    OBS_SLICES,
    get_task,
    pitch_from_projected_gravity,
)
from h2o_robot_bridge.contract import robot as contract_robot
from h2o_robot_bridge.errors import ConfigError

DEFAULT_CONFIG = "bridge/classical.yaml"


@dataclass(frozen=True)
class ClassicalGains:
    """Gains of the cascaded controller (see the module docstring for the law).

    Attributes:
        k_pitch: total wheel torque per pitch error [N m/rad].
        k_pitch_rate: total wheel torque per pitch rate [N m s/rad].
        k_vel: pitch reference per forward-speed error [rad s/m].
        k_pos: pitch reference per integrated speed error (position drift) [rad/m].
        max_pitch_ref: limit of the pitch reference [rad].
        max_pos_error: limit of the integrated speed error [m] (anti-windup).
        k_yaw: differential wheel torque per yaw-rate error [N m s/rad].
        pitch_offset: pitch at which the robot balances with the legs at default [rad].
        vel_filter: time constant of the first-order filter on the forward speed [s] (0: none).
        k_yaw_i: differential wheel torque per integrated yaw-rate error [N m/rad].
        max_heading_error: limit of the integrated yaw-rate error [rad] (anti-windup).
        k_leg_p: extra leg target per leg position error (stiffens the legs' PD) [rad/rad].
        k_leg_i: leg target per integrated leg position error [1/s].
        max_leg_correction: limit of the leg target correction and its integral [rad].
    """

    k_pitch: float = 14.0
    k_pitch_rate: float = 1.5
    k_vel: float = 0.18
    k_pos: float = 0.17
    max_pitch_ref: float = 0.25
    max_pos_error: float = 0.5
    k_yaw: float = 1.0
    pitch_offset: float = 0.0
    vel_filter: float = 0.0
    k_yaw_i: float = 0.5
    max_heading_error: float = 0.5
    k_leg_p: float = 0.0
    k_leg_i: float = 2.0
    max_leg_correction: float = 0.3

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"classical gains: {f.name} must be a number, got {value!r}")
            if not np.isfinite(value):
                raise ConfigError(f"classical gains: {f.name} must be finite, got {value}")
            if f.name != "pitch_offset" and value < 0:
                raise ConfigError(f"classical gains: {f.name} must be >= 0, got {value}")

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "classical gains") -> ClassicalGains:
        """Validate a mapping (missing keys keep their defaults; unknown keys are an error)."""
        if not isinstance(data, dict):
            raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"{where}: unknown keys {unknown}; known: {sorted(known)}")
        return cls(**data)

    def to_dict(self) -> dict[str, float]:
        """The gains as a plain mapping."""
        return asdict(self)


class ClassicalController:
    """Balances the robot and tracks the observation's command; a :class:`Policy`.

    Args:
        gains: controller gains (default: the values of ``config/bridge/classical.yaml``
            when that file is found, else :class:`ClassicalGains` defaults).
        task: contract task name (only recorded; the command comes from the observation).
        control_hz: call rate [Hz] (integration step of the position-drift term).
    """

    def __init__(
        self, gains: ClassicalGains | None = None, task: str = "stand", control_hz: float = 100.0
    ) -> None:
        get_task(task)  # validates the name
        if not (np.isfinite(control_hz) and control_hz > 0):
            raise ConfigError(f"control_hz must be positive, got {control_hz}")
        self.gains = gains if gains is not None else _default_gains()
        self.name = "classical"
        self.task = task
        self.control_hz = float(control_hz)
        self._dt = 1.0 / self.control_hz
        self._wheels = list(contract_robot.WHEEL_JOINT_IDS)
        self._wheel_max = contract_robot.MAX_EFFORT[self._wheels]
        self._side = np.array([-1.0, 1.0])  # left, right: + yaw rate needs the right wheel ahead
        self._legs = list(contract_robot.LEG_JOINT_IDS)
        self._leg_scale = ACTION_SCALE[self._legs]
        self.reset()

    @classmethod
    def from_yaml(
        cls, path: str | Path | None = None, task: str = "stand", control_hz: float = 100.0
    ) -> ClassicalController:
        """A controller with gains from a YAML file (``config/bridge/classical.yaml`` default)."""
        return cls(load_gains(path), task=task, control_hz=control_hz)

    def reset(self) -> None:
        """Forget the integrated position drift, leg errors and the speed filter state."""
        self._pos_error = 0.0
        self._vel: float | None = None  # filtered forward speed; None until the first call
        self._heading_error = 0.0
        self._leg_error = np.zeros(len(contract_robot.LEG_JOINT_IDS))

    def act(self, obs: NDArray[np.float32]) -> NDArray[np.float32]:
        """Action (ACTION_DIM,) in [-1, 1] from one observation (OBS_DIM,).

        A non-finite observation gives the contract's safe action (legs default, wheels off)
        and resets the internal state.
        """
        o = np.asarray(obs, dtype=np.float64)
        if o.shape != (OBS_DIM,):
            raise ConfigError(f"observation must have shape ({OBS_DIM},), got {o.shape}")
        if not np.all(np.isfinite(o)):
            self.reset()
            return np.zeros(ACTION_DIM, dtype=np.float32)
        g = self.gains
        pitch = float(pitch_from_projected_gravity(o[OBS_SLICES["projected_gravity"]]))
        ang = o[OBS_SLICES["base_ang_vel"]]
        v_cmd, w_cmd = o[OBS_SLICES["command"]]
        v = float(o[OBS_SLICES["forward_vel"]][0])
        if g.vel_filter > 0.0:
            alpha = self._dt / (g.vel_filter + self._dt)
            self._vel = v if self._vel is None else self._vel + alpha * (v - self._vel)
            v = self._vel
        err = v - v_cmd
        self._pos_error = float(
            np.clip(self._pos_error + err * self._dt, -g.max_pos_error, g.max_pos_error)
        )
        pitch_ref = np.clip(
            g.pitch_offset - g.k_vel * err - g.k_pos * self._pos_error,
            -g.max_pitch_ref,
            g.max_pitch_ref,
        )
        tau = g.k_pitch * (pitch - pitch_ref) + g.k_pitch_rate * ang[1]
        yaw_err = w_cmd - ang[2]
        self._heading_error = float(
            np.clip(
                self._heading_error + yaw_err * self._dt,
                -g.max_heading_error,
                g.max_heading_error,
            )
        )
        tau_yaw = g.k_yaw * yaw_err + g.k_yaw_i * self._heading_error
        tau_wheels = 0.5 * tau + 0.5 * tau_yaw * self._side
        action = np.zeros(ACTION_DIM)
        action[self._wheels] = tau_wheels / self._wheel_max
        action[self._legs] = self._leg_correction(o[OBS_SLICES["leg_pos"]]) / self._leg_scale
        return np.clip(action, -1.0, 1.0).astype(np.float32)

    def _leg_correction(self, leg_pos: NDArray[np.float64]) -> NDArray[np.float64]:
        """Leg target offsets [rad] from the legs' deviation from default (obs ``leg_pos``)."""
        g = self.gains
        err = -leg_pos
        lim = g.max_leg_correction
        self._leg_error = np.clip(self._leg_error + err * self._dt, -lim, lim)
        return np.clip(g.k_leg_p * err + g.k_leg_i * self._leg_error, -lim, lim)


def load_gains(path: str | Path | None = None) -> ClassicalGains:
    """Gains from a YAML file; the shipped ``config/bridge/classical.yaml`` by default."""
    if path is None:
        path = config_files.config_file("h2o_robot_bridge", DEFAULT_CONFIG)
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"classical controller config {file} does not exist")
    data = config_files.load_yaml_mapping(file, "classical controller config", empty_ok=True)
    return ClassicalGains.from_dict(data.get("gains", data), where=str(file))


def _default_gains() -> ClassicalGains:
    """The shipped gains if the config file is installed, else the dataclass defaults."""
    try:
        path = config_files.config_file("h2o_robot_bridge", DEFAULT_CONFIG)
    except ConfigError:
        return ClassicalGains()
    return load_gains(path)
