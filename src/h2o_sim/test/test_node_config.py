"""The sim node's pure parts: parameter validation, pacing, and the runner (real PyBullet)."""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import yaml

from h2o_robot_bridge.config_files import config_file
from h2o_robot_bridge.contract import (
    JOINT_NAMES,
    SAFE_ACTION,
    WHEEL_JOINT_IDS,
    action_to_command,
)
from h2o_robot_bridge.errors import ConfigError
from h2o_sim.node_config import (
    NODE_PARAMETERS,
    PARAMETER_NAMES,
    describe,
    make_config,
    profile_knobs,
    runtime_change_error,
    runtime_changes_error,
    runtime_number,
)
from h2o_sim.pacing import LockstepGate, Pacer, RealTimeFactorMeter, StartGate
from h2o_sim.sim_runner import SimRunner

NO_DISPLAY: dict[str, str] = {}


def node_yaml() -> dict[str, Any]:
    data = yaml.safe_load(config_file("h2o_sim", "sim/wheel_legged_sim.yaml").read_text())
    return data["/**"]["ros__parameters"]


# --- parameters ---------------------------------------------------------------------------


def test_defaults_build_the_nominal_config() -> None:
    cfg = make_config({}, NO_DISPLAY)
    assert cfg.profile.name == "real" and cfg.dynamics == "real"
    assert (cfg.timing.control_hz, cfg.timing.physics_hz) == (100.0, 1000.0)
    assert cfg.real_time_factor == 1.0 and cfg.seed == 0 and cfg.gui is False
    assert cfg.topics.joint_states == "joint_states" and cfg.topics.clock == "/clock"
    assert cfg.use_sim_time is False


def test_shipped_yaml_declares_known_parameters_with_the_code_defaults() -> None:
    # One place for defaults: the YAML may restate them but must not drift from the code.
    values = node_yaml()
    assert set(values) <= set(PARAMETER_NAMES), set(values) - set(PARAMETER_NAMES)
    defaults = {p.name: p.default for p in NODE_PARAMETERS}
    for key, value in values.items():
        assert value == defaults[key], f"{key}: YAML {value!r} != code default {defaults[key]!r}"
    assert make_config(values, NO_DISPLAY) == make_config({}, NO_DISPLAY)


def test_profile_by_name_and_knob_overrides() -> None:
    cfg = make_config({"dynamics": "gravity_x2", "friction_scale": 0.5}, NO_DISPLAY)
    assert cfg.profile.gravity_scale == 2.0 and cfg.profile.friction_scale == 0.5
    knobs = profile_knobs(cfg.profile)
    assert {"gravity_scale", "friction_scale", "latency_steps", "sensor_noise_std"} <= set(knobs)
    assert "name" not in knobs and "description" not in knobs


def test_topic_parameters_map_to_their_topics() -> None:
    names = ("joint_states", "imu", "ground_truth_odom", "clock", "joint_commands")
    cfg = make_config({f"{n}_topic": f"/robot/{n}" for n in names}, NO_DISPLAY)
    assert [getattr(cfg.topics, n) for n in names] == [f"/robot/{n}" for n in names]


def test_ints_are_accepted_for_float_parameters() -> None:
    cfg = make_config({"control_hz": 50, "physics_hz": 500, "real_time_factor": 0}, NO_DISPLAY)
    assert cfg.timing.decimation == 10 and cfg.real_time_factor == 0.0


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"dynamics": "no_such_profile"}, "unknown dynamics profile 'no_such_profile'"),
        ({"dynamics": ""}, "dynamics"),
        ({"control_hz": -100.0}, "control_hz must be > 0"),
        ({"physics_hz": 0.0}, "physics_hz must be > 0"),
        ({"physics_hz": 1050.0}, "integer multiple"),
        ({"control_hz": "fast"}, "control_hz must be a finite number"),
        ({"control_hz": math.nan}, "control_hz must be a finite number"),
        ({"real_time_factor": -1.0}, "real_time_factor must be >= 0"),
        ({"command_timeout": -0.1}, "command_timeout must be >= 0"),
        ({"seed": -2}, "seed must be an integer"),
        ({"seed": 1.5}, "seed must be an integer"),
        ({"gui": "yes"}, "gui must be true or false"),
        ({"gui": True}, "no display"),
        ({"imu_topic": ""}, "imu_topic must be a non-empty string"),
        ({"gravity_scale": -2.0}, "gravity_scale"),
        ({"no_such_param": 1}, "unknown parameters ['no_such_param']"),
    ],
)
def test_bad_parameters_are_refused_with_a_clear_message(
    values: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        make_config(values, NO_DISPLAY)


def test_unknown_profile_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError) as err:
        make_config({"dynamics": "gravity_x3"}, NO_DISPLAY)
    assert "gravity_x2" in str(err.value) and "real" in str(err.value)


