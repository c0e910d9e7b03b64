"""The recorder core (no ROS): recording window, clock restarts, unstamped inputs, config."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from h2o_robot_bridge.contract import action_to_command, field
from h2o_robot_bridge.dataset import load_dataset
from h2o_robot_bridge.dataset.align import AlignConfig
from h2o_robot_bridge.dataset.bag.convert import convert_bag
from h2o_robot_bridge.dataset.bag.writer import RobotBagWriter
from h2o_robot_bridge.dataset.recorder import Recorder, RecorderConfig
from h2o_robot_bridge.errors import ConfigError, DatasetError
from h2o_robot_bridge.testing.align_script import DT, Script


def feed(rec: Recorder, sc: Script, ticks: range, offset: float = 0.0, wall: float = 0.0):
    for k in ticks:
        t = sc.t[k] + offset
        rec.on_joint_state(t, t + wall, sc.pos[k], sc.vel[k])
        rec.on_imu(t, t + wall, sc.quat[k], sc.gyro[k])
        rec.on_joint_command(t, t + wall, action_to_command(sc.act[k]))
        rec.step()


def test_stop_and_start_make_separate_episodes(tmp_path: Path) -> None:
    sc = Script(60)
    rec = Recorder(RecorderConfig(output=str(tmp_path / "r.h5"), flush_interval=0.01))
    feed(rec, sc, range(0, 20))
    assert "stopped" in rec.stop() and rec.writer.rows_flushed == 19
    assert rec.stop() == "not recording"
    feed(rec, sc, range(20, 30))  # ignored while stopped
    assert rec.start() == "recording" and rec.start() == "already recording"
    feed(rec, sc, range(30, 60))
    data = load_dataset(rec.close())
    assert data.size == 19 + 29
    assert np.flatnonzero(data.timeouts).tolist() == [18, 47]
    assert rec.status()["rows_flushed"] == 48


def test_clock_restart_starts_a_new_segment(tmp_path: Path) -> None:
    sc = Script(40)
    rec = Recorder(RecorderConfig(output=str(tmp_path / "r.h5")))
    feed(rec, sc, range(0, 20))
    feed(rec, sc, range(20, 40), offset=-5.0)  # the robot's clock went back 5 s
    data = load_dataset(rec.close())
    assert rec.aligner.stats.segments == 2
    assert data.size == 19 + 19 and data.timeouts[18]
    assert data.meta["conversion"]["align"]["segments"] == 2  # the statistics are saved


def test_recorder_splits_where_the_converter_does(tmp_path: Path) -> None:
    """A 0.3 s step back, shown by the IMU before the joint states (a straggler joint state
    received after it): the recorder and the bag converter cut at the same messages."""
    a, b = Script(30, seed=1), Script(30, seed=2)
    b.t = a.t + 30 * DT - 0.3
    msgs = []  # (receive time, kind, script, tick)
    for sc, shift in ((a, 0.0), (b, 0.3)):
        for k in range(30):
            # a's last joint state arrives after b's first IMU sample (0.3002 s later)
            js = 0.0103 if (sc is a and k == 29) else 4e-4
            msgs += [
                (sc.t[k] + shift + js, "js", sc, k),
                (sc.t[k] + shift + 2e-4, "imu", sc, k),
                (sc.t[k] + shift + 3.5e-4, "cmd", sc, k),
            ]
    msgs.sort(key=lambda m: m[0])
    rec = Recorder(RecorderConfig(output=str(tmp_path / "r.h5")))
    with RobotBagWriter(tmp_path / "bag") as w:
        for receive, kind, sc, k in msgs:
            t = sc.t[k]
            if kind == "js":
                rec.on_joint_state(t, receive, sc.pos[k], sc.vel[k])
                w.write_joint_states(t, sc.pos[k], sc.vel[k], log_t=receive)
            elif kind == "imu":
                rec.on_imu(t, receive, sc.quat[k], sc.gyro[k])
                w.write_imu(t, sc.quat[k], sc.gyro[k], log_t=receive)
            else:
                rec.on_joint_command(t, receive, action_to_command(sc.act[k]))
                w.write_joint_commands(t, action_to_command(sc.act[k]), log_t=receive)
            rec.step()
    live = load_dataset(rec.close())
    conv = convert_bag(tmp_path / "bag", AlignConfig())
    assert rec.aligner.stats.splits == conv.align.splits and len(conv.align.splits) == 1
    assert conv.align.stragglers == {"joint_states": 1}
    for key in ("observations", "actions", "next_observations", "timeouts", "stamps"):
        np.testing.assert_array_equal(getattr(live, key), getattr(conv.data, key))
    assert live.size == 28 + 29  # a's last tick has no joint state left: its row is lost


def test_unstamped_cmd_vel_uses_reception_time(tmp_path: Path) -> None:
    sc = Script(20)
    cfg = RecorderConfig(output=str(tmp_path / "r.h5"), align=AlignConfig(task="move_straight"))
    rec = Recorder(cfg)
    feed(rec, sc, range(0, 10), wall=1000.0)  # header clock = reception clock - 1000 s
    rec.on_cmd_vel(sc.t[10] - DT / 2 + 1000.0, np.array([0.2, 0.1]))
    feed(rec, sc, range(10, 20), wall=1000.0)
    data = load_dataset(rec.close())
    np.testing.assert_allclose(field(data.observations[9], "command"), [0.5, 0.0])
    np.testing.assert_allclose(field(data.observations[10], "command"), [0.2, 0.1])


def test_config_and_existing_output(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="output"):
        RecorderConfig(output="")
    with pytest.raises(ConfigError, match="flush_interval"):
        RecorderConfig(output="x.h5", flush_interval=3.0)
    with pytest.raises(ConfigError, match="time_source"):
        RecorderConfig(output="x.h5", time_source="gps")  # type: ignore[arg-type]
    (tmp_path / "r.h5").write_bytes(b"old")
    with pytest.raises(DatasetError, match="overwrite"):
        Recorder(RecorderConfig(output=str(tmp_path / "r.h5")))
