"""``h2o-gap calibrate`` recovers known dynamics from data of the ``real`` profile.

Tolerances come from measurement on the 400-row gentle dataset (seed 0) with the robust loss,
CMA-ES seeds 0-4 (one knob) and 0-3 (three knobs), before they were written here:

- gravity from ``gravity_x2``, 200 rows, budget 60: 0.9913-1.0020 (max error 0.0087) -> 0.02;
- gravity, joint damping, delay from (1.5, 0.1, 4 steps), 100 rows, budget 150: gravity
  0.9814-1.0054 (max error 0.019) -> 0.03; damping <= 1e-4 -> 0.002; delay 0 exactly.

Gravity with motor strength is a harder search (the two trade off along a valley): with 200
evaluations one seed of four stopped at (1.051, 1.043), so that pair is not tested at this
budget (docs/gap.md).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from h2o_learning.gap.calibrate import (
    FITTABLE,
    CalibrationConfig,
    calibrate,
    profile_yaml,
    resolve_knob,
)
from h2o_learning.gap.cli import main
from h2o_robot_bridge.dataset import Dataset
from h2o_robot_bridge.errors import ConfigError
from h2o_sim.dynamics import DynamicsProfile, load_profile

SHIPPED = CalibrationConfig.load()


def config(rows: int) -> CalibrationConfig:
    return CalibrationConfig(SHIPPED.bounds, SHIPPED.sigma0, rows, seed=0)


def test_recovers_gravity_from_double_gravity(gentle_path: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "search.yaml"
    cfg.write_text(
        "bounds: {gravity_scale: [0.25, 4.0]}\nsigma0: 0.25\nmax_transitions: 200\nseed: 0\n"
    )
    out = tmp_path / "out"
    args = ["calibrate", "--dataset", str(gentle_path), "--start", "gravity_x2"]
    args += ["--knobs", "gravity", "--budget", "60", "--config", str(cfg), "-o", str(out), "-q"]
    assert main(args) == 0
    fitted = load_profile(out / "calibrated.yaml")
    assert fitted.gravity_scale == pytest.approx(1.0, abs=0.02)
    assert fitted.replace(gravity_scale=1.0).knobs() == DynamicsProfile().knobs()
    lines = (out / "calibration.csv").read_text().splitlines()
    assert lines[0] == "evaluation,gravity_scale,loss" and 2 < len(lines) - 1 <= 60
    assert lines[1].startswith("0,2,")  # the start is evaluation 0
    summary = (out / "summary.md").read_text()
    assert "| gravity_scale | 2 |" in summary
    for part in ("before", "after"):
        assert (out / part / "summary.md").is_file()
    before = (out / "before" / "summary.md").read_text()
    after = (out / "after" / "summary.md").read_text()
    assert "**0.0 %" in before and "**0.0 %" not in after


def test_recovers_several_knobs(gentle: Dataset) -> None:
    start = DynamicsProfile(name="off", gravity_scale=1.5, joint_damping=0.1, latency_steps=4)
    knobs = ("gravity_scale", "joint_damping", "latency_steps")
    cal = calibrate(gentle, start, knobs, config(100), budget=150)
    best = cal.best
    assert best.gravity_scale == pytest.approx(1.0, abs=0.03)
    assert best.joint_damping == pytest.approx(0.0, abs=0.002)
    assert best.latency_steps == 0
    assert cal.best_loss < 0.05 * cal.start_loss
    assert len(cal.history) <= 150


def test_knob_names_and_profile_file() -> None:
    assert resolve_knob("gravity") == "gravity_scale"
    assert resolve_knob(" latency_steps ") == "latency_steps"
    assert set(FITTABLE) == set(SHIPPED.bounds)  # every fittable knob has a search range
    with pytest.raises(ConfigError, match="unknown dynamics knob 'gravitas'"):
        resolve_knob("gravitas")
    with pytest.raises(ConfigError, match="cannot be calibrated"):
        resolve_knob("action_noise_std")
    prof = DynamicsProfile(gravity_scale=1.25, latency_steps=3)
    text = profile_yaml(prof, "a test")
    assert text.splitlines() == ["description: a test", "gravity_scale: 1.25", "latency_steps: 3"]


def test_start_outside_the_search_range_is_refused(gentle: Dataset) -> None:
    start = DynamicsProfile(gravity_scale=5.0)
    with pytest.raises(ConfigError, match="outside the search ranges"):
        calibrate(gentle, start, ("gravity_scale",), config(10), budget=10)