def test_several_errors_are_reported_together() -> None:
    with pytest.raises(ConfigError) as err:
        make_config({"control_hz": -1.0, "seed": -5, "ground_truth_odom_topic": ""}, NO_DISPLAY)
    text = str(err.value)
    assert "control_hz" in text and "seed" in text and "ground_truth_odom_topic" in text


def test_describe_names_the_changed_knobs() -> None:
    text = describe(make_config({"dynamics": "gravity_x2", "latency_steps": 2}, NO_DISPLAY))
    assert "gravity_x2" in text and "gravity_scale=2" in text and "latency_steps=2" in text
    assert "friction_scale" not in text
    assert "as fast as possible" in describe(make_config({"real_time_factor": 0}, NO_DISPLAY))


def test_gui_is_allowed_with_a_display() -> None:
    assert make_config({"gui": True}, {"DISPLAY": ":0"}).gui is True


def test_seed_minus_one_means_fresh_entropy() -> None:
    assert make_config({"seed": -1}, NO_DISPLAY).seed is None


def test_runtime_changes() -> None:
    knobs = profile_knobs(make_config({}, NO_DISPLAY).profile)
    assert runtime_change_error("gravity_scale", knobs) is None
    assert runtime_change_error("real_time_factor", knobs) is None
    assert runtime_change_error("command_timeout", knobs) is None
    assert "restart" in runtime_change_error("control_hz", knobs)
    assert "restart" in runtime_change_error("dynamics", knobs)
    assert "restart" in runtime_change_error("use_sim_time", knobs)
    assert "unknown" in runtime_change_error("warp_drive", knobs)
    assert runtime_number("real_time_factor", 2) == 2.0
    with pytest.raises(ConfigError, match="real_time_factor"):
        runtime_number("real_time_factor", -0.5)
    with pytest.raises(ConfigError, match="must be a number"):
        runtime_number("command_timeout", "soon")


def test_runtime_changes_are_checked_as_a_whole() -> None:
    profile = make_config({}, NO_DISPLAY).profile
    assert runtime_changes_error({"gravity_scale": 2.0, "real_time_factor": 0}, profile) is None
    assert runtime_changes_error({"latency_steps": 3, "command_timeout": 1}, profile) is None
    # One bad member refuses the whole set (nothing is applied before everything is checked).
    assert "gravity_scale" in runtime_changes_error(
        {"friction_scale": 0.5, "gravity_scale": -1.0}, profile
    )
    assert "latency_steps" in runtime_changes_error({"latency_steps": 2.5}, profile)
    assert "restart" in runtime_changes_error({"gravity_scale": 2.0, "seed": 3}, profile)
    assert "real_time_factor" in runtime_changes_error({"real_time_factor": -1.0}, profile)


# --- pacing -------------------------------------------------------------------------------


def test_pacer_real_time_keeps_a_fixed_grid() -> None:
    pacer = Pacer(control_dt=0.01, real_time_factor=1.0)
    assert pacer.wait_time(100.0) == 0.0  # first tick at once
    pacer.tick_done(100.0)
    assert pacer.wait_time(100.004) == pytest.approx(0.006)
    pacer.tick_done(100.013)  # 3 ms late: the next deadline stays on the grid
    assert pacer.wait_time(100.013) == pytest.approx(0.007)
    assert pacer.overruns == 0


def test_pacer_catches_up_at_twice_the_rate_at_most() -> None:
    pacer = Pacer(control_dt=0.01, real_time_factor=1.0)
    pacer.tick_done(0.0)
    pacer.tick_done(0.025)  # 15 ms late: the grid deadline 0.02 has passed ...
    assert pacer.wait_time(0.025) == pytest.approx(0.005)  # ... still half a period to answer
    pacer.tick_done(0.030)
    assert pacer.wait_time(0.030) == pytest.approx(0.005)  # 0.035: behind the grid (0.03)
    pacer.tick_done(0.035)
    assert pacer.wait_time(0.035) == pytest.approx(0.005)  # 0.04: back on the grid
    pacer.tick_done(0.040)
    assert pacer.wait_time(0.040) == pytest.approx(0.01)
    assert pacer.overruns == 0


def test_pacer_drops_a_long_backlog_instead_of_bursting() -> None:
    pacer = Pacer(control_dt=0.01, real_time_factor=1.0, max_lag_ticks=5)
    pacer.tick_done(0.0)
    pacer.tick_done(1.0)  # a 1 s stall
    assert pacer.overruns == 1
    assert pacer.wait_time(1.0) == pytest.approx(0.01)


