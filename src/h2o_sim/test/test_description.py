"""The URDF for ROS: the checked-in copy is current, the structure check catches broken trees,
``h2o-urdf`` writes and checks files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from h2o_robot_bridge.contract import JOINT_NAMES
from h2o_sim.description import INSTALLED_URDF, robot_description, urdf_problems
from h2o_sim.robot_model import BASE_LINK

PACKAGE_DIR = Path(__file__).resolve().parents[1]


def test_the_installed_urdf_is_the_generated_one() -> None:
    # Fails when the robot YAML or the contract changed without regenerating the file.
    shipped = (PACKAGE_DIR / INSTALLED_URDF).read_text()
    assert shipped == robot_description(), (
        f"{INSTALLED_URDF} is stale: run h2o-urdf -o src/h2o_sim/{INSTALLED_URDF}"
    )


def test_setup_installs_the_urdf_under_share() -> None:
    setup = (PACKAGE_DIR / "setup.py").read_text()
    assert f'URDF_FILES = ["{INSTALLED_URDF}"]' in setup
    assert '(f"share/{PACKAGE}/urdf", URDF_FILES)' in setup
    assert '"h2o-urdf = h2o_sim.description:main"' in setup


def test_our_urdf_has_no_problems() -> None:
    assert urdf_problems(robot_description()) == []


def _broken(old: str, new: str, count: int = 1) -> str:
    text = robot_description()
    assert text.count(old) >= count, old
    return text.replace(old, new, count)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (_broken('joint name="left_knee"', 'joint name="left_knee_x"'), "left_knee"),
        (_broken('<parent link="base_link"/>', '<parent link="chassis"/>'), "'chassis'"),
        (_broken('link name="base_link"', 'link name="chassis"'), "not a <link>"),
        (_broken('type="revolute"', 'type="hinge"'), "unknown type 'hinge'"),
        (_broken('<limit lower="-1.0"', "<limit"), "lacks ['lower']"),
        (_broken('<child link="left_thigh"/>', '<child link="right_thigh"/>'), "two parents"),
        (_broken('<child link="left_wheel"/>', '<child link="base_link"/>'), "root"),
        (_broken('type="continuous"', 'type="fixed"'), "not movable"),
        (_broken("</robot>", "<robot>"), "not XML"),
        (_broken('<link name="left_wheel">', '<link name="left_shin">'), "used twice"),
    ],
    ids=[
        "renamed-joint",
        "unknown-parent",
        "renamed-base",
        "bad-type",
        "no-lower-limit",
        "two-parents",
        "no-root",
        "fixed-wheel",
        "not-xml",
        "duplicate-link",
    ],
)
def test_broken_urdfs_are_named(text: str, problem: str) -> None:
    problems = urdf_problems(text)
    assert any(problem in p for p in problems), problems


def test_a_cycle_is_found() -> None:
    # Two extra links that are each other's parent: one parent each, the root still unique,
    # so only the walk up the tree sees the loop.
    loop = (
        '<link name="a"/><link name="b"/>'
        '<joint name="ab" type="fixed"><parent link="a"/><child link="b"/></joint>'
        '<joint name="ba" type="fixed"><parent link="b"/><child link="a"/></joint></robot>'
    )
    problems = urdf_problems(robot_description().replace("</robot>", loop))
    assert any("cycle" in p for p in problems), problems


def test_the_root_is_the_base_link_and_every_contract_joint_moves() -> None:
    problems = urdf_problems(robot_description(), joint_names=(*JOINT_NAMES, "tail"))
    assert problems == ["contract joints missing or not movable: ['tail']"]
    assert BASE_LINK == "base_link"  # the sim's default base_frame (odom's child frame)


def _h2o_urdf(*args: str) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("h2o-urdf")
    return subprocess.run([str(script), *args], capture_output=True, text=True, timeout=60)


def test_console_script_writes_stdout_and_files(tmp_path: Path) -> None:
    out = _h2o_urdf()
    assert out.returncode == 0, out.stderr
    assert out.stdout == robot_description()
    path = tmp_path / "sub" / "wheel_legged.urdf"
    written = _h2o_urdf("-o", str(path))
    assert written.returncode == 0, written.stderr
    assert path.read_text() == robot_description()
    assert _h2o_urdf("--check", str(path)).returncode == 0
    path.write_text(robot_description().replace('name="right_wheel"', 'name="rw"'))
    checked = _h2o_urdf("--check", str(path))
    assert checked.returncode == 1 and "right_wheel" in checked.stderr
    assert _h2o_urdf("--robot", "/nonexistent.yaml").returncode == 2
