"""Physics of the simulator: it falls when left alone, and every knob acts as physics says."""

from __future__ import annotations

import numpy as np
import pytest

from h2o_robot_bridge.contract import JOINTS, Timing, get_task
from h2o_robot_bridge.contract import robot as contract_robot
from h2o_robot_bridge.controllers import ClassicalController, ClassicalGains
from h2o_robot_bridge.errors import ConfigError
from h2o_sim.dynamics import load_profile
from h2o_sim.rollout import rollout
from h2o_sim.simulator import ActionError, WheelLeggedSim

FALL_TILT = get_task("stand").fall_tilt
FAST = Timing(control_hz=1000.0, physics_hz=1000.0)  # one physics step per tick: fine timing
WHEELS = list(contract_robot.WHEEL_JOINT_IDS)
KNEES = list(contract_robot.KNEE_JOINT_IDS)


def wheel_action(value: float) -> np.ndarray:
    a = np.zeros(6)
    a[WHEELS] = value
    return a


def fall_time(profile: str, seed: int, **knobs: float) -> float:
    with WheelLeggedSim(profile, timing=FAST, seed=seed) as sim:
        for key, value in knobs.items():
            sim.set_param(key, value)
        traj = rollout(sim, None, 5.0, fall_tilt=FALL_TILT)
    assert traj.fell, f"{profile} seed {seed}: still upright after 5 s with zero actions"
    return traj.duration


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_zero_actions_fall_within_a_few_seconds(seed: int) -> None:
    with WheelLeggedSim("real", seed=seed) as sim:
        traj = rollout(sim, None, 3.0, fall_tilt=FALL_TILT)
    assert traj.fell and traj.duration < 3.0
    assert traj.tilt[-1] > FALL_TILT


def test_double_gravity_falls_about_sqrt2_faster() -> None:
    # An inverted pendulum's time scale is sqrt(l / g): doubling g divides fall times by sqrt 2.
    seeds = range(4)
    ratios = [fall_time("gravity_x2", s) / fall_time("real", s) for s in seeds]
    mean = float(np.mean(ratios))
    assert abs(mean - 1 / np.sqrt(2)) < 0.08, ratios
    assert all(r < 0.9 for r in ratios), ratios


def max_slip(friction_scale: float) -> tuple[float, float]:
    """Largest wheel slip [m/s] and final wheel speed [rad/s] under a wheel torque step.

    Looks at 15-60 ms: after the wheels are loaded, before the reaction torque tips the body
    over (then the wheels lift and spin freely whatever the friction)."""
    with WheelLeggedSim("real", timing=FAST, seed=0) as sim:
        sim.set_param("friction_scale", friction_scale)
        slip, speed = 0.0, 0.0
        for k in range(60):
            r = sim.step(wheel_action(0.5))
            if k >= 15:
                slip = max(slip, float(np.max(np.abs(sim.wheel_contact_speed()))))
            speed = float(np.mean(r.joint_vel[WHEELS]))
    return slip, speed


def test_low_friction_makes_wheels_slip_under_the_same_torque() -> None:
    slip_nominal, speed_nominal = max_slip(1.0)
    slip_low, speed_low = max_slip(0.3)
    assert slip_nominal < 0.05, slip_nominal
    assert slip_low > 0.3, slip_low
    assert speed_low > speed_nominal  # slipping wheels spin up faster


def test_friction_profile_sets_the_knob() -> None:
    with WheelLeggedSim("friction_x0.3") as sim:
        assert sim.profile.friction_scale == pytest.approx(0.3)