def test_pacer_rates() -> None:
    pacer = Pacer(control_dt=0.01, real_time_factor=0.0)
    pacer.tick_done(0.0)
    assert pacer.period == 0.0 and pacer.wait_time(0.0) == 0.0
    pacer.set_real_time_factor(2.0, now=5.0)
    assert pacer.period == pytest.approx(0.005)
    assert pacer.wait_time(5.0) == pytest.approx(0.005)


def test_start_gate_opens_on_an_answer_to_the_last_sample_only() -> None:
    gate = StartGate(republish_period=0.1)
    assert not gate.on_command(5)  # nothing published yet
    gate.published(now=10.0, stamp_ns=1_000)
    assert not gate.on_command(1_001)  # a safe action stamped with the commander's clock
    assert not gate.on_command(999)
    assert gate.poll(10.05) == (False, pytest.approx(0.05))
    assert gate.poll(10.1) == (True, 0.0) and gate.republished == 1
    gate.published(now=10.1, stamp_ns=2_000)  # republished with a new stamp
    assert not gate.on_command(1_000)  # an answer to the previous publication: too late
    assert not gate.is_open
    assert gate.on_command(2_000) and gate.is_open
    assert not gate.on_command(2_000)  # opens once


def test_real_time_factor_meter() -> None:
    meter = RealTimeFactorMeter()
    meter.start(sim_time=1.0, wall_time=10.0)
    assert meter.value(sim_time=21.0, wall_time=12.0) == pytest.approx(10.0)
    assert meter.value(sim_time=1.0, wall_time=10.0) == 0.0


def test_lockstep_parameters() -> None:
    cfg = make_config({"lockstep": True, "use_sim_time": True}, NO_DISPLAY)
    assert cfg.lockstep and cfg.lockstep_timeout == 0.5
    assert "lockstep" in describe(cfg)
    assert make_config({}, NO_DISPLAY).lockstep is False  # real time stays the default
    for bad, match in [
        ({"lockstep": True}, "lockstep needs use_sim_time"),
        ({"lockstep": "yes", "use_sim_time": True}, "lockstep must be true or false"),
        ({"lockstep_timeout": 0.0}, "lockstep_timeout must be > 0"),
    ]:
        with pytest.raises(ConfigError, match=match):
            make_config(bad, NO_DISPLAY)


def test_lockstep_gate_waits_for_the_first_answer_republishing_then_times_out() -> None:
    gate = LockstepGate(timeout=0.5, republish_period=0.1)
    gate.published(10.0)
    # Before the first answer: no timeout, a republication every 0.1 s.
    polls = [gate.poll(t, answered=False) for t in (10.05, 10.1, 10.15, 10.2, 12.0)]
    assert [p.step for p in polls] == [False] * 5
    assert [p.republish for p in polls] == [False, True, False, True, True]
    assert polls[0].wait == pytest.approx(0.05)
    step = gate.poll(12.01, answered=True)
    assert step.step and not step.miss and gate.misses == 0
    # Running: an answer steps at once, silence steps after the timeout and counts a miss.
    gate.published(12.02)
    assert gate.poll(12.3, answered=False) == (False, False, False, pytest.approx(0.22))
    miss = gate.poll(12.52, answered=False)
    assert miss.step and miss.miss and not miss.republish and gate.misses == 1


# --- runner (real PyBullet) ---------------------------------------------------------------


def command(action: np.ndarray, names: tuple[str, ...] = JOINT_NAMES) -> SimpleNamespace:
    """A duck-typed sensor_msgs/JointState command (the decoder reads fields by name)."""
    cmd = action_to_command(action)
    index = [JOINT_NAMES.index(n) for n in names]
    return SimpleNamespace(
        name=list(names),
        position=list(cmd.position[index]),
        velocity=[math.nan] * len(names),
        effort=list(cmd.effort[index]),
    )


@pytest.fixture
def runner():
    r = SimRunner(make_config({"command_timeout": 0.05}, NO_DISPLAY))
    yield r
    r.close()


def test_runner_holds_valid_commands(runner: SimRunner) -> None:
    np.testing.assert_array_equal(runner.action, SAFE_ACTION)
    action = np.array([0.2, -0.3, 0.5, -0.1, 0.4, -0.5])
    assert runner.on_command(command(action, tuple(reversed(JOINT_NAMES)))) is None
    np.testing.assert_allclose(runner.action, action, atol=1e-12)
    tick = runner.step()
    np.testing.assert_allclose(tick.action, action, atol=1e-12)
    assert tick.stamp == pytest.approx(0.01)
    # The wheels got the commanded torque (no latency, no noise, full motor strength).
    wheels = list(WHEEL_JOINT_IDS)
    np.testing.assert_allclose(
        tick.readings.joint_effort[wheels], action_to_command(action).effort[wheels]
    )


