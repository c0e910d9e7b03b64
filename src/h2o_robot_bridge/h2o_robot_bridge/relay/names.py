"""The robot's joint names and the controllers' joint orders, mapped onto the contract's.

A ROS parameter cannot be a dict, so the map is a string array of ``"robot:contract"`` entries
(one per joint: a pair can never be misaligned, as two parallel arrays could be). The entry is
split at its last ``:``, so a robot name may contain ``:`` (contract names never do).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from h2o_robot_bridge.contract import robot
from h2o_robot_bridge.contract.sensors import JointReading
from h2o_robot_bridge.conversions.from_msg import joint_state_to_reading
from h2o_robot_bridge.errors import ConfigError

SEPARATOR = ":"
CONTRACT_LEGS: tuple[str, ...] = tuple(robot.JOINT_NAMES[i] for i in robot.LEG_JOINT_IDS)
CONTRACT_WHEELS: tuple[str, ...] = tuple(robot.JOINT_NAMES[i] for i in robot.WHEEL_JOINT_IDS)
IDENTITY_MAP: tuple[str, ...] = tuple(f"{n}{SEPARATOR}{n}" for n in robot.JOINT_NAMES)
"""The ``joint_map`` default: the robot uses the contract's names."""


@dataclass(frozen=True)
class JointMap:
    """Which robot joint is which contract joint, and the order each controller expects.

    Build it with :func:`joint_map_from_parameters` (it validates); the fields are the parsed
    parameters.

    Attributes:
        leg_joints: robot names in the leg controller's order (its ``joints`` parameter).
        wheel_joints: robot names in the wheel controller's order.
        robot_names: the robot name of each contract joint, contract order (NUM_JOINTS,).
    """

    leg_joints: tuple[str, ...]
    wheel_joints: tuple[str, ...]
    robot_names: tuple[str, ...]

    @property
    def leg_index(self) -> list[int]:
        """Contract index of each leg controller joint (picks controller order from contract
        order arrays)."""
        return [self.robot_names.index(n) for n in self.leg_joints]

    @property
    def wheel_index(self) -> list[int]:
        """Contract index of each wheel controller joint."""
        return [self.robot_names.index(n) for n in self.wheel_joints]

    @property
    def renames(self) -> bool:
        """Whether any robot name differs from its contract name (the sensor side needs the
        joint-state relay only then)."""
        return self.robot_names != robot.JOINT_NAMES


def parse_joint_map(entries: Any) -> dict[str, str]:
    """``["robot:contract", ...]`` -> ``{robot: contract}``, every contract joint once.

    Raises:
        ConfigError: not a list of strings, an entry without ``:`` or with an empty side, a
            contract name that is no contract joint, a contract joint missing or mapped twice,
            a robot name given twice (each named).
    """
    names = _string_list("joint_map", entries)
    pairs = []
    for entry in names:
        robot_name, sep, contract = (s.strip() for s in entry.rpartition(SEPARATOR))
        if not (sep and robot_name and contract):
            raise ConfigError(
                f"joint_map entry {entry!r} is not 'robot_name{SEPARATOR}contract_name'"
            )
        pairs.append((robot_name, contract))
    contract_names = [c for _, c in pairs]
    unknown = [c for c in contract_names if c not in robot.JOINT_NAMES]
    if unknown:
        raise ConfigError(
            f"joint_map names unknown contract joints {unknown}; contract joints: "
            f"{list(robot.JOINT_NAMES)}"
        )
    _no_repeats("joint_map maps contract joints more than once", contract_names)
    missing = [c for c in robot.JOINT_NAMES if c not in contract_names]
    if missing:
        raise ConfigError(f"joint_map does not map contract joints {missing}")
    _no_repeats("joint_map gives robot joints more than once", [r for r, _ in pairs])
    return dict(pairs)


def joint_map_from_parameters(leg_joints: Any, wheel_joints: Any, joint_map: Any) -> JointMap:
    """Validate the three name parameters together.

    Args:
        leg_joints: robot names of the leg joints, in the leg controller's order.
        wheel_joints: robot names of the wheel joints, in the wheel controller's order.
        joint_map: ``"robot:contract"`` entries (see :func:`parse_joint_map`).

    Raises:
        ConfigError: a parameter is malformed, a controller joint is not in ``joint_map``, a
            mapped joint is in no controller, a joint is in both controllers, or a leg
            (position) joint is given to the wheel (effort) controller or the reverse; the
            parameter and the joints are named.
    """
    to_contract = parse_joint_map(joint_map)
    legs = tuple(_string_list("leg_joints", leg_joints))
    wheels = tuple(_string_list("wheel_joints", wheel_joints))
    _no_repeats("leg_joints names joints more than once", legs)
    _no_repeats("wheel_joints names joints more than once", wheels)
    both = [n for n in legs if n in wheels]
    if both:
        raise ConfigError(f"joints {both} are in both leg_joints and wheel_joints")
    for param, names in (("leg_joints", legs), ("wheel_joints", wheels)):
        unknown = [n for n in names if n not in to_contract]
        if unknown:
            raise ConfigError(
                f"{param} names joints {unknown} that joint_map does not map; mapped robot "
                f"joints: {sorted(to_contract)}"
            )
    unused = [n for n in to_contract if n not in legs + wheels]
    if unused:
        raise ConfigError(
            f"joint_map maps robot joints {unused} that are in neither leg_joints nor "
            "wheel_joints (every contract joint needs a controller)"
        )
    _kinds_match("leg_joints", legs, to_contract, CONTRACT_LEGS, "position (hip, knee)")
    _kinds_match("wheel_joints", wheels, to_contract, CONTRACT_WHEELS, "wheel (effort)")
    by_contract = {c: r for r, c in to_contract.items()}
    return JointMap(legs, wheels, tuple(by_contract[c] for c in robot.JOINT_NAMES))


def contract_reading(msg: Any, joints: JointMap) -> JointReading:
    """A robot ``sensor_msgs/JointState`` (robot names, any order, extra joints allowed) as
    arrays in contract order (NUM_JOINTS,) [rad, rad/s, N m]; an empty field is NaN.

    Raises:
        MessageError: a mapped joint is missing, a name repeats, or an array has the wrong
            length (:func:`~h2o_robot_bridge.conversions.from_msg.joint_state_to_reading`).
    """
    return joint_state_to_reading(msg, joints.robot_names)


def _kinds_match(
    param: str,
    names: tuple[str, ...],
    to_contract: dict[str, str],
    allowed: tuple[str, ...],
    kind: str,
) -> None:
    wrong = [f"{n} ({to_contract[n]})" for n in names if to_contract[n] not in allowed]
    if wrong:
        raise ConfigError(
            f"{param} must hold the robot's {kind} joints, contract {list(allowed)}; got {wrong}"
        )


def _string_list(param: str, value: Any) -> list[str]:
    """A ROS string array as a list of stripped, non-empty names (else ConfigError)."""
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ConfigError(f"{param} must be a list of joint names, got {value!r}")
    if not all(isinstance(v, str) and v.strip() for v in value):
        raise ConfigError(f"{param} must hold non-empty strings, got {list(value)!r}")
    return [v.strip() for v in value]


def _no_repeats(message: str, names: Sequence[str]) -> None:
    twice = sorted(n for n, k in Counter(names).items() if k > 1)
    if twice:
        raise ConfigError(f"{message}: {twice}")
