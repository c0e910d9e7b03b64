"""Command ranges: parsed and checked against the task, sampled inside, a fixed evaluation grid."""

from __future__ import annotations

import numpy as np
import pytest

from h2o_robot_bridge.contract import CommandRange, episode_commands, get_task
from h2o_robot_bridge.errors import ConfigError

MOVE = get_task("move_straight")


def test_parse_takes_forward_and_optional_yaw() -> None:
    r = CommandRange.parse({"forward": [0.0, 0.5], "yaw": [-0.5, 0.5]})
    assert r == CommandRange((0.0, 0.5), (-0.5, 0.5))
    assert CommandRange.parse({"forward": [0.1, 0.2]}).yaw == (0.0, 0.0)
    assert r.to_list() == [[0.0, 0.5], [-0.5, 0.5]]
    assert CommandRange.parse(r) is r


@pytest.mark.parametrize(
    "bad",
    [
        None,
        [0.0, 0.5],
        {"yaw": [0, 1]},
        {"forward": [0.0, 0.5], "speed": [0, 1]},
        {"forward": [0.5, 0.0]},
        {"forward": [0.0, float("nan")]},
        {"forward": [0.0, 0.2, 0.4]},
        {"forward": ["a", "b"]},
    ],
)
def test_bad_ranges_are_clear_config_errors(bad: object) -> None:
    with pytest.raises(ConfigError, match="command_range"):
        CommandRange.parse(bad)


def test_a_range_the_runner_would_clamp_is_refused() -> None:
    assert CommandRange((0.0, 0.5), (-1.0, 1.0)).check(MOVE)
    with pytest.raises(ConfigError, match="forward.*exceeds.*0.5"):
        CommandRange((0.0, 0.8)).check(MOVE)
    with pytest.raises(ConfigError, match="yaw.*exceeds"):
        CommandRange((0.0, 0.5), (-1.5, 0.0)).check(MOVE)


def test_samples_cover_the_range_and_stay_inside_it() -> None:
    r = CommandRange((0.1, 0.4), (-0.5, 0.25))
    rng = np.random.default_rng(0)
    cmds = np.array([r.sample(rng) for _ in range(2000)])
    assert r.contains(cmds).all()
    np.testing.assert_allclose(cmds.min(axis=0), [0.1, -0.5], atol=0.01)
    np.testing.assert_allclose(cmds.max(axis=0), [0.4, 0.25], atol=0.01)
    assert not r.contains([0.45, 0.0]) and not r.contains([0.2, 0.3])


def test_the_grid_spans_each_varying_axis_and_collapses_a_fixed_one() -> None:
    grid = CommandRange((0.0, 0.5), (-0.5, 0.5)).grid()
    assert len(grid) == 9 and len(set(grid)) == 9
    assert grid[0] == (0.0, -0.5) and grid[4] == (0.25, 0.0) and grid[-1] == (0.5, 0.5)
    assert CommandRange((0.0, 0.5)).grid() == [(0.0, 0.0), (0.25, 0.0), (0.5, 0.0)]
    assert CommandRange((0.3, 0.3)).grid() == [(0.3, 0.0)]


def test_episode_commands_cycle_the_grid_or_spread_over_it() -> None:
    r = CommandRange((0.0, 0.5), (-0.5, 0.5))
    assert episode_commands(None, 5) is None
    ten = episode_commands(r, 10)
    assert ten is not None and ten[:9] == r.grid() and ten[9] == ten[0]
    # Fewer episodes than grid points still reach both ends of the range.
    assert episode_commands(r, 3) == [(0.0, -0.5), (0.25, 0.0), (0.5, 0.5)]
