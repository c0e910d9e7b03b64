"""The gap numbers against values computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from h2o_learning.gap import metrics
from h2o_robot_bridge.contract import OBS_DIM, OBS_NAMES, OBS_SLICES

D = len(metrics.PREDICTED_NAMES)


def test_predicted_elements_are_all_but_command_and_previous_action() -> None:
    assert D == OBS_DIM - 8
    assert "forward_vel" in metrics.PREDICTED_NAMES
    assert not any(n.startswith(("command", "prev_action")) for n in metrics.PREDICTED_NAMES)
    assert list(metrics.PREDICTED_NAMES) == list(OBS_NAMES[: OBS_SLICES["command"].start])


def test_gap_numbers_by_hand() -> None:
    # Two transitions; element 0 changes by 1 and 3 (RMS change sqrt(5)), errors 0.5 and -1.
    obs = np.zeros((2, OBS_DIM))
    nxt = np.zeros((2, OBS_DIM))
    nxt[:, 0] = [1.0, 3.0]
    pred = nxt.copy()
    pred[:, 0] += [0.5, -1.0]
    g = metrics.compute_gap(obs, nxt, pred)
    assert g.scale[0] == pytest.approx(math.sqrt(5.0))
    assert g.scale[1] == metrics.SCALE_FLOOR  # never moves
    assert g.rmse[0] == pytest.approx(math.sqrt((0.25 + 1.0) / 2))
    assert g.nrmse[0] == pytest.approx(math.sqrt(1.25 / 2) / math.sqrt(5.0))
    np.testing.assert_allclose(g.score, [0.5 / math.sqrt(5.0), 1.0 / math.sqrt(5.0)])
    np.testing.assert_array_equal(g.within(0.3), [True, False])
    assert g.loss() == pytest.approx((math.log1p(0.25 / 5.0) + math.log1p(1.0 / 5.0)) / (2 * D))


def test_regions_bin_by_tilt_speed_and_command() -> None:
    obs = np.zeros((4, OBS_DIM))
    obs[:, OBS_SLICES["projected_gravity"]] = [0.0, 0.0, -1.0]
    obs[3, OBS_SLICES["projected_gravity"]] = [np.sin(0.2), 0.0, -np.cos(0.2)]  # 11.5 deg
    obs[:, OBS_SLICES["forward_vel"]] = np.array([[-1.0], [0.0], [0.05], [2.0]])
    edges = {"tilt_deg": [2.0, 10.0], "forward_vel": [-0.1, 0.1], "command.forward_vel": []}
    got = {(r.variable, r.label): r.rows.tolist() for r in metrics.regions(obs, edges)}
    assert got == {
        ("tilt_deg", "< 2"): [0, 1, 2],
        ("tilt_deg", ">= 10"): [3],
        ("forward_vel", "< -0.1"): [0],
        ("forward_vel", "[-0.1, 0.1)"): [1, 2],
        ("forward_vel", ">= 0.1"): [3],
        ("command.forward_vel", "all"): [0, 1, 2, 3],
    }


def test_rank_correlation() -> None:
    assert metrics.rank_correlation([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert metrics.rank_correlation([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    # Spearman of (1, 2, 3) vs (1, 3, 2): 1 - 6 * 2 / (3 * 8) = 0.5.
    assert metrics.rank_correlation([1, 2, 3], [1, 3, 2]) == pytest.approx(0.5)
    assert math.isnan(metrics.rank_correlation([1, 1, 1], [1, 2, 3]))
