"""h2o-dataset: info, plot, recover and from-bag through the CLI entry point."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from h2o_robot_bridge.dataset import load_dataset, make_meta, save_dataset
from h2o_robot_bridge.dataset.bag.reader import BagTopics
from h2o_robot_bridge.dataset.bag.writer import RobotBagWriter
from h2o_robot_bridge.dataset.chunked import ChunkedWriter
from h2o_robot_bridge.dataset.cli import main
from h2o_robot_bridge.dataset.info import dataset_info
from h2o_robot_bridge.testing.align_script import Script
from h2o_robot_bridge.testing.dataset_rows import random_dataset, rows_block


def test_info_numbers(tmp_path: Path) -> None:
    meta = make_meta("stand", 100.0, {"kind": "test"})
    data = rows_block(0, 21, meta)  # terminals every 7th row: 3 episodes of 7
    info = dataset_info(data)
    assert info["rows"] == 21 and info["duration_s"] == pytest.approx(0.21)
    assert info["episodes"]["count"] == 3 and info["episodes"]["falls"] == 3
    assert info["episodes"]["length"]["mean"] == 7
    returns = [data.rewards[a : a + 7].sum() for a in (0, 7, 14)]
    assert info["returns"]["mean"] == pytest.approx(np.mean(returns))
    # prev_action is columns 19-24 (rows 0-20 hold k + 0.001 * column): exact float32 values, so
    # a field slice off by one column (0.001 apart) fails.
    prev = info["observations"]["prev_action"]
    assert prev["max"] == float(np.float32(20 + 0.001 * 24))
    assert prev["min"] == float(np.float32(0 + 0.001 * 19))
    # A chained log has no discontinuity inside episodes; a broken row is found.
    states = np.random.default_rng(0).normal(size=(22, 25)).astype(np.float32)
    chained = data._replace(observations=states[:-1], next_observations=states[1:])
    assert dataset_info(chained)["discontinuities"] == 0
    broken = chained.next_observations.copy()
    broken[3] += 1.0
    assert dataset_info(chained._replace(next_observations=broken))["discontinuities"] == 1
    broken[6] += 1.0  # row 6 ends an episode: its successor starts a new one
    assert dataset_info(chained._replace(next_observations=broken))["discontinuities"] == 1


def test_info_cli_text_and_json(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = save_dataset(tmp_path / "d.h5", random_dataset(30))
    assert main(["info", str(path)]) == 0
    text = capsys.readouterr().out
    assert "episodes: 2 (1 falls, 1 truncations)" in text and "joint_vel" in text
    assert main(["info", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["rows"] == 30
    assert main(["info", str(tmp_path / "none.h5")]) == 2
    assert "not found" in capsys.readouterr().err


def test_plot_cli(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = save_dataset(tmp_path / "d.h5", random_dataset(30))
    png = tmp_path / "ep.png"
    assert main(["plot", str(path), "--episode", "1", "-o", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    assert main(["plot", str(path), "--episode", "5", "-o", str(png)]) == 2
    assert "episode 5 does not exist" in capsys.readouterr().err


def test_recover_cli(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "rec.h5"
    writer = ChunkedWriter(out, make_meta("stand", 100.0), flush_interval=0.0)
    writer.append(rows_block(0, 12, writer.meta))  # then "crash": never closed
    assert main(["recover", str(writer.dir), "-o", str(out)]) == 0
    assert load_dataset(out).size == 12
    assert main(["recover", str(writer.dir), "-o", str(out)]) == 2  # exists: refused
    assert "overwrite" in capsys.readouterr().err


def test_from_bag_cli(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    sc = Script(50)
    with RobotBagWriter(tmp_path / "bag", "mcap") as w:
        sc.write_bag(w, ticks=[k for k in range(50) if k != 20])
    out = tmp_path / "d.h5"
    args = ["from-bag", str(tmp_path / "bag"), "-o", str(out), "-q", "--robot-id", "wl-7"]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "transitions not formed: gap 1" in text and "wrote 47 transitions" in text  # 19 + 28
    data = load_dataset(out, task="stand")
    assert main(["info", str(out)]) == 0
    assert "measured tick rate: 97.96 Hz, longest interval 20.0 ms" in capsys.readouterr().out
    assert data.meta["source"]["robot"] == "wl-7"
    assert data.meta["conversion"]["align"]["lost_transitions"] == {"gap": 1}
    assert main(args) == 2  # the output exists
    assert "overwrite" in capsys.readouterr().err
    assert main([*args, "--overwrite", "--imu-topic", "/nope"]) == 2
    assert "/nope" in capsys.readouterr().err


def test_from_bag_cli_reads_a_namespaced_robot(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    # A robot run under /r1 is recorded as /r1/joint_states, ...: --namespace finds it.
    sc = Script(30)
    with RobotBagWriter(tmp_path / "bag", "mcap", topics=BagTopics().resolved("/r1")) as w:
        sc.write_bag(w)
    out = tmp_path / "r1.h5"
    args = ["from-bag", str(tmp_path / "bag"), "-o", str(out), "-q"]
    assert main(args) == 2  # at the root there is no /joint_states
    err = capsys.readouterr().err
    assert "/joint_states (joint_states) is not in the bag" in err and "/r1/joint_states" in err
    assert main([*args, "--namespace", "r1"]) == 0
    assert "wrote 29 transitions" in capsys.readouterr().out
    topics = load_dataset(out, task="stand").meta["source"]["topics"]
    assert topics["joint_states"] == "/r1/joint_states" and topics["reset"] == "/r1/h2o/reset"
    # An absolute topic option is read as given, also with a namespace.
    renamed = [*args, "--namespace", "/r1", "--imu-topic", "/r2/imu/data", "--overwrite"]
    assert main(renamed) == 2
    assert "/r2/imu/data (imu) is not in the bag" in capsys.readouterr().err
    assert main([*args, "--namespace", "/1r", "--overwrite"]) == 2  # not a ROS name: refused
    assert "/1r" in capsys.readouterr().err
