"""Replay against data of known dynamics: the true profile predicts the real s' closely, a wrong
one does not, on the elements physics says; the residual is the hidden base velocity.

Numbers measured on the 400-row gentle dataset (seed 0) when these tests were written:
``real`` 98.0 % within tolerance 0.5, largest nRMSE 0.20 (forward_vel), knee velocities 0.022;
``gravity_x2`` 0 % within, knee velocities 2.07.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from h2o_learning.gap import metrics
from h2o_learning.gap.replay import Replayer, action_mismatch, replay_profile
from h2o_learning.gap.state import state_from_observation
from h2o_robot_bridge.contract import field
from h2o_robot_bridge.controllers import ClassicalController
from h2o_robot_bridge.dataset import Dataset
from h2o_robot_bridge.deploy.shaping import NO_SHAPING
from h2o_robot_bridge.errors import ConfigError
from h2o_sim.collect import collect_dataset
from h2o_sim.env import WheelLeggedEnv

KNEE_VEL = [metrics.PREDICTED_NAMES.index(f"joint_vel.{s}_knee") for s in ("left", "right")]


def gap_of(data: Dataset, profile: str, replayer: Replayer | None = None) -> metrics.Gap:
    own = replayer is None
    rep = Replayer(profile, "stand") if replayer is None else replayer
    rep.set_profile(profile)
    try:
        pred = rep.predict(data)
    finally:
        if own:
            rep.close()
    return metrics.compute_gap(data.observations, data.next_observations, pred)


def test_true_profile_predicts_the_real_next_state(gentle: Dataset) -> None:
    g = gap_of(gentle, "real")
    assert g.within(0.5).mean() >= 0.95
    assert g.nrmse.max() < 0.3, dict(zip(metrics.PREDICTED_NAMES, g.nrmse.round(3), strict=True))
    assert action_mismatch(gentle).max() == 0.0  # recorded actions are what the robot got


def test_double_gravity_shows_on_the_legs(gentle: Dataset) -> None:
    with Replayer("real", "stand") as rep:
        true, wrong = gap_of(gentle, "real", rep), gap_of(gentle, "gravity_x2", rep)
    assert wrong.within(0.5).mean() <= 0.05
    # The knees carry the weight: their velocity error grows ~100x (measured 94x).
    assert np.all(wrong.nrmse[KNEE_VEL] > 20 * true.nrmse[KNEE_VEL])
    assert np.all(wrong.nrmse[KNEE_VEL] > 1.0)  # worse than predicting "no change"


def test_replay_is_deterministic_and_changes_no_knob_for_good(gentle: Dataset) -> None:
    rows = np.arange(0, gentle.size, 7)
    with Replayer("real", "stand") as rep:
        a = rep.predict(gentle, rows)
        rep.set_profile("gravity_x2")
        rep.set_profile("real")
        b = rep.predict(gentle, rows)
        assert rep.profile == replay_profile("real")
    np.testing.assert_array_equal(a, b)


def test_a_prediction_does_not_depend_on_the_rows_replayed_before(gentle: Dataset) -> None:
    """Each row starts from a fresh world (no ground contacts of the row before): replaying
    in reverse order gives bitwise the same predictions (it changed ~0.5 % of them by up to
    0.02 rad/s while the simulator kept contacts across restoreState)."""
    rows = np.arange(gentle.size)
    with Replayer("real", "stand") as rep:
        forward = rep.predict(gentle, rows)
        backward = rep.predict(gentle, rows[::-1])[::-1]
    np.testing.assert_array_equal(forward, backward)


def test_random_knobs_are_off_in_replay() -> None:
    prof = replay_profile("joint_noise")
    assert prof.action_noise_std == 0.0 and prof.name == "joint_noise"


def test_actuation_delay_is_replayed(tmp_path: Path) -> None:
    """Data with a 5 ms delay: measured 91.5 % within (loss 0.0066) replayed with the delay,
    27.5 % (loss 0.148) without."""
    (tmp_path / "delay5.yaml").write_text("latency_steps: 5\n")
    data = collect_dataset("expert", 200, dynamics=str(tmp_path / "delay5.yaml"), seed=3)
    with Replayer("real", "stand") as rep:
        no_delay = gap_of(data, "real", rep)
        rep.set_profile(str(tmp_path / "delay5.yaml"))
        delay = metrics.compute_gap(data.observations, data.next_observations, rep.predict(data))
    assert delay.loss() < 0.1 * no_delay.loss()
    assert delay.within(0.5).mean() > 0.85 > 0.5 > no_delay.within(0.5).mean()


def test_delay_longer_than_a_control_period_is_refused() -> None:
    with pytest.raises(ConfigError, match="latency_steps <= one control period"):
        Replayer(replay_profile("real").replace(latency_steps=11), "stand")


def test_the_residual_is_the_base_velocity_the_observation_lacks() -> None:
    """Rough control (noise 0.2) makes the wheels slip: replay from the observation alone then
    misses, and giving set_state the simulator's true base velocity removes most of it
    (measured: 56.7 % within tolerance from the observation, 91.3 % with the true velocity)."""
    env = WheelLeggedEnv("stand", "real")
    ctrl = ClassicalController.from_yaml(task="stand", control_hz=env.timing.control_hz)
    rng = np.random.default_rng(0)
    obs, _ = env.reset(seed=0)
    rows: list[tuple[np.ndarray, ...]] = []
    for _ in range(300):
        velocity = env.sim.readings.base_lin_vel.copy()
        action = np.clip(ctrl.act(obs) + rng.normal(0.0, 0.2, 6), -1, 1)
        nxt, _, term, trunc, info = env.step(action)
        rows.append((obs, info["applied_action"], nxt, velocity))
        obs = env.reset()[0] if term or trunc else nxt
    env.close()
    o, a, n, v = (np.array(x) for x in zip(*rows, strict=True))
    twin = WheelLeggedEnv("stand", "real", shaping=NO_SHAPING)
    preds = {}
    for mode in ("rolling", "true velocity"):
        out = []
        for i in range(len(o)):
            base = v[i] if mode == "true velocity" else None
            twin.sim.set_state(*state_from_observation(o[i]), base_lin_vel=base)
            twin.command = field(n[i], "command").astype(np.float64)
            out.append(twin.step(a[i])[0])
        preds[mode] = metrics.compute_gap(o, n, np.array(out)).within(0.5).mean()
    twin.close()
    assert preds["true velocity"] > 0.8 and preds["true velocity"] - preds["rolling"] > 0.25, preds
