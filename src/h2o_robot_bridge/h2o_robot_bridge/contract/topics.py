"""The robot's topics: every name and its default, defined once.

Every node config, the bag reader, the demo and the test support derive their topic names and
their ``<name>_topic`` ROS parameters from :class:`RobotTopics`; parameter files hold only
overrides.

Naming (ROS 2 name resolution): the robot's own topics are **relative** (``joint_states``, not
``/joint_states``), so a node started in a namespace (``--ros-args -r __ns:=/r1``, a launch
file's ``namespace:=r1``) uses ``/r1/joint_states``; at the root they are ``/joint_states`` as
before. Two names are absolute on purpose (:data:`ABSOLUTE_TOPICS`):

- ``/clock``: what every node's ``use_sim_time`` clock reads (rclpy subscribes ``/clock``).
  A namespaced stack is given its own clock by remapping ``/clock`` to ``clock`` for all its
  nodes (:data:`NAMESPACE_REMAPS`; every launch file applies it): the sim then publishes
  ``/r1/clock`` and the nodes beside it read it, so two simulators under ``/r1`` and ``/r2``
  (two worlds, two sim times) do not fight over one ``/clock``. At the root the remapping
  resolves to ``/clock`` itself (a no-op).
- ``/diagnostics``: the ROS convention (``diagnostic_aggregator`` and ``rqt_robot_monitor``
  listen there); namespaced robots share it and are told apart by the status: a node names
  its statuses with its fully qualified name (``r1/policy_runner: ...``, ``hardware_id``
  ``/r1/policy_runner``).

A bag stores absolute names: :func:`resolve_topic` turns a name into the one a node in a
given namespace uses (the bag reader resolves against the root unless told a namespace).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from h2o_robot_bridge.errors import ConfigError

PARAMETER_SUFFIX = "_topic"

_Names = TypeVar("_Names")


@dataclass(frozen=True)
class RobotTopics:
    """Topic names of the robot, the simulator and the deploy loop.

    Relative names move with the node's namespace; ``clock`` and ``diagnostics`` are absolute
    (see the module docstring).

    Attributes:
        joint_states: ``sensor_msgs/JointState`` measured joints (robot or sim -> bridge).
        imu: ``sensor_msgs/Imu`` (robot or sim -> bridge).
        ground_truth_odom: ``nav_msgs/Odometry`` **ground truth** from the simulator (the
            world pose and base-frame twist the physics engine knows exactly): not an
            estimate, no real robot publishes it, and no controller may depend on it.
        clock: ``rosgraph_msgs/Clock`` (sim, with ``use_sim_time``); absolute.
        cmd_vel: ``geometry_msgs/Twist`` or ``TwistStamped`` task command (operator -> policy;
            the live nodes follow the type of its publishers, ``cmd_vel_type``).
        joint_commands: ``sensor_msgs/JointState`` commands (policy -> robot or sim): legs
            ``position``, wheels ``effort``, NaN where a field does not apply.
        estop: ``std_msgs/Bool`` latched stop (operator -> deploy).
        reset: ``std_msgs/Empty`` published on every robot reset (an episode boundary).
        shadow_joint_commands: where a runner in shadow mode publishes instead of commanding.
        diagnostics: ``diagnostic_msgs/DiagnosticArray`` (loop timing, guard trips, progress);
            absolute.
        robot_description: ``std_msgs/String`` URDF, transient local (the sim, or
            ``robot_state_publisher``; the name robot_state_publisher uses).
    """

    joint_states: str = "joint_states"
    imu: str = "imu/data"
    ground_truth_odom: str = "ground_truth/odom"
    clock: str = "/clock"
    cmd_vel: str = "cmd_vel"
    joint_commands: str = "joint_commands"
    estop: str = "h2o/estop"
    reset: str = "h2o/reset"
    shadow_joint_commands: str = "h2o/shadow/joint_commands"
    diagnostics: str = "/diagnostics"
    robot_description: str = "robot_description"

    def resolved(self, namespace: str = "") -> RobotTopics:
        """Every name as a node in ``namespace`` uses it (see :func:`resolve_topic`)."""
        return resolve_all(self, namespace)


TOPICS = RobotTopics()
"""The defaults."""

TOPIC_NAMES: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(RobotTopics))

ABSOLUTE_TOPICS: tuple[str, ...] = ("clock", "diagnostics")
"""The fields of :class:`RobotTopics` whose defaults are absolute (the others are relative)."""

NAMESPACE_REMAPS: tuple[tuple[str, str], ...] = ((TOPICS.clock, "clock"),)
"""Remappings for every node of a namespaced stack: its own ``<namespace>/clock``."""

_TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def resolve_topic(name: str, namespace: str = "") -> str:
    """The fully qualified name of topic ``name`` for a node in ``namespace``.

    ROS 2 name expansion without a node name: an absolute name is returned as is, a relative
    one is put under the namespace (``"joint_states"``, ``"/r1"`` -> ``"/r1/joint_states"``;
    ``""`` or ``"/"`` is the root). ``namespace`` may be given without the leading slash.

    Raises:
        ConfigError: an empty name, a private (``~``) or substituted (``{node}``) name (they
            need a node name), or a namespace or name that is not a valid ROS name.
    """
    text = name.strip()
    if not text or text.startswith("~") or "{" in text:
        raise ConfigError(f"cannot resolve topic name {name!r} without a node")
    ns = "/" + namespace.strip().strip("/") if namespace.strip().strip("/") else ""
    full = text if text.startswith("/") else f"{ns}/{text}"
    tokens = full[1:].split("/")
    if not all(_TOKEN.fullmatch(t) for t in tokens):
        raise ConfigError(f"not a valid ROS topic name: {full!r} (from {name!r}, {namespace!r})")
    return full


def resolve_all(topics: _Names, namespace: str = "") -> _Names:
    """A copy of ``topics`` (a frozen dataclass of names only) with every name resolved."""
    fields = dataclasses.fields(topics)  # type: ignore[arg-type]
    names = {f.name: resolve_topic(getattr(topics, f.name), namespace) for f in fields}
    return dataclasses.replace(topics, **names)  # type: ignore[type-var]


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
