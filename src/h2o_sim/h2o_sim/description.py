"""The robot's URDF for ROS: ``robot_description`` text, a structure check, ``h2o-urdf``.

The URDF is the one PyBullet loads (:func:`h2o_sim.robot_model.make_urdf`: joint names, limits
and efforts from the contract, shapes and masses from ``config/robot/*.yaml``), so
``robot_state_publisher`` and RViz show exactly the simulated body.

Installed copy: ``share/h2o_sim/urdf/wheel_legged.urdf`` is a generated file kept in the
source tree (``src/h2o_sim/urdf/``) and installed by ``setup.py`` like any data file, because
generating it while building would import the package (and numpy, PyYAML, the contract) inside
``setup.py``. A test fails when it no longer equals :func:`robot_description`; regenerate it
with ``h2o-urdf -o src/h2o_sim/urdf/wheel_legged.urdf``.

    h2o-urdf                       # the URDF on stdout (a launch Command substitution)
    h2o-urdf -o wheel_legged.urdf  # into a file
    h2o-urdf --check my_robot.urdf # structure check of any URDF against the contract's joints
"""

from __future__ import annotations

import argparse
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from pathlib import Path

from h2o_robot_bridge.contract import robot
from h2o_robot_bridge.contract.topics import TOPICS
from h2o_robot_bridge.errors import H2OError
from h2o_sim.robot_model import BASE_LINK, RobotGeometry, load_geometry, make_urdf

DESCRIPTION_TOPIC = TOPICS.robot_description
"""Where ``robot_state_publisher`` publishes the URDF (relative: it follows the namespace)."""
INSTALLED_URDF = "urdf/wheel_legged.urdf"
"""Path of the installed URDF under ``share/h2o_sim`` (and under ``src/h2o_sim``)."""
JOINT_TYPES = ("revolute", "continuous", "prismatic", "fixed", "floating", "planar")
"""The joint types the URDF format defines (urdfdom rejects any other)."""


def robot_description(geometry: RobotGeometry | str | Path | None = None) -> str:
    """URDF text of the robot (``geometry``: a loaded geometry, a robot YAML name or path, or
    None for the shipped ``wheel_legged``)."""
    geom = geometry if isinstance(geometry, RobotGeometry) else load_geometry(geometry)
    return make_urdf(geom)


def urdf_problems(text: str, joint_names: Iterable[str] = robot.JOINT_NAMES) -> list[str]:
    """What would make ``robot_state_publisher`` refuse ``text`` or publish the wrong tree.

    The checks urdfdom makes (one ``<robot>`` with a name; unique link and joint names; every
    joint with a known type, existing parent and child links and, when revolute or prismatic,
    a ``<limit>`` with ``lower``, ``upper``, ``effort`` and ``velocity``; one root link; no link
    with two parents, no cycle), plus ours: the root is :data:`BASE_LINK` and every joint of
    ``joint_names`` is a movable joint. Returns [] for a good URDF.
    """
    try:
        root = ET.fromstring(text)
    except ET.ParseError as err:
        return [f"not XML: {err}"]
    if root.tag != "robot" or not root.get("name"):
        return [f"the root element must be <robot name=...>, got <{root.tag}>"]
    links = [link.get("name") or "" for link in root.findall("link")]
    problems = _duplicates("link", links)
    joints = root.findall("joint")
    problems += _duplicates("joint", [j.get("name") or "" for j in joints])
    parent_of: dict[str, str] = {}
    for joint in joints:
        problems += _joint_problems(joint, set(links), parent_of)
    problems += _tree_problems(links, parent_of)
    movable = {j.get("name") for j in joints if j.get("type") not in ("fixed", None)}
    missing = [n for n in joint_names if n not in movable]
    if missing:
        problems.append(f"contract joints missing or not movable: {missing}")
    return problems


def _duplicates(kind: str, names: list[str]) -> list[str]:
    empty = [f"a {kind} without a name"] if "" in names else []
    twice = sorted({n for n in names if n and names.count(n) > 1})
    return empty + ([f"{kind} names used twice: {twice}"] if twice else [])


def _joint_problems(joint: ET.Element, links: set[str], parent_of: dict[str, str]) -> list[str]:
    """Problems of one ``<joint>``; records its child -> parent edge in ``parent_of``."""
    name, kind = joint.get("name"), joint.get("type")
    problems = [] if kind in JOINT_TYPES else [f"joint {name}: unknown type {kind!r}"]
    ends = {}
    for end in ("parent", "child"):
        element = joint.find(end)
        ends[end] = element.get("link") if element is not None else None
        if ends[end] not in links:
            problems.append(f"joint {name}: {end} link {ends[end]!r} is not a <link>")
    if kind in ("revolute", "prismatic"):
        limit = joint.find("limit")
        keys = ("lower", "upper", "effort", "velocity")
        absent = [k for k in keys if limit is None or limit.get(k) is None]
        if absent:
            problems.append(f"joint {name} ({kind}): <limit> lacks {absent}")
    child, parent = ends["child"], ends["parent"]
    if child is not None and parent is not None:
        if child in parent_of:
            problems.append(f"link {child} has two parents ({parent_of[child]}, {parent})")
        parent_of[child] = parent
    return problems


def _tree_problems(links: list[str], parent_of: dict[str, str]) -> list[str]:
    """One root, named :data:`BASE_LINK`, and no cycle (every link reaches the root)."""
    roots = [link for link in links if link not in parent_of]
    if len(roots) != 1:
        return [f"exactly one root link expected, got {roots}"]
    problems = [] if roots[0] == BASE_LINK else [f"root link is {roots[0]!r}, not {BASE_LINK!r}"]
    for link in links:
        seen = {link}
        while link in parent_of:
            link = parent_of[link]
            if link in seen:
                return [*problems, f"the joints form a cycle through link {link!r}"]
            seen.add(link)
    return problems


def main(argv: list[str] | None = None) -> int:
    """Console script ``h2o-urdf``: the URDF to stdout or ``-o FILE``; ``--check FILE``."""
    parser = argparse.ArgumentParser(prog="h2o-urdf", description=__doc__.split("\n\n")[0])
    parser.add_argument("-o", "--output", type=Path, help="write here instead of stdout")
    parser.add_argument("--robot", help="robot YAML name (config/robot) or path")
    parser.add_argument("--check", type=Path, metavar="URDF", help="check a URDF file instead")
    args = parser.parse_args(argv)
    try:
        if args.check is not None:
            return _check(args.check)
        text = robot_description(args.robot)
    except (H2OError, OSError) as err:
        print(f"h2o-urdf: error: {err}", file=sys.stderr)
        return 2
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text)
        print(f"h2o-urdf: wrote {args.output}", file=sys.stderr)
    return 0


def _check(path: Path) -> int:
    problems = urdf_problems(path.read_text())
    for problem in problems:
        print(f"{path}: {problem}", file=sys.stderr)
    if not problems:
        print(f"{path}: ok (joints {', '.join(robot.JOINT_NAMES)})", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
