"""The deploy node's settings as one validated, frozen dataclass, and policy resolution.

Pure (no rclpy): the node reads its ROS parameters into a dict and calls
:meth:`DeployConfig.from_params`; tests do the same with plain dicts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from h2o_robot_bridge.contract import TOPICS, RobotTopics, get_task
from h2o_robot_bridge.contract.topics import topic_parameters, topics_from_parameters
from h2o_robot_bridge.deploy.levels import FallbackConfig, StopConfig
from h2o_robot_bridge.deploy.runner import RunnerConfig
from h2o_robot_bridge.deploy.safety import SafetyConfig
from h2o_robot_bridge.deploy.trigger import TRIGGERS
from h2o_robot_bridge.errors import ConfigError, PolicyLoadError
from h2o_robot_bridge.policy import Policy

CLASSICAL = "classical"
EXECUTORS = ("events", "single")
DEPLOY_TOPICS = (
    "joint_states",
    "imu",
    "cmd_vel",
    "estop",
    "reset",
    "joint_commands",
    "shadow_joint_commands",
    "diagnostics",
)
"""The topics the ``policy_runner`` node uses (``<name>_topic`` parameters)."""


@dataclass(frozen=True)
class DeployConfig:
    """Everything the ``policy_runner`` node is told (see ``config/bridge/deploy.yaml``).

    Attributes:
        policy: ``classical``, an ``.onnx`` path, or a file name in ``policies_dir``.
        policies_dir: folder searched for bare file names ("" = current folder).
        task: required task ("" = the policy's own).
        control_hz: tick rate [Hz]; 0 = the rate stored in the policy (ONNX) or 100 Hz
            (classical). An ONNX policy made for another rate is refused.
        trigger: ``sensors`` (one tick per sensor sample, as soon as a new joint state and a
            new IMU message are both in: the command then acts from the robot's next control
            period, as in training), ``timer`` (tick on a wall-clock timer: the sensor and
            control clocks beat, so commands act 0 or 1 period late, and near the phase
            boundary are dropped or doubled), ``joint_states`` or ``imu`` (tick on each
            message of that topic). With a message trigger a timer at the control rate is the
            watchdog: see :mod:`h2o_robot_bridge.deploy.trigger`.
        executor: ``events`` (rclpy EventsExecutor) or ``single`` (SingleThreadedExecutor).
        shadow: compute and publish on ``topics.shadow_joint_commands`` only; never command
            the robot.
        classical_config: gains YAML for the classical controller ("" = the shipped one).
        exploration_noise_std: Gaussian noise added to the policy's action before the safety
            layer (:class:`~h2o_robot_bridge.controllers.noise.NoisyPolicy`), for collecting
            datasets; 0 = none (deployment).
        diagnostics_period: seconds between ``/diagnostics`` messages.
        deadline_factor: a loop period above this many nominal periods is a deadline miss.
        estop_wait: at the first activation, hold the safe action until an e-stop message
            arrived or this long passed [s] after the latest of the activation, the first
            sensor sample and the discovery of an e-stop publisher (an e-stop latched before
            the node started reaches it only after discovery); 0 = do not wait.
        autostart: configure and activate at start (without a lifecycle manager); false:
            wait in ``unconfigured`` for the lifecycle transitions.
        topics: topic names (parameters ``<name>_topic`` for the names in
            :data:`DEPLOY_TOPICS`).
        runner: guard thresholds and command timeout.
    """

    policy: str
    policies_dir: str = "policies"
    task: str = ""
    control_hz: float = 0.0
    trigger: str = "sensors"
    executor: str = "events"
    shadow: bool = False
    classical_config: str = ""
    exploration_noise_std: float = 0.0
    diagnostics_period: float = 1.0
    deadline_factor: float = 1.5
    estop_wait: float = 0.5
    autostart: bool = True
    topics: RobotTopics = TOPICS
    runner: RunnerConfig = RunnerConfig()

    def __post_init__(self) -> None:
        if not self.policy:
            raise ConfigError(
                "parameter 'policy' is empty: give 'classical', an .onnx path, or a file name "
                "in policies_dir"
            )
        if self.task:
            get_task(self.task)
        if not (np.isfinite(self.control_hz) and self.control_hz >= 0):
            raise ConfigError(
                f"control_hz must be >= 0 (0 = policy's rate), got {self.control_hz}"
            )
        if self.trigger not in TRIGGERS:
            raise ConfigError(f"trigger must be one of {TRIGGERS}, got {self.trigger!r}")
        if self.executor not in EXECUTORS:
            raise ConfigError(f"executor must be one of {EXECUTORS}, got {self.executor!r}")
        if not (np.isfinite(self.exploration_noise_std) and self.exploration_noise_std >= 0):
            raise ConfigError(
                f"exploration_noise_std must be >= 0, got {self.exploration_noise_std}"
            )
        if not self.diagnostics_period > 0:
            raise ConfigError(f"diagnostics_period must be > 0 s, got {self.diagnostics_period}")
        if not (np.isfinite(self.estop_wait) and self.estop_wait >= 0):
            raise ConfigError(f"estop_wait must be >= 0 s, got {self.estop_wait}")
        if not self.deadline_factor > 1:
            raise ConfigError(f"deadline_factor must be > 1, got {self.deadline_factor}")

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> DeployConfig:
        """Build from a flat dict (ROS parameter names); bad names, types or values ->
        ConfigError (see :meth:`_from_params`)."""
        try:
            return cls._from_params(params)
        except ConfigError:
            raise
        except (TypeError, ValueError) as err:
            raise ConfigError(f"bad deploy parameter value: {err}") from err

    @classmethod
    def _from_params(cls, params: dict[str, Any]) -> DeployConfig:
        """Build from a flat dict (ROS parameter names); unknown names -> ConfigError.

        Guard names (``joint_state_max_age``, ``imu_max_age``, ``tilt_limit``, ``soft_start``,
        ``soft_start_wheels``, ``max_action_rate``, ``estop_heartbeat``), ``command_max_age``,
        ``fallback`` (the controller) with ``fallback_<field>`` and ``stop_<field>`` (fields of
        :class:`FallbackConfig` and :class:`StopConfig`) are flat keys as well.
        """
        params = dict(params)
        safety_keys = {f.name for f in fields(SafetyConfig)} - {"control_hz"}
        safety: dict[str, Any] = {k: params.pop(k) for k in list(params) if k in safety_keys}
        for key, value in safety.items():
            safety[key] = bool(value) if key == "soft_start_wheels" else float(value)
        runner: dict[str, Any] = {}
        if "command_max_age" in params:
            runner["command_max_age"] = float(params.pop("command_max_age"))
        runner["fallback"] = FallbackConfig(**_prefixed(params, "fallback", FallbackConfig))
        runner["stop"] = StopConfig(**_prefixed(params, "stop", StopConfig))
        topics = topics_from_parameters(params, DEPLOY_TOPICS)
        topic_keys = topic_parameters(DEPLOY_TOPICS)
        params = {k: v for k, v in params.items() if k not in topic_keys}
        own = {f.name for f in fields(cls)} - {"runner", "topics"}
        unknown = sorted(set(params) - own)
        if unknown:
            known = sorted(own | set(topic_keys))
            raise ConfigError(f"unknown deploy parameters {unknown}; known: {known}")
        # control_hz may still be 0 (= the policy's); the real rate is set by with_rate().
        hz = float(params.get("control_hz", 0.0)) or 100.0
        runner_cfg = RunnerConfig(SafetyConfig(control_hz=hz, **safety), **runner)
        return cls(**params, runner=runner_cfg, topics=topics)

    def with_rate(self, control_hz: float) -> DeployConfig:
        """Copy with the resolved control rate (also in the guard settings)."""
        from dataclasses import replace  # noqa: PLC0415

        safety = replace(self.runner.safety, control_hz=control_hz)
        return replace(self, control_hz=control_hz, runner=replace(self.runner, safety=safety))


def _prefixed(params: dict[str, Any], prefix: str, cls: type) -> dict[str, Any]:
    """Pop ``<prefix>_<field>`` keys of dataclass ``cls`` from ``params`` (``fallback`` alone
    is ``FallbackConfig.controller``), converted to the field's type."""
    out: dict[str, Any] = {}
    if prefix == "fallback" and "fallback" in params:
        out["controller"] = str(params.pop("fallback"))
    for f in fields(cls):
        key = f"{prefix}_{f.name}"
        if key in params:
            value = params.pop(key)
            if f.name == "crouch":
                out[f.name] = tuple(float(v) for v in value)
            elif f.name == "deadline_misses":
                out[f.name] = value  # validated as an integer by the dataclass
            else:
                out[f.name] = float(value)
    return out


def _prefixed_defaults(prefix: str, instance: Any) -> dict[str, Any]:
    """``<prefix>_<field>`` -> default of a config dataclass (lists for tuples: ROS arrays)."""
    out: dict[str, Any] = {}
    for f in fields(instance):
        value = getattr(instance, f.name)
        if prefix == "fallback" and f.name == "controller":
            out["fallback"] = value
            continue
        out[f"{prefix}_{f.name}"] = list(value) if isinstance(value, tuple) else value
    return out


def parameter_defaults() -> dict[str, Any]:
    """Every ``policy_runner`` parameter with its default (what the node declares)."""
    out: dict[str, Any] = {
        f.name: f.default
        for f in fields(DeployConfig)
        if f.name not in ("policy", "runner", "topics")
    }
    out["policy"] = ""
    out.update({f.name: f.default for f in fields(SafetyConfig) if f.name != "control_hz"})
    out["command_max_age"] = RunnerConfig.command_max_age
    out.update(_prefixed_defaults("fallback", FallbackConfig()))
    out.update(_prefixed_defaults("stop", StopConfig()))
    out.update(topic_parameters(DEPLOY_TOPICS))
    return out


def resolve_policy_path(spec: str, policies_dir: str) -> Path:
    """The file a ``policy`` parameter names: an existing path, else ``policies_dir/spec``.

    Raises:
        PolicyLoadError: neither exists (both places named).
    """
    direct = Path(os.path.expanduser(spec))
    if direct.is_file():
        return direct
    candidate = Path(os.path.expanduser(policies_dir or ".")) / spec
    if candidate.is_file():
        return candidate
    raise PolicyLoadError(
        f"policy {spec!r} not found (tried {direct.resolve()} and {candidate.resolve()})"
    )


def load_policy(config: DeployConfig) -> Policy:
    """The policy a config names, checked against the contract, task and rate, wrapped in
    :class:`~h2o_robot_bridge.controllers.noise.NoisyPolicy` if ``exploration_noise_std`` > 0.

    Raises:
        PolicyLoadError, ContractMismatchError: missing, corrupt or mismatching ONNX file.
        ConfigError: bad classical-controller gains.
    """
    policy = _load_plain_policy(config)
    if config.exploration_noise_std > 0:
        from h2o_robot_bridge.controllers.noise import NoisyPolicy  # noqa: PLC0415

        return NoisyPolicy(policy, config.exploration_noise_std)
    return policy


def _load_plain_policy(config: DeployConfig) -> Policy:
    task = config.task or None
    hz = config.control_hz or None
    if config.policy == CLASSICAL:
        from h2o_robot_bridge.controllers.classical import (  # noqa: PLC0415 - optional
            ClassicalController,
        )

        return ClassicalController.from_yaml(
            config.classical_config or None, task=task or "stand", control_hz=hz or 100.0
        )
    from h2o_robot_bridge.deploy.onnx_policy import OnnxPolicy  # noqa: PLC0415

    return OnnxPolicy(resolve_policy_path(config.policy, config.policies_dir), task, hz)
