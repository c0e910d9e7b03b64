"""The runner core and its safety layer, one guard at a time (no ROS, plain numbers).

Most tests run without the fallback controller (``fallback: none``), so that each guard's own
response shows; the graded response is tested in ``test_levels.py``.
"""

from __future__ import annotations

import numpy as np
import pytest

from h2o_robot_bridge.contract import (
    ACTION_DIM,
    OBS_SLICES,
    SAFE_ACTION,
    JointCommand,
    action_to_command,
    robot,
)
from h2o_robot_bridge.contract.sensors import ImuReading, JointReading
from h2o_robot_bridge.deploy.config import DeployConfig, resolve_policy_path
from h2o_robot_bridge.deploy.diagnostics import LoopStats
from h2o_robot_bridge.deploy.levels import FallbackConfig
from h2o_robot_bridge.deploy.runner import PolicyRunner, RunnerConfig
from h2o_robot_bridge.deploy.safety import (
    SAFE_COMMAND,
    SafetyConfig,
    UnsafeCommandError,
    check_command,
)
from h2o_robot_bridge.errors import ConfigError, PolicyLoadError

UPRIGHT = np.array([0.0, 0.0, 0.0, 1.0])
DT = 0.01


class ConstantPolicy:
    """A policy returning a fixed action (or raising), recording what it saw."""

    name, task, control_hz = "constant", "stand", 100.0

    def __init__(self, action, raises: bool = False) -> None:
        self.action = np.asarray(action, dtype=np.float32)
        self.raises = raises
        self.seen: list[np.ndarray] = []
        self.resets = 0

    def reset(self) -> None:
        self.resets += 1

    def act(self, obs):
        self.seen.append(np.array(obs))
        if self.raises:
            raise RuntimeError("boom")
        return self.action


ACTION = np.array([0.4, -0.3, 0.5, 0.4, -0.3, 0.5])


def _runner(
    action=ACTION, fallback: FallbackConfig | None = None, **safety
) -> tuple[PolicyRunner, ConstantPolicy]:
    defaults = {"soft_start": 0.0, "max_action_rate": 0.0}
    policy = ConstantPolicy(action)
    config = RunnerConfig(
        SafetyConfig(**(defaults | safety)), fallback=fallback or FallbackConfig(controller="none")
    )
    return PolicyRunner(policy, config), policy


def _feed(runner: PolicyRunner, t: float, quat=UPRIGHT, ang_vel=(0.0, 0.0, 0.0), imu=True):
    runner.on_joint_state(JointReading(robot.DEFAULT_POSITIONS, np.zeros(6), np.zeros(6)), t)
    if imu:
        runner.on_imu(ImuReading(np.asarray(quat, float), np.asarray(ang_vel, float)), t)


def _is_safe_command(cmd: JointCommand) -> bool:
    legs, wheels = list(robot.LEG_JOINT_IDS), list(robot.WHEEL_JOINT_IDS)
    return np.allclose(cmd.position[legs], SAFE_COMMAND.position[legs]) and np.allclose(
        cmd.effort[wheels], 0.0
    )


def _is_stop_command(cmd: JointCommand, last: np.ndarray) -> bool:
    """The controlled stop's first tick after ``last`` for a robot at rest: wheels 0 N m, the
    legs one crouch step (0.01 action units at 100 Hz) from ``last`` towards the crouch."""
    legs, wheels = list(robot.LEG_JOINT_IDS), list(robot.WHEEL_JOINT_IDS)
    crouch = np.array([1.0, -1.0, 0.0, 1.0, -1.0, 0.0])
    expected = last + np.clip(crouch - last, -0.01, 0.01)
    position = action_to_command(expected).position
    return np.allclose(cmd.position[legs], position[legs]) and np.allclose(cmd.effort[wheels], 0)


def _tilted(angle: float) -> np.ndarray:
    return np.array([0.0, np.sin(angle / 2), 0.0, np.cos(angle / 2)])


def test_nominal_tick_commands_the_policy_action() -> None:
    runner, policy = _runner()
    _feed(runner, 0.0)
    result = runner.tick(0.001)
    assert not result.safe and result.reason == ""
    np.testing.assert_allclose(result.action, ACTION)
    expected = action_to_command(ACTION)
    np.testing.assert_allclose(result.command.position, expected.position)
    assert result.sensor_receipt == 0.0
    # prev_action in the next observation is what was emitted.
    _feed(runner, DT)
    runner.tick(DT + 0.001)
    np.testing.assert_allclose(policy.seen[-1][OBS_SLICES["prev_action"]], ACTION, atol=1e-6)


def test_waiting_for_inputs_is_safe() -> None:
    runner, policy = _runner()
    result = runner.tick(0.0)
    assert result.safe and "waiting for joint_states" in result.reason
    _feed(runner, 0.0, imu=False)
    result = runner.tick(0.001)
    assert result.safe and "waiting for imu" in result.reason
    assert _is_safe_command(result.command)
    assert policy.seen == []


