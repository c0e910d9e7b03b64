"""Dataset format: round trip, metadata, validation and refusal of foreign or broken files."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from h2o_robot_bridge.contract import ACTION_DIM, OBS_DIM
from h2o_robot_bridge.dataset import (
    KEYS,
    concat_datasets,
    episode_bounds,
    load_dataset,
    make_meta,
    read_meta,
    save_dataset,
)
from h2o_robot_bridge.dataset.info import dataset_info
from h2o_robot_bridge.dataset.schema import STAMP_KEYS
from h2o_robot_bridge.errors import ConfigError, ContractMismatchError, DatasetError
from h2o_robot_bridge.testing.dataset_rows import random_dataset


def test_round_trip(tmp_path: Path) -> None:
    data = random_dataset()
    path = save_dataset(tmp_path / "d.h5", data)
    back = load_dataset(path, task="stand")
    for key in KEYS:
        got, want = getattr(back, key), getattr(data, key)
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_array_equal(got, want)
    assert back.meta == data.meta
    assert back.meta["source"] == {"kind": "test", "seed": 0}
    assert read_meta(path)["task"] == "stand"


def test_stamps_round_trip_and_bad_stamps(tmp_path: Path) -> None:
    data = random_dataset()
    assert (
        data.stamps is None and load_dataset(save_dataset(tmp_path / "a.h5", data)).stamps is None
    )
    rng = np.random.default_rng(0)
    stamps = rng.uniform(0, 100, (data.size, len(STAMP_KEYS)))
    stamps[3, 3] = np.nan  # no command message used: the task default
    path = save_dataset(tmp_path / "s.h5", data._replace(stamps=stamps))
    with h5py.File(path) as f:  # one named array per column, float64
        assert sorted(f["stamps"]) == sorted(STAMP_KEYS)
        assert f["stamps/next_imu"].dtype == np.float64
    back = load_dataset(path)
    np.testing.assert_array_equal(back.stamps, stamps)  # NaN where NaN (equal_nan)
    both = concat_datasets([back, back])
    assert both.stamps is not None and both.stamps.shape == (2 * data.size, 8)
    assert concat_datasets([back, data]).stamps is None  # a partial audit trail is dropped
    with pytest.raises(DatasetError, match="stamps have shape"):
        save_dataset(tmp_path / "x.h5", data._replace(stamps=stamps[:-1]))
    with h5py.File(path, "a") as f:
        del f["stamps/cmd_vel"]
    with pytest.raises(DatasetError, match=r"stamps/ lacks \['cmd_vel'\]"):
        load_dataset(path)


def test_d4rl_style_reader_sees_root_keys(tmp_path: Path) -> None:
    data = random_dataset(20)
    path = save_dataset(tmp_path / "d.h5", data)
    with h5py.File(path, "r") as f:  # what d4rl's get_dataset does
        loaded = {k: f[k][()] for k in f}
        meta = json.loads(f.attrs["h2o_meta"])
    assert set(KEYS) <= set(loaded)
    np.testing.assert_array_equal(loaded["observations"], data.observations)
    assert meta["control_hz"] == 100.0


def test_never_overwrites_unless_asked(tmp_path: Path) -> None:
    path = save_dataset(tmp_path / "d.h5", random_dataset(seed=1))
    with pytest.raises(DatasetError, match="overwrite"):
        save_dataset(path, random_dataset(seed=2))
    np.testing.assert_array_equal(
        load_dataset(path).observations, random_dataset(seed=1).observations
    )
    save_dataset(path, random_dataset(seed=2), overwrite=True)
    np.testing.assert_array_equal(
        load_dataset(path).observations, random_dataset(seed=2).observations
    )
    assert [p.name for p in tmp_path.iterdir()] == ["d.h5"]  # no temporary left behind


def test_contract_mismatch_refused(tmp_path: Path) -> None:
    data = random_dataset()
    path = save_dataset(tmp_path / "d.h5", data)
    with h5py.File(path, "r+") as f:
        meta = json.loads(f.attrs["h2o_meta"])
        meta["obs_names"] = list(reversed(meta["obs_names"]))
        f.attrs["h2o_meta"] = json.dumps(meta)
    with pytest.raises(ContractMismatchError, match="obs_names"):
        load_dataset(path)
    bad = data._replace(meta={**data.meta, "contract_version": "other/9"})
    with pytest.raises(ContractMismatchError, match="contract_version"):
        save_dataset(tmp_path / "e.h5", bad)
    assert not (tmp_path / "e.h5").exists()


def test_plain_d4rl_file_refused(tmp_path: Path) -> None:
    path = tmp_path / "plain.h5"
    with h5py.File(path, "w") as f:
        for key, value in random_dataset().arrays().items():
            f.create_dataset(key, data=value)
    with pytest.raises(DatasetError, match="h2o_meta"):
        load_dataset(path)


def test_task_mismatch(tmp_path: Path) -> None:
    path = save_dataset(tmp_path / "d.h5", random_dataset(task="move_straight"))
    with pytest.raises(DatasetError, match="move_straight"):
        load_dataset(path, task="stand")
    assert load_dataset(path, task="move_straight").meta["command"] == [0.5, 0.0]


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("observations", np.full((50, OBS_DIM), np.nan, np.float32), "non-finite"),
        ("actions", np.full((50, ACTION_DIM), 1.5, np.float32), r"outside \[-1, 1\]"),
        ("rewards", np.zeros(49, np.float32), "shape"),
        ("next_observations", np.zeros((50, OBS_DIM + 1), np.float32), "shape"),
        ("actions", np.zeros((50, ACTION_DIM), np.float64), "dtype"),
        ("terminals", np.ones(50, bool), "both terminal and timeout"),
    ],
)
def test_invalid_data_is_never_written(tmp_path: Path, key: str, value, message: str) -> None:
    bad = random_dataset()._replace(**{key: value})
    with pytest.raises(DatasetError, match=message):
        save_dataset(tmp_path / "bad.h5", bad)
    assert not (tmp_path / "bad.h5").exists()


def test_corrupt_files(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="not found"):
        load_dataset(tmp_path / "missing.h5")
    (tmp_path / "junk.h5").write_bytes(b"not hdf5 at all")
    with pytest.raises(DatasetError, match="not a readable HDF5"):
        load_dataset(tmp_path / "junk.h5")
    path = save_dataset(tmp_path / "d.h5", random_dataset())
    with h5py.File(path, "r+") as f:
        del f["rewards"]
    with pytest.raises(DatasetError, match="missing keys"):
        load_dataset(path)
    path = save_dataset(tmp_path / "n.h5", random_dataset())
    with h5py.File(path, "r+") as f:
        obs = f["observations"][()]
        obs[3, 2] = np.inf
        f["observations"][...] = obs
    with pytest.raises(DatasetError, match="row 3"):
        load_dataset(path)


def test_meta_checks_task_and_rate() -> None:
    with pytest.raises(ConfigError, match="unknown task"):
        make_meta("dance", 100.0)
    with pytest.raises(ConfigError, match="control_hz"):
        make_meta("stand", 0.0)


def test_episode_bounds_and_concat() -> None:
    data = random_dataset(10)  # terminal at 5, timeout at 9
    assert episode_bounds(data) == [(0, 6), (6, 10)]
    both = concat_datasets([data, data])
    assert both.size == 20
    assert episode_bounds(both) == [(0, 6), (6, 10), (10, 16), (16, 20)]
    open_end = data._replace(timeouts=np.zeros(10, bool))
    assert episode_bounds(open_end) == [(0, 6), (6, 10)]


def test_an_empty_dataset_has_no_episodes_and_a_summary() -> None:
    # A recorder that heard no tick writes 0 rows: the summary says so instead of crashing.
    empty = random_dataset(10)
    empty = empty._replace(**{k: v[:0] for k, v in empty.arrays().items()})
    assert episode_bounds(empty) == []
    info = dataset_info(empty)
    assert info["rows"] == 0 and info["episodes"]["count"] == 0
