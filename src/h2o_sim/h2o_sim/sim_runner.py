"""The sim node's core (no rclpy): one simulator, the held command, and a monotone sim clock.

The node only converts messages and calls :meth:`SimRunner.on_command`,
:meth:`SimRunner.step`, :meth:`SimRunner.reset` and :meth:`SimRunner.set_param`.

Command semantics (the robot driver's, which the sim imitates):
- a valid ``/joint_commands`` message (legs: ``position``, wheels: ``effort``, contract order by
  name) is converted with the contract's ``command_to_action``, clipped to [-1, 1] and held
  until the next one;
- a malformed message (a joint missing, wrong array length) or a non-finite value makes the
  runner hold the contract's ``SAFE_ACTION`` (legs at default, wheels zero torque) until a valid
  command arrives; the caller gets the reason to log;
- before the first command, after a reset, and when no valid command came for
  ``command_timeout`` sim seconds, the safe action is applied too.

The clock (``stamp``) starts at 0 and never goes back: a reset restarts the simulator's own time
at 0, so the runner keeps an offset and skips one control period at each reset.

Lockstep (``config.lockstep``): a command *answers* the current sample (the one of
:attr:`SimRunner.last`) when its header stamp is at or after that sample's stamp (a commander
stamps a command with the sample it was computed from). Only the first valid answer per sample
is taken: older commands and further answers to the same sample (e.g. to a republished sample)
are ignored and counted, so one tick never applies two commands. :attr:`SimRunner.answered`
tells the node's lockstep loop (:class:`h2o_sim.pacing.LockstepGate`) that it may step.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from h2o_robot_bridge.contract import JOINT_NAMES, SAFE_ACTION, clip_action, command_to_action
from h2o_robot_bridge.conversions.from_msg import (
    MessageError,
    joint_command_from_msg,
    sec_to_stamp_fields,
)
from h2o_sim.node_config import SimNodeConfig
from h2o_sim.simulator import SensorReadings, WheelLeggedSim


class SimTick(NamedTuple):
    """The state after a step or reset.

    Attributes:
        stamp: sim clock [s], monotone across resets (``/clock`` and message stamps).
        readings: simulated sensor readings.
        action: (6,) clean action applied during the period that ended here (safe at reset).
        note: something the node should log (a command timeout), else ``None``.
    """

    stamp: float
    readings: SensorReadings
    action: NDArray[np.float64]
    note: str | None = None


class SimRunner:
    """Steps a :class:`WheelLeggedSim` with the latest valid command."""

    def __init__(self, config: SimNodeConfig) -> None:
        self.config = config
        self.sim = WheelLeggedSim(config.profile, config.timing, seed=config.seed, gui=config.gui)
        self.command_timeout = config.command_timeout
        self._offset = 0.0
        self._action = SAFE_ACTION.copy()
        self._last_command: float | None = None
        self._timed_out = False
        self._answered = False
        self.ignored_commands = 0
        self.last = SimTick(0.0, self.sim.reset(seed=config.seed), self._action.copy())

    @property
    def clock(self) -> float:
        """Sim clock [s] (monotone; see module docstring)."""
        return self._offset + self.sim.time

    @property
    def action(self) -> NDArray[np.float64]:
        """(6,) the action that the next step applies."""
        return self._action.copy()

    @property
    def answered(self) -> bool:
        """Lockstep: a valid command answering the current sample is held (step now)."""
        return self._answered

    def on_command(self, msg: Any) -> str | None:
        """Take a ``sensor_msgs/JointState`` command (duck-typed).

        Returns:
            ``None`` if accepted (or, in lockstep, ignored as not answering the current
            sample), else why it was refused (the safe action is now held).
        """
        if self.config.lockstep and (self._answered or not self._answers(msg)):
            self.ignored_commands += 1
            return None
        try:
            action = command_to_action(joint_command_from_msg(msg))
        except MessageError as err:
            return self._refuse(f"malformed joint command ({err})")
        bad = ~np.isfinite(action)
        if bad.any():
            names = [JOINT_NAMES[i] for i in np.flatnonzero(bad)]
            return self._refuse(f"non-finite or missing joint command for {names}")
        self._action = clip_action(action)
        self._last_command = self.clock
        self._timed_out = False
        self._answered = self.config.lockstep
        return None

    def _answers(self, msg: Any) -> bool:
        """The command's stamp is at or after the current sample's (integer ns: exact)."""
        sec, nanosec = sec_to_stamp_fields(self.last.stamp)  # as the node stamps the sample
        stamp = msg.header.stamp
        return int(stamp.sec) * 10**9 + int(stamp.nanosec) >= sec * 10**9 + nanosec

    def _refuse(self, reason: str) -> str:
        self._action = SAFE_ACTION.copy()
        self._last_command = None
        return reason + ": holding the safe action (legs default, wheels zero torque)"

    def step(self) -> SimTick:
        """Advance one control period with the held action."""
        note = self._check_timeout()
        action = self._action.copy()
        readings = self.sim.step(action)
        self.last = SimTick(self.clock, readings, action, note)
        self._answered = False
        return self.last

    def _check_timeout(self) -> str | None:
        if self.command_timeout <= 0 or self._last_command is None or self._timed_out:
            return None
        age = self.clock - self._last_command
        if age < self.command_timeout - 1e-9:
            return None
        self._timed_out = True
        self._action = SAFE_ACTION.copy()
        return f"no valid joint command for {age:.3f} s (command_timeout): holding the safe action"

    def reset(self, seed: int | None = None) -> SimTick:
        """Reset the robot (small randomised initial state); the held command is dropped."""
        self._offset = self.clock + self.config.timing.control_dt
        readings = self.sim.reset(seed=seed)
        self._action = SAFE_ACTION.copy()
        self._last_command = None
        self._timed_out = False
        self._answered = False
        self.last = SimTick(self.clock, readings, self._action.copy())
        return self.last

    def set_param(self, name: str, value: Any) -> None:
        """Change a dynamics knob at run time (the simulator validates it).

        Raises:
            ConfigError: unknown knob, bad value, or not changeable while running.
        """
        self.sim.set_param(name, value)

    def close(self) -> None:
        """Release the physics client."""
        self.sim.close()
