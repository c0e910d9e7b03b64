"""Normalised scores and the experiment's control/rank tables, against hand-computed values and
real PyBullet references."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from h2o_learning.experiment.plan import NO_GAP, Preset, plan_runs
from h2o_learning.experiment.report import (
    SCORE_REAL,
    SCORE_SIM,
    WINDOW_REAL,
    WINDOW_SIM,
    _critics_section,
    gap_costs,
    rank_correlations,
    scored_records,
)
from h2o_learning.experiment.scores import (
    RandomPolicy,
    References,
    measure_references,
    window_mean,
)
from h2o_learning.training.evaluation import RunnerEvaluator, eval_seeds
from h2o_learning.training.metrics_log import REAL_RETURN, SIM_RETURN, write_metrics
from h2o_robot_bridge.controllers import ClassicalController


def test_score_is_0_at_random_100_at_classical_and_linear_between() -> None:
    ref = References(random=10.0, classical=110.0, episodes=3)
    assert ref.score(10.0) == 0.0
    assert ref.score(110.0) == 100.0
    assert ref.score(60.0) == 50.0
    assert ref.score(-90.0) == -100.0  # worse than random is negative, not clipped
    assert math.isnan(ref.score(float("nan")))
    assert math.isnan(References(5.0, 5.0, 3).score(7.0))  # no spread: cannot normalise


def test_window_mean_takes_the_last_three_finite_values() -> None:
    rows = [{"a": 1.0}, {"b": 2.0}, {"a": 2.0}, {"a": float("nan")}, {"a": 4.0}, {"a": 6.0}]
    assert window_mean(rows, "a") == pytest.approx(4.0)  # (2 + 4 + 6) / 3
    assert window_mean(rows, "a", window=1) == 6.0
    assert window_mean(rows[:1], "a") == 1.0  # fewer than three: what there is
    assert math.isnan(window_mean(rows, "c"))


def test_random_policy_is_uniform_in_the_action_box_and_seeded() -> None:
    obs = np.zeros(25, np.float32)
    p, q, other = (RandomPolicy("stand", 100.0, seed=s) for s in (3, 3, 4))
    xs = np.stack([p.act(obs) for _ in range(2000)])
    assert np.array_equal(xs[:5], np.stack([q.act(obs) for _ in range(5)]))  # same seed
    assert not np.array_equal(xs[0], other.act(obs))
    assert xs.shape == (2000, 6) and xs.dtype == np.float32
    assert xs.min() >= -1.0 and xs.max() <= 1.0
    assert np.allclose(xs.mean(axis=0), 0.0, atol=0.05)  # uniform on [-1, 1]: mean 0
    assert np.allclose(xs.std(axis=0), 1 / np.sqrt(3), atol=0.03)  # and std 1/sqrt(3)


def test_references_in_pybullet_separate_the_controller_from_random_actions() -> None:
    seeds = eval_seeds(0, 2)
    ref = measure_references("stand", NO_GAP, seeds, max_steps=300)
    assert ref.episodes == 2
    # The controller stands the 3 s (reward ~1 per tick); random actions topple the robot.
    assert ref.classical > 250.0 and ref.random < 0.5 * ref.classical, ref
    # Re-measured through a fresh evaluator on the same seeds, the controller scores exactly
    # 100: the references are measured the way runs are evaluated (deterministic sim).
    evaluator = RunnerEvaluator("stand", NO_GAP)
    try:
        again = evaluator.run(ClassicalController.from_yaml(None, "stand", 100.0), seeds, 300)
    finally:
        evaluator.close()
    assert ref.score(float(np.mean(again.returns))) == pytest.approx(100.0, abs=1e-9)
    # Another profile, other references (scores are relative to the profile evaluated in).
    heavy = measure_references("stand", "gravity_x2", seeds, max_steps=300)
    assert heavy.classical != ref.classical


def _run_folder(root: Path, key: str, real: list[float], sim: list[float], w: list[float]) -> None:
    rows = [{"epoch": float(i + 1), "train/weight_mean": x} for i, x in enumerate(w)]
    for row, r, s in zip(rows[-len(real) :], real, sim, strict=True):
        row[REAL_RETURN], row[SIM_RETURN] = r, s
    (root / key).mkdir(parents=True)
    write_metrics(root / key / "metrics.csv", rows)


def test_scored_records_by_hand(tmp_path: Path) -> None:
    refs = {NO_GAP: References(0.0, 200.0, 2), "gravity_x2": References(10.0, 110.0, 2)}
    # Four evaluations in real and sim; weights over five epochs.
    _run_folder(tmp_path, "h2o_run", [20, 40, 60, 80], [10, 30, 50, 70], [1, 1, 0.5, 0.2, 0.3])
    rec = {"key": "h2o_run", "method": "h2o", "gap": "gravity_x2", "dataset": "medium"}
    (out,) = scored_records([rec], tmp_path, refs)
    assert out[SCORE_REAL] == pytest.approx(100 * 60 / 200)  # (40 + 60 + 80) / 3 = 60
    assert out[SCORE_SIM] == pytest.approx(100 * (50 - 10) / 100)  # (30 + 50 + 70) / 3 = 50
    assert out["control/weight_mean"] == pytest.approx((0.5 + 0.2 + 0.3) / 3)
    assert (out[WINDOW_REAL], out[WINDOW_SIM]) == (pytest.approx(60.0), pytest.approx(50.0))
    assert "control/disc_sas_acc" not in out  # not logged: left out, not NaN
    cql = {"key": "cql_run", "method": "cql", "gap": None, "dataset": "medium"}
    _run_folder(tmp_path, "cql_run", [100], [0], [0])
    (out,) = scored_records([cql], tmp_path, refs)
    assert out[SCORE_REAL] == 50.0 and SCORE_SIM not in out  # no simulator, no sim score


def test_critic_values_by_hand(tmp_path: Path) -> None:
    # A critic's last three epochs, as the controls; methods that log no Q on real data
    # (SAC) get no such column, and the section shows each statistic only for methods with it.
    preset = Preset("t", methods=("sac", "h2o"), gaps=(NO_GAP,), datasets=("medium",), seeds=(0,))
    specs = plan_runs(preset)
    sac_key, h2o_key = (next(s.key for s in specs if s.method == m) for m in ("sac", "h2o"))
    rows = [{"epoch": float(e), "train/target_q_mean": 10.0 * e} for e in range(1, 6)]
    for row in rows:
        row["train/q_real_mean"] = 100.0 * row["epoch"]
    for key, metrics in ((h2o_key, rows), (sac_key, [{"epoch": 1.0, "train/target_q_mean": 7.0}])):
        (tmp_path / key).mkdir()
        write_metrics(tmp_path / key / "metrics.csv", metrics)
    recs = [
        {"key": h2o_key, "method": "h2o", "gap": NO_GAP, "dataset": "medium", "seed": 0},
        {"key": sac_key, "method": "sac", "gap": NO_GAP, "dataset": "", "seed": 0},
    ]
    h2o, sac = scored_records(recs, tmp_path, {NO_GAP: References(0.0, 200.0, 2)})
    assert h2o["critic/q_real_mean"] == pytest.approx(400.0)  # (300 + 400 + 500) / 3
    assert h2o["critic/target_q_mean"] == pytest.approx(40.0)
    assert sac["critic/target_q_mean"] == 7.0 and "critic/q_real_mean" not in sac
    text = "\n".join(_critics_section(preset, [h2o, sac], specs))
    q_real, target = text.split("`critic/target_q_mean`:")
    assert "| medium | real | 400 ± 0 |" in q_real and "| H2O |" in q_real and "SAC" not in q_real
    assert "| medium | real | 7 ± 0 | 40 ± 0 |" in target
    assert _critics_section(preset, [], specs) == []


def test_rank_correlation_table_by_hand() -> None:
    preset = Preset("t", methods=("sac", "h2o"), gaps=(NO_GAP, "gravity_x2"), datasets=("medium",))
    assert len(plan_runs(preset)) == 12
    recs = [  # sim ranks these policies in the opposite order to real under gravity_x2
        {"gap": "gravity_x2", SCORE_SIM: 10.0, SCORE_REAL: 30.0},
        {"gap": "gravity_x2", SCORE_SIM: 20.0, SCORE_REAL: 20.0},
        {"gap": "gravity_x2", SCORE_SIM: 30.0, SCORE_REAL: 10.0},
        {"gap": NO_GAP, SCORE_SIM: 1.0, SCORE_REAL: 1.0},
        {"gap": NO_GAP, SCORE_SIM: 2.0, SCORE_REAL: 2.0},
        {"gap": NO_GAP, SCORE_REAL: 5.0},  # no sim score: not counted
    ]
    rho = rank_correlations(preset, recs)
    assert rho["gravity_x2"] == (pytest.approx(-1.0), 3)
    assert rho[NO_GAP] == (pytest.approx(1.0), 2)
    # all: sim (10, 20, 30, 1, 2) vs real (30, 20, 10, 1, 2): ranks (2,3,4,0,1) vs (4,3,2,0,1)
    assert rho["all"] == (pytest.approx(0.6), 5)


def test_gap_costs_by_hand() -> None:
    # Share of a sim-only run's return lost in real; only methods that never see real data.
    preset = Preset("t", methods=("sac", "h2o"), gaps=(NO_GAP, "gravity_x2"), datasets=("medium",))
    recs = [
        {"method": "sac", "gap": "gravity_x2", WINDOW_SIM: 200.0, WINDOW_REAL: 150.0},
        {"method": "sac", "gap": "gravity_x2", WINDOW_SIM: 100.0, WINDOW_REAL: 50.0},
        {"method": "sac", "gap": NO_GAP, WINDOW_SIM: 80.0, WINDOW_REAL: 80.0},
        {"method": "sac", "gap": NO_GAP, WINDOW_SIM: 0.0, WINDOW_REAL: 5.0},  # no share of 0
        {"method": "h2o", "gap": "gravity_x2", WINDOW_SIM: 100.0, WINDOW_REAL: 10.0},
        {"method": "sac", "gap": "gravity_x2", WINDOW_REAL: 10.0},  # no sim evaluation
    ]
    costs = gap_costs(preset, recs)
    assert costs == {"gravity_x2": [pytest.approx(0.25), pytest.approx(0.5)], NO_GAP: [0.0]}


class _Recorder:
    """The classical controller, noting the command of every observation it acts on."""

    def __init__(self, task: str, fraction: float = 1.0) -> None:
        from h2o_robot_bridge.contract import OBS_SLICES

        self.inner = ClassicalController.from_yaml(None, task, 100.0)
        self.task, self.control_hz, self.name = task, 100.0, "recorder"
        self.slot, self.fraction, self.seen = OBS_SLICES["command"], fraction, []

    def reset(self) -> None:
        self.inner.reset()

    def act(self, obs: np.ndarray) -> np.ndarray:
        self.seen.append(tuple(obs[self.slot].tolist()))
        scaled = obs.copy()
        scaled[self.slot] *= self.fraction
        return self.inner.act(scaled)


def test_grid_evaluation_sends_each_episode_its_command_and_scores_tracking() -> None:
    """Through the deploy runner: each episode's observations carry its grid command, and a
    controller that follows it earns more than one standing still (the reward scores the
    command asked for)."""
    from h2o_robot_bridge.contract import CommandRange, episode_commands

    commands = episode_commands(CommandRange((0.0, 0.5)), 3)
    assert commands == [(0.0, 0.0), (0.25, 0.0), (0.5, 0.0)]
    evaluator = RunnerEvaluator("move_straight", "real")
    follow, still = _Recorder("move_straight"), _Recorder("move_straight", fraction=0.0)
    try:
        good = evaluator.run(follow, [1, 2, 3], 300, commands)
        bad = evaluator.run(still, [1, 2, 3], 300, commands)
        with pytest.raises(ValueError, match="2 commands for 3 episodes"):
            evaluator.run(follow, [1, 2, 3], 10, commands[:2])
    finally:
        evaluator.close()
    assert set(follow.seen) == {(float(v), float(w)) for v, w in np.float32(commands)}
    per_episode = [follow.seen[i * 300 : (i + 1) * 300] for i in range(3)]  # act once per tick
    assert [set(s) for s in per_episode] == [{tuple(np.float32(c).tolist())} for c in commands]
    assert not good.falls.any() and not bad.falls.any()
    assert good.returns[0] == pytest.approx(bad.returns[0], rel=0.02)  # command 0: the same
    assert good.returns[2] > bad.returns[2] + 100  # 0.5 m/s asked: following it pays


def test_references_over_commands_follow_the_runs_episodes() -> None:
    commands = [(0.0, 0.0), (0.5, 0.0)]
    one = measure_references("move_straight", "real", [1, 2], 200)
    grid = measure_references("move_straight", "real", [1, 2], 200, commands=commands)
    assert grid.episodes == one.episodes == 2
    assert grid.classical > grid.random and grid.classical != one.classical
