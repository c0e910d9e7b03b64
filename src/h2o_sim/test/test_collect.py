"""Behaviour datasets: valid, deterministic, env-consistent, and ordered by quality."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from h2o_robot_bridge.contract import get_task
from h2o_robot_bridge.dataset import episode_bounds, load_dataset, validate_dataset
from h2o_robot_bridge.deploy.safety import SafetyConfig
from h2o_robot_bridge.deploy.shaping import NO_SHAPING
from h2o_robot_bridge.errors import ConfigError
from h2o_sim.collect import KINDS, collect_dataset, main


@pytest.fixture(scope="module")
def datasets() -> dict:
    return {kind: collect_dataset(kind, 400, seed=3) for kind in KINDS}


def test_every_kind_is_a_valid_consistent_dataset(datasets: dict) -> None:
    task = get_task("stand")
    for kind, data in datasets.items():
        validate_dataset(data, kind, task="stand")
        assert data.size == 400
        assert data.meta["source"]["behaviour"] == kind
        assert data.meta["source"]["dynamics"] == "real"
        # Rewards and falls are the contract task's, as the env computed them.
        r = task.reward(data.observations, data.actions, data.next_observations)
        np.testing.assert_allclose(data.rewards, r, rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(data.terminals, task.terminated(data.next_observations))
        # Inside an episode each next observation is the following row's observation.
        same = ~(data.terminals | data.timeouts)[:-1]
        np.testing.assert_array_equal(
            data.next_observations[:-1][same], data.observations[1:][same]
        )
        # The observation's prev_action is the previous row's action (zeros at a start).
        starts = np.array([a for a, _ in episode_bounds(data)])
        prev = data.observations[:, -6:]
        np.testing.assert_array_equal(prev[starts], 0.0)
        inner = np.setdiff1d(np.arange(1, data.size), starts)
        np.testing.assert_array_equal(prev[inner], data.actions[inner - 1])
        assert data.timeouts[-1] or data.terminals[-1]


def test_quality_order(datasets: dict) -> None:
    def mean_return(data) -> float:
        return float(np.mean([data.rewards[a:b].sum() for a, b in episode_bounds(data)]))

    falls = {k: int(d.terminals.sum()) for k, d in datasets.items()}
    assert falls["random"] > falls["medium"] >= falls["expert"]
    assert falls["expert"] == 0
    assert mean_return(datasets["random"]) < mean_return(datasets["medium"])
    assert mean_return(datasets["medium"]) < mean_return(datasets["expert"])
    # medium-replay: mostly random actions early (big jumps between ticks), few late. Seen
    # on the behaviour's own actions: the deploy rate limit caps every jump at 0.5.
    raw = collect_dataset("medium-replay", 400, seed=3, shaping=NO_SHAPING)
    jumps = np.abs(np.diff(raw.actions, axis=0)).mean(axis=1)
    assert jumps[:100].mean() > 1.5 * jumps[-100:].mean()


def test_recorded_actions_are_what_the_runner_sends(datasets: dict) -> None:
    # Through the deploy shaping: no element moves more than max_action_rate / control_hz
    # per tick inside an episode, and the shaping is saved with the dataset.
    data = datasets["random"]
    step = SafetyConfig().shaping.max_step
    for a, b in episode_bounds(data):
        assert np.abs(np.diff(data.actions[a:b], axis=0)).max() <= step + 1e-6
    assert data.meta["source"]["shaping"]["max_action_rate"] == SafetyConfig().max_action_rate


def test_same_seed_same_data() -> None:
    a = collect_dataset("medium", 150, seed=9)
    b = collect_dataset("medium", 150, seed=9)
    c = collect_dataset("medium", 150, seed=10)
    np.testing.assert_array_equal(a.observations, b.observations)
    np.testing.assert_array_equal(a.actions, b.actions)
    assert not np.array_equal(a.actions, c.actions)


def test_cli(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "d.h5"
    assert main(["--kind", "expert", "--steps", "120", "-o", str(out), "-q"]) == 0
    assert load_dataset(out).size == 120
    assert main(["--kind", "expert", "--steps", "120", "-o", str(out), "-q"]) == 2
    assert "overwrite" in capsys.readouterr().err
    assert main(["--kind", "expert", "--steps", "0", "-o", str(tmp_path / "e.h5")]) == 2
    with pytest.raises(ConfigError, match="unknown dataset kind"):
        collect_dataset("perfect", 10)


def _speed_ratio(fraction: float, command: tuple[float, float]) -> tuple[float, float]:
    """(mean forward speed / commanded speed after the first second, mean reward) of a
    noise-free rollout of the controller handed ``fraction`` of a fixed command."""
    from h2o_robot_bridge.contract import OBS_SLICES
    from h2o_robot_bridge.controllers.classical import ClassicalController
    from h2o_sim.collect import Behaviour, rollout
    from h2o_sim.env import WheelLeggedEnv

    env = WheelLeggedEnv(task="move_straight", command=command)
    controller = ClassicalController.from_yaml(task="move_straight", control_hz=100.0)
    env.reset(seed=0)
    out = rollout(
        env, controller, Behaviour(0.0, track_fraction=fraction), 600, np.random.default_rng(0)
    )
    env.close()
    speed = out["next_observations"][100:, OBS_SLICES["forward_vel"]][:, 0]
    return float(speed.mean() / command[0]), float(out["rewards"].mean())


def test_a_mediocre_controller_follows_a_fraction_of_the_command() -> None:
    full, half = _speed_ratio(1.0, (0.4, 0.0)), _speed_ratio(0.5, (0.4, 0.0))
    assert 0.85 < full[0] < 1.2 and 0.35 < half[0] < 0.65
    assert half[1] < full[1] - 0.2  # the reward scores the command asked for


def test_mediocre_data_cover_part_of_the_commands() -> None:
    from h2o_robot_bridge.contract import OBS_SLICES, CommandRange

    slow = CommandRange((0.1, 0.2), (-0.5, 0.5))
    kw = {"task": "move_straight", "seed": 1, "command_range": slow}
    mediocre = collect_dataset("medium", 3000, track_fraction=0.5, **kw)
    validate_dataset(mediocre, "mediocre", task="move_straight")
    assert mediocre.meta["command_range"] == [[0.1, 0.2], [-0.5, 0.5]]
    assert mediocre.meta["command"] == list(get_task("move_straight").command)
    assert mediocre.meta["source"]["stretches"][0]["track_fraction"] == 0.5
    cmds = mediocre.observations[:, OBS_SLICES["command"]]
    assert slow.contains(cmds).all() and len(np.unique(cmds, axis=0)) >= 3  # one per episode
    # Rewards score the command asked for, so following half of it earns less.
    r = get_task("move_straight").reward(
        mediocre.observations, mediocre.actions, mediocre.next_observations
    )
    np.testing.assert_allclose(mediocre.rewards, r, rtol=1e-5, atol=1e-6)
    # medium-expert: its expert half tracks the whole command.
    me = collect_dataset("medium-expert", 400, track_fraction=0.5, **kw)
    assert [s["track_fraction"] for s in me.meta["source"]["stretches"]] == [0.5, 1.0]
    with pytest.raises(ConfigError, match="track_fraction"):
        collect_dataset("medium", 10, track_fraction=1.5, **kw)


def test_cli_draws_commands_from_a_range(tmp_path: Path) -> None:
    out = tmp_path / "m.h5"
    argv = ["--kind", "medium", "--steps", "50", "-o", str(out), "--task", "move_straight"]
    assert (
        main(
            [
                *argv,
                "--forward",
                "0",
                "0.2",
                "--yaw",
                "-0.3",
                "0.3",
                "-q",
                "--track-fraction",
                "0.5",
            ]
        )
        == 0
    )
    assert load_dataset(out).meta["command_range"] == [[0.0, 0.2], [-0.3, 0.3]]
    assert main([*argv, "--forward", "0", "3", "-q", "--overwrite"]) == 2
