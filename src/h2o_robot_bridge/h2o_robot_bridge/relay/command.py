"""``/joint_commands`` -> two ros2_control forward-command controllers, with a watchdog.

The stack commands the robot with ``/joint_commands`` (``sensor_msgs/JointState``, contract
names and order: leg targets in ``position``, wheel torques in ``effort``, NaN where a field
does not apply). A ros2_control robot takes commands per controller instead: a
``forward_command_controller/ForwardCommandController`` subscribes ``<controller>/commands``
(``std_msgs/Float64MultiArray``, one value per joint, in the order of its ``joints``
parameter). :class:`CommandRelay` turns one into the other: leg positions [rad] to the leg
position controller, wheel efforts [N m] to the wheel effort controller, each in that
controller's joint order.

Watchdog and stop. A forward-command controller writes its last command on every update until
a new one arrives (a message of the wrong length is dropped by it), so a dead or hung runner
would leave its last wheel torque applied for ever. The relay therefore sends the stack's
controlled stop (:class:`~h2o_robot_bridge.deploy.levels.ControlledStop`, the runner's own
stop, ``stop_crouch`` / ``stop_crouch_time`` as the runner's) when

- no valid command arrived for ``timeout`` seconds (checked ``rate`` times a second), or
- a command is unusable: malformed (a contract joint missing or named twice, arrays of the
  wrong length), non-finite where it applies (NaN or inf in a leg position or wheel effort),
  or outside the contract's limits (the runner's last gate,
  :func:`~h2o_robot_bridge.deploy.safety.check_command`). Such a command is never
  forwarded: the stop goes out in its place, counted by cause.

The stop: wheels 0 N m (the relay has no wheel speed, so no damping: as the runner's stop with
stale joint states); legs move from the last forwarded targets (the default pose if none was)
to the stop's crouch at the stop's pace (one step per watchdog check) and then hold it. While
stopped, the stop is published on every watchdog check (``rate`` Hz, also after the crouch is
reached: a controller restarted meanwhile starts with no command and must get it again). The
first valid command resumes forwarding at once; the runner fades its own output in after its
faults, but not from where the relay's stop left the legs (a jump of at most the stop's pace
times the outage). Before the first command of any kind nothing is published (the controllers
hold no command, so nothing moves); at exit (SIGINT, SIGTERM) the relay publishes one last stop
if any command ever arrived. A relay killed outright cannot: then the controllers hold the last
command, so also set the hardware's own command timeout if it has one.

How to connect to ros2_control
------------------------------
1. Load the controllers of ``config/bridge/ros2_controllers.example.yaml`` in the robot's
   controller manager: ``joint_state_broadcaster``, ``leg_position_controller`` (the four
   hip/knee joints, ``interface_name: position``) and ``wheel_effort_controller`` (the two
   wheels, ``interface_name: effort``); put the robot's joint names in their ``joints``.
2. Give the relay the same names in the same order (``config/bridge/command_relay.yaml``):
   ``leg_joints`` and ``wheel_joints`` are the two controllers' ``joints`` parameters,
   ``joint_map`` says which contract joint each robot joint is (``"robot:contract"``). If the
   controllers have other names, set ``leg_controller`` / ``wheel_controller``.
3. Start the runner as usual (it publishes ``/joint_commands``) and ``command_relay`` next to
   it; nothing else publishes to the two controllers' topics.
4. Sensor side: ``joint_state_broadcaster`` publishes ``/joint_states`` with the robot's names
   (any order, extra joints: both fine for the stack). Only if the robot's names differ from
   the contract's, set ``relay_joint_states: true``: the relay republishes them with contract
   names, in contract order (header kept) on ``joint_states_topic``; point the runner's and
   the recorder's ``joint_states_topic`` there too (e.g. ``/h2o/joint_states``), and leave
   ``/joint_states`` to robot_state_publisher, which needs the robot's names.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from h2o_robot_bridge.contract import (
    SAFE_ACTION,
    JointCommand,
    action_to_command,
    command_to_action,
    robot,
)
from h2o_robot_bridge.conversions.from_msg import MessageError, joint_command_from_msg
from h2o_robot_bridge.deploy.levels import ControlledStop
from h2o_robot_bridge.deploy.safety import UnsafeCommandError, check_command
from h2o_robot_bridge.relay.config import RelayConfig

DECODE_ERRORS = (MessageError, AttributeError, TypeError, ValueError)
"""What decoding a malformed message can raise (each is a stop, counted as ``malformed``)."""
BAD_CAUSES = ("malformed", "non_finite", "out_of_limits")

_LEGS = list(robot.LEG_JOINT_IDS)
_WHEELS = list(robot.WHEEL_JOINT_IDS)
_IS_LEG = np.isin(np.arange(robot.NUM_JOINTS), _LEGS)


class ControllerCommands(NamedTuple):
    """One message for each controller.

    Attributes:
        leg: (len(leg_joints),) position targets [rad], in the leg controller's joint order.
        wheel: (len(wheel_joints),) efforts [N m], in the wheel controller's joint order.
        stop: True when this is the stop (not a forwarded command).
    """

    leg: NDArray[np.float64]
    wheel: NDArray[np.float64]
    stop: bool


class Step(NamedTuple):
    """What the relay does on one input (a command, a watchdog check).

    Attributes:
        commands: what to publish now (None: nothing).
        event: ``forward`` (a command forwarded), ``stop`` (the stop began), ``resume``
            (forwarding again after a stop), ``bad`` (an unusable command while stopped
            already), ``""`` (nothing new: a stop tick, or nothing to do).
        message: what happened, for the log ("" with ``forward`` and ``""``).
    """

    commands: ControllerCommands | None
    event: str = ""
    message: str = ""


class CommandRelay:
    """The relay's state: the last forwarded command, the watchdog, the stop, counters.

    Args:
        config: validated parameters.

    Times (``now``) are seconds on one monotonic clock (the node uses the wall-clock monotonic
    time: the watchdog must not depend on a simulated clock).
    """

    def __init__(self, config: RelayConfig) -> None:
        self.config = config
        self._leg_index = config.joints.leg_index
        self._wheel_index = config.joints.wheel_index
        self._stop = ControlledStop(config.stop, config.rate)  # one stop step per check
        self._last = SAFE_ACTION.copy()  # last output (ACTION_DIM,), contract action units
        self._last_valid: float | None = None  # receive time of the last valid command [s]
        self.armed = False
        """Whether any command arrived (before, the watchdog has nothing to guard)."""
        self.stopped = False
        self.stop_reason = ""
        self.counts: Counter[str] = Counter()
        """``forwarded``, ``timeout`` (stops begun by it), each of :data:`BAD_CAUSES` (bad
        commands), ``stop_messages`` (stops published)."""

    # --- inputs ---------------------------------------------------------------------------
    def on_command(self, msg: Any, now: float) -> Step:
        """A ``/joint_commands`` message received at ``now`` [s]: forward it, or the stop."""
        self.armed = True
        command, cause, detail = self._check(msg)
        if command is None:
            self.counts[cause] += 1
            reason = f"{cause.replace('_', ' ')} command: {detail}"
            if self.stopped:  # already stopping: repeat the current stop, do not advance it
                return Step(self._commands(self._last, stop=True), "bad", reason)
            return self._begin_stop(reason)
        resumed = self.stopped
        self.stopped, self._last_valid = False, now
        self._last = command_to_action(command)
        self.counts["forwarded"] += 1
        out = ControllerCommands(
            command.position[self._leg_index].copy(),
            command.effort[self._wheel_index].copy(),
            stop=False,
        )
        if resumed:
            return Step(
                out, "resume", f"valid commands again: forwarding (was: {self.stop_reason})"
            )
        return Step(out, "forward")

    def on_timer(self, now: float) -> Step:
        """The watchdog check at ``now`` [s] (``rate`` times a second): the next stop tick
        while stopped, the stop if the last valid command is older than ``timeout``."""
        if not self.armed:
            return Step(None)
        if self.stopped:
            return Step(self._stop_tick())
        assert self._last_valid is not None  # armed, not stopped: a valid command came
        age = now - self._last_valid
        if age > self.config.timeout:
            self.counts["timeout"] += 1
            return self._begin_stop(
                f"no valid command for {age * 1e3:.0f} ms (timeout "
                f"{self.config.timeout * 1e3:.0f} ms)"
            )
        return Step(None)

    def exit_commands(self) -> ControllerCommands | None:
        """The last message before the relay goes away: the stop (None if nothing was ever
        forwarded or stopped: the controllers never got a command)."""
        if not self.armed:
            return None
        return self._stop_tick() if not self.stopped else self._commands(self._last, True)

    # --- helpers --------------------------------------------------------------------------
    def _check(self, msg: Any) -> tuple[JointCommand | None, str, str]:
        """(command, "", "") for a usable command, else (None, cause, detail)."""
        try:
            command = joint_command_from_msg(msg)
        except DECODE_ERRORS as err:
            return None, "malformed", str(err)
        pos, eff = command.position, command.effort
        used = np.where(_IS_LEG, pos, eff)  # the value each joint's controller gets
        bad = [n for n, v in zip(robot.JOINT_NAMES, used, strict=True) if not np.isfinite(v)]
        if bad:
            # Lists, not numpy reprs (~30 us each): a bad stream comes at the command rate.
            detail = f"joints {bad} (positions {pos.tolist()}, efforts {eff.tolist()})"
            return None, "non_finite", detail
        # The runner's last gate, on the fields that are forwarded (the others are ignored,
        # so a source filling them with 0 instead of NaN is not refused for it).
        masked = JointCommand(np.where(_IS_LEG, pos, np.nan), np.where(_IS_LEG, np.nan, eff))
        try:
            check_command(masked)
        except UnsafeCommandError as err:
            return None, "out_of_limits", str(err)
        return command, "", ""

    def _begin_stop(self, reason: str) -> Step:
        self.stopped, self.stop_reason = True, reason
        return Step(self._stop_tick(), "stop", f"stop: {reason}")

    def _stop_tick(self) -> ControllerCommands:
        """Advance the stop one step from the last output and return it."""
        self._last = self._stop.action(self._last, None)  # None: no wheel speed -> 0 N m
        return self._commands(self._last, stop=True)

    def _commands(self, action: NDArray[np.float64], stop: bool) -> ControllerCommands:
        if stop:
            self.counts["stop_messages"] += 1
        command = action_to_command(action)
        return ControllerCommands(
            command.position[self._leg_index], command.effort[self._wheel_index], stop
        )
