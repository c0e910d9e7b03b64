"""The policy runner core (no ROS): latest readings -> observation -> policy -> safe command.

The deploy node feeds it decoded messages with their receive times and calls :meth:`tick` at
the control rate; everything that decides what the robot gets happens here, testable without
spinning a node. One tick:

1. latched (e-stop, tilt)?            -> safe action
2. joint state / IMU missing or stale? -> safe action (watchdog, per-input max age)
3. observation through the contract (task command: the latest ``/cmd_vel`` if younger than
   ``command_max_age``, else the task's default command; the previous action is the last
   emitted one); non-finite              -> safe action
4. tilt above the limit               -> latch, safe action
5. policy action; an exception or a non-finite value -> safe action
6. clip, fade in, rate limit, per tick (:class:`~h2o_robot_bridge.deploy.shaping.ActionShaper`)
7. contract scaling to joint targets, then :func:`~.safety.check_command` (the last gate).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, NamedTuple, TypeVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

from h2o_robot_bridge.contract import (
    ACTION_DIM,
    OBS_SLICES,
    JointCommand,
    action_to_command,
    get_task,
    tilt_from_projected_gravity,
)
from h2o_robot_bridge.contract.sensors import (
    NAN_IMU,
    NAN_JOINTS,
    ImuReading,
    JointReading,
    SensorSnapshot,
    observation_from_snapshot,
)
from h2o_robot_bridge.deploy.safety import (
    SAFE_COMMAND,
    SafetyConfig,
    SafetyLayer,
    UnsafeCommandError,
    check_command,
)
from h2o_robot_bridge.deploy.shaping import shaping_mismatch
from h2o_robot_bridge.errors import ConfigError
from h2o_robot_bridge.policy import Policy


@dataclass(frozen=True)
class RunnerConfig:
    """Runner settings beyond the guards.

    Attributes:
        safety: guard thresholds.
        command_max_age: a ``/cmd_vel`` older than this [s] falls back to the task's default
            command (stop moving); it never trips the safe action by itself.
    """

    safety: SafetyConfig = SafetyConfig()
    command_max_age: float = 0.5

    def __post_init__(self) -> None:
        if not (np.isfinite(self.command_max_age) and self.command_max_age > 0):
            raise ConfigError(f"command_max_age must be > 0 s, got {self.command_max_age!r}")


class TickResult(NamedTuple):
    """What one tick produced.

    Attributes:
        command: joint targets to publish (legs [rad], wheels [N m], NaN where n/a).
        action: the emitted action (ACTION_DIM,) in [-1, 1].
        safe: True when the safe action is out.
        reason: why the safe action is out ("" when the policy commands).
        guard: the guard behind ``reason`` (e.g. ``stale_imu``, ``tilt``; "" when none).
        sensor_receipt: receive time of the newest sensor reading used [s] (None: none yet).
        observation: the observation (OBS_DIM,) the tick was computed from, None when an input
            was missing or stale (its ``prev_action`` is the previous tick's ``action``).
    """

    command: JointCommand
    action: NDArray[np.float64]
    safe: bool
    reason: str
    guard: str
    sensor_receipt: float | None
    observation: NDArray[np.float32] | None = None


_T = TypeVar("_T")


@dataclass(frozen=True)
class _Latest(Generic[_T]):
    """The latest value of one input and its receive time [s]."""

    value: _T
    time: float


class PolicyRunner:
    """Runs one policy over the robot contract with the safety layer.

    Args:
        policy: any :class:`~h2o_robot_bridge.policy.Policy` (ONNX or classical).
        config: runner and guard settings.
    """

    def __init__(self, policy: Policy, config: RunnerConfig | None = None) -> None:
        self.policy = policy
        self.config = config or RunnerConfig()
        self.safety = SafetyLayer(self.config.safety)
        trained = (getattr(policy, "metadata", None) or {}).get("extra", {}).get("shaping")
        self.shaping_warning = shaping_mismatch(trained, self.config.safety.shaping)
        """Set when the policy's training shaping differs from this runner's (log it)."""
        self.default_command = np.asarray(get_task(policy.task).command, dtype=np.float64)
        self._joints: _Latest[JointReading] | None = None
        self._imu: _Latest[ImuReading] | None = None
        self._command: _Latest[NDArray[np.float64]] | None = None
        self.last_reason = ""

    # Inputs: store with receive time; decoding errors are the caller's (the node's) to log.
    def on_joint_state(self, reading: JointReading, now: float) -> None:
        """Latest joint state (contract order) received at ``now`` [s]."""
        self._joints = _Latest(reading, now)

    def on_imu(self, reading: ImuReading, now: float) -> None:
        """Latest IMU sample received at ``now`` [s]."""
        self._imu = _Latest(reading, now)

    def on_command(self, command: ArrayLike, now: float) -> None:
        """Task command (forward speed [m/s], yaw rate [rad/s]) received at ``now`` [s]."""
        self._command = _Latest(np.asarray(command, dtype=np.float64).reshape(2), now)

    def on_estop(self, asserted: bool) -> None:
        """E-stop message: true latches the safe action; false allows :meth:`release`."""
        self.safety.set_estop(asserted)

    def restart(self) -> None:
        """Start afresh as at start-up (new episode): safe action out, the policy fades in
        from the next tick, its internal state reset; latches and inputs are kept."""
        self.safety.shaper.reset()
        self.policy.reset()

    def release(self) -> tuple[bool, str]:
        """Clear a latch if the e-stop is released and the latest tilt is under the limit."""
        return self.safety.release(self.current_tilt())

    def current_tilt(self) -> float | None:
        """Base tilt [rad] from the latest IMU orientation (None before any IMU)."""
        if self._imu is None:
            return None
        obs = self._observation(self._imu.time)
        return float(tilt_from_projected_gravity(obs[OBS_SLICES["projected_gravity"]]))

    @property
    def latched(self) -> str | None:
        """The active latch (``"estop"``, ``"tilt"``) or None."""
        return self.safety.latched

    def tick(self, now: float) -> TickResult:
        """One control step at time ``now`` [s] (same clock as the receive times)."""
        receipt = self._newest_receipt()
        reason, guard = self._input_fault(now)
        action, obs = None, None
        if not reason:
            obs = self._observation(now)
            reason, guard, action = self._evaluate(obs)
        if reason:
            emitted = self.safety.safe(guard)
        else:
            assert action is not None  # _evaluate gives an action exactly when reason is ""
            emitted = self.safety.shape(action)
        command = action_to_command(emitted)
        try:
            check_command(command)
        except UnsafeCommandError as err:  # unreachable by construction; never forwarded
            reason, guard = f"internal: {err}", "internal"
            emitted, command = self.safety.safe(guard), SAFE_COMMAND
        self.last_reason = reason
        return TickResult(command, emitted.copy(), bool(reason), reason, guard, receipt, obs)

    def _newest_receipt(self) -> float | None:
        times = [x.time for x in (self._joints, self._imu) if x is not None]
        return max(times) if times else None

    def _input_fault(self, now: float) -> tuple[str, str]:
        """(reason, guard) when latched or an input is missing/stale, else ("", "")."""
        if self.safety.latched == "estop":
            return "e-stop latched (release: estop false, then the release service)", "estop"
        if self.safety.latched == "tilt":
            return "tilt cut-off latched (release service once upright)", "tilt"
        cfg = self.config.safety
        for name, latest, max_age in (
            ("joint_states", self._joints, cfg.joint_state_max_age),
            ("imu", self._imu, cfg.imu_max_age),
        ):
            if latest is None:
                return f"waiting for {name}", f"stale_{name}"
            age = now - latest.time
            if age > max_age:
                return f"{name} stale ({age * 1e3:.1f} ms > {max_age * 1e3:.1f} ms)", (
                    f"stale_{name}"
                )
        return "", ""

    def _observation(self, now: float) -> NDArray[np.float32]:
        snapshot = SensorSnapshot(
            self._imu.value if self._imu else NAN_IMU,
            self._joints.value if self._joints else NAN_JOINTS,
        )
        command = self.default_command
        if self._command is not None and now - self._command.time <= self.config.command_max_age:
            command = self._command.value
        return observation_from_snapshot(snapshot, command, self.safety.last_output)

    def _evaluate(self, obs: NDArray[np.float32]) -> tuple[str, str, NDArray[np.float64] | None]:
        """(reason, guard, action): a fault reason or the policy's finite action."""
        if not np.isfinite(obs).all():
            bad = [k for k, s in OBS_SLICES.items() if not np.all(np.isfinite(obs[s]))]
            return f"non-finite observation in {bad}", "nonfinite_obs", None
        tilt = float(tilt_from_projected_gravity(obs[OBS_SLICES["projected_gravity"]]))
        if tilt > self.config.safety.tilt_limit:
            return self.safety.latch_tilt(tilt), "tilt", None
        try:
            if self.safety.is_safe:  # resuming: integrators and filters start afresh
                self.policy.reset()
            action = np.asarray(self.policy.act(obs), dtype=np.float64).reshape(ACTION_DIM)
        except Exception as err:  # a policy bug must not stop the safety layer
            return f"policy error: {err!r}", "policy_error", None
        if not np.isfinite(action).all():
            return "non-finite policy action", "nonfinite_action", None
        return "", "", action

