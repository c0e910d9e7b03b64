"""Datasets in Minari and d3rlpy: every episode's arrays come back exactly (the real packages)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from h2o_robot_bridge.contract import ACTION_DIM, OBS_DIM
from h2o_robot_bridge.contract.spaces import action_space, observation_space
from h2o_robot_bridge.dataset import Dataset, episode_bounds, make_meta, save_dataset
from h2o_robot_bridge.dataset.cli import main
from h2o_robot_bridge.dataset.interop import (
    export_episodes,
    export_minari,
    minari_root,
    to_d3rlpy,
)
from h2o_robot_bridge.errors import ConfigError, DatasetError

# Episode lengths and how each ends: falls and time limits, a 1-row fall, a 1-row truncation.
EPISODES = [(7, "terminal"), (9, "timeout"), (1, "terminal"), (5, "timeout"), (1, "timeout")]
ROOT_VARIABLE = "MINARI_DATASETS_PATH"


def chained_dataset(episodes: list[tuple[int, str]] = EPISODES, seed: int = 0) -> Dataset:
    """Episodes of T rows, each from its own chain of T+1 random states (a reset between)."""
    rng = np.random.default_rng(seed)
    parts: dict[str, list[Any]] = {k: [] for k in ("obs", "next", "term", "trunc")}
    for length, end in episodes:
        states = rng.normal(size=(length + 1, OBS_DIM)).astype(np.float32)
        parts["obs"].append(states[:-1])
        parts["next"].append(states[1:])
        flag = np.arange(length) == length - 1
        parts["term"].append(flag & (end == "terminal"))
        parts["trunc"].append(flag & (end == "timeout"))
    n = sum(length for length, _ in episodes)
    return Dataset(
        np.concatenate(parts["obs"]),
        rng.uniform(-1, 1, size=(n, ACTION_DIM)).astype(np.float32),
        rng.normal(size=n).astype(np.float32),
        np.concatenate(parts["next"]),
        np.concatenate(parts["term"]),
        np.concatenate(parts["trunc"]),
        make_meta("stand", 100.0, source={"kind": "test", "robot": "r1"}),
    )


def with_discontinuity(data: Dataset, row: int) -> Dataset:
    """``data`` whose row ``row`` (inside an episode) leads somewhere else than row + 1."""
    assert not (data.terminals[row] or data.timeouts[row])
    nxt = data.next_observations.copy()
    nxt[row] += 0.5
    return data._replace(next_observations=nxt)


def expected_episodes(data: Dataset, bounds: list[tuple[int, int]]) -> list[dict[str, Any]]:
    """Minari's view of rows ``bounds``: T+1 chained observations, a flag at every end."""
    out = []
    for a, b in bounds:
        trunc = data.timeouts[a:b].copy()
        trunc[-1] = not data.terminals[b - 1]  # a split or an open end is a truncation
        out.append(
            {
                "observations": np.concatenate(
                    [data.observations[a:b], data.next_observations[[b - 1]]]
                ),
                "actions": data.actions[a:b],
                "rewards": data.rewards[a:b],
                "terminations": data.terminals[a:b],
                "truncations": trunc,
            }
        )
    return out


