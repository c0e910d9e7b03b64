"""The graded response (policy -> fallback -> controlled stop), input validation, the e-stop
heartbeat and the lifecycle hooks of the runner core (no ROS, plain numbers)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from h2o_robot_bridge.contract import OBS_SLICES, SAFE_ACTION, robot
from h2o_robot_bridge.contract.sensors import ImuReading, JointReading
from h2o_robot_bridge.conversions.from_msg import MessageError, joint_state_to_reading
from h2o_robot_bridge.deploy.inputs import clamp_command, imu_reading_fault, joint_reading_fault
from h2o_robot_bridge.deploy.levels import ControlledStop, FallbackConfig, StopConfig
from h2o_robot_bridge.deploy.runner import PolicyRunner, RunnerConfig
from h2o_robot_bridge.deploy.safety import SafetyConfig
from h2o_robot_bridge.errors import ConfigError

UPRIGHT = np.array([0.0, 0.0, 0.0, 1.0])
DT = 0.01
ACTION = np.array([0.4, -0.3, 0.5, 0.4, -0.3, 0.5])
LEGS, WHEELS = list(robot.LEG_JOINT_IDS), list(robot.WHEEL_JOINT_IDS)


class Scripted:
    """A policy returning ``ACTION`` until ``bad_from`` calls, then ``bad`` (or raising)."""

    name, task, control_hz = "scripted", "stand", 100.0

    def __init__(self, bad=None, bad_from: int = 3, sleep: float = 0.0) -> None:
        self.bad, self.bad_from, self.sleep = bad, bad_from, sleep
        self.calls = 0
        self.resets = 0

    def reset(self) -> None:
        self.resets += 1

    def act(self, obs):
        self.calls += 1
        if self.calls <= self.bad_from:
            return ACTION
        if self.sleep:
            import time  # noqa: PLC0415

            time.sleep(self.sleep)
            return ACTION
        if self.bad == "raise":
            raise RuntimeError("diverged")
        return np.asarray(self.bad, dtype=np.float32)


class Marker:
    """A fallback returning a recognisable action, counting its resets."""

    name, task, control_hz = "marker", "stand", 100.0
    action = np.array([-0.2, 0.2, -0.6, -0.2, 0.2, -0.6])

    def __init__(self) -> None:
        self.resets = 0
        self.seen: list[np.ndarray] = []

    def reset(self) -> None:
        self.resets += 1

    def act(self, obs):
        self.seen.append(np.array(obs))
        return self.action


def _runner(policy, fallback=None, **fb) -> PolicyRunner:
    safety = SafetyConfig(soft_start=0.0, max_action_rate=0.0)
    config = RunnerConfig(safety, fallback=FallbackConfig(**fb))
    return PolicyRunner(policy, config, fallback=fallback)


def _feed(runner: PolicyRunner, t: float, pitch: float = 0.0, wheel_speed: float = 0.0) -> None:
    vel = np.zeros(6)
    vel[WHEELS] = wheel_speed
    runner.on_joint_state(JointReading(robot.DEFAULT_POSITIONS, vel, np.zeros(6)), t)
    quat = np.array([0.0, np.sin(pitch / 2), 0.0, np.cos(pitch / 2)])
    runner.on_imu(ImuReading(quat, np.zeros(3)), t)


def _run(runner: PolicyRunner, ticks: int, start: float = 0.0, **feed):
    results = []
    for k in range(ticks):
        t = start + k * DT
        _feed(runner, t, **feed)
        results.append(runner.tick(t))
    return results


@pytest.mark.parametrize(
    ("bad", "guard", "words"),
    [
        ([0.1, np.nan, 0.0, 0.0, 0.0, 0.0], "nonfinite_action", "non-finite policy action"),
        ([0.1, 1.7, 0.0, 0.0, 0.0, 0.0], "action_envelope", "outside +-1.0"),
        ("raise", "policy_error", "diverged"),
    ],
)
def test_policy_fault_hands_over_to_the_fallback_until_asked_back(bad, guard, words) -> None:
    policy, fallback = Scripted(bad), Marker()
    runner = _runner(policy, fallback)
    results = _run(runner, 25)
    assert [r.level for r in results] == ["policy"] * 3 + ["fallback"] * 22
    assert results[3].guard == f"fallback.{guard}" and words in results[3].reason
    np.testing.assert_allclose(results[-1].action, Marker.action)  # after the 0.2 s handover
    assert runner.safety.trips[f"fallback.{guard}"] == 1  # one engagement, not one per tick
    assert policy.calls == 4  # not asked again while the fallback commands (recover_after 0)
    ok, message = runner.resume_policy()
    assert ok and "resumed" in message
    policy.bad_from = 10**6  # healthy again
    assert runner.tick(25 * DT).level == "policy"


def test_the_handover_is_bumpless_for_the_legs_and_immediate_for_the_wheels() -> None:
    policy, fallback = Scripted(np.full(6, np.nan)), Marker()
    runner = _runner(policy, fallback, handover_time=0.1)  # 10 ticks
    results = _run(runner, 3 + 12)
    legs = np.array([r.action[LEGS] for r in results[2:]])
    # From the policy's last leg action (held on the fallback's first tick) to the
    # fallback's, in 10 equal steps.
    fraction = np.clip(np.arange(13) - 1, 0, 10)[:, None] / 10
    expected = ACTION[LEGS] + fraction * (Marker.action[LEGS] - ACTION[LEGS])
    np.testing.assert_allclose(legs, expected, atol=1e-9)
    np.testing.assert_allclose(results[3].action[WHEELS], Marker.action[WHEELS])


def test_soft_tilt_hands_over_and_the_hard_tilt_gives_the_latched_stop() -> None:
    runner = _runner(Scripted(), Marker(), tilt=0.3)
    assert _run(runner, 2, pitch=0.25)[-1].level == "policy"
    result = _run(runner, 1, start=0.02, pitch=0.35)[0]
    assert result.level == "fallback" and "soft limit 0.300" in result.reason
    result = _run(runner, 1, start=0.03, pitch=0.55)[0]
    assert result.level == "stop" and runner.latched == "tilt"
    assert _run(runner, 1, start=0.04, pitch=0.0)[0].level == "stop"  # still latched
    assert runner.release()[0]
    assert _run(runner, 1, start=0.05)[0].level == "fallback"  # the level before the stop


def test_repeated_compute_deadline_misses_hand_over() -> None:
    policy = Scripted(bad_from=2, sleep=0.004)
    runner = _runner(policy, Marker(), compute_deadline=0.002, deadline_misses=3)
    levels = [r.level for r in _run(runner, 6)]
    assert levels == ["policy"] * 4 + ["fallback"] * 2  # calls 3, 4 miss; call 5 is the third
    assert "policy step" in runner.last_reason


def test_recover_after_a_healthy_period_hands_back_by_itself() -> None:
    policy = Scripted(bad=np.full(6, np.nan), bad_from=2)
    runner = _runner(policy, Marker(), recover_after=0.05)
    _run(runner, 4)
    assert runner.controller == "fallback"
    policy.bad_from = 10**6
    levels = [r.level for r in _run(runner, 8, start=0.04)]
    assert levels[:6] == ["fallback"] * 6 and levels[-1] == "policy", levels


def test_without_a_fallback_a_policy_fault_gives_the_stop_and_soft_tilt_is_ignored() -> None:
    runner = _runner(Scripted(np.full(6, np.nan)), controller="none")
    assert runner.fallback is None
    assert [r.level for r in _run(runner, 5)] == ["policy"] * 3 + ["stop"] * 2
    runner = _runner(Scripted(), controller="none")
    assert _run(runner, 2, pitch=0.4)[-1].level == "policy"


def test_the_default_fallback_is_the_classical_controller() -> None:
    runner = PolicyRunner(Scripted(np.full(6, np.nan)))
    assert runner.fallback is not None and runner.fallback.name == "classical"
    result = _run(runner, 5)[-1]
    assert result.level == "fallback" and np.isfinite(result.action).all()


def test_stale_sensors_give_the_controlled_stop_then_the_level_before_resumes() -> None:
    runner = _runner(Scripted(np.full(6, np.nan)), Marker())
    _run(runner, 5, wheel_speed=4.0)
    # IMU stale, joint states fresh: wheels damped against their speed, legs crouch.
    runner.on_joint_state(JointReading(robot.DEFAULT_POSITIONS, np.full(6, 4.0), np.zeros(6)), 0.1)
    result = runner.tick(0.1)
    assert result.level == "stop" and "imu stale" in result.reason
    damping = StopConfig().wheel_damping
    np.testing.assert_allclose(result.command.effort[WHEELS], -damping * 4.0)
    hips = list(robot.HIP_JOINT_IDS)
    assert np.all(result.action[hips] > Marker.action[hips])  # towards the crouch (+1)
    # Both stale: no speed to damp, no torque.
    assert np.all(runner.tick(0.2).command.effort[WHEELS] == 0.0)
    assert _run(runner, 1, start=0.3)[0].level == "fallback"


def test_controlled_stop_reaches_the_crouch_in_crouch_time() -> None:
    stop = ControlledStop(StopConfig(crouch=(1.0, -1.0), crouch_time=0.5), control_hz=100.0)
    action = SAFE_ACTION.copy()
    for _ in range(49):
        action = stop.action(action, None)
    assert action[robot.HIP_JOINT_IDS[0]] == pytest.approx(49 / 50)
    for _ in range(5):
        action = stop.action(action, None)
    np.testing.assert_allclose(action, stop.target)
    assert stop.target[robot.KNEE_JOINT_IDS[0]] == -1.0 and np.all(stop.target[WHEELS] == 0)


def test_estop_heartbeat_mode() -> None:
    runner = PolicyRunner(Scripted(), RunnerConfig(SafetyConfig(estop_heartbeat=0.1)))
    results = _run(runner, 2)
    assert results[-1].level == "waiting" and "heartbeat" in results[-1].reason
    runner.on_estop(False, 0.02)
    assert _run(runner, 1, start=0.03)[0].level == "policy"
    result = _run(runner, 1, start=0.2)[0]  # 180 ms without a heartbeat: latched stop
    assert result.level == "stop" and "heartbeat lost" in result.reason
    assert runner.latched == "estop"
    ok, message = runner.release(0.21)
    assert not ok and "heartbeat" in message
    runner.on_estop(False, 0.25)
    assert runner.release(0.26)[0]
    assert _run(runner, 1, start=0.27)[0].level == "policy"


def test_deactivate_keeps_the_fallback_and_activate_arms_the_policy() -> None:
    runner = _runner(Scripted(), Marker())
    runner.deactivate()
    assert _run(runner, 2)[-1].level == "fallback"
    assert runner.resume_policy() == (False, "not active (activate the node first)")
    runner.restart()  # a reset while inactive does not arm the policy
    assert _run(runner, 1, start=0.02)[0].level == "fallback"
    runner.activate()
    assert _run(runner, 1, start=0.03)[0].level == "policy"
    exit_action = runner.exit_action()
    np.testing.assert_array_equal(exit_action[WHEELS], 0.0)
    np.testing.assert_allclose(exit_action[LEGS], ACTION[LEGS])


def test_inputs_are_validated_before_they_are_stored() -> None:
    runner = _runner(Scripted(), Marker())
    _run(runner, 1)
    good = runner.tick(0.005).observation
    assert good is not None
    huge = np.zeros(6)
    huge[0] = 1e9
    assert runner.on_joint_state(JointReading(robot.DEFAULT_POSITIONS, huge, np.zeros(6)), 0.006)
    assert runner.on_imu(ImuReading(np.zeros(4), np.zeros(3)), 0.006)  # no orientation
    assert runner.on_imu(ImuReading(UPRIGHT, np.array([0.0, 1e3, 0.0])), 0.006)
    assert runner.inputs.dropped == {"joint_states.invalid": 1, "imu.invalid": 2}
    # cmd_vel: clamped to the task's limits (counted), non-finite dropped.
    assert "clamped" in str(runner.on_command([1e6, -1e6], 0.007))
    assert runner.on_command([np.nan, 0.0], 0.007) == "non-finite command"
    obs = runner.tick(0.008).observation
    assert obs is not None
    np.testing.assert_allclose(obs[OBS_SLICES["command"]], [0.5, -1.0])
    gyro = OBS_SLICES["base_ang_vel"]
    np.testing.assert_array_equal(obs[gyro], good[gyro])
    assert runner.inputs.clamped["cmd_vel"] == 1 and runner.inputs.dropped["cmd_vel.nonfinite"]
    summary = runner.inputs.summary()
    assert summary["dropped.imu.invalid"] == 2.0 and summary["clamped.cmd_vel"] == 1.0


def test_input_checks() -> None:
    ok = JointReading(robot.DEFAULT_POSITIONS, np.zeros(6), np.full(6, np.nan))
    assert joint_reading_fault(ok) is None  # effort may be absent
    far = robot.DEFAULT_POSITIONS.copy()
    far[robot.KNEE_JOINT_IDS[0]] = 3.0
    assert "left_knee" in str(joint_reading_fault(JointReading(far, np.zeros(6), np.zeros(6))))
    spinning = robot.DEFAULT_POSITIONS.copy()
    spinning[robot.WHEEL_JOINT_IDS[0]] = 1e4  # wheels are continuous: any angle is fine
    assert joint_reading_fault(JointReading(spinning, np.zeros(6), np.zeros(6))) is None
    assert "norm" in str(imu_reading_fault(ImuReading(UPRIGHT * 2, np.zeros(3))))
    assert imu_reading_fault(ImuReading(UPRIGHT, np.full(3, 30.0))) is None
    assert clamp_command([0.5, -0.5], (1.0, 2.0))[1] is False
    assert clamp_command([np.inf, 0.0], (1.0, 2.0)) == (None, False)


def _js(names, position, velocity=None, effort=()):
    velocity = [0.0] * len(names) if velocity is None else velocity
    return SimpleNamespace(name=names, position=position, velocity=velocity, effort=effort)


def test_joint_state_decoding_rejects_malformed_messages() -> None:
    names = list(robot.JOINT_NAMES)
    reading = joint_state_to_reading(_js(names[::-1], list(range(6))[::-1]))
    np.testing.assert_array_equal(reading.position, np.arange(6.0))
    assert np.isnan(reading.effort).all()  # empty effort: not reported
    with pytest.raises(MessageError, match=r"lacks joints \['left_knee'\]"):
        joint_state_to_reading(_js([n for n in names if n != "left_knee"], [0.0] * 5))
    with pytest.raises(MessageError, match="position has 4 values for 6 names"):
        joint_state_to_reading(_js(names, [0.0] * 4))
    with pytest.raises(MessageError, match="more than once"):
        joint_state_to_reading(_js([*names, "left_hip"], [0.0] * 7))


def test_fallback_and_stop_config_validation() -> None:
    for bad in [
        {"controller": "pid"},
        {"tilt": 0.0},
        {"deadline_misses": -1},
        {"handover_time": float("nan")},
    ]:
        with pytest.raises(ConfigError):
            FallbackConfig(**bad)
    with pytest.raises(ConfigError, match="crouch"):
        StopConfig(crouch=(0.0, 1.5))
    with pytest.raises(ConfigError, match="under the hard tilt_limit"):
        RunnerConfig(SafetyConfig(tilt_limit=0.3))


def test_at_start_up_the_fallback_balances_until_the_estop_state_is_known() -> None:
    fallback = Marker()
    runner = _runner(Scripted(), fallback)
    runner.wait_for_estop(0.05)
    results = _run(runner, 3)
    assert [r.level for r in results] == ["fallback"] * 3 and "e-stop" in results[0].reason
    assert results[0].guard == "waiting_estop" and fallback.seen  # the policy is not armed
    assert _run(runner, 1, start=0.05)[0].level == "policy"  # no e-stop publisher: go
    # Without a fallback the safe action is held; a latched e-stop arriving is known at once.
    runner = _runner(Scripted(), controller="none")
    runner.wait_for_estop(10.0)
    assert _run(runner, 1)[0].level == "waiting"
    runner.on_estop(True, 0.01)
    assert _run(runner, 1, start=0.02)[0].level == "stop" and runner.latched == "estop"


def test_the_fallback_balances_in_place_whatever_cmd_vel_asks() -> None:
    fallback = Marker()
    runner = _runner(Scripted(np.full(6, np.nan)), fallback)
    for k in range(5):
        runner.on_command([0.4, 0.8], k * DT)
        _run(runner, 1, start=k * DT)
    assert runner.controller == "fallback" and fallback.seen
    np.testing.assert_array_equal(fallback.seen[-1][OBS_SLICES["command"]], 0.0)


def test_the_estop_wait_extends_from_the_first_sensors_and_a_discovered_publisher() -> None:
    from h2o_robot_bridge.deploy.safety import EstopWait  # noqa: PLC0415

    wait = EstopWait(activated=10.0, wait=0.5)
    assert wait.deadline == 10.5
    wait.sensors_seen(False, 10.2)
    assert wait.deadline == 10.5 and not wait.has_sensors
    wait.sensors_seen(True, 10.3)  # the robot's side of the graph is up: 0.5 s more
    assert wait.deadline == 10.8
    wait.publisher_seen(True, 10.7)  # an e-stop publisher: its latched message is due
    assert wait.deadline == pytest.approx(11.2)
    wait.sensors_seen(True, 11.0)  # only the first sighting counts
    assert wait.deadline == pytest.approx(11.2)
