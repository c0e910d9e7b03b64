"""Which message type a node subscribes ``cmd_vel`` with: ``Twist`` or ``TwistStamped``.

ROS 2 tools moved from ``geometry_msgs/Twist`` to ``geometry_msgs/TwistStamped`` for
``cmd_vel`` (nav2 and the teleop tools publish stamped by default since Jazzy), and one topic
can be subscribed with one type only: a subscription of the other type never matches (DDS
compares type names). Parameter ``cmd_vel_type``:

- ``twist`` / ``twist_stamped``: that type, always.
- ``auto`` (default): ``Twist`` at start (the contract's type: nothing changes for existing
  publishers, no message lost at start), then the node looks at the graph every
  :data:`GRAPH_POLL_PERIOD` seconds and switches when the publishers of the topic are of the
  other type only, so a publisher that appears later, of either type, is followed. While
  publishers of both types exist it keeps the type it has and says once that the other's
  messages are not received. A stamped command's header is not used: commands are aged by
  their receive time, as before.

Pure: decisions on type-name strings; the node (``h2o_robot_bridge.nodes.cmd_vel``) queries the
graph and creates the subscriptions.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from h2o_robot_bridge.errors import ConfigError

TWIST = "geometry_msgs/msg/Twist"
TWIST_STAMPED = "geometry_msgs/msg/TwistStamped"
CMD_VEL_TYPES: dict[str, str] = {"twist": TWIST, "twist_stamped": TWIST_STAMPED}
"""``cmd_vel_type`` values that fix the type -> the ROS type name."""
AUTO = "auto"
CMD_VEL_MODES: tuple[str, ...] = (AUTO, *CMD_VEL_TYPES)
CMD_VEL_TYPE_PARAMETER = "cmd_vel_type"
DEFAULT_CMD_VEL_TYPE = AUTO
GRAPH_POLL_PERIOD = 0.5
"""Wall seconds between two looks at the graph in ``auto`` (a few hundred microseconds each)."""


def parse_cmd_vel_type(value: object) -> str:
    """Validate a ``cmd_vel_type`` parameter value.

    Raises:
        ConfigError: not one of :data:`CMD_VEL_MODES`.
    """
    if not isinstance(value, str) or value.strip() not in CMD_VEL_MODES:
        raise ConfigError(
            f"{CMD_VEL_TYPE_PARAMETER} must be one of {list(CMD_VEL_MODES)}, got {value!r}"
        )
    return value.strip()


@dataclass(frozen=True)
class CmdVelChoice:
    """What to subscribe now.

    Attributes:
        type_name: the ROS type name to be subscribed with (the current one: keep it).
        note: something worth one warning (publishers the node cannot hear), else None.
    """

    type_name: str
    note: str | None = None


def initial_type(mode: str) -> str:
    """The type subscribed at start: the fixed one, or ``Twist`` for ``auto``."""
    return CMD_VEL_TYPES.get(mode, TWIST)


def choose_cmd_vel_type(mode: str, current: str, published: Iterable[str]) -> CmdVelChoice:
    """The type to subscribe, given the types of the topic's publishers now on the graph.

    Args:
        mode: a value of :data:`CMD_VEL_MODES`.
        current: the type subscribed now.
        published: type names of the topic's publishers (one entry per publisher).
    """
    types = set(published)
    unknown = sorted(types - set(CMD_VEL_TYPES.values()))
    note = f"cmd_vel publishers of unsupported types {unknown} are ignored" if unknown else None
    if mode != AUTO:
        fixed = CMD_VEL_TYPES[mode]
        unheard = sorted(types & set(CMD_VEL_TYPES.values()) - {fixed})
        if unheard:
            note = f"cmd_vel_type is {mode}: publishers of {unheard[0]} are not heard"
        return CmdVelChoice(fixed, note)
    other = TWIST_STAMPED if current == TWIST else TWIST
    if other not in types:
        return CmdVelChoice(current, note)  # no publisher, or ours: keep (no churn)
    if current in types:
        return CmdVelChoice(current, f"cmd_vel has publishers of both types: {other} not heard")
    return CmdVelChoice(other, note)