@pytest.mark.parametrize("latency", [3, 13])
def test_latency_delays_the_command_by_exactly_that_many_physics_steps(latency: int) -> None:
    rng = np.random.default_rng(0)
    actions = rng.uniform(-0.3, 0.3, (8, 6))
    with WheelLeggedSim("real", seed=5) as delayed:  # 100 Hz ticks of 10 physics steps
        delayed.set_param("latency_steps", latency)
        states = [delayed.step(a) for a in actions]
    # Reference: no latency, one physics step per tick, fed the command each physics step
    # should see: the safe (zero) action for the first `latency` steps, then the shifted ticks.
    per_step = np.repeat(actions, 10, axis=0)
    shifted = np.vstack([np.zeros((latency, 6)), per_step])[: len(per_step)]
    with WheelLeggedSim("real", timing=FAST, seed=5) as reference:
        ref = [reference.step(a) for a in shifted]
    for t, got in enumerate(states):
        want = ref[10 * t + 9]
        np.testing.assert_array_equal(got.joint_pos, want.joint_pos)
        np.testing.assert_array_equal(got.base_pos, want.base_pos)
    # And it is really delayed: the undelayed run differs.
    with WheelLeggedSim("real", seed=5) as prompt:
        undelayed = [prompt.step(a) for a in actions]
    assert not np.array_equal(undelayed[0].joint_pos, states[0].joint_pos)


def test_wheel_effort_appears_after_latency_steps() -> None:
    with WheelLeggedSim("real", timing=FAST, seed=0) as sim:
        sim.set_param("latency_steps", 4)
        efforts = [sim.step(wheel_action(0.5)).joint_effort[WHEELS[0]] for _ in range(6)]
    torque = 0.5 * JOINTS[WHEELS[0]].max_effort
    assert efforts[:4] == [0.0] * 4  # ticks 1-4 still apply the reset command
    assert efforts[4] == pytest.approx(torque)


def test_joint_noise_changes_executed_not_reported_action() -> None:
    with WheelLeggedSim("joint_noise", seed=0) as sim:
        action = wheel_action(0.1)
        sim.step(action)
        np.testing.assert_array_equal(sim.last_action, action)
        assert not np.allclose(sim.last_executed_action, action)
        assert np.all(np.abs(sim.last_executed_action) <= 1.0)
        diffs = []
        for _ in range(200):
            sim.step(action)
            diffs.append(sim.last_executed_action - action)
    sigma = sim.profile.action_noise_std
    assert np.std(diffs) == pytest.approx(sigma, rel=0.15)


def balanced_stats(**knobs: float) -> dict[str, float]:
    """Mean knee torque and knee sag over 1 s of balancing after 1 s of settling."""
    with WheelLeggedSim("real", seed=0) as sim:
        for key, value in knobs.items():
            sim.set_param(key, value)
        # Without the controller's leg integral, so the legs show their PD compliance.
        controller = ClassicalController(ClassicalGains(k_leg_i=0.0))
        traj = rollout(sim, controller.act, 2.0, fall_tilt=FALL_TILT)
    assert not traj.fell, knobs
    late = slice(100, None)
    default = contract_robot.DEFAULT_POSITIONS[KNEES]
    return {
        "knee_torque": float(np.mean(np.abs(traj.joint_effort[late][:, KNEES]))),
        "knee_sag": float(np.mean(np.abs(traj.joint_pos[late][:, KNEES] - default))),
    }


def test_heavier_robot_needs_more_knee_torque_and_sags_more() -> None:
    nominal = balanced_stats()
    heavy = balanced_stats(mass_scale=1.5)
    assert heavy["knee_torque"] / nominal["knee_torque"] == pytest.approx(1.5, rel=0.15)
    assert heavy["knee_sag"] > 1.3 * nominal["knee_sag"]


def test_weaker_motors_sag_more_and_scale_wheel_torque() -> None:
    nominal = balanced_stats()
    weak = balanced_stats(motor_strength=0.5)
    # Same load, half the PD stiffness: about twice the sag.
    assert weak["knee_sag"] / nominal["knee_sag"] == pytest.approx(2.0, rel=0.25)
    with WheelLeggedSim("real", seed=0) as sim:
        sim.set_param("motor_strength", 0.5)
        r = sim.step(wheel_action(0.5))
    np.testing.assert_allclose(r.joint_effort[WHEELS], 0.5 * 0.5 * JOINTS[WHEELS[0]].max_effort)