@pytest.mark.parametrize("which", ["imu", "joint_states"])
def test_stale_input_watchdog(which: str) -> None:
    runner, policy = _runner(imu_max_age=0.05, joint_state_max_age=0.05)
    _feed(runner, 0.0)
    assert not runner.tick(0.05).safe  # exactly at the max age: still fresh
    if which == "imu":
        runner.on_joint_state(
            JointReading(robot.DEFAULT_POSITIONS, np.zeros(6), np.zeros(6)), 0.05
        )
    else:
        runner.on_imu(ImuReading(UPRIGHT, np.zeros(3)), 0.05)
    result = runner.tick(0.06)
    assert result.safe and f"{which} stale" in result.reason and result.level == "stop"
    assert _is_stop_command(result.command, ACTION)
    assert runner.safety.trips[f"stale_{which}"] == 1
    # Not latched: fresh data resumes the policy, reset first (integrators start afresh).
    resets = policy.resets
    _feed(runner, 0.07)
    assert not runner.tick(0.071).safe
    assert policy.resets == resets + 1
    runner.tick(0.072)
    assert policy.resets == resets + 1


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nonfinite_reading_is_dropped_never_stored(bad: float) -> None:
    runner, policy = _runner()
    assert runner.on_imu(ImuReading(UPRIGHT, np.array([0.0, bad, 0.0])), 0.0)
    assert runner.inputs.dropped["imu.invalid"] == 1
    runner.on_joint_state(JointReading(robot.DEFAULT_POSITIONS, np.zeros(6), np.zeros(6)), 0.0)
    result = runner.tick(0.001)
    assert result.level == "waiting" and "waiting for imu" in result.reason
    assert policy.seen == []
    # After a good sample, a bad one does not replace it: the good one is used until stale.
    _feed(runner, 0.01)
    runner.on_imu(ImuReading(UPRIGHT, np.array([bad, 0.0, 0.0])), 0.02)
    assert not runner.tick(0.03).safe
    np.testing.assert_array_equal(policy.seen[-1][OBS_SLICES["base_ang_vel"]], 0.0)


def test_nonfinite_action_and_policy_error_without_fallback_give_the_stop() -> None:
    runner, _ = _runner(action=[0.1, np.nan, 0.0, 0.0, 0.0, 0.0])
    _feed(runner, 0.0)
    result = runner.tick(0.001)
    assert result.safe and result.reason == "non-finite policy action"
    assert result.level == "stop" and _is_stop_command(result.command, SAFE_ACTION)
    none = RunnerConfig(fallback=FallbackConfig(controller="none"))
    runner = PolicyRunner(ConstantPolicy(ACTION, raises=True), none)
    _feed(runner, 0.0)
    result = runner.tick(0.001)
    assert result.safe and "policy error" in result.reason and "boom" in result.reason


def test_action_is_clipped_and_command_within_limits() -> None:
    wide = FallbackConfig(controller="none", action_envelope=10.0)
    runner, _ = _runner(action=[5.0, -5.0, 9.0, -1.5, 1.5, -9.0], fallback=wide)
    _feed(runner, 0.0)
    result = runner.tick(0.001)
    np.testing.assert_array_equal(result.action, [1.0, -1.0, 1.0, -1.0, 1.0, -1.0])
    check_command(result.command)
    legs = list(robot.LEG_JOINT_IDS)
    assert np.all(result.command.position[legs] <= robot.UPPER[legs])
    assert np.all(result.command.position[legs] >= robot.LOWER[legs])


def test_rate_limit() -> None:
    big = np.array([0.9, -0.9, 0.95, -0.6, 0.9, -0.95])
    runner, _ = _runner(action=big, max_action_rate=10.0)  # 0.1 per 10 ms tick
    actions = []
    for k in range(12):
        _feed(runner, k * DT)
        actions.append(runner.tick(k * DT).action)
    # Per tick: 0.1 from the safe action on the first tick, 0.1 more on every next one.
    for k, a in enumerate(actions):
        np.testing.assert_allclose(a, np.clip(big, -0.1 * (k + 1), 0.1 * (k + 1)), atol=1e-7)
    # A late tick moves no further than an on-time one (shaping counts ticks, not seconds).
    runner2, _ = _runner(action=big, max_action_rate=10.0)
    _feed(runner2, 0.0)
    runner2.tick(0.0)
    _feed(runner2, 0.5)
    np.testing.assert_allclose(np.abs(runner2.tick(0.5).action), 0.2, atol=1e-7)


