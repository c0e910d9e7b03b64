"""``WheelLeggedSim.set_state``: a state from sensor-like quantities, on the ground, rolling."""

from __future__ import annotations

import numpy as np
import pybullet as p
import pytest

from h2o_robot_bridge.contract import SAFE_ACTION, observation_from_snapshot
from h2o_robot_bridge.contract import robot as contract_robot
from h2o_robot_bridge.controllers import ClassicalController
from h2o_sim.simulator import CONTACT_DEPTH, ActionError, WheelLeggedSim

WHEELS = list(contract_robot.WHEEL_JOINT_IDS)


def moving_state(seed: int) -> tuple[WheelLeggedSim, np.ndarray]:
    """A simulator after >= 0.5 s of the classical controller plus noise, at a tick where both
    wheels roll (|slip| < 1 mm/s: even gentle control slips now and then)."""
    sim = WheelLeggedSim("real", seed=seed)
    ctrl = ClassicalController.from_yaml(task="stand", control_hz=sim.timing.control_hz)
    rng = np.random.default_rng(seed)
    action = SAFE_ACTION.copy()
    for tick in range(300):
        obs = observation_from_snapshot(sim.readings.snapshot(), (0.0, 0.0), action)
        action = np.clip(ctrl.act(obs) + rng.normal(0.0, 0.05, 6), -1, 1)
        sim.step(action)
        if tick >= 50 and np.abs(sim.wheel_contact_speed()).max() < 1e-3:
            return sim, action
    raise AssertionError("the source never rolled without slip")


def wheel_heights(sim: WheelLeggedSim) -> np.ndarray:
    links = [sim.joint_indices[i] for i in WHEELS]
    states = p.getLinkStates(sim.body_id, links, physicsClientId=sim.client_id)
    return np.array([s[0][2] for s in states]) - contract_robot.WHEEL_RADIUS


@pytest.mark.parametrize("seed", [0, 1])
def test_set_state_reproduces_the_readings_it_was_given(seed: int) -> None:
    src, action = moving_state(seed)
    r = src.readings
    with WheelLeggedSim("real", seed=99) as sim:
        got = sim.set_state(r.quat_xyzw, r.ang_vel, r.joint_pos, r.joint_vel, action)
        legs = list(contract_robot.LEG_JOINT_IDS)
        np.testing.assert_allclose(got.quat_xyzw, r.quat_xyzw, atol=1e-12)
        np.testing.assert_allclose(got.ang_vel, r.ang_vel, atol=1e-9)
        np.testing.assert_allclose(got.joint_pos[legs], r.joint_pos[legs], atol=1e-12)
        np.testing.assert_allclose(got.joint_vel, r.joint_vel, atol=1e-9)
        np.testing.assert_allclose(got.base_pos[:2], 0.0)
        np.testing.assert_allclose(sim.last_action, action)
        # Lowest wheel sunk by the standing contact depth; rolling: no slip at the contacts
        # beyond the source's own (< 1 mm/s, shared by the least-squares fit of both wheels).
        assert wheel_heights(sim).min() == pytest.approx(-CONTACT_DEPTH, abs=1e-9)
        np.testing.assert_allclose(sim.wheel_contact_speed(), 0.0, atol=1e-3)
        # The source was rolling too (gentle controller): the same base velocity and height.
        np.testing.assert_allclose(got.base_lin_vel, r.base_lin_vel, atol=2e-3)
        assert got.base_pos[2] == pytest.approx(r.base_pos[2], abs=1e-4)
    src.close()


def test_set_state_then_step_matches_the_source_simulator() -> None:
    src, action = moving_state(0)
    r = src.readings
    with WheelLeggedSim("real", seed=5) as sim:
        sim.set_state(r.quat_xyzw, r.ang_vel, r.joint_pos, r.joint_vel, action, r.base_lin_vel)
        nxt = np.clip(action + 0.1, -1, 1)
        a, b = src.step(nxt), sim.step(nxt)
        np.testing.assert_allclose(b.joint_vel, a.joint_vel, atol=0.05)
        np.testing.assert_allclose(b.ang_vel, a.ang_vel, atol=0.01)
    src.close()


def test_set_state_is_deterministic_and_clears_the_delay_queue() -> None:
    src, action = moving_state(1)
    r = src.readings
    src.close()
    with WheelLeggedSim("real", seed=5) as sim:
        sim.set_param("latency_steps", 5)
        outs = []
        for _ in range(2):
            sim.set_state(r.quat_xyzw, r.ang_vel, r.joint_pos, r.joint_vel, action)
            outs.append(sim.step(-action).joint_vel)
            sim.step(action)  # leaves a command in flight: set_state must drop it
        np.testing.assert_array_equal(outs[0], outs[1])


def test_set_state_rejects_wrong_shapes() -> None:
    with WheelLeggedSim("real", seed=0) as sim, pytest.raises(ActionError, match="must be"):
        sim.set_state([0, 0, 0, 1], np.zeros(3), np.zeros(4), np.zeros(6), np.zeros(6))
