"""Joint states / commands that lack contract joints: the statistics, the summary and the
error name the missing joints and the message's names the contract does not know."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from h2o_robot_bridge.contract import JOINT_NAMES, action_to_command
from h2o_robot_bridge.dataset.align import AlignConfig
from h2o_robot_bridge.dataset.bag.convert import convert_bag
from h2o_robot_bridge.dataset.bag.reader import JOINT_STATE, read_bag
from h2o_robot_bridge.dataset.bag.writer import RobotBagWriter
from h2o_robot_bridge.errors import DatasetError
from h2o_robot_bridge.testing.align_script import Script

CFG = AlignConfig(task="stand")
DRIVER_NAMES = (
    "left_hip",
    "left_knee",
    "l_wheel_joint",
    "right_hip",
    "right_knee",
    "r_wheel_joint",
)
"""A driver's names: the wheels named differently from the contract's."""

Names = Callable[[int], tuple[str, ...]]


def write(
    path: Path,
    sc: Script,
    state_names: Names = lambda k: JOINT_NAMES,
    command_names: Names = lambda k: JOINT_NAMES,
    little_endian: bool = True,
) -> Path:
    """The script's bag with the joint names of tick k's joint state and command; arrays as
    long as the names (contract values for contract joints, in the names' order)."""
    with RobotBagWriter(path) as w:

        def joints(topic: str, t: float, names: tuple[str, ...], *arrays: np.ndarray) -> None:
            order = [JOINT_NAMES.index(n) if n in JOINT_NAMES else 2 for n in names]
            msg = w.joint_state_msg(t, *(np.asarray(a)[order] for a in arrays), names=names)
            raw = w.store.serialize_cdr(msg, JOINT_STATE, little_endian=little_endian)
            w.write_raw(
                topic, JOINT_STATE, bytes(raw), t if topic == w.topics.joint_states else t + 1e-4
            )

        for k, t in enumerate(sc.t):
            joints(w.topics.joint_states, t, state_names(k), sc.pos[k], sc.vel[k], np.zeros(6))
            w.write_imu(t, sc.quat[k], sc.gyro[k])
            cmd = action_to_command(sc.act[k])
            nan = np.full(6, np.nan)
            joints(w.topics.joint_commands, t, command_names(k), cmd.position, nan, cmd.effort)
    return path


@pytest.mark.parametrize("little_endian", [True, False])  # the fast and the generic decoder
def test_renamed_joints_are_named_in_the_error(tmp_path: Path, little_endian: bool) -> None:
    bag = write(tmp_path / "bag", Script(20), lambda k: DRIVER_NAMES, little_endian=little_endian)
    _, stats = read_bag(bag)
    assert stats.joint_names == {
        "joint_states": {
            "missing": ["left_wheel", "right_wheel"],
            "unknown": ["l_wheel_joint", "r_wheel_joint"],
        }
    }
    assert stats.missing_joints == {"/joint_states": 20}
    with pytest.raises(DatasetError) as err:
        convert_bag(bag, CFG)
    text = str(err.value)
    assert "no transition could be formed" in text
    assert (
        "joint_states messages lack contract joint(s) left_wheel, right_wheel; they name "
        "l_wheel_joint, r_wheel_joint, not in the contract (a naming mismatch?" in text
    )


def test_some_commands_lack_a_joint(tmp_path: Path) -> None:
    # Five commands without the right wheel (and no other name): those ticks are dropped.
    short = JOINT_NAMES[:5]
    bag = write(
        tmp_path / "bag", Script(30), command_names=lambda k: short if k % 6 == 3 else JOINT_NAMES
    )
    conv = convert_bag(bag, CFG)
    assert conv.read.joint_names == {"joint_commands": {"missing": ["right_wheel"], "unknown": []}}
    assert conv.read.missing_joints == {"/joint_commands": 5}
    assert "joint_states" not in conv.read.joint_names
    lines = conv.summary().splitlines()
    assert "WARNING: joint_commands messages lack contract joint(s) right_wheel" in lines
    assert conv.data.size > 0 and conv.data.meta["conversion"]["read"]["joint_names"] == {
        "joint_commands": {"missing": ["right_wheel"], "unknown": []}
    }


def test_names_differing_between_messages_are_all_listed(tmp_path: Path) -> None:
    left = ("lw", *JOINT_NAMES[:2], *JOINT_NAMES[3:])  # the left wheel as "lw"
    right = (*JOINT_NAMES[:5], "rw")
    bag = write(tmp_path / "bag", Script(10), lambda k: right if k % 2 else left)
    _, stats = read_bag(bag)
    assert stats.joint_names == {
        "joint_states": {"missing": ["left_wheel", "right_wheel"], "unknown": ["lw", "rw"]}
    }
