"""The robot model: URDF from config + contract, physically consistent masses and geometry."""

from __future__ import annotations

import dataclasses
import math
import xml.etree.ElementTree as ET

import numpy as np
import pybullet as p
import pytest

from h2o_robot_bridge.contract import JOINT_NAMES, JOINTS, WHEEL_RADIUS
from h2o_robot_bridge.contract import robot as contract_robot
from h2o_robot_bridge.errors import ConfigError
from h2o_sim.robot_model import geometry_from_dict, load_geometry, make_urdf, urdf_file
from h2o_sim.simulator import WheelLeggedSim


def test_urdf_joints_come_from_the_contract() -> None:
    root = ET.fromstring(make_urdf(load_geometry()))
    joints = {j.get("name"): j for j in root.iter("joint")}
    assert set(joints) == set(JOINT_NAMES)
    for spec in JOINTS:
        j = joints[spec.name]
        assert j.find("axis").get("xyz") == "0 1 0"
        limit = j.find("limit")
        assert float(limit.get("effort")) == spec.max_effort
        if spec.kind == "position":
            assert j.get("type") == "revolute"
            assert float(limit.get("lower")) == spec.lower
            assert float(limit.get("upper")) == spec.upper
        else:
            assert j.get("type") == "continuous"


def test_mass_and_inertia_are_physical() -> None:
    geom = load_geometry()
    assert 10.0 <= geom.total_mass <= 12.0
    with WheelLeggedSim("real") as sim:
        c, body = sim.client_id, sim.body_id
        total = 0.0
        for link in range(-1, p.getNumJoints(body, physicsClientId=c)):
            mass, _, inertia = p.getDynamicsInfo(body, link, physicsClientId=c)[:3]
            total += mass
            a, b, cc = sorted(inertia)
            assert min(inertia) > 0 and a + b >= cc * (1 - 1e-9)  # triangle inequality
        assert total == pytest.approx(geom.total_mass)


def test_default_pose_puts_the_wheel_under_the_hip() -> None:
    geom = load_geometry()
    hip = contract_robot.DEFAULT_POSITIONS[contract_robot.HIP_JOINT_IDS[0]]
    knee = contract_robot.DEFAULT_POSITIONS[contract_robot.KNEE_JOINT_IDS[0]]
    dx, dz = geom.wheel_below_hip(hip, knee)
    assert abs(dx) < 1e-9 and dz < 0
    assert geom.standing_height == pytest.approx(WHEEL_RADIUS - dz - geom.hip_offset[2])


def test_wheel_track_and_radius_match_the_contract() -> None:
    with WheelLeggedSim("real", seed=0) as sim:
        c, body = sim.client_id, sim.body_id
        idx = {p.getJointInfo(body, j, physicsClientId=c)[1].decode(): j for j in range(6)}
        states = p.getLinkStates(body, [idx["left_wheel"], idx["right_wheel"]], physicsClientId=c)
        left, right = np.array(states[0][0]), np.array(states[1][0])
    assert left[1] - right[1] == pytest.approx(contract_robot.WHEEL_TRACK, abs=1e-3)
    assert left[2] == pytest.approx(WHEEL_RADIUS, abs=2e-3)  # resting on the ground
    assert right[2] == pytest.approx(WHEEL_RADIUS, abs=2e-3)


def test_urdf_file_is_cached_and_loadable() -> None:
    geom = load_geometry()
    path = urdf_file(geom)
    assert path.read_text() == make_urdf(geom)
    # Cached: a second call neither rewrites the file nor makes another one ...
    written = path.stat().st_mtime_ns, path.stat().st_ino
    assert urdf_file(geom) == path and (path.stat().st_mtime_ns, path.stat().st_ino) == written
    # ... another geometry gets its own file, and a deleted cache file is written again (on a
    # geometry of this test's own: other processes may be loading the default one right now).
    heavier = dataclasses.replace(geom, base_mass=geom.base_mass + 1.2345)
    other = urdf_file(heavier)
    assert other != path and other.read_text() == make_urdf(heavier)
    other.unlink()
    assert urdf_file(heavier) == other and other.read_text() == make_urdf(heavier)
    # Loadable: PyBullet builds the body from the file, with every contract joint.
    client = p.connect(p.DIRECT)
    try:
        body = p.loadURDF(str(path), physicsClientId=client)
        names = [
            p.getJointInfo(body, j, physicsClientId=client)[1].decode()
            for j in range(p.getNumJoints(body, physicsClientId=client))
        ]
    finally:
        p.disconnect(client)
    assert set(JOINT_NAMES) <= set(names)


def test_bad_geometry_is_rejected() -> None:
    base = {
        "base": {"size": [0.16, 0.24, 0.12], "mass": 6.6},
        "hip_offset": [0.0, 0.13, 0.0],
        "thigh": {"length": 0.2, "radius": 0.02, "mass": 0.8},
        "shin": {"length": 0.2, "radius": 0.02, "mass": 0.6},
        "wheel": {"width": 0.03, "mass": 0.6},
    }
    assert math.isclose(geometry_from_dict(base).total_mass, 10.6)
    with pytest.raises(ConfigError, match="equal"):
        geometry_from_dict({**base, "shin": {"length": 0.25, "radius": 0.02, "mass": 0.6}})
    with pytest.raises(ConfigError, match="mass"):
        geometry_from_dict({**base, "wheel": {"width": 0.03, "mass": -1}})
    with pytest.raises(ConfigError, match="unknown keys"):
        geometry_from_dict({**base, "tail": {}})
    with pytest.raises(ConfigError, match="hip_offset"):
        geometry_from_dict({**base, "hip_offset": [0.0, 0.5, 0.0]})
