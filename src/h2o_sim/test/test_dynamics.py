"""Dynamics profiles: shipped files, loading by name or path, overrides, validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from h2o_robot_bridge.errors import ConfigError
from h2o_sim.dynamics import (
    DynamicsProfile,
    knob_names,
    load_profile,
    profile_from_dict,
    profile_names,
    resolve_profile,
)


def test_shipped_profiles_exist_and_say_what_they_change() -> None:
    assert {"real", "gravity_x2", "friction_x0.3", "joint_noise"} <= set(profile_names())
    real = load_profile("real")
    assert real.knobs() == DynamicsProfile().knobs()  # real is nominal
    assert load_profile("gravity_x2").gravity_scale == 2.0
    assert load_profile("friction_x0.3").friction_scale == pytest.approx(0.3)
    noise = load_profile("joint_noise")
    assert noise.action_noise_std > 0
    assert noise.replace(action_noise_std=0.0).knobs() == real.knobs()


def test_every_shipped_profile_is_valid() -> None:
    for name in profile_names():
        assert load_profile(name).name == name


def test_load_by_path_and_overrides(tmp_path: Path) -> None:
    path = tmp_path / "heavy.yaml"
    path.write_text("mass_scale: 1.3\nlatency_steps: 2\n")
    prof = load_profile(path, {"latency_steps": 5, "sensor_noise_std": 0.02})
    assert (prof.name, prof.mass_scale, prof.latency_steps) == ("heavy", 1.3, 5)
    assert prof.sensor_noise_std == 0.02
    assert load_profile(str(path)).latency_steps == 2
    assert resolve_profile(prof) is prof
    assert resolve_profile(prof, {"mass_scale": 2.0}).mass_scale == 2.0


def test_unknown_profile_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown dynamics profile 'moon'.*gravity_x2"):
        load_profile("moon")
    with pytest.raises(ConfigError, match="does not exist"):
        load_profile("/no/such/profile.yaml")


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({"gravity": 2.0}, "unknown dynamics keys"),
        ({"gravity_scale": -1.0}, "gravity_scale"),
        ({"mass_scale": 0.0}, "mass_scale"),
        ({"latency_steps": 2.5}, "whole number"),
        ({"friction_scale": "low"}, "must be a number"),
        ({"sensor_noise_std": float("nan")}, "finite"),
        ({"push_interval": 0.0}, "push_interval"),
    ],
)
def test_bad_values_are_rejected(data: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        profile_from_dict(data, "bad")


def test_bad_override_and_bad_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown dynamics keys"):
        load_profile("real", {"gravity": 2.0})
    bad = tmp_path / "bad.yaml"
    bad.write_text("gravity_scale: [1, 2\n")
    with pytest.raises(ConfigError, match="cannot read"):
        load_profile(bad)
    listy = tmp_path / "listy.yaml"
    listy.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_profile(listy)


def test_round_trip_and_knob_names() -> None:
    prof = load_profile("gravity_x2", {"push_force": 10.0})
    again = profile_from_dict({k: v for k, v in prof.to_dict().items() if k != "name"}, prof.name)
    assert again == prof
    assert "latency_steps" in knob_names() and "name" not in knob_names()
    assert isinstance(load_profile("real", {"latency_steps": 3.0}).latency_steps, int)