def test_joint_damping_slows_the_wheels() -> None:
    speeds = []
    for damping in (0.0, 0.05):
        with WheelLeggedSim("real", timing=FAST, seed=0) as sim:
            sim.set_param("joint_damping", damping)
            for _ in range(60):
                r = sim.step(wheel_action(0.25))
            speeds.append(float(np.mean(r.joint_vel[WHEELS])))
    assert speeds[0] > 0.0
    assert speeds[1] < 0.9 * speeds[0], speeds


def test_sensor_noise_changes_readings_not_physics() -> None:
    sims = [WheelLeggedSim("real", seed=1), WheelLeggedSim("real", seed=1)]
    sims[1].set_param("sensor_noise_std", 0.05)
    gyro, qpos = [], []
    for _ in range(50):
        clean, noisy = (s.step(np.zeros(6)) for s in sims)
        np.testing.assert_array_equal(clean.base_pos, noisy.base_pos)  # same physics
        gyro.append(noisy.ang_vel - clean.ang_vel)
        qpos.append(noisy.joint_pos - clean.joint_pos)
    for s in sims:
        s.close()
    assert np.std(gyro) == pytest.approx(0.05, rel=0.25)
    assert np.std(qpos) == pytest.approx(0.005, rel=0.25)


def test_pushes_disturb_the_robot() -> None:
    runs = []
    for force in (0.0, 40.0):
        with WheelLeggedSim("real", seed=0) as sim:
            sim.set_param("push_force", force)
            sim.set_param("push_interval", 0.5)
            runs.append(rollout(sim, ClassicalController().act, 1.5, fall_tilt=FALL_TILT))
    calm, pushed = (r.base_lin_vel[:, :2] for r in runs)
    # Identical until the first push at 0.5 s, then a push of 40 N for 0.1 s on ~10.6 kg
    # changes the speed by up to ~0.38 m/s.
    np.testing.assert_array_equal(calm[:50], pushed[:50])
    change = float(np.max(np.linalg.norm(pushed - calm, axis=1)))
    assert 0.15 < change < 1.0, change


def test_gravity_change_at_run_time_shows_in_the_accelerometer() -> None:
    with WheelLeggedSim("real", seed=0) as sim:
        controller = ClassicalController()
        rollout(sim, controller.act, 1.0)
        before = rollout(sim, controller.act, 0.5).joint_effort
        sim.set_param("gravity_scale", 2.0)
        traj = rollout(sim, controller.act, 0.5)
        acc_z = sim.readings.lin_acc[2]
    assert acc_z == pytest.approx(2 * 9.81, rel=0.1)
    knee_before = np.mean(np.abs(before[:, KNEES]))
    knee_after = np.mean(np.abs(traj.joint_effort[25:, KNEES]))
    assert knee_after > 1.6 * knee_before


def test_same_seed_same_trajectory() -> None:
    rng = np.random.default_rng(3)
    actions = rng.uniform(-1, 1, (40, 6))
    profile = load_profile("joint_noise", {"sensor_noise_std": 0.01})
    runs = []
    for _ in range(2):
        with WheelLeggedSim(profile, seed=7) as sim:
            runs.append([sim.step(a) for a in actions])
    with WheelLeggedSim(profile, seed=123) as sim:
        sim.step(actions[0])
        sim.reset(seed=7)  # a reused simulator reproduces a fresh one
        runs.append([sim.step(a) for a in actions])
    for a, b, c in zip(*runs, strict=True):
        for field in a._fields:
            np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
            np.testing.assert_array_equal(getattr(a, field), getattr(c, field))


