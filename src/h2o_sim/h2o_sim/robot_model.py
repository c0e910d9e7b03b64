"""The simulated robot's body: geometry from ``config/robot/*.yaml``, joints from the contract.

:func:`load_geometry` reads and validates the YAML; :func:`make_urdf` turns it into URDF text
(every joint name, limit and effort taken from :mod:`h2o_robot_bridge.contract`); and
:func:`urdf_file` writes that text once per process to a temporary file for ``loadURDF``.

Frames: base x forward, y left, z up. At zero joint angles each leg hangs straight down; every
joint axis is +y, so hip ``q_h`` and knee ``q_k`` put the wheel at
``(-L sin q_h - L sin(q_h + q_k), -L cos q_h - L cos(q_h + q_k))`` (x, z) from the hip. With
equal thigh and shin lengths the contract's default pose (hip 0.5, knee -1.0 rad) puts the
wheel right under the hip.
"""

from __future__ import annotations

import hashlib
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from h2o_robot_bridge import config_files
from h2o_robot_bridge.contract import robot
from h2o_robot_bridge.errors import ConfigError

DEFAULT_ROBOT = "robot/wheel_legged.yaml"
BASE_LINK = "base_link"


@dataclass(frozen=True)
class Rod:
    """A leg link: a solid cylinder along the link's -z axis [m, kg]."""

    length: float
    radius: float
    mass: float


@dataclass(frozen=True)
class RobotGeometry:
    """Shapes and masses of the robot (SI units), left leg given, right leg mirrored in y.

    Attributes:
        base_size: base box (x, y, z) [m].
        base_mass: [kg].
        hip_offset: left hip joint position in the base frame (x, y, z) [m].
        thigh, shin: leg links (hip->knee, knee->wheel axis).
        wheel_width: [m]; radius is the contract's ``WHEEL_RADIUS``, track ``WHEEL_TRACK``.
        wheel_mass: [kg].
        wheel_friction, ground_friction: lateral friction coefficients (Bullet multiplies them).
        restitution: bounce of wheel and ground contacts.
    """

    base_size: tuple[float, float, float]
    base_mass: float
    hip_offset: tuple[float, float, float]
    thigh: Rod
    shin: Rod
    wheel_width: float
    wheel_mass: float
    wheel_friction: float = 1.0
    ground_friction: float = 1.0
    restitution: float = 0.0

    @property
    def total_mass(self) -> float:
        """Mass of the whole robot [kg]."""
        return self.base_mass + 2.0 * (self.thigh.mass + self.shin.mass + self.wheel_mass)

    def wheel_below_hip(self, hip: float, knee: float) -> tuple[float, float]:
        """Wheel axis position (x, z) relative to the hip axis [m] for leg angles [rad]."""
        lt, ls = self.thigh.length, self.shin.length
        x = -lt * math.sin(hip) - ls * math.sin(hip + knee)
        z = -lt * math.cos(hip) - ls * math.cos(hip + knee)
        return x, z

    @property
    def standing_height(self) -> float:
        """Base origin height [m] with level base, default leg pose, wheels on the ground."""
        hip = robot.DEFAULT_POSITIONS[robot.HIP_JOINT_IDS[0]]
        knee = robot.DEFAULT_POSITIONS[robot.KNEE_JOINT_IDS[0]]
        _, dz = self.wheel_below_hip(float(hip), float(knee))
        return robot.WHEEL_RADIUS - dz - self.hip_offset[2]


def _positive(data: dict[str, Any], key: str, where: str) -> float:
    try:
        value = float(data[key])
    except KeyError as err:
        raise ConfigError(f"{where}: missing key {key!r}") from err
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{where}.{key}: not a number: {data[key]!r}") from err
    if not (math.isfinite(value) and value > 0.0):
        raise ConfigError(f"{where}.{key} must be a positive number, got {value}")
    return value


def _triple(data: dict[str, Any], key: str, where: str) -> tuple[float, float, float]:
    value = data.get(key)
    if not (isinstance(value, list) and len(value) == 3):
        raise ConfigError(f"{where}.{key} must be a list of 3 numbers, got {value!r}")
    try:
        out = tuple(float(v) for v in value)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{where}.{key}: not numbers: {value!r}") from err
    return out  # type: ignore[return-value]


