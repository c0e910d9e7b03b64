"""Damaged sqlite3 bags (real ``.db3`` files cut short or overwritten): every message whose
page survived is read, none altered, the loss is counted; what cannot be read is a clear
error."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from h2o_robot_bridge.contract import NUM_JOINTS, action_to_command
from h2o_robot_bridge.dataset.align import AlignConfig
from h2o_robot_bridge.dataset.bag.convert import Conversion, convert_bag
from h2o_robot_bridge.dataset.bag.reader import JOINT_STATE, read_bag
from h2o_robot_bridge.dataset.bag.salvage import SalvageReport, salvage_messages
from h2o_robot_bridge.dataset.bag.writer import RobotBagWriter
from h2o_robot_bridge.errors import DatasetError
from h2o_robot_bridge.testing.align_script import Script
from h2o_robot_bridge.testing.bag_damage import (
    SQLITE_PAGE,
    copy_bag,
    cut_copy,
    digest,
    overwrite_page,
    rows_in,
)

CFG = AlignConfig(task="stand")
TICKS = 3000  # 9000 messages, 3.2 MB: the messages B-tree has three levels


class Intact:
    """The intact bag: its conversion, its messages and its pages."""

    def __init__(self, bag: Path) -> None:
        self.bag = bag
        self.conv = convert_bag(bag, CFG)
        db3 = bag / "bag.db3"
        con = sqlite3.connect(f"file:{db3}?mode=ro", uri=True)
        self.messages = {  # (topic, timestamp [ns]) -> raw CDR; unique in a scripted bag
            (topic, t): bytes(data)
            for topic, t, data in con.execute(
                "SELECT name, timestamp, data FROM messages JOIN topics ON topic_id = topics.id"
            )
        }
        # Cells per leaf page of the messages table (sqlite's own accounting, ``dbstat``):
        # what a reader of every surviving page can get at least.
        self.leaf_cells = con.execute(
            "SELECT pageno, ncell FROM dbstat WHERE name = 'messages' AND pagetype = 'leaf'"
        ).fetchall()
        con.close()

    def in_whole_pages(self, size: int) -> int:
        """Messages on the leaf pages wholly within the first ``size`` bytes."""
        return sum(n for page, n in self.leaf_cells if page * SQLITE_PAGE <= size)


@pytest.fixture(scope="module")
def intact(tmp_path_factory: pytest.TempPathFactory) -> Intact:
    bag = tmp_path_factory.mktemp("intact") / "bag"
    with RobotBagWriter(bag) as w:
        Script(TICKS, seed=3).write_bag(w)
    return Intact(bag)


def assert_salvaged(conv: Conversion, intact: Intact, recovered: int, lost: int | None) -> None:
    """The summary and the statistics state what was recovered and lost; every row is a row
    of the intact bag."""
    r = conv.read
    assert r.salvaged and r.salvaged_messages == recovered and r.lost_messages == lost
    text = conv.summary()
    assert "damaged bag salvaged" in text
    assert f"messages recovered {recovered}, lost {lost if lost is not None else 'unknown'}" in (
        text
    )
    rows_in(conv.data, intact.conv.data)


@pytest.mark.parametrize("fraction", [0.9, 0.6, 0.3])
def test_cut_db3_every_surviving_message(tmp_path: Path, intact: Intact, fraction: float) -> None:
    # An interrupted copy: metadata.yaml is there, the .db3 ends at `fraction` of its size.
    cut = cut_copy(intact.bag, tmp_path / "cut", fraction)
    size = (cut / "bag.db3").stat().st_size
    before = digest(cut)
    report = SalvageReport()
    got = list(salvage_messages(cut, report))
    assert digest(cut) == before, "reading changed the bag"
    # At least every message of every whole leaf page before the cut (a walk of the B-tree
    # gets none at 60 %: its interior pages are at 69 % of the file); each exactly as written.
    assert len(got) >= intact.in_whole_pages(size) > fraction * len(intact.messages) * 0.95
    for topic, _, t, raw in got:
        assert intact.messages[(topic, t)] == raw
    assert len({(m[0], m[2]) for m in got}) == len(got), "a message read twice"
    assert "cut short" in report.damaged[0] and not report.stopped

    conv = convert_bag(cut, CFG)
    assert_salvaged(conv, intact, len(got), len(intact.messages) - len(got))
    assert conv.data.size >= fraction * intact.conv.data.size * 0.95
    assert "rosbags could not open it" in conv.read.salvaged
    assert digest(cut) == before


def test_cut_db3_of_a_killed_recorder(tmp_path: Path, intact: Intact) -> None:
    # No metadata.yaml: the loss cannot be counted.
    cut = cut_copy(intact.bag, tmp_path / "cut", 0.5, metadata=False)
    conv = convert_bag(cut, CFG)
    recovered = conv.read.salvaged_messages
    assert intact.in_whole_pages((cut / "bag.db3").stat().st_size) <= recovered
    assert_salvaged(conv, intact, recovered, None)
    assert "no metadata.yaml" in conv.read.salvaged
    with pytest.raises(DatasetError, match="cannot open"):
        convert_bag(cut, CFG, strict=True)


def test_db3_with_a_lost_page_in_the_middle(tmp_path: Path, intact: Intact) -> None:
    # A bad sector: one leaf page of messages zeroed. Only its messages are lost.
    page, cells = intact.leaf_cells[len(intact.leaf_cells) // 2]
    damaged = copy_bag(intact.bag, tmp_path / "damaged")
    overwrite_page(damaged / "bag.db3", page, bytes(SQLITE_PAGE))
    conv = convert_bag(damaged, CFG)
    assert_salvaged(conv, intact, len(intact.messages) - cells, cells)
    assert "bag.db3: damaged; read its" in conv.read.salvaged
    assert conv.data.size >= intact.conv.data.size - cells


def test_strict_refuses_a_cut_db3(tmp_path: Path, intact: Intact) -> None:
    cut = cut_copy(intact.bag, tmp_path / "cut", 0.9)
    with pytest.raises(DatasetError, match="cannot open.*malformed"):
        convert_bag(cut, CFG, strict=True)


def _write_with_large_message(path: Path, sc: Script, large: int) -> None:
    """The script's bag (as :meth:`Script.write_bag` writes it), the joint state of tick
    ``large`` padded to 10 kB: it spans a chain of sqlite overflow pages (trailing bytes as
    rclpy may send, which the reader tolerates)."""
    with RobotBagWriter(path) as w:
        for k, t in enumerate(sc.t):
            if k == large:
                msg = w.joint_state_msg(t, sc.pos[k], sc.vel[k], np.zeros(NUM_JOINTS))
                raw = bytes(w.store.serialize_cdr(msg, JOINT_STATE)) + bytes(10_000)
                w.write_raw(w.topics.joint_states, JOINT_STATE, raw, t)
            else:
                w.write_joint_states(t, sc.pos[k], sc.vel[k])
            w.write_imu(t, sc.quat[k], sc.gyro[k])
            w.write_joint_commands(t, action_to_command(sc.act[k]), log_t=t + 1e-4)


def test_db3_rosbags_stops_part_way(tmp_path: Path) -> None:
    # A page sqlite cannot follow in the middle of the file: rosbags opens the bag (its
    # counts do not read message data) and stops at that message; the salvage reads on.
    sc = Script(300, seed=4)
    bag = tmp_path / "bag"
    _write_with_large_message(bag, sc, large=150)
    full = convert_bag(bag, CFG)
    damaged = copy_bag(bag, tmp_path / "damaged")
    con = sqlite3.connect(f"file:{damaged / 'bag.db3'}?mode=ro", uri=True)
    (first,) = con.execute(  # the first page of the message's overflow chain
        "SELECT pageno FROM dbstat WHERE name = 'messages' AND pagetype = 'overflow' "
        "AND path LIKE '%+000000'"
    ).fetchone()
    con.close()
    overwrite_page(damaged / "bag.db3", first, b"\xff\xff\xff\x00")  # next page: nowhere
    with pytest.raises(DatasetError, match="reading stopped early"):
        convert_bag(damaged, CFG, strict=True)

    conv = convert_bag(damaged, CFG)
    r = conv.read
    assert "rosbags stopped reading it part-way" in r.salvaged
    assert r.salvaged_messages == 899 and r.lost_messages == 1 and not r.stopped_early
    assert r.messages == {"joint_states": 299, "imu": 300, "joint_commands": 300}
    # Only the transitions into and out of tick 150 are lost (it has no fresh joint state).
    index = rows_in(conv.data, full.data)
    assert conv.data.size == full.data.size - 2 and 151 in index


def test_damaged_topics_or_schema_is_a_clear_error(tmp_path: Path, intact: Intact) -> None:
    # Without the topics table no message can be attributed to a topic: nothing is guessed.
    damaged = copy_bag(intact.bag, tmp_path / "topics")
    con = sqlite3.connect(f"file:{damaged / 'bag.db3'}?mode=ro", uri=True)
    (root,) = con.execute("SELECT rootpage FROM sqlite_master WHERE name = 'topics'").fetchone()
    con.close()
    overwrite_page(damaged / "bag.db3", root, bytes(SQLITE_PAGE))
    with pytest.raises(DatasetError, match="topics table is unreadable.*attributed to a topic"):
        convert_bag(damaged, CFG)
    schema = copy_bag(intact.bag, tmp_path / "schema")
    overwrite_page(schema / "bag.db3", 1, bytes(SQLITE_PAGE - 100), offset=100)  # header kept
    with pytest.raises(DatasetError, match=r"no messages table \(its schema, page 1, is damaged"):
        convert_bag(schema, CFG)


def test_empty_and_foreign_db3_are_clear_errors(tmp_path: Path, intact: Intact) -> None:
    empty = copy_bag(intact.bag, tmp_path / "empty")
    (empty / "bag.db3").write_bytes(b"")
    with pytest.raises(DatasetError, match=r"bag\.db3: empty file \(0 bytes\)"):
        convert_bag(empty, CFG)
    (tmp_path / "bare.db3").write_bytes(b"")
    with pytest.raises(DatasetError, match=r"nothing could be salvaged.*empty file \(0 bytes\)"):
        read_bag(tmp_path / "bare.db3")
    (tmp_path / "notes.db3").write_bytes(b"robot log, day 3\n" * 100)
    with pytest.raises(DatasetError, match="not an sqlite3 database"):
        read_bag(tmp_path / "notes.db3")