@pytest.mark.parametrize("before", [5, 10, 30])
def test_a_reset_after_an_episode_on_the_ground_is_a_fresh_simulator(before: int) -> None:
    """The ground contacts of the last episode (and their warm-start impulses) are gone after
    a reset: the next episode is bitwise that of a fresh simulator. (They were kept: after 10
    ticks of this episode, its repeat differed by 0.01 rad/s in joint velocity.)"""

    def episode(sim: WheelLeggedSim, ticks: int) -> np.ndarray:
        return np.array([sim.step(np.zeros(6)).joint_vel for _ in range(ticks)])

    with WheelLeggedSim("real", seed=7) as fresh:
        want = episode(fresh, 30)
    with WheelLeggedSim("real", seed=7) as reused:
        episode(reused, before)  # wheels on the ground, barely rolled
        reused.reset(seed=7)
        np.testing.assert_array_equal(episode(reused, 30), want)


def test_different_seeds_differ() -> None:
    with WheelLeggedSim("real", seed=1) as a, WheelLeggedSim("real", seed=2) as b:
        assert not np.array_equal(a.readings.joint_pos, b.readings.joint_pos)


def test_two_simulators_with_different_profiles_do_not_interfere() -> None:
    actions = np.random.default_rng(0).uniform(-0.5, 0.5, (30, 6))
    with WheelLeggedSim("real", seed=4) as alone:
        solo = [alone.step(a).base_pos for a in actions]
    real = WheelLeggedSim("real", seed=4)
    heavy = WheelLeggedSim("gravity_x2", seed=4)
    heavy.set_param("friction_scale", 0.3)
    both = []
    for a in actions:
        heavy.step(-a)
        both.append(real.step(a).base_pos)
        heavy.step(a)
    real.close()
    heavy.close()
    np.testing.assert_array_equal(np.array(solo), np.array(both))


def test_readings_are_consistent_at_rest() -> None:
    with WheelLeggedSim("real", seed=0) as sim:
        r = rollout(sim, ClassicalController().act, 1.0)
        readings = sim.readings
    assert not r.fell
    assert readings.quat_xyzw.shape == (4,)
    assert np.linalg.norm(readings.quat_xyzw) == pytest.approx(1.0)
    assert readings.lin_acc[2] == pytest.approx(9.81, rel=0.05)  # specific force, upright
    assert readings.base_pos[2] == pytest.approx(sim.geometry.standing_height, abs=0.03)
    assert readings.time == pytest.approx(1.0)


def test_bad_actions_and_knobs_are_rejected() -> None:
    with WheelLeggedSim("real", seed=0) as sim:
        with pytest.raises(ActionError, match="shape"):
            sim.step(np.zeros(5))
        with pytest.raises(ActionError, match="non-finite"):
            sim.step(np.array([np.nan, 0, 0, 0, 0, 0]))
        with pytest.raises(ConfigError, match="unknown dynamics knob 'gravity'"):
            sim.set_param("gravity", 2.0)
        with pytest.raises(ConfigError, match="mass_scale"):
            sim.set_param("mass_scale", -1.0)
        with pytest.raises(ConfigError, match="latency_steps"):
            sim.set_param("latency_steps", 1.5)
        assert sim.profile.mass_scale == 1.0  # unchanged after a rejected value
        sim.step(np.full(6, 5.0))  # out of range is clipped, not an error
        np.testing.assert_array_equal(sim.last_action, np.ones(6))


def test_knobs_set_at_run_time_persist_across_reset() -> None:
    knobs = {"gravity_scale": 2.0, "mass_scale": 1.3, "friction_scale": 0.5, "latency_steps": 2}
    actions = np.random.default_rng(5).uniform(-0.5, 0.5, (30, 6))
    with WheelLeggedSim("real", seed=1) as reused:
        for key, value in knobs.items():
            reused.set_param(key, value)
        reused.step(actions[0])
        reused.reset(seed=9)
        got = [reused.step(a).joint_pos for a in actions]
    with WheelLeggedSim(load_profile("real", knobs), seed=9) as fresh:
        want = [fresh.step(a).joint_pos for a in actions]
    np.testing.assert_array_equal(np.array(got), np.array(want))
