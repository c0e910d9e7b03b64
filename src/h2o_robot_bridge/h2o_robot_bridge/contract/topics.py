"""The robot's topics: every name and its default, defined once.

Every node config, the bag reader, the demo and the test support derive their topic names and
their ``<name>_topic`` ROS parameters from :class:`RobotTopics`; parameter files hold only
overrides. Names are ordinary ROS names (absolute here; remappable as usual).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from h2o_robot_bridge.errors import ConfigError

PARAMETER_SUFFIX = "_topic"


@dataclass(frozen=True)
class RobotTopics:
    """Topic names of the robot, the simulator and the deploy loop.

    Attributes:
        joint_states: ``sensor_msgs/JointState`` measured joints (robot or sim -> bridge).
        imu: ``sensor_msgs/Imu`` (robot or sim -> bridge).
        odom: ``nav_msgs/Odometry`` (robot or sim, optional; the sim's is ground truth).
        clock: ``rosgraph_msgs/Clock`` (sim, with ``use_sim_time``).
        cmd_vel: ``geometry_msgs/Twist`` task command (operator -> policy).
        joint_commands: ``sensor_msgs/JointState`` commands (policy -> robot or sim): legs
            ``position``, wheels ``effort``, NaN where a field does not apply.
        estop: ``std_msgs/Bool`` latched stop (operator -> deploy).
        reset: ``std_msgs/Empty`` published on every robot reset (an episode boundary).
        shadow_joint_commands: where a runner in shadow mode publishes instead of commanding.
        diagnostics: ``diagnostic_msgs/DiagnosticArray`` (loop timing, guard trips, progress).
    """

    joint_states: str = "/joint_states"
    imu: str = "/imu/data"
    odom: str = "/odom"
    clock: str = "/clock"
    cmd_vel: str = "/cmd_vel"
    joint_commands: str = "/joint_commands"
    estop: str = "/h2o/estop"
    reset: str = "/h2o/reset"
    shadow_joint_commands: str = "/h2o/shadow/joint_commands"
    diagnostics: str = "/diagnostics"


TOPICS = RobotTopics()
"""The defaults."""

TOPIC_NAMES: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(RobotTopics))


def parameter_name(topic: str) -> str:
    """The ROS parameter that names a topic: ``"imu"`` -> ``"imu_topic"``."""
    return topic + PARAMETER_SUFFIX


def topic_parameters(topics: Iterable[str], base: RobotTopics = TOPICS) -> dict[str, str]:
    """``{"<name>_topic": default}`` for the topics a node uses (its parameter defaults)."""
    return {parameter_name(t): getattr(base, t) for t in _known(topics)}


def topics_from_parameters(
    params: Mapping[str, Any], topics: Iterable[str], base: RobotTopics = TOPICS
) -> RobotTopics:
    """``base`` with each given ``<name>_topic`` parameter of ``topics`` replacing its default.

    Raises:
        ConfigError: a given name is not a non-empty string (the parameter is named).
    """
    names: dict[str, str] = {}
    for topic in _known(topics):
        key = parameter_name(topic)
        if key not in params:
            continue
        value = params[key]
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{key} must be a non-empty topic name, got {value!r}")
        names[topic] = value.strip()
    return dataclasses.replace(base, **names)


def _known(topics: Iterable[str]) -> list[str]:
    out = list(topics)
    unknown = sorted(set(out) - set(TOPIC_NAMES))
    if unknown:
        raise ConfigError(f"unknown topics {unknown}; known: {list(TOPIC_NAMES)}")
    return out