def _section(data: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = data.get(key)
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: missing section {key!r}")
    return value


def geometry_from_dict(data: dict[str, Any], where: str = "robot") -> RobotGeometry:
    """Validate a parsed robot YAML (see ``config/robot/wheel_legged.yaml``)."""
    known = {"base", "hip_offset", "thigh", "shin", "wheel", "friction"}
    unknown = set(data) - known
    if unknown:
        raise ConfigError(f"{where}: unknown keys {sorted(unknown)}; known: {sorted(known)}")
    base = _section(data, "base", where)
    size = _triple(base, "size", f"{where}.base")
    if min(size) <= 0.0:
        raise ConfigError(f"{where}.base.size must be positive, got {size}")
    rods = {}
    for name in ("thigh", "shin"):
        sec = _section(data, name, where)
        rods[name] = Rod(
            *(_positive(sec, k, f"{where}.{name}") for k in ("length", "radius", "mass"))
        )
    wheel = _section(data, "wheel", where)
    friction = data.get("friction", {})
    geom = RobotGeometry(
        base_size=size,
        base_mass=_positive(base, "mass", f"{where}.base"),
        hip_offset=_triple(data, "hip_offset", where),
        thigh=rods["thigh"],
        shin=rods["shin"],
        wheel_width=_positive(wheel, "width", f"{where}.wheel"),
        wheel_mass=_positive(wheel, "mass", f"{where}.wheel"),
        wheel_friction=_positive(friction, "lateral", f"{where}.friction")
        if "lateral" in friction
        else 1.0,
        ground_friction=_positive(friction, "ground_lateral", f"{where}.friction")
        if "ground_lateral" in friction
        else 1.0,
        restitution=float(friction.get("restitution", 0.0)),
    )
    if abs(geom.thigh.length - geom.shin.length) > 1e-9:
        raise ConfigError(
            f"{where}: thigh and shin lengths must be equal (the contract's default pose puts "
            f"the wheel under the hip only then), got {geom.thigh.length} and {geom.shin.length}"
        )
    if geom.hip_offset[1] <= 0.0 or geom.hip_offset[1] >= robot.WHEEL_TRACK / 2:
        raise ConfigError(
            f"{where}.hip_offset y must lie in (0, WHEEL_TRACK/2={robot.WHEEL_TRACK / 2}), "
            f"got {geom.hip_offset[1]}"
        )
    return geom


def load_geometry(name_or_path: str | Path | None = None) -> RobotGeometry:
    """Robot geometry from a YAML file path, or the shipped ``wheel_legged`` by default."""
    if name_or_path is None:
        path = config_files.config_file("h2o_sim", DEFAULT_ROBOT)
    else:
        path = Path(name_or_path)
        if not path.is_file():
            path = config_files.config_file("h2o_sim", f"robot/{name_or_path}.yaml")
    data = config_files.load_yaml_mapping(path, "robot geometry")
    return geometry_from_dict(data, where=str(path))


# --- URDF text -------------------------------------------------------------------------------


def _inertial(mass: float, ixx: float, iyy: float, izz: float, xyz: str = "0 0 0") -> str:
    return (
        f'<inertial><origin xyz="{xyz}" rpy="0 0 0"/><mass value="{mass:.6g}"/>'
        f'<inertia ixx="{ixx:.6g}" ixy="0" ixz="0" iyy="{iyy:.6g}" iyz="0" izz="{izz:.6g}"/>'
        "</inertial>"
    )


def _box_link(name: str, size: tuple[float, float, float], mass: float) -> str:
    x, y, z = size
    geom = f'<geometry><box size="{x} {y} {z}"/></geometry>'
    return (
        f'<link name="{name}">'
        + _inertial(
            mass,
            mass * (y * y + z * z) / 12,
            mass * (x * x + z * z) / 12,
            mass * (x * x + y * y) / 12,
        )
        + f'<visual>{geom}<material name="grey"><color rgba="0.6 0.6 0.65 1"/></material>'
        + f"</visual><collision>{geom}</collision></link>"
    )


def _rod_link(name: str, rod: Rod) -> str:
    m, r, length = rod.mass, rod.radius, rod.length
    i_side = m * (3 * r * r + length * length) / 12  # solid cylinder about a diameter
    mid = f"0 0 {-length / 2:.6g}"
    geom = f'<geometry><cylinder radius="{r}" length="{length}"/></geometry>'
    return (
        f'<link name="{name}">'
        + _inertial(m, i_side, i_side, m * r * r / 2, mid)
        + f'<visual><origin xyz="{mid}"/>{geom}'
        + '<material name="dark"><color rgba="0.2 0.2 0.25 1"/></material></visual>'
        + f'<collision><origin xyz="{mid}"/>{geom}</collision></link>'
    )


def _wheel_link(name: str, geom: RobotGeometry) -> str:
    m, r, w = geom.wheel_mass, robot.WHEEL_RADIUS, geom.wheel_width
    i_axis = m * r * r / 2  # solid disc about its axis (y)
    i_side = m * (3 * r * r + w * w) / 12
    # Visual: a cylinder turned so its axis is y. Collision: a sphere, whose single contact
    # point rolls far more smoothly in Bullet than a cylinder's edge contacts.
    return (
        f'<link name="{name}">'
        + _inertial(m, i_side, i_axis, i_side)
        + f'<visual><origin rpy="{math.pi / 2:.9f} 0 0"/>'
        + f'<geometry><cylinder radius="{r}" length="{w}"/></geometry>'
        + '<material name="black"><color rgba="0.05 0.05 0.05 1"/></material></visual>'
        + f'<collision><geometry><sphere radius="{r}"/></geometry></collision></link>'
    )


def _joint(spec: robot.JointSpec, parent: str, child: str, xyz: tuple[float, float, float]) -> str:
    origin = f'<origin xyz="{xyz[0]:.6g} {xyz[1]:.6g} {xyz[2]:.6g}" rpy="0 0 0"/>'
    common = (
        f'<parent link="{parent}"/><child link="{child}"/>{origin}<axis xyz="0 1 0"/>'
        '<dynamics damping="0" friction="0"/>'
    )
    if math.isfinite(spec.lower) and math.isfinite(spec.upper):
        limit = (
            f'<limit lower="{spec.lower}" upper="{spec.upper}" effort="{spec.max_effort}" '
            f'velocity="{spec.max_velocity}"/>'
        )
        return f'<joint name="{spec.name}" type="revolute">{common}{limit}</joint>'
    limit = f'<limit effort="{spec.max_effort}" velocity="{spec.max_velocity}"/>'
    return f'<joint name="{spec.name}" type="continuous">{common}{limit}</joint>'


def link_name(joint_name: str) -> str:
    """The child link of a contract joint (``left_hip`` -> ``left_thigh``)."""
    side, part = joint_name.split("_", 1)
    return f"{side}_{ {'hip': 'thigh', 'knee': 'shin', 'wheel': 'wheel'}[part] }"


def make_urdf(geom: RobotGeometry) -> str:
    """URDF text of the robot: joints named and limited exactly as the contract says."""
    parts = ['<?xml version="1.0"?>', '<robot name="h2o_wheel_legged">']
    parts.append(_box_link(BASE_LINK, geom.base_size, geom.base_mass))
    specs = {j.name: j for j in robot.JOINTS}
    for side, sign in (("left", 1.0), ("right", -1.0)):
        hx, hy, hz = geom.hip_offset
        wheel_dy = sign * (robot.WHEEL_TRACK / 2 - hy)
        parts += [
            _rod_link(f"{side}_thigh", geom.thigh),
            _rod_link(f"{side}_shin", geom.shin),
            _wheel_link(f"{side}_wheel", geom),
            _joint(specs[f"{side}_hip"], BASE_LINK, f"{side}_thigh", (hx, sign * hy, hz)),
            _joint(
                specs[f"{side}_knee"],
                f"{side}_thigh",
                f"{side}_shin",
                (0.0, 0.0, -geom.thigh.length),
            ),
            _joint(
                specs[f"{side}_wheel"],
                f"{side}_shin",
                f"{side}_wheel",
                (0.0, wheel_dy, -geom.shin.length),
            ),
        ]
    parts.append("</robot>")
    return "\n".join(parts) + "\n"


_URDF_FILES: dict[str, Path] = {}


def urdf_file(geom: RobotGeometry) -> Path:
    """Path of a URDF file for ``geom`` (written once per process; PyBullet loads files only)."""
    text = make_urdf(geom)
    key = hashlib.sha256(text.encode()).hexdigest()[:16]
    path = _URDF_FILES.get(key)
    if path is None or not path.is_file():
        folder = Path(tempfile.gettempdir()) / "h2o_sim_urdf"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"wheel_legged_{key}.urdf"
        if not path.is_file():
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(text)
            tmp.replace(path)  # atomic: concurrent processes never read half a file
        _URDF_FILES[key] = path
    return path