def test_runner_refuses_non_finite_and_malformed_commands(runner: SimRunner) -> None:
    good = np.full(6, 0.3)
    runner.on_command(command(good))
    nan = command(good)
    nan.effort[WHEEL_JOINT_IDS[0]] = math.nan
    reason = runner.on_command(nan)
    assert reason is not None and JOINT_NAMES[WHEEL_JOINT_IDS[0]] in reason
    np.testing.assert_array_equal(runner.action, SAFE_ACTION)

    runner.on_command(command(good))
    reason = runner.on_command(command(good, JOINT_NAMES[:-1]))
    assert reason is not None and "malformed" in reason and JOINT_NAMES[-1] in reason
    np.testing.assert_array_equal(runner.action, SAFE_ACTION)

    short = command(good)
    short.effort = short.effort[:3]  # wrong length: decodes as missing
    assert runner.on_command(short) is not None
    np.testing.assert_array_equal(runner.action, SAFE_ACTION)


def test_runner_out_of_range_commands_are_clipped(runner: SimRunner) -> None:
    msg = command(np.zeros(6))
    msg.effort = [1e6] * 6
    assert runner.on_command(msg) is None
    assert runner.action[WHEEL_JOINT_IDS[0]] == 1.0


def test_runner_command_timeout_applies_the_safe_action_once(runner: SimRunner) -> None:
    runner.on_command(command(np.full(6, 0.5)))
    notes = [runner.step().note for _ in range(10)]  # 0.1 s of sim time, timeout 0.05 s
    assert sum(n is not None for n in notes) == 1 and "command_timeout" in next(
        filter(None, notes)
    )
    assert notes.index(next(filter(None, notes))) == 5  # the tick starting 0.05 s after it
    np.testing.assert_array_equal(runner.action, SAFE_ACTION)
    runner.command_timeout = 0.0  # 0 = hold forever
    runner.on_command(command(np.full(6, 0.5)))
    assert all(runner.step().note is None for _ in range(10))
    np.testing.assert_allclose(runner.action, 0.5)


def test_runner_reset_keeps_the_clock_monotone(runner: SimRunner) -> None:
    runner.on_command(command(np.full(6, 0.5)))
    for _ in range(20):
        before = runner.step().stamp
    tick = runner.reset()
    assert tick.stamp > before
    np.testing.assert_array_equal(runner.action, SAFE_ACTION)
    assert runner.step().stamp == pytest.approx(tick.stamp + 0.01)
    assert abs(tick.readings.base_pos[0]) < 0.05  # back near the origin


def test_runner_set_param_changes_the_sim(runner: SimRunner) -> None:
    runner.set_param("gravity_scale", 2.0)
    assert runner.sim.profile.gravity_scale == 2.0
    with pytest.raises(ConfigError):
        runner.set_param("gravity_scale", -1.0)
    with pytest.raises(ConfigError):
        runner.set_param("warp_drive", 1.0)


def stamped(action: np.ndarray, t: float) -> SimpleNamespace:
    """A command stamped ``t`` [s] (``header.stamp`` as builtin_interfaces/Time fields)."""
    msg = command(action)
    sec = math.floor(t)
    msg.header = SimpleNamespace(stamp=SimpleNamespace(sec=sec, nanosec=round((t - sec) * 1e9)))
    return msg


def test_lockstep_runner_takes_only_the_first_answer_to_the_current_sample() -> None:
    runner = SimRunner(make_config({"lockstep": True, "use_sim_time": True}, NO_DISPLAY))
    try:
        a, b = np.full(6, 0.3), np.full(6, -0.3)
        assert not runner.answered
        runner.on_command(stamped(a, 0.0))  # answers sample 0 (stamp 0)
        assert runner.answered
        runner.on_command(stamped(b, 0.0))  # a second answer (to a republished sample)
        np.testing.assert_allclose(runner.action, a)
        assert runner.step().stamp == pytest.approx(0.01) and not runner.answered
        runner.on_command(stamped(b, 0.0))  # late answer to sample 0: not for sample 1
        assert not runner.answered
        np.testing.assert_allclose(runner.action, a)  # still held for a timeout step
        runner.on_command(stamped(b, 0.02))  # stamped later (a safe action at "now")
        assert runner.answered
        np.testing.assert_allclose(runner.action, b)
        assert runner.ignored_commands == 2
        tick = runner.reset()  # a reset sample is answered like any other
        assert not runner.answered
        runner.on_command(stamped(a, tick.stamp))
        assert runner.answered
    finally:
        runner.close()


def test_real_time_runner_takes_every_command_whatever_its_stamp(runner: SimRunner) -> None:
    runner.step()
    runner.on_command(stamped(np.full(6, 0.3), 0.0))
    runner.on_command(stamped(np.full(6, 0.2), 0.0))
    np.testing.assert_allclose(runner.action, 0.2)
    assert not runner.answered and runner.ignored_commands == 0