def load_minari(root: Path, dataset_id: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    import minari

    monkeypatch.setenv(ROOT_VARIABLE, str(root))
    return minari.load_dataset(dataset_id)


def assert_minari_equal(loaded: Any, expected: list[dict[str, Any]]) -> None:
    assert loaded.total_episodes == len(expected)
    assert loaded.total_steps == sum(len(e["actions"]) for e in expected)
    for episode, want in zip(loaded.iterate_episodes(), expected, strict=True):
        for key, value in want.items():
            got = getattr(episode, key)
            np.testing.assert_array_equal(got, value, err_msg=f"episode {episode.id} {key}")
            assert got.dtype == value.dtype, (episode.id, key)


# -- Minari ------------------------------------------------------------------------------------


def test_minari_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = chained_dataset()
    out = export_minari(data, "h2o/stand-real-v0", root=tmp_path)
    assert out.path == tmp_path / "h2o" / "stand-real-v0" and out.splits == 0
    assert [(s.start, s.stop) for s in out.episodes] == episode_bounds(data)
    loaded = load_minari(tmp_path, "h2o/stand-real-v0", monkeypatch)
    assert_minari_equal(loaded, expected_episodes(data, episode_bounds(data)))
    assert loaded.observation_space == observation_space()
    assert loaded.action_space == action_space()
    meta = loaded.storage.metadata
    assert meta["h2o_meta"] == data.meta  # contract fingerprint, task, source, ...
    assert meta["h2o_export"]["episode_rows"] == [list(b) for b in episode_bounds(data)]
    assert "stand" in meta["description"] and meta["algorithm_name"] == "test"


def test_minari_splits_at_a_discontinuity(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = with_discontinuity(chained_dataset(), 10)  # inside episode 1 (rows 7..15)
    out = export_minari(data, "h2o/split-v0", root=tmp_path)
    bounds = [(0, 7), (7, 11), (11, 16), (16, 17), (17, 22), (22, 23)]
    assert [(s.start, s.stop) for s in out.episodes] == bounds and out.splits == 1
    assert out.episodes[1].end == "discontinuity"
    loaded = load_minari(tmp_path, "h2o/split-v0", monkeypatch)
    assert_minari_equal(loaded, expected_episodes(data, bounds))
    first = loaded[1]  # ends with our next observation of row 10, not row 11's observation
    np.testing.assert_array_equal(first.observations[-1], data.next_observations[10])
    assert loaded.storage.metadata["h2o_export"]["split_at_discontinuities"] == 1


def test_minari_open_last_episode_is_a_truncation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = chained_dataset([(4, "terminal"), (3, "open")])
    assert [s.end for s in export_episodes(data)] == ["terminal", "end_of_data"]
    export_minari(data, "h2o/open-v0", root=tmp_path)
    loaded = load_minari(tmp_path, "h2o/open-v0", monkeypatch)
    assert_minari_equal(loaded, expected_episodes(data, [(0, 4), (4, 7)]))


def test_minari_refusals_and_default_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = chained_dataset()
    monkeypatch.setenv(ROOT_VARIABLE, str(tmp_path / "default"))
    out = export_minari(data, "h2o/stand-real-v0")  # root None: Minari's own setting
    assert out.path == tmp_path / "default" / "h2o" / "stand-real-v0"
    with pytest.raises(DatasetError, match="overwrite"):
        export_minari(data, "h2o/stand-real-v0")
    other = chained_dataset([(3, "timeout")], seed=1)
    export_minari(other, "h2o/stand-real-v0", overwrite=True)
    assert_minari_equal(
        load_minari(tmp_path / "default", "h2o/stand-real-v0", monkeypatch),
        expected_episodes(other, [(0, 3)]),
    )
    with pytest.raises(ConfigError, match="name-vN"):
        export_minari(data, "h2o/no-version")
    with pytest.raises(DatasetError, match="empty"):
        export_minari(data._replace(**{k: v[:0] for k, v in data.arrays().items()}), "h2o/e-v0")
    with pytest.raises(DatasetError, match="actions"):
        export_minari(data._replace(actions=data.actions * 3), "h2o/bad-v0")
    assert not (tmp_path / "default" / "h2o" / "bad-v0").exists()


def test_minari_root_is_restored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ROOT_VARIABLE, raising=False)
    with minari_root(tmp_path):
        assert os.environ[ROOT_VARIABLE] == str(tmp_path)
    assert ROOT_VARIABLE not in os.environ
    monkeypatch.setenv(ROOT_VARIABLE, "/elsewhere")
    with minari_root(tmp_path), pytest.raises(RuntimeError):
        raise RuntimeError
    assert os.environ[ROOT_VARIABLE] == "/elsewhere"


def test_export_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    path = save_dataset(tmp_path / "real.h5", with_discontinuity(chained_dataset(), 3))
    root = tmp_path / "minari"
    args = ["export", str(path), "--format", "minari", "--dataset-id", "h2o/stand-real-v0"]
    assert main([*args, "--root", str(root)]) == 0
    text = capsys.readouterr().out
    assert "23 transitions in 6 episodes, 1 split at discontinuities" in text
    assert "truncation" in text
    assert main([*args, "--root", str(root)]) == 2
    assert "overwrite" in capsys.readouterr().err
    assert main([*args, "--root", str(root), "--overwrite"]) == 0
    assert load_minari(root, "h2o/stand-real-v0", monkeypatch).total_steps == 23
    with pytest.raises(SystemExit):
        main(["export", "--help"])
    assert "T+1 observations" in capsys.readouterr().out


# -- d3rlpy ------------------------------------------------------------------------------------


def assert_d3rlpy_equal(replay: Any, data: Dataset, bounds: list[tuple[int, int]]) -> None:
    """d3rlpy's episodes are ``data``'s rows ``bounds``; falls terminated, nothing else."""
    assert [len(ep) for ep in replay.episodes] == [b - a for a, b in bounds]
    for ep, (a, b) in zip(replay.episodes, bounds, strict=True):
        np.testing.assert_array_equal(ep.observations, data.observations[a:b])
        np.testing.assert_array_equal(ep.actions, data.actions[a:b])
        np.testing.assert_array_equal(ep.rewards, data.rewards[a:b, None])
        assert ep.observations.dtype == ep.actions.dtype == ep.rewards.dtype == np.float32
        assert ep.terminated == bool(data.terminals[b - 1]), (a, b)
        # Inside an episode d3rlpy's next observation (o_{i+1}) is exactly ours.
        np.testing.assert_array_equal(ep.observations[1:], data.next_observations[a : b - 1])


def test_d3rlpy_episodes_falls_and_timeouts() -> None:
    data = chained_dataset()
    replay = to_d3rlpy(data)
    # Every episode but the last: a 1-row truncation has no transition, d3rlpy drops it.
    bounds = episode_bounds(data)
    assert bounds[-1] == (22, 23) and data.timeouts[22]
    assert_d3rlpy_equal(replay, data, bounds[:-1])
    assert [ep.terminated for ep in replay.episodes] == [True, False, True, False]
    # The documented loss: a truncated episode's last step has no next observation.
    truncated = sum(not data.terminals[b - 1] for _, b in bounds)
    assert replay.transition_count == data.size - truncated == 23 - 3
    pick = replay.transition_picker
    fall = pick(replay.episodes[0], 6)  # a fall's last step: terminal, zero next observation
    assert fall.terminal == 1.0 and not fall.next_observation.any()
    step = pick(replay.episodes[1], 7)  # inside: our next observation
    np.testing.assert_array_equal(step.next_observation, data.next_observations[7 + 7])
    assert step.terminal == 0.0
    assert replay.dataset_info.action_size == ACTION_DIM


def test_d3rlpy_splits_at_a_discontinuity() -> None:
    data = with_discontinuity(chained_dataset(), 10)
    replay = to_d3rlpy(data)
    bounds = [(0, 7), (7, 11), (11, 16), (16, 17), (17, 22)]  # (22, 23): 1-row truncation
    assert_d3rlpy_equal(replay, data, bounds)
    assert not replay.episodes[1].terminated  # the split is a truncation
    assert replay.transition_count == data.size - 4
    open_end = chained_dataset([(4, "terminal"), (3, "open")])
    assert_d3rlpy_equal(to_d3rlpy(open_end), open_end, [(0, 4), (4, 7)])  # last rows kept


def test_d3rlpy_refusals() -> None:
    data = chained_dataset()
    with pytest.raises(DatasetError, match="empty"):
        to_d3rlpy(data._replace(**{k: v[:0] for k, v in data.arrays().items()}))
    with pytest.raises(DatasetError, match="both terminal and timeout"):
        to_d3rlpy(data._replace(timeouts=data.terminals | data.timeouts))


# -- both --------------------------------------------------------------------------------------


def test_spaces_are_the_envs() -> None:
    env_module = pytest.importorskip("h2o_sim.env")  # not on a robot computer without the sim
    env = env_module.WheelLeggedEnv()
    try:
        assert env.observation_space == observation_space()
        assert env.action_space == action_space()
    finally:
        env.close()


def test_missing_packages_say_how_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A None entry in sys.modules makes `import` fail as if the package were not installed.
    monkeypatch.setitem(sys.modules, "minari", None)
    monkeypatch.setitem(sys.modules, "d3rlpy", None)
    monkeypatch.setitem(sys.modules, "d3rlpy.constants", None)
    monkeypatch.setitem(sys.modules, "d3rlpy.dataset", None)
    with pytest.raises(ConfigError, match="requirements/interop.txt"):
        export_minari(chained_dataset(), "h2o/x-v0", root=tmp_path)
    with pytest.raises(ConfigError, match="requirements/interop.txt"):
        to_d3rlpy(chained_dataset())