@pytest.mark.parametrize("wheels", [False, True])
def test_soft_start_fades_in_and_restarts_after_a_fault(wheels: bool) -> None:
    runner, _ = _runner(soft_start=0.5, soft_start_wheels=wheels)
    fractions, wheel = [], []
    for k in range(60):
        t = k * DT
        _feed(runner, t)
        action = runner.tick(t).action
        fractions.append(action[0] / ACTION[0])
        wheel.append(action[2] / ACTION[2])
    np.testing.assert_allclose(fractions[:51], np.linspace(0.0, 1.0, 51), atol=1e-9)
    assert fractions[-1] == pytest.approx(1.0)
    # Wheels: full balance torque at once unless asked to fade too.
    np.testing.assert_allclose(wheel[:51], np.linspace(0.0, 1.0, 51) if wheels else 1.0)
    # A watchdog trip (the stop: legs one crouch step from the action), then recovery: fades
    # in again from the stop's output, by ticks.
    t = 0.8
    runner.on_joint_state(JointReading(robot.DEFAULT_POSITIONS, np.zeros(6), np.zeros(6)), t)
    held = runner.tick(t)
    assert held.level == "stop"
    anchor = held.action[0]
    assert anchor == pytest.approx(ACTION[0] + 0.01)
    for k in range(26):
        _feed(runner, t + (k + 1) * DT)
        action = runner.tick(t + (k + 1) * DT).action
        if k == 0:
            assert action[0] == pytest.approx(anchor)
    assert action[0] == pytest.approx(anchor + 25 / 50 * (ACTION[0] - anchor))
    # restart() (a new episode) fades in again too.
    runner.restart()
    _feed(runner, 2.0)
    assert runner.tick(2.0).action[0] == pytest.approx(0.0)


def test_tilt_cutoff_latches_until_released_upright() -> None:
    runner, _ = _runner(tilt_limit=0.5)
    _feed(runner, 0.0, quat=_tilted(0.45))
    assert not runner.tick(0.0).safe
    _feed(runner, DT, quat=_tilted(0.6))
    result = runner.tick(DT)
    assert result.safe and "tilt 0.600 rad > limit 0.500" in result.reason
    assert runner.latched == "tilt"
    # Upright again: still latched.
    for k in range(2, 10):
        _feed(runner, k * DT)
        result = runner.tick(k * DT)
        assert result.safe and "tilt cut-off latched" in result.reason
    ok, msg = runner.release()
    assert ok, msg
    _feed(runner, 0.1)
    assert not runner.tick(0.1).safe
    assert runner.safety.trips["tilt"] == 1
    # Release is refused while still tilted.
    _feed(runner, 0.2, quat=_tilted(1.0))
    assert runner.tick(0.2).safe
    ok, msg = runner.release()
    assert not ok and "still above limit" in msg


def test_estop_latches_until_deasserted_and_released() -> None:
    runner, _ = _runner()
    _feed(runner, 0.0)
    assert not runner.tick(0.0).safe
    runner.on_estop(True)
    _feed(runner, DT)
    result = runner.tick(DT)
    assert result.safe and "e-stop latched" in result.reason
    ok, msg = runner.release()
    assert not ok and "still asserted" in msg
    runner.on_estop(False)  # de-asserting alone does not resume
    _feed(runner, 2 * DT)
    assert runner.tick(2 * DT).safe
    ok, msg = runner.release()
    assert ok and "estop" in msg
    _feed(runner, 3 * DT)
    assert not runner.tick(3 * DT).safe
    assert runner.safety.trips["estop"] == 1
    assert runner.release() == (True, "nothing latched")


def test_command_timeout_falls_back_to_task_command() -> None:
    runner, policy = _runner()
    runner.on_command([0.3, 0.1], 0.0)
    _feed(runner, 0.0)
    runner.tick(0.0)
    np.testing.assert_allclose(policy.seen[-1][OBS_SLICES["command"]], [0.3, 0.1], atol=1e-6)
    _feed(runner, 1.0)
    result = runner.tick(1.0)  # cmd_vel is 1 s old > 0.5 s: stand still, but no trip
    assert not result.safe
    np.testing.assert_allclose(policy.seen[-1][OBS_SLICES["command"]], [0.0, 0.0])


def test_a_command_the_policy_was_not_trained_on_is_used_and_said() -> None:
    """The export records the commands trained on; /cmd_vel outside them still drives the
    policy (the operator's call) but is said and counted; without the record nothing is said."""
    trained = {"extra": {"commands": {"forward": [0.0, 0.5], "yaw": [-0.5, 0.5]}}}
    policy = ConstantPolicy(ACTION)
    policy.metadata = trained  # type: ignore[attr-defined]
    runner = PolicyRunner(policy, RunnerConfig(fallback=FallbackConfig(controller="none")))
    assert runner.on_command([0.3, 0.2], 0.0) is None
    note = runner.on_command([-0.3, 0.0], 0.01)
    assert note is not None and "outside the commands the policy was trained on" in note
    assert runner.inputs.summary()["untrained.cmd_vel"] == 1.0
    _feed(runner, 0.01)
    runner.tick(0.01)
    np.testing.assert_allclose(policy.seen[-1][OBS_SLICES["command"]], [-0.3, 0.0], atol=1e-6)
    plain, _ = _runner()
    assert plain.trained_commands is None and plain.on_command([-0.3, 0.0], 0.0) is None
    policy.metadata = {"extra": {"commands": "garbled"}}  # type: ignore[attr-defined]
    assert PolicyRunner(policy).trained_commands is None  # unreadable provenance: not a failure


