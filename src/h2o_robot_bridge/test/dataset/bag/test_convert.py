"""Bag conversion: scripted bags (sqlite3 and MCAP) -> exactly the expected transitions;
bad bags -> a clear error or a documented drop count."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from h2o_robot_bridge.contract import action_to_command
from h2o_robot_bridge.dataset import validate_dataset
from h2o_robot_bridge.dataset.align import AlignConfig
from h2o_robot_bridge.dataset.bag.convert import convert_bag
from h2o_robot_bridge.dataset.bag.reader import BagTopics
from h2o_robot_bridge.dataset.bag.writer import RobotBagWriter
from h2o_robot_bridge.errors import DatasetError
from h2o_robot_bridge.testing.align_script import DT, Script, expected_row
from h2o_robot_bridge.testing.bag_damage import rows_in

CFG = AlignConfig(task="stand")


def write(path: Path, sc: Script, storage: str = "sqlite3", **kw) -> Path:
    with RobotBagWriter(path, storage) as w:
        sc.write_bag(w, **kw)
    return path


@pytest.mark.parametrize("storage", ["sqlite3", "mcap"])
def test_scripted_bag_converts_exactly(tmp_path: Path, storage: str) -> None:
    sc = Script(40, seed=5)
    # Receive times lag the stamps by 3 ms: header stamps drive the alignment.
    bag = write(tmp_path / "bag", sc, storage, log_offset=0.003)
    conv = convert_bag(bag, CFG)
    data = conv.data
    validate_dataset(data, task="stand")
    assert data.size == 39
    for k in range(39):
        o, a, r, n = expected_row(sc, k, first=(k == 0))
        np.testing.assert_allclose(data.observations[k], o, atol=1e-6)
        np.testing.assert_allclose(data.actions[k], a, atol=1e-6)
        np.testing.assert_allclose(data.rewards[k], r, rtol=1e-5)
        np.testing.assert_allclose(data.next_observations[k], n, atol=1e-6)
    assert data.timeouts.tolist() == [False] * 38 + [True]
    assert conv.read.storage == ("db3" if storage == "sqlite3" else "mcap")
    assert conv.align.messages == {"imu": 40, "joint_commands": 40, "joint_states": 40}
    assert data.meta["source"]["kind"] == "bag"
    assert data.meta["conversion"]["align"]["rows"] == 39


def test_cmd_vel_and_reset_topics(tmp_path: Path) -> None:
    sc = Script(30)
    with RobotBagWriter(tmp_path / "bag") as w:
        sc.write_bag(w)
        w.write_cmd_vel(sc.t[5] - 0.002, 0.4, -0.2)  # no header: receive time
        w.write_reset(sc.t[20] - 0.002)
    conv = convert_bag(tmp_path / "bag", AlignConfig(task="move_straight"))
    obs = conv.data.observations
    np.testing.assert_allclose(obs[4, 17:19], [0.5, 0.0])  # task default before the first
    np.testing.assert_allclose(obs[5, 17:19], [0.4, -0.2])
    assert conv.align.lost_transitions == {"reset": 1}
    assert conv.data.size == 28 and conv.data.timeouts[18]


def test_custom_topic_names(tmp_path: Path) -> None:
    topics = BagTopics(joint_states="/robot/js", imu="/robot/imu", joint_commands="/robot/cmd")
    sc = Script(10)
    with RobotBagWriter(tmp_path / "bag", topics=topics) as w:
        sc.write_bag(w)
    with pytest.raises(DatasetError, match=r"/joint_states .*not in the bag.*/robot/js"):
        convert_bag(tmp_path / "bag", CFG)
    assert convert_bag(tmp_path / "bag", CFG, topics=topics).data.size == 9


def test_missing_topic_and_empty_bag(tmp_path: Path) -> None:
    sc = Script(10)
    with RobotBagWriter(tmp_path / "noimu") as w:
        for k, t in enumerate(sc.t):
            w.write_joint_states(t, sc.pos[k], sc.vel[k])
            w.write_joint_commands(t, action_to_command(sc.act[k]))
    with pytest.raises(DatasetError, match=r"/imu/data \(imu\) is not in the bag"):
        convert_bag(tmp_path / "noimu", CFG)
    with RobotBagWriter(tmp_path / "empty"):
        pass
    with pytest.raises(DatasetError, match="not in the bag"):
        convert_bag(tmp_path / "empty", CFG)
    with pytest.raises(DatasetError, match="not found"):
        convert_bag(tmp_path / "nothing", CFG)
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "metadata.yaml").write_text("not: a bag\n")
    with pytest.raises(DatasetError, match="cannot open"):
        convert_bag(tmp_path / "junk", CFG)


@pytest.mark.parametrize("storage", ["sqlite3", "mcap"])
def test_truncated_bag(tmp_path: Path, storage: str) -> None:
    sc = Script(400)
    bag = write(tmp_path / "bag", sc, storage)
    full = convert_bag(bag, CFG).data
    (data_file,) = [p for p in bag.iterdir() if p.suffix in (".db3", ".mcap")]
    raw = data_file.read_bytes()
    cut = tmp_path / "cut"
    shutil.copytree(bag, cut)
    (cut / data_file.name).write_bytes(raw[: len(raw) * 2 // 3])  # a recorder killed mid-write
    (cut / "metadata.yaml").unlink()  # ... never writes its metadata either
    with pytest.raises(DatasetError, match="cannot open"):
        convert_bag(cut, CFG, strict=True)
    # MCAP is read record by record up to the cut: the rows before it are exactly the full
    # bag's rows. sqlite3 is read page by page, the last page in part: its rows are the full
    # bag's, with a gap before the last few. The summary says what happened.
    conv = convert_bag(cut, CFG)
    data = conv.data
    validate_dataset(data)
    assert 200 < data.size < 399
    if storage == "mcap":
        assert "truncated record" in conv.read.stopped_early and conv.read.salvaged
        np.testing.assert_array_equal(data.observations, full.observations[: data.size])
        np.testing.assert_array_equal(data.rewards, full.rewards[: data.size])
    else:
        assert "cut short" in conv.read.salvaged and not conv.read.stopped_early
        assert rows_in(data, full)[0] == 0
    assert conv.read.lost_messages is None  # without metadata.yaml nothing says how many
    assert "damaged bag salvaged" in conv.summary()
    assert data.timeouts[-1]


@pytest.mark.parametrize("storage", ["sqlite3", "mcap"])
def test_bag_without_metadata_yaml(tmp_path: Path, storage: str) -> None:
    sc = Script(50)
    bag = write(tmp_path / "bag", sc, storage)
    full = convert_bag(bag, CFG).data
    (bag / "metadata.yaml").unlink()
    conv = convert_bag(bag, CFG)
    assert conv.read.salvaged and not conv.read.stopped_early
    np.testing.assert_array_equal(conv.data.observations, full.observations)


def test_nan_and_bad_commands_are_dropped(tmp_path: Path) -> None:
    sc = Script(30)
    sc.vel[7, 1] = np.nan
    sc.act[15, 2] = np.nan
    conv = convert_bag(write(tmp_path / "bag", sc), CFG)
    assert conv.align.dropped_ticks == {"nonfinite_input": 1, "bad_command": 1}
    assert conv.data.size == 29 - 4
    validate_dataset(conv.data)


def test_out_of_order_and_duplicate_stamps(tmp_path: Path) -> None:
    sc = Script(30)
    with RobotBagWriter(tmp_path / "bag") as w:
        sc.write_bag(w)
        # A late repeat of stamp 10 and an out-of-order older IMU sample: stamps go back,
        # a split (never re-sorted into the timeline), seen by both streams.
        w.write_joint_states(sc.t[10], sc.pos[11], sc.vel[11], log_t=sc.t[29] + 0.01)
        w.write_imu(sc.t[3], sc.quat[3], sc.gyro[3], log_t=sc.t[29] + 0.02)
    conv = convert_bag(tmp_path / "bag", CFG)
    assert conv.align.segments == 2 and not conv.align.out_of_order
    (split,) = conv.align.splits
    assert split["stream"] == "joint_states" and split["seen_by"] == ["joint_states", "imu"]
    assert split["back_s"] == pytest.approx(sc.t[29] - sc.t[10])
    assert "joint_states stamp went back 190.0 ms" in conv.summary()
    ref = convert_bag(write(tmp_path / "ref", sc), CFG)
    np.testing.assert_array_equal(conv.data.observations, ref.data.observations)
    np.testing.assert_array_equal(conv.data.timeouts, ref.data.timeouts)


def test_duplicate_stamps_keep_the_first(tmp_path: Path) -> None:
    sc = Script(30)
    with RobotBagWriter(tmp_path / "bag") as w:
        for k, t in enumerate(sc.t):
            w.write_joint_states(t, sc.pos[k], sc.vel[k])
            if k == 10:  # the same stamp again with other values: not a step back
                w.write_joint_states(t, sc.pos[11], sc.vel[11], log_t=t + 1e-4)
            w.write_imu(t, sc.quat[k], sc.gyro[k])
            w.write_joint_commands(t, action_to_command(sc.act[k]), log_t=t + 2e-4)
    conv = convert_bag(tmp_path / "bag", CFG)
    assert conv.align.duplicates == {"joint_states": 1} and conv.align.segments == 1
    ref = convert_bag(write(tmp_path / "ref", sc), CFG)
    np.testing.assert_array_equal(conv.data.observations, ref.data.observations)


def test_clock_jump_splits_segments(tmp_path: Path) -> None:
    a, b = Script(20, seed=1), Script(20, seed=2)
    b.t = b.t - 0.5  # the robot clock restarted: stamps go back 0.7 s
    with RobotBagWriter(tmp_path / "bag") as w:
        a.write_bag(w)
        b.write_bag(w, log_offset=a.t[-1] + 1.0 - b.t[0])
    conv = convert_bag(tmp_path / "bag", AlignConfig())
    assert conv.align.segments == 2
    assert conv.data.size == 38 and conv.data.timeouts[18] and conv.data.timeouts[37]
    o, *_ = expected_row(b, 0, first=True)
    np.testing.assert_allclose(conv.data.observations[19], o, atol=1e-6)


@pytest.mark.parametrize("back", [0.012, 0.05, 0.3, 0.9, 5.0])
def test_clock_steps_back_of_any_size(tmp_path: Path, back: float) -> None:
    """Any step back longer than a sample interval splits; the command carries across."""
    a, b = Script(30, seed=1), Script(30, seed=2)
    b.t = a.t + 30 * DT - back  # the clock went back ``back`` s just after a's last tick
    with RobotBagWriter(tmp_path / "bag") as w:
        w.write_cmd_vel(a.t[2] - 0.002, 0.4, -0.2)
        a.write_bag(w, log_offset=0.001)
        b.write_bag(w, log_offset=back + 0.001)  # received after a: later in true time
    cfg = AlignConfig(task="move_straight")
    conv = convert_bag(tmp_path / "bag", cfg)
    assert conv.align.segments == 2 and conv.align.commands_carried == 1
    (split,) = conv.align.splits
    assert split["back_s"] == pytest.approx(back - DT, abs=1e-6)
    assert sorted(split["seen_by"]) == ["imu", "joint_commands", "joint_states"]
    data = conv.data
    assert data.size == 29 + 29 and np.flatnonzero(data.timeouts).tolist() == [28, 57]
    for k in range(29):  # b's rows are b's own, with a's command still in effect
        o, act, r, n = expected_row(b, k, first=(k == 0))
        o[17:19] = n[17:19] = [0.4, -0.2]
        np.testing.assert_allclose(data.observations[29 + k], o, atol=1e-6)
        np.testing.assert_allclose(data.next_observations[29 + k], n, atol=1e-6)
    assert data.stamps is not None
    np.testing.assert_allclose(data.stamps[29:, 0], b.t[:29], rtol=0, atol=1e-9)  # ns stamps
    assert np.all(data.stamps[29:, 3] == data.stamps[5, 3])  # the carried command's stamp


def test_rate_drop_and_receive_time(tmp_path: Path) -> None:
    sc = Script(30)
    ticks = [k for k in range(30) if k < 10 or k % 2 == 0]  # commands at 50 Hz after tick 10
    bag = write(tmp_path / "bag", sc, ticks=ticks)
    conv = convert_bag(bag, CFG)
    assert conv.align.lost_transitions == {"gap": 9}  # 10->12, ..., 26->28
    assert conv.data.size == 10
    # Receive times shifted by a constant: the same rows with --time receive.
    bag2 = write(tmp_path / "bag2", sc, log_offset=100.0)
    got = convert_bag(bag2, CFG, time_source="receive")
    assert got.data.size == 29
    by_header = convert_bag(bag2, CFG).data
    np.testing.assert_array_equal(got.data.observations, by_header.observations)
    assert got.data.stamps is not None  # receive times: the commands' are 100 s + 0.1 ms later
    np.testing.assert_allclose(got.data.stamps[:, 0], sc.t[:29] + 100.0 + 1e-4, atol=1e-9)


def test_padded_cdr_is_decoded_leniently(tmp_path: Path) -> None:
    sc = Script(20)
    with RobotBagWriter(tmp_path / "bag") as w:
        for k, t in enumerate(sc.t):
            msg = w.joint_state_msg(t, sc.pos[k], sc.vel[k], np.zeros(0))
            raw = w.store.serialize_cdr(msg, "sensor_msgs/msg/JointState")
            # What rclpy may send after an empty trailing float64 array: alignment padding.
            w.write_raw("/joint_states", "sensor_msgs/msg/JointState", bytes(raw) + bytes(4), t)
            w.write_imu(t, sc.quat[k], sc.gyro[k])
            w.write_joint_commands(t, action_to_command(sc.act[k]))
    conv = convert_bag(tmp_path / "bag", CFG)
    assert conv.read.padded == {"sensor_msgs/msg/JointState": 20}
    assert conv.data.size == 19 and not conv.read.undecodable
