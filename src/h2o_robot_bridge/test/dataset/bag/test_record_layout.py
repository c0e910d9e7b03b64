"""Bags laid out as ``ros2 bag record`` writes them (split storage files, rosbag2's
``metadata.yaml`` of version 8 or 9) convert to exactly the rows of the same messages in one
file; so do such bags left without their metadata or with their last split cut short."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from h2o_robot_bridge.dataset.align import AlignConfig
from h2o_robot_bridge.dataset.bag.convert import Conversion, convert_bag
from h2o_robot_bridge.dataset.bag.salvage import storage_files
from h2o_robot_bridge.dataset.bag.writer import Storage
from h2o_robot_bridge.testing.align_script import Script
from h2o_robot_bridge.testing.bag_damage import copy_bag, cut_copy, rows_in
from h2o_robot_bridge.testing.record_layout import (
    offered_qos,
    script_parts,
    write_record_layout,
    write_single_file,
)

CFG = AlignConfig(task="move_straight")
EXT = {"mcap": ".mcap", "sqlite3": ".db3"}


def assert_same(conv: Conversion, ref: Conversion) -> None:
    """Every row, and what the aligner saw, as from the single-file bag."""
    for name in ("observations", "actions", "rewards", "next_observations"):
        np.testing.assert_array_equal(getattr(conv.data, name), getattr(ref.data, name))
    np.testing.assert_array_equal(conv.data.terminals, ref.data.terminals)
    np.testing.assert_array_equal(conv.data.timeouts, ref.data.timeouts)
    assert conv.read.messages == ref.read.messages
    assert conv.align.as_dict() == ref.align.as_dict()  # incl. out-of-order and duplicates


@pytest.mark.parametrize(
    ("storage", "version"), [("mcap", 9), ("sqlite3", 9), ("mcap", 8), ("sqlite3", 8)]
)
def test_split_bag_converts_like_one_file(tmp_path: Path, storage: Storage, version) -> None:
    sc = Script(150, seed=7)
    parts = script_parts(sc, 3)
    bag = write_record_layout(tmp_path / "rosbag2_2026_03_01-10_00_00", parts, storage, version)
    names = [p.name for p in storage_files(bag)]
    assert names == [f"rosbag2_2026_03_01-10_00_00_{i}{EXT[storage]}" for i in range(3)]
    ref = convert_bag(write_single_file(tmp_path / "one", parts, storage), CFG)
    conv = convert_bag(bag, CFG)
    assert not conv.read.salvaged, conv.read.salvaged  # rosbags read the metadata as is
    assert conv.data.size == ref.data.size > 140
    assert_same(conv, ref)
    assert conv.read.messages == {
        "joint_states": 150,
        "imu": 150,
        "joint_commands": 150,
        "cmd_vel": 3,
        "reset": 1,
    }


def test_metadata_is_what_rosbags_parses(tmp_path: Path) -> None:
    # The QoS, custom data and distro of the written metadata.yaml read back as written, and
    # the storage files hold the same QoS (rosbags reads no message of a topic otherwise).
    from rosbags.highlevel import AnyReader

    for version, distro in ((9, "jazzy"), (8, "iron")):
        parts = script_parts(Script(20), 2)
        bag = write_record_layout(tmp_path / f"v{version}", parts, version=version)
        with AnyReader([bag]) as reader:
            for c in reader.connections:
                assert c.ext.offered_qos_profiles == offered_qos()
            (inner,) = reader.readers
            assert inner.ros_distro == distro
            assert inner.storage.metadata.custom == {"robot": "wl-01"}
            assert inner.message_count == 20 * 3 + 2 + 1  # ticks * 3 topics, cmd_vel, reset
            assert len(inner.storage.storages) == 2
            for storage in inner.storage.storages:
                for c in storage.connections:
                    assert c.ext.offered_qos_profiles == offered_qos()


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_many_splits_without_metadata_in_recording_order(tmp_path: Path, storage: Storage) -> None:
    # A recorder killed after 10 splits: no metadata.yaml, files _0 .. _10. They are read in
    # split order (_10 last, not after _1), so the messages arrive as recorded.
    sc = Script(220, seed=8)
    parts = script_parts(sc, 11)
    bag = copy_bag(
        write_record_layout(tmp_path / "rec", parts, storage), tmp_path / "killed", metadata=False
    )
    ref = convert_bag(write_single_file(tmp_path / "one", parts, storage), CFG)
    conv = convert_bag(bag, CFG)
    assert "no metadata.yaml" in conv.read.salvaged and conv.read.lost_messages is None
    assert conv.read.salvaged_messages == 220 * 3 + 11 + 1
    assert_same(conv, ref)


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_last_split_cut_short(tmp_path: Path, storage: Storage) -> None:
    # An interrupted copy of a split bag: metadata.yaml and the first files are whole, the
    # last is cut to half. The loss is counted from metadata.yaml.
    sc = Script(300, seed=9)
    parts = script_parts(sc, 3)
    bag = write_record_layout(tmp_path / "rec", parts, storage)
    ref = convert_bag(write_single_file(tmp_path / "one", parts, storage), CFG)
    cut = cut_copy(bag, tmp_path / "cut", 0.5)
    conv = convert_bag(cut, CFG)
    r = conv.read
    total = 300 * 3 + 3 + 1
    assert r.salvaged and 0 < r.lost_messages == total - r.salvaged_messages
    assert 2 * total // 3 < r.salvaged_messages < total
    assert f"messages recovered {r.salvaged_messages}, lost {r.lost_messages}" in conv.summary()
    index = rows_in(conv.data, ref.data)
    assert index[0] == 0 and conv.data.size > 2 * 297 // 3
