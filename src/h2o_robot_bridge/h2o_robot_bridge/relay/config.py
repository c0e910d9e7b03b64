"""The ``command_relay`` node's parameters as one validated, frozen dataclass.

Pure (no rclpy): the node reads its ROS parameters into a dict and calls
:meth:`RelayConfig.from_params`; tests do the same with plain dicts. Every bad value is a
:class:`~h2o_robot_bridge.errors.ConfigError` naming the parameter.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from h2o_robot_bridge.contract import TOPICS, RobotTopics
from h2o_robot_bridge.contract.topics import topic_parameters, topics_from_parameters
from h2o_robot_bridge.deploy.levels import StopConfig
from h2o_robot_bridge.errors import ConfigError
from h2o_robot_bridge.relay.names import (
    CONTRACT_LEGS,
    CONTRACT_WHEELS,
    IDENTITY_MAP,
    JointMap,
    joint_map_from_parameters,
)

RELAY_TOPICS = ("joint_commands", "joint_states")
"""Contract topics of the relay: it reads ``joint_commands_topic`` and (sensor side) writes
``joint_states_topic``, the topic the rest of the stack reads."""
COMMANDS_SUFFIX = "commands"
"""A forward-command controller subscribes ``~/commands``: ``<controller>/commands``."""
_CONTROLLER_NAME = re.compile(r"^/?[A-Za-z_][A-Za-z0-9_]*(/[A-Za-z_][A-Za-z0-9_]*)*$")

DEFAULT_JOINTS = joint_map_from_parameters(CONTRACT_LEGS, CONTRACT_WHEELS, IDENTITY_MAP)


@dataclass(frozen=True)
class RelayConfig:
    """Everything the ``command_relay`` node is told (see ``config/bridge/command_relay.yaml``).

    Attributes:
        joints: robot joint names, controller orders and the map to contract names
            (parameters ``leg_joints``, ``wheel_joints``, ``joint_map``).
        leg_controller: name of the leg position controller (a ROS name; relative names
            resolve in the relay's namespace, like the controller manager's).
        wheel_controller: name of the wheel effort controller.
        timeout: no valid command for this long [s] -> the stop.
        rate: watchdog checks per second [Hz]; while stopped, the stop is published at this
            rate (its legs move at the stop's pace, one step per check).
        relay_joint_states: also republish ``robot_joint_states_topic`` (robot names) on
            ``topics.joint_states`` with contract names in contract order.
        robot_joint_states_topic: where the robot publishes its joint states (robot names).
        topics: contract topics (``joint_commands_topic``, ``joint_states_topic``).
        stop: the controlled stop's pose and pace (``stop_crouch``, ``stop_crouch_time``, as
            the runner's); the relay has no wheel speed, so its wheels always get 0 N m.
    """

    joints: JointMap = DEFAULT_JOINTS
    leg_controller: str = "leg_position_controller"
    wheel_controller: str = "wheel_effort_controller"
    timeout: float = 0.1
    rate: float = 50.0
    relay_joint_states: bool = False
    robot_joint_states_topic: str = TOPICS.joint_states
    topics: RobotTopics = TOPICS
    stop: StopConfig = field(default_factory=StopConfig)

    def __post_init__(self) -> None:
        for param in ("leg_controller", "wheel_controller"):
            name = getattr(self, param)
            if not isinstance(name, str) or not _CONTROLLER_NAME.match(name):
                raise ConfigError(
                    f"{param} must be a controller name (letters, digits, _ and /), got {name!r}"
                )
        if self.leg_controller == self.wheel_controller:
            raise ConfigError(
                f"leg_controller and wheel_controller are both {self.leg_controller!r}: the "
                "legs need a position controller, the wheels an effort controller"
            )
        _positive("timeout", self.timeout)
        _positive("rate", self.rate)
        if 1.0 / self.rate > self.timeout:
            # A check period longer than the timeout would let a dead runner's last wheel
            # torque act for up to timeout + 1/rate: more than twice what was asked for.
            raise ConfigError(
                f"rate {self.rate:g} Hz checks less often than the timeout {self.timeout:g} s: "
                f"rate must be >= 1/timeout = {1.0 / self.timeout:g} Hz"
            )
        if self.relay_joint_states and self.robot_joint_states_topic == self.topics.joint_states:
            raise ConfigError(
                "relay_joint_states: robot_joint_states_topic and joint_states_topic are both "
                f"{self.topics.joint_states!r} (the relay would read its own output); set "
                "joint_states_topic (here and for the runner and recorder) to e.g. "
                "h2o/joint_states"
            )

    @property
    def leg_topic(self) -> str:
        """The leg controller's command topic (``std_msgs/Float64MultiArray``)."""
        return f"{self.leg_controller}/{COMMANDS_SUFFIX}"

    @property
    def wheel_topic(self) -> str:
        """The wheel controller's command topic."""
        return f"{self.wheel_controller}/{COMMANDS_SUFFIX}"

    def warnings(self) -> list[str]:
        """Settings that are allowed but probably not meant (logged at start-up)."""
        out = []
        if self.joints.renames and not self.relay_joint_states:
            out.append(
                "joint_map renames joints but relay_joint_states is false: the stack cannot "
                f"read {self.robot_joint_states_topic} (robot names) unless another relay "
                "republishes it with contract names"
            )
        if self.relay_joint_states and not self.joints.renames:
            out.append(
                "relay_joint_states is on but the robot uses the contract's names: not needed "
                "(the stack reorders joint states and ignores extra joints itself)"
            )
        return out

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> RelayConfig:
        """Build from a flat dict of ROS parameter values (names: :func:`parameter_defaults`).

        Raises:
            ConfigError: an unknown name, or a bad value (the parameter is named).
        """
        params = dict(params)
        unknown = sorted(set(params) - set(parameter_defaults()))
        if unknown:
            raise ConfigError(
                f"unknown command_relay parameters {unknown}; known: "
                f"{sorted(parameter_defaults())}"
            )
        defaults = cls()
        joints = joint_map_from_parameters(
            params.pop("leg_joints", defaults.joints.leg_joints),
            params.pop("wheel_joints", defaults.joints.wheel_joints),
            params.pop("joint_map", IDENTITY_MAP),
        )
        topics = topics_from_parameters(params, RELAY_TOPICS)
        stop = _stop_config(
            params.pop("stop_crouch", defaults.stop.crouch),
            params.pop("stop_crouch_time", defaults.stop.crouch_time),
        )
        for key in topic_parameters(RELAY_TOPICS):
            params.pop(key, None)
        values: dict[str, Any] = {}
        for name in ("timeout", "rate"):
            if name in params:
                values[name] = _number(name, params.pop(name))
        if "relay_joint_states" in params:
            values["relay_joint_states"] = _bool(
                "relay_joint_states", params.pop("relay_joint_states")
            )
        for name in ("leg_controller", "wheel_controller", "robot_joint_states_topic"):
            if name in params:
                values[name] = _text(name, params.pop(name))
        return cls(joints=joints, topics=topics, stop=stop, **values)


def parameter_defaults() -> dict[str, Any]:
    """Every ``command_relay`` parameter with its default (what the node declares; lists
    for arrays)."""
    d = RelayConfig()
    return {
        "leg_controller": d.leg_controller,
        "wheel_controller": d.wheel_controller,
        "leg_joints": list(d.joints.leg_joints),
        "wheel_joints": list(d.joints.wheel_joints),
        "joint_map": list(IDENTITY_MAP),
        "timeout": d.timeout,
        "rate": d.rate,
        "relay_joint_states": d.relay_joint_states,
        "robot_joint_states_topic": d.robot_joint_states_topic,
        "stop_crouch": list(d.stop.crouch),
        "stop_crouch_time": d.stop.crouch_time,
        **topic_parameters(RELAY_TOPICS),
    }


def _stop_config(crouch: Any, crouch_time: Any) -> StopConfig:
    """The stop's pose and pace from ``stop_crouch`` and ``stop_crouch_time``."""
    crouch_time = _number("stop_crouch_time", crouch_time)
    _positive("stop_crouch_time", crouch_time)
    values = _numbers("stop_crouch", crouch)
    try:
        return StopConfig(crouch=values, crouch_time=crouch_time)  # type: ignore[arg-type]
    except ConfigError as err:  # its message says "stop crouch"; name the parameter exactly
        raise ConfigError(f"stop_crouch: {err}") from err


def _number(param: str, value: Any) -> float:
    # bool is an int in Python; "true" for a time is a typo, not 1 s.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{param} must be a number, got {value!r}")
    return float(value)


def _numbers(param: str, value: Any) -> tuple[float, ...]:
    if isinstance(value, str) or not hasattr(value, "__iter__"):
        raise ConfigError(f"{param} must be a list of numbers, got {value!r}")
    return tuple(_number(param, v) for v in value)


def _positive(param: str, value: float) -> None:
    if not (math.isfinite(value) and value > 0):
        raise ConfigError(f"{param} must be a positive number, got {value!r}")


def _bool(param: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{param} must be true or false, got {value!r}")
    return value


def _text(param: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{param} must be a non-empty name, got {value!r}")
    return value.strip()
