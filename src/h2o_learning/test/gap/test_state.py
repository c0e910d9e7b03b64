"""The simulator state behind an observation: orientation from projected gravity, joints."""

from __future__ import annotations

import numpy as np
import pybullet as p
import pytest

from h2o_learning.gap.state import quaternion_from_projected_gravity, state_from_observation
from h2o_robot_bridge.contract import OBS_DIM, field, projected_gravity_from_quaternion, robot
from h2o_robot_bridge.errors import ContractMismatchError


@pytest.mark.parametrize(
    "rpy", [(0.0, 0.0, 0.0), (0.1, -0.3, 2.0), (-0.7, 0.4, -1.0), (0.02, 1.2, 0.5)]
)
def test_orientation_has_the_projected_gravity_and_no_yaw(rpy: tuple[float, float, float]) -> None:
    quat = np.array(p.getQuaternionFromEuler(rpy))  # any yaw: it does not show in gravity
    g = projected_gravity_from_quaternion(quat)
    q = quaternion_from_projected_gravity(g)
    np.testing.assert_allclose(projected_gravity_from_quaternion(q), g, atol=1e-12)
    roll, pitch, yaw = p.getEulerFromQuaternion(q)
    assert (roll, pitch, yaw) == pytest.approx((rpy[0], rpy[1], 0.0), abs=1e-9)


def test_state_takes_joints_and_previous_action_from_the_observation() -> None:
    obs = np.arange(OBS_DIM, dtype=np.float32) / 100
    s = state_from_observation(obs)
    legs = list(robot.LEG_JOINT_IDS)
    np.testing.assert_allclose(
        s.joint_pos[legs], field(obs, "leg_pos") + robot.DEFAULT_POSITIONS[legs]
    )
    np.testing.assert_array_equal(s.joint_pos[list(robot.WHEEL_JOINT_IDS)], 0.0)
    np.testing.assert_array_equal(s.joint_vel, field(obs, "joint_vel"))
    np.testing.assert_array_equal(s.ang_vel, field(obs, "base_ang_vel"))
    np.testing.assert_array_equal(s.applied_action, field(obs, "prev_action"))


def test_wrong_observation_size_is_a_contract_mismatch() -> None:
    with pytest.raises(ContractMismatchError, match=f"must be \\({OBS_DIM},\\)"):
        state_from_observation(np.zeros(OBS_DIM - 1))
