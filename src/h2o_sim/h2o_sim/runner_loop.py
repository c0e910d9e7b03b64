"""The deployed control loop in-process: the deploy runner's core driving the simulator.

One tick, exactly as ``policy_runner`` on the ``wheel_legged_sim`` node over DDS (with the
command of a sample acting from the next physics step, the loop's measured behaviour with the
``sensors`` trigger)::

    readings R_k (sim time t_k) -> PolicyRunner.on_joint_state / on_imu (received at t_k)
      -> PolicyRunner.tick(t_k): guards, observation, policy, shaping, joint command
      -> the sim node's conversion (contract command_to_action, clip) -> WheelLeggedSim.step
         (the profile's actuation delay, physics) -> R_{k+1}

No ROS, no wall clock: the runner's clock is the sim clock (monotone across resets), so the
watchdog sees every sample fresh, and a run is bit-reproducible. Evaluation (``h2o-eval``, the
trainer, the demo) uses it so that "eval return" means "what the runner will do".
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from h2o_robot_bridge.contract import clip_action, command_to_action
from h2o_robot_bridge.deploy.runner import PolicyRunner, TickResult
from h2o_sim.simulator import SensorReadings, WheelLeggedSim


class LoopTick(NamedTuple):
    """One tick of the loop.

    Attributes:
        result: what the runner decided from the readings of this tick.
        readings: the readings after the simulator ran the period with that command.
    """

    result: TickResult
    readings: SensorReadings


class RunnerLoop:
    """A :class:`PolicyRunner` and a :class:`WheelLeggedSim`, ticked together.

    Args:
        runner: the runner core (policy, guards, shaping), as the deploy node builds it.
        sim: the simulated robot (its profile holds the actuation delay).
        command: task command sent as ``/cmd_vel`` every tick (v [m/s], yaw rate [rad/s]);
            None: none (the runner uses the task's default command).
    """

    def __init__(
        self, runner: PolicyRunner, sim: WheelLeggedSim, command: ArrayLike | None = None
    ) -> None:
        if runner.config.safety.control_hz != sim.timing.control_hz:
            raise ValueError(
                f"runner ticks at {runner.config.safety.control_hz} Hz, the sim at "
                f"{sim.timing.control_hz} Hz"
            )
        self.runner, self.sim = runner, sim
        self.command = None if command is None else np.asarray(command, dtype=np.float64)
        self.clock = 0.0  # the runner's clock [s]: sim time, monotone across resets
        self.readings = sim.readings

    @property
    def task_command(self) -> NDArray[np.float64]:
        """The task command in the observation (v [m/s], yaw rate [rad/s])."""
        return self.runner.default_command if self.command is None else self.command

    def reset(self, seed: int | None = None) -> SensorReadings:
        """New episode: reset the robot, release the runner's tilt latch once the upright
        readings are in (as the demo's supervisor does after a fall: ``~/release``), restart
        it (the policy fades in again)."""
        self.clock += self.sim.timing.control_dt  # a reset takes one period, as on the node
        self.readings = self.sim.reset(seed=seed)
        self._feed(self.clock)
        ok, message = self.runner.release()
        if not ok:
            raise RuntimeError(f"runner latch not released after a reset: {message}")
        self.runner.restart()
        return self.readings

    def _feed(self, now: float) -> None:
        snapshot = self.readings.snapshot()
        self.runner.on_joint_state(snapshot.joints, now)
        self.runner.on_imu(snapshot.imu, now)
        if self.command is not None:
            self.runner.on_command(self.command, now)

    def tick(self) -> LoopTick:
        """Feed the latest readings, tick the runner, step the simulator with its command."""
        self._feed(self.clock)
        result = self.runner.tick(self.clock)
        # What the sim node does with the /joint_commands message it receives.
        self.readings = self.sim.step(clip_action(command_to_action(result.command)))
        self.clock += self.sim.timing.control_dt
        return LoopTick(result, self.readings)