def test_check_command_rejects_bad_commands() -> None:
    check_command(SAFE_COMMAND)
    good = action_to_command(np.full(ACTION_DIM, 0.5))
    for field, index, value, match in [
        ("position", 0, np.nan, "non-finite"),
        ("effort", 2, np.inf, "non-finite"),
        ("position", 1, 0.5, "outside limits"),
        ("effort", 5, 4.5, "outside limits"),
        ("effort", 0, 1.0, "must be NaN"),
    ]:
        arr = getattr(good, field).copy()
        arr[index] = value
        bad = good._replace(**{field: arr})
        with pytest.raises(UnsafeCommandError, match=match):
            check_command(bad)


def test_safety_config_validation() -> None:
    for bad in [{"imu_max_age": 0.0}, {"tilt_limit": 4.0}, {"soft_start": -1.0}]:
        with pytest.raises(ConfigError):
            SafetyConfig(**bad)
    with pytest.raises(ConfigError, match="command_max_age"):
        RunnerConfig(command_max_age=0.0)


def test_loop_stats() -> None:
    stats = LoopStats(control_hz=100.0, window=100)
    starts = np.arange(50) * 0.01
    starts[30:] += 0.02  # one late tick: a 30 ms period
    for s in starts:
        stats.record(s, s + 0.0002, s - 0.001)
    assert stats.ticks == 50 and stats.deadline_misses == 1
    assert stats.period().max == pytest.approx(0.03)
    assert stats.period().p50 == pytest.approx(0.01)
    assert stats.latency().p50 == pytest.approx(0.0012)
    assert stats.achieved_hz() == pytest.approx(49 / starts[-1])
    summary = stats.summary({"tilt": 2})
    assert summary["trip.tilt"] == 2.0 and summary["compute_p99_us"] == pytest.approx(200.0)


def test_deploy_config(tmp_path) -> None:
    cfg = DeployConfig.from_params(
        {"policy": "classical", "imu_max_age": 0.1, "shadow": True, "soft_start_wheels": True}
    )
    assert cfg.runner.safety.imu_max_age == 0.1 and cfg.shadow
    assert cfg.runner.safety.soft_start_wheels is True
    assert cfg.with_rate(500.0).runner.safety.control_hz == 500.0
    for bad, match in [
        ({"policy": ""}, "policy"),
        ({"policy": "x", "trigger": "sometimes"}, "trigger"),
        ({"policy": "x", "control_hz": -1.0}, "control_hz"),
        ({"policy": "x", "imu_topic": ""}, "imu_topic"),
        ({"policy": "x", "tilt_limt": 0.3}, "unknown deploy parameters"),
        ({"policy": "x", "task": "dance"}, "unknown task"),
        ({"policy": "x", "fallback": "pid"}, "fallback controller must be one of"),
        ({"policy": "x", "fallback_tilt": 0.6}, "must be under the hard tilt_limit"),
        ({"policy": "x", "fallback_tilt": "steep"}, "bad deploy parameter value"),
        ({"policy": "x", "stop_crouch": [2.0, 0.0]}, "stop crouch"),
        ({"policy": "x", "fallback_deadline_misses": 1.5}, "deadline_misses"),
        ({"policy": "x", "estop_heartbeat": -1.0}, "estop_heartbeat"),
    ]:
        with pytest.raises(ConfigError, match=match):
            DeployConfig.from_params(bad)
    (tmp_path / "stand.onnx").write_bytes(b"x")
    assert resolve_policy_path("stand.onnx", str(tmp_path)) == tmp_path / "stand.onnx"
    with pytest.raises(PolicyLoadError, match="not found"):
        resolve_policy_path("other.onnx", str(tmp_path))


def test_training_shaping_mismatch_is_reported() -> None:
    from h2o_robot_bridge.deploy.shaping import ShapingConfig, shaping_mismatch

    ours = SafetyConfig().shaping
    assert shaping_mismatch(ours.to_dict(), ours) is None
    assert shaping_mismatch(None, ours) is None  # an export that does not say
    other = ShapingConfig(max_action_rate=10.0).to_dict()
    assert "max_action_rate: trained 10.0, here 50.0" in str(shaping_mismatch(other, ours))
