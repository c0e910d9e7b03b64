"""The policy runner core (no ROS): latest readings -> observation -> policy -> safe command.

The deploy node feeds it decoded messages with their receive times and calls :meth:`tick` at
the control rate; everything that decides what the robot gets happens here, testable without
spinning a node. Inputs are validated on the way in (:mod:`h2o_robot_bridge.deploy.inputs`): a
bad reading is dropped and counted and never replaces a good one. One tick:

1. e-stop or hard tilt latched, e-stop heartbeat lost -> controlled stop
2. joint state / IMU missing (start-up: safe action) or stale (watchdog, per-input max age)
                                          -> controlled stop
3. observation through the contract (task command: the latest ``/cmd_vel`` if younger than
   ``command_max_age``, else the task's default command; the previous action is the last
   emitted one); non-finite              -> controlled stop
4. tilt above the hard limit            -> latch, controlled stop
5. policy action; an exception, a non-finite or out-of-envelope value, repeated compute
   deadline misses, or the tilt above the soft limit -> the fallback controller takes over
   (no fallback: controlled stop) and keeps the robot up until asked to hand back
6. clip, fade in, rate limit, per tick (:class:`~h2o_robot_bridge.deploy.shaping.ActionShaper`)
7. contract scaling to joint targets, then :func:`~.safety.check_command` (the last gate).

The levels and what they do to the robot: :mod:`h2o_robot_bridge.deploy.levels`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Generic, NamedTuple, TypeVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

from h2o_robot_bridge.contract import (
    ACTION_DIM,
    OBS_SLICES,
    JointCommand,
    action_to_command,
    get_task,
    robot,
    tilt_from_projected_gravity,
    trained_commands,
)
from h2o_robot_bridge.contract.sensors import (
    NAN_IMU,
    NAN_JOINTS,
    ImuReading,
    JointReading,
    SensorSnapshot,
    observation_from_snapshot,
)
from h2o_robot_bridge.deploy.inputs import (
    InputLog,
    clamp_command,
    imu_reading_fault,
    joint_reading_fault,
)
from h2o_robot_bridge.deploy.levels import ControlledStop, FallbackConfig, StopConfig
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

_WHEELS = list(robot.WHEEL_JOINT_IDS)


@dataclass(frozen=True)
class RunnerConfig:
    """Runner settings beyond the guards.

    Attributes:
        safety: guard thresholds.
        command_max_age: a ``/cmd_vel`` older than this [s] falls back to the task's default
            command (stop moving); it never trips a guard by itself.
        fallback: when the fallback controller takes over and hands back.
        stop: the controlled stop.
    """

    safety: SafetyConfig = SafetyConfig()
    command_max_age: float = 0.5
    fallback: FallbackConfig = field(default_factory=FallbackConfig)
    stop: StopConfig = field(default_factory=StopConfig)

    def __post_init__(self) -> None:
        if not (np.isfinite(self.command_max_age) and self.command_max_age > 0):
            raise ConfigError(f"command_max_age must be > 0 s, got {self.command_max_age!r}")
        if self.fallback.enabled and self.fallback.tilt >= self.safety.tilt_limit:
            raise ConfigError(
                f"fallback tilt {self.fallback.tilt} rad must be under the hard tilt_limit "
                f"{self.safety.tilt_limit} rad"
            )


class TickResult(NamedTuple):
    """What one tick produced.

    Attributes:
        command: joint targets to publish (legs [rad], wheels [N m], NaN where n/a).
        action: the emitted action (ACTION_DIM,) in [-1, 1].
        safe: True when the policy is not in command (fallback, stop or waiting).
        reason: why not ("" when the policy commands).
        guard: the guard behind ``reason`` (e.g. ``stale_imu``, ``tilt``,
            ``fallback.nonfinite_action``; "" when none).
        sensor_receipt: receive time of the newest sensor reading used [s] (None: none yet).
        observation: the observation (OBS_DIM,) the tick was computed from, None when an input
            was missing or stale (its ``prev_action`` is the previous tick's ``action``).
        level: ``waiting``, ``policy``, ``fallback`` or ``stop``
            (:mod:`h2o_robot_bridge.deploy.levels`).
    """

    command: JointCommand
    action: NDArray[np.float64]
    safe: bool
    reason: str
    guard: str
    sensor_receipt: float | None
    observation: NDArray[np.float32] | None = None
    level: str = "policy"


_T = TypeVar("_T")


@dataclass(frozen=True)
class _Latest(Generic[_T]):
    """The latest value of one input and its receive time [s]."""

    value: _T
    time: float


class PolicyRunner:
    """Runs one policy over the robot contract with the safety layer and its fallback.

    Args:
        policy: any :class:`~h2o_robot_bridge.policy.Policy` (ONNX or classical).
        config: runner and guard settings.
        fallback: the fallback controller (default: the classical controller, shipped gains,
            when ``config.fallback.controller`` is ``classical``).
    """

    def __init__(
        self, policy: Policy, config: RunnerConfig | None = None, fallback: Policy | None = None
    ) -> None:
        self.policy = policy
        self.config = config = config or RunnerConfig()
        self.safety = SafetyLayer(config.safety)
        metadata = getattr(policy, "metadata", None)
        trained = (metadata or {}).get("extra", {}).get("shaping")
        self.shaping_warning = shaping_mismatch(trained, config.safety.shaping)
        """Set when the policy's training shaping differs from this runner's (log it)."""
        self.trained_commands = trained_commands(metadata)
        """The commands the policy was trained on (None: not recorded)."""
        self.task = get_task(policy.task)
        self.default_command = np.asarray(self.task.command, dtype=np.float64)
        self.fallback = fallback if fallback is not None else _default_fallback(config, policy)
        self.stop = ControlledStop(config.stop, config.safety.control_hz)
        self.inputs = InputLog()
        self._joints: _Latest[JointReading] | None = None
        self._imu: _Latest[ImuReading] | None = None
        self._command: _Latest[NDArray[np.float64]] | None = None
        self.last_reason = ""
        self.level = "waiting"
        """The level of the last tick (:mod:`h2o_robot_bridge.deploy.levels`)."""
        self.controller = "policy"
        """Who commands outside a stop: ``policy`` or ``fallback``."""
        self.fallback_reason = ""
        self._fallback_cause = ""
        self.active = True
        self._misses = 0  # consecutive policy compute deadline misses
        self._estop_wait_until = -np.inf
        self._held_for_estop = False
        self._healthy_since: float | None = None

    # Inputs: validated, then stored with the receive time; a bad one never replaces a good one.
    def on_joint_state(self, reading: JointReading, now: float) -> str | None:
        """Latest joint state (contract order) received at ``now`` [s]; returns why it was
        dropped (None: stored)."""
        fault = joint_reading_fault(reading)
        if fault:
            self.inputs.drop("joint_states", "invalid", fault)
            return fault
        self._joints = _Latest(reading, now)
        return None

    def on_imu(self, reading: ImuReading, now: float) -> str | None:
        """Latest IMU sample received at ``now`` [s]; returns why it was dropped (None:
        stored)."""
        fault = imu_reading_fault(reading)
        if fault:
            self.inputs.drop("imu", "invalid", fault)
            return fault
        self._imu = _Latest(reading, now)
        return None

    def on_command(self, command: ArrayLike, now: float) -> str | None:
        """Task command (forward speed [m/s], yaw rate [rad/s]) received at ``now`` [s],
        clamped to the task's limits; returns why it was dropped or clamped (None: as sent)."""
        value, clamped = clamp_command(command, self.task.max_command)
        if value is None:
            self.inputs.drop("cmd_vel", "nonfinite", f"command {command!r}")
            return "non-finite command"
        self._command = _Latest(value, now)
        if clamped:
            self.inputs.clamped["cmd_vel"] += 1
            return f"command clamped to +-{self.task.max_command}"
        known = self.trained_commands
        if known is not None and not known.contains(value, tol=1e-3):
            # Used as sent (the operator's call), but said: the policy never saw it in training.
            self.inputs.untrained["cmd_vel"] += 1
            return (
                f"command {value.tolist()} is outside the commands the policy was trained on "
                f"{known.to_dict()}"
            )
        return None

    def reject(self, topic: str, cause: str, detail: str) -> None:
        """Count a message the node could not decode (it is dropped)."""
        self.inputs.drop(topic, cause, detail)

    def on_estop(self, asserted: bool, now: float = 0.0) -> None:
        """E-stop message received at ``now`` [s]: true latches; false allows
        :meth:`release` (and is the heartbeat in heartbeat mode)."""
        self.safety.set_estop(asserted, now)

    def restart(self) -> None:
        """Start afresh as at start-up (new episode): safe action out, the policy commands
        again and fades in from the next tick, its internal state reset; latches and inputs
        are kept."""
        self.safety.shaper.reset()
        self.policy.reset()
        if self.active:
            self._to_policy()

    def release(self, now: float = 0.0) -> tuple[bool, str]:
        """Clear a latch if the e-stop is released and the latest tilt is under the limit."""
        return self.safety.release(self.current_tilt(), now)

    def resume_policy(self) -> tuple[bool, str]:
        """Hand back from the fallback controller to the policy (bumpless, fading in)."""
        if not self.active:
            return False, "not active (activate the node first)"
        if self.controller == "policy":
            return True, "the policy is already in command"
        self._to_policy()
        self.safety.shaper.handover(self.config.safety.shaping.fade_ticks)
        return True, "policy resumed (fading in)"

    def wait_for_estop(self, until: float) -> None:
        """Do not arm the policy before an e-stop message arrived or time ``until`` [s]: at
        start-up, an e-stop latched before this runner existed (transient-local) arrives only
        after discovery, while the sensors may already be in. Meanwhile the fallback balances
        in place (without one: the safe action)."""
        self._estop_wait_until = until

    def activate(self) -> None:
        """Arm: the policy commands, fading in from the last output."""
        self.active = True
        self.resume_policy()

    def deactivate(self) -> None:
        """Disarm: the fallback controller keeps the robot up (no fallback: the stop)."""
        self.active = False
        self._engage_fallback("inactive", "deactivated")

    def exit_action(self) -> NDArray[np.float64]:
        """The last action before the runner goes away (ACTION_DIM,): the legs hold their
        last targets, the wheels get 0 N m (a torque held by the motor driver after the
        runner is gone would keep driving the wheels)."""
        action = self.safety.last_output.copy()
        action[_WHEELS] = 0.0
        return action

    def current_tilt(self) -> float | None:
        """Base tilt [rad] from the latest IMU orientation (None before any IMU)."""
        if self._imu is None:
            return None
        obs = self._observation(self._imu.time)
        return float(tilt_from_projected_gravity(obs[OBS_SLICES["projected_gravity"]]))

    @property
    def has_sensors(self) -> bool:
        """Whether a valid joint state and IMU sample were ever received."""
        return self._joints is not None and self._imu is not None

    @property
    def latched(self) -> str | None:
        """The active latch (``"estop"``, ``"tilt"``) or None."""
        return self.safety.latched

    def tick(self, now: float) -> TickResult:
        """One control step at time ``now`` [s] (same clock as the receive times)."""
        receipt = self._newest_receipt()
        reason, guard = self._input_fault(now)
        obs, action = None, None
        if not reason:
            obs = self._observation(now)
            reason, guard = self._observation_fault(obs)
        level = "stop"
        if not reason:
            assert obs is not None
            if self._estop_pending(now):
                action, reason, guard = self._while_estop_unknown(obs)
                level = "fallback"
            else:
                action, reason, guard = self._command_action(obs, now)
                level = self.controller
        if action is None:
            emitted, level = self._hold(guard, now)
        else:
            emitted = self.safety.shape(action)
        command = action_to_command(emitted)
        try:
            check_command(command)
        except UnsafeCommandError as err:  # unreachable by construction; never forwarded
            reason, guard, level = f"internal: {err}", "internal", "stop"
            emitted, command = self.safety.safe(guard), SAFE_COMMAND
        self.last_reason, self.level = reason, level
        safe = level != "policy"
        return TickResult(command, emitted.copy(), safe, reason, guard, receipt, obs, level)

    # --- levels -------------------------------------------------------------------------
    def _hold(self, guard: str, now: float) -> tuple[NDArray[np.float64], str]:
        """The held action of a tick nobody can command: the safe action before the first
        sensor readings, else the controlled stop."""
        if guard.startswith("waiting"):
            return self.safety.safe(guard), "waiting"
        speed = None
        joints = self._joints
        if joints is not None and now - joints.time <= self.config.safety.joint_state_max_age:
            speed = joints.value.velocity[_WHEELS]
        return self.safety.hold(guard, self.stop.action(self.safety.last_output, speed)), "stop"

    def _command_action(
        self, obs: NDArray[np.float32], now: float
    ) -> tuple[NDArray[np.float64] | None, str, str]:
        """(action, reason, guard) of a tick with trusted inputs: the policy's action, the
        fallback's (reason: why it commands), or None (a policy fault and no fallback)."""
        resuming = self.safety.is_safe  # after a held period integrators start afresh
        if self.controller == "policy":
            if resuming:
                self.policy.reset()
            action, cause, detail = self._policy_action(obs)
            if not cause:
                return action, "", ""
            if self.fallback is None:
                return None, detail, cause
            self._engage_fallback(cause, detail)
        elif self.config.fallback.recover_after > 0:
            _, cause, _ = self._policy_action(obs)
            if self._healthy(cause, now):
                self._to_policy()
                self.safety.shaper.handover(self.config.safety.shaping.fade_ticks)
                return self._command_action(obs, now)
        if self.fallback is None:  # deactivated without a fallback
            return None, self.fallback_reason, f"fallback.{self._fallback_cause}"
        action = self._fallback_in_place(obs, resuming)
        return action, self.fallback_reason, f"fallback.{self._fallback_cause}"

    def _fallback_in_place(self, obs: NDArray[np.float32], resuming: bool) -> NDArray[np.float64]:
        """The fallback's action (ACTION_DIM,), balancing in place: a command that may have
        helped the policy over the edge (or a stale teleop) is not followed while something
        is wrong."""
        assert self.fallback is not None
        if resuming:
            self.fallback.reset()
        in_place = obs.copy()
        in_place[OBS_SLICES["command"]] = 0.0
        return np.asarray(self.fallback.act(in_place), dtype=np.float64).reshape(ACTION_DIM)

    def _estop_pending(self, now: float) -> bool:
        """Whether the start-up wait for the e-stop state is on; hands over to the policy (a
        fade from the fallback's output) on the first tick after it."""
        if not self.safety.estop_heard and now < self._estop_wait_until:
            self._held_for_estop = True
            return True
        if self._held_for_estop:
            self._held_for_estop = False
            if self.controller == "policy":
                self.policy.reset()
                self.safety.shaper.handover(self.config.safety.shaping.fade_ticks)
        return False

    def _while_estop_unknown(
        self, obs: NDArray[np.float32]
    ) -> tuple[NDArray[np.float64] | None, str, str]:
        """(action, reason, guard) before the e-stop state is known: the fallback balances in
        place (the policy is not armed yet); without a fallback the safe action is held."""
        reason = "waiting for the e-stop state (a latched e-stop may be on its way)"
        if self.fallback is None:
            return None, reason, "waiting_estop"
        return self._fallback_in_place(obs, self.safety.is_safe), reason, "waiting_estop"

    def _policy_action(
        self, obs: NDArray[np.float32]
    ) -> tuple[NDArray[np.float64] | None, str, str]:
        """(action, cause, detail): the policy's finite in-envelope action, or a fault."""
        cfg = self.config.fallback
        tilt = float(tilt_from_projected_gravity(obs[OBS_SLICES["projected_gravity"]]))
        start = time.perf_counter()
        try:
            raw = self.policy.act(obs)
            action = np.asarray(raw, dtype=np.float64).reshape(ACTION_DIM)
        except Exception as err:  # a policy bug must not stop the safety layer
            return None, "policy_error", f"policy error: {err!r}"
        elapsed = time.perf_counter() - start
        if not np.isfinite(action).all():
            return None, "nonfinite_action", "non-finite policy action"
        if not cfg.enabled:  # the remaining checks only decide a handover (the env clips)
            return action, "", ""
        if np.abs(action).max() > cfg.action_envelope + 1e-6:
            detail = f"policy action {np.round(action, 3)} outside +-{cfg.action_envelope}"
            return None, "action_envelope", detail
        self._misses = self._misses + 1 if elapsed > cfg.compute_deadline else 0
        if cfg.deadline_misses and self._misses >= cfg.deadline_misses:
            return (
                None,
                "policy_deadline",
                (
                    f"policy step {elapsed * 1e3:.1f} ms > {cfg.compute_deadline * 1e3:.1f} ms "
                    f"{self._misses} ticks in a row"
                ),
            )
        if tilt > cfg.tilt:
            return None, "tilt_soft", f"tilt {tilt:.3f} rad > soft limit {cfg.tilt:.3f} rad"
        return action, "", ""

    def _engage_fallback(self, cause: str, detail: str) -> None:
        """The fallback controller takes over from the next shaped tick (bumpless)."""
        self.controller = "fallback"
        self._fallback_cause = cause
        self.fallback_reason = f"fallback controller in command: {detail}"
        self.safety.trips[f"fallback.{cause}"] += 1
        self._healthy_since = None
        if self.fallback is not None:
            self.fallback.reset()
        hz = self.config.safety.control_hz
        self.safety.shaper.handover(self.config.fallback.handover_time * hz)

    def _to_policy(self) -> None:
        self.controller = "policy"
        self.fallback_reason = ""
        self._fallback_cause = ""
        self._misses = 0
        self._healthy_since = None
        self.policy.reset()

    def _healthy(self, cause: str, now: float) -> bool:
        """Whether the policy (run in the background while the fallback commands) has been
        healthy for ``recover_after`` seconds, with the runner active."""
        if cause or not self.active:
            self._healthy_since = None
            return False
        if self._healthy_since is None:
            self._healthy_since = now
        return now - self._healthy_since >= self.config.fallback.recover_after

    # --- inputs -------------------------------------------------------------------------
    def _newest_receipt(self) -> float | None:
        times = [x.time for x in (self._joints, self._imu) if x is not None]
        return max(times) if times else None

    def _input_fault(self, now: float) -> tuple[str, str]:
        """(reason, guard) when latched or an input is missing/stale, else ("", "")."""
        heartbeat = self.safety.heartbeat_fault(now)
        if self.safety.latched == "estop":
            detail = heartbeat or "e-stop latched"
            return f"{detail} (release: estop false, then the release service)", "estop"
        if heartbeat:
            return heartbeat, "waiting_heartbeat"
        if self.safety.latched == "tilt":
            return "tilt cut-off latched (release service once upright)", "tilt"
        cfg = self.config.safety
        for name, latest, max_age in (
            ("joint_states", self._joints, cfg.joint_state_max_age),
            ("imu", self._imu, cfg.imu_max_age),
        ):
            if latest is None:
                return f"waiting for {name}", f"waiting_{name}"
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

    def _observation_fault(self, obs: NDArray[np.float32]) -> tuple[str, str]:
        """(reason, guard) for a non-finite observation or the hard tilt cut-off."""
        if not np.isfinite(obs).all():
            bad = [k for k, s in OBS_SLICES.items() if not np.all(np.isfinite(obs[s]))]
            return f"non-finite observation in {bad}", "nonfinite_obs"
        tilt = float(tilt_from_projected_gravity(obs[OBS_SLICES["projected_gravity"]]))
        if tilt > self.config.safety.tilt_limit:
            return self.safety.latch_tilt(tilt), "tilt"
        return "", ""


def _default_fallback(config: RunnerConfig, policy: Policy) -> Policy | None:
    """The classical controller at the runner's rate and the policy's task (or None)."""
    if not config.fallback.enabled:
        return None
    from h2o_robot_bridge.controllers.classical import ClassicalController  # noqa: PLC0415

    return ClassicalController.from_yaml(task=policy.task, control_hz=config.safety.control_hz)
