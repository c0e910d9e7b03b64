"""A ``cmd_vel`` subscription that takes ``Twist`` or ``TwistStamped`` (``cmd_vel_type``).

Shared by ``policy_runner`` and ``dataset_recorder``; the decisions are in
:mod:`h2o_robot_bridge.conversions.cmd_vel`, the decoding in
:func:`~h2o_robot_bridge.conversions.from_msg.cmd_vel_to_command` (both types give the same
task command array), so the nodes' pure cores never see the message type.
"""

from __future__ import annotations

from collections.abc import Callable

from geometry_msgs.msg import Twist, TwistStamped
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from rclpy.qos import QoSProfile
from rclpy.subscription import Subscription
from rclpy.timer import Timer

from h2o_robot_bridge.conversions.cmd_vel import (
    AUTO,
    CMD_VEL_MODES,
    CMD_VEL_TYPE_PARAMETER,
    DEFAULT_CMD_VEL_TYPE,
    GRAPH_POLL_PERIOD,
    TWIST,
    TWIST_STAMPED,
    choose_cmd_vel_type,
    initial_type,
    parse_cmd_vel_type,
)

MESSAGE_TYPES: dict[str, type] = {TWIST: Twist, TWIST_STAMPED: TwistStamped}
RETRY_PERIOD = 0.02
"""Wall seconds between attempts to create the new subscription during a switch."""


class CmdVelSubscription:
    """One subscription of ``topic``, of the type ``mode`` asks for (``auto``: the type the
    topic's publishers have, looked up every :data:`GRAPH_POLL_PERIOD` wall seconds).

    ``callback`` receives the message as rclpy delivers it (with the ``MessageInfo`` argument
    when its signature asks for one); decode it with ``cmd_vel_to_command``.

    A switch destroys the old subscription first: one participant cannot hold a topic with two
    types (the middleware refuses the second). rclpy destroys a subscription only once the
    executor lets go of it, i.e. after the callback that asked, so the new one is created by a
    retry timer (every :data:`RETRY_PERIOD` s) as soon as the old topic is gone.
    """

    def __init__(
        self,
        node: Node,
        topic: str,
        mode: str,
        callback: Callable[..., None],
        qos: QoSProfile | int = 10,
    ) -> None:
        self._node, self._topic, self._mode = node, topic, mode
        self._callback, self._qos = callback, qos
        # The graph lists fully qualified names: apply the node's namespace and remappings.
        self._resolved = node.resolve_topic_name(topic)
        self._subscription: Subscription | None = None
        self._noted: set[str] = set()
        self.type_name = initial_type(mode)
        """The type subscribed (or, during a switch, about to be)."""
        self._pending = False  # switching: the new subscription is not created yet
        self._subscription = self._create(self.type_name)
        self._timers: list[Timer] = []
        if mode == AUTO:
            # Steady clock: with use_sim_time a ROS-time timer would stop when /clock does.
            steady = Clock(clock_type=ClockType.STEADY_TIME)
            self._timers.append(node.create_timer(GRAPH_POLL_PERIOD, self.poll, clock=steady))
            self._retry = node.create_timer(RETRY_PERIOD, self._finish_switch, clock=steady)
            self._retry.cancel()  # runs only during a switch
            self._timers.append(self._retry)
        node.get_logger().info(f"{self._resolved}: {self.type_name} (cmd_vel_type {mode})")

    def poll(self) -> None:
        """Look at the topic's publishers and follow their type if ``auto`` says so."""
        if self._pending:
            return
        infos = self._node.get_publishers_info_by_topic(self._resolved)
        choice = choose_cmd_vel_type(self._mode, self.type_name, [i.topic_type for i in infos])
        if choice.note and choice.note not in self._noted:  # once each: polled twice a second
            self._noted.add(choice.note)
            self._node.get_logger().warning(choice.note)
        if choice.type_name == self.type_name:
            return
        self._node.get_logger().info(
            f"{self._resolved}: switching to {choice.type_name}, the type of its publishers "
            f"(was {self.type_name})"
        )
        self._destroy_subscription()
        self.type_name, self._pending = choice.type_name, True
        self._retry.reset()

    def _finish_switch(self) -> None:
        try:
            self._subscription = self._create(self.type_name)
        except RuntimeError:  # rclpy's RCLError: the old type's topic still exists; retry
            return
        self._pending = False
        self._retry.cancel()
        self._node.get_logger().info(f"{self._resolved}: now {self.type_name}")

    def _create(self, type_name: str) -> Subscription:
        return self._node.create_subscription(
            MESSAGE_TYPES[type_name], self._topic, self._callback, self._qos
        )

    def _destroy_subscription(self) -> None:
        if self._subscription is not None:
            self._node.destroy_subscription(self._subscription)
            self._subscription = None

    def destroy(self) -> None:
        """Remove the subscription and the timers (lifecycle cleanup)."""
        for timer in self._timers:
            self._node.destroy_timer(timer)
        self._timers = []
        self._pending = False
        self._destroy_subscription()


def declare_cmd_vel_type(node: Node) -> None:
    """Declare the ``cmd_vel_type`` parameter (any type: :func:`read_cmd_vel_type` checks)."""
    described = ParameterDescriptor(
        dynamic_typing=True, description=f"cmd_vel message type: one of {list(CMD_VEL_MODES)}"
    )
    node.declare_parameter(CMD_VEL_TYPE_PARAMETER, DEFAULT_CMD_VEL_TYPE, described)


def read_cmd_vel_type(node: Node) -> str:
    """The validated ``cmd_vel_type`` (declared before).

    Raises:
        ConfigError: not one of the modes.
    """
    return parse_cmd_vel_type(node.get_parameter(CMD_VEL_TYPE_PARAMETER).value)
