"""The one sensor snapshot type: its observation equals the contract builder's, bitwise."""

from __future__ import annotations

import numpy as np

from h2o_robot_bridge.contract import (
    ImuReading,
    JointReading,
    SensorSnapshot,
    build_observation,
    observation_from_snapshot,
)
from h2o_robot_bridge.contract.sensors import NAN_IMU, NAN_JOINTS


def test_snapshot_observation_is_the_builders() -> None:
    rng = np.random.default_rng(0)
    for _ in range(50):
        quat = rng.normal(size=4)
        imu = ImuReading(quat / np.linalg.norm(quat), rng.normal(size=3))
        joints = JointReading(rng.normal(size=6), rng.normal(size=6), rng.normal(size=6))
        command, prev = rng.normal(size=2), rng.uniform(-1, 1, 6)
        got = observation_from_snapshot(SensorSnapshot(imu, joints), command, prev)
        want = build_observation(*imu, joints.position, joints.velocity, command, prev)
        assert got.dtype == np.float32 and np.array_equal(got, want)


def test_missing_readings_give_a_non_finite_observation() -> None:
    obs = observation_from_snapshot(SensorSnapshot(NAN_IMU, NAN_JOINTS), np.zeros(2), np.zeros(6))
    assert not np.isfinite(obs).all()
