"""The robot contract: the one definition of joints, observations, actions, tasks, timing and
topics.

Sim, bridge and learner import these names; nothing else may redefine them. Anything that
changes meaning here must bump :data:`CONTRACT_VERSION`.
"""

from h2o_robot_bridge.contract.action import (
    ACTION_DIM,
    ACTION_NAMES,
    ACTION_OFFSET,
    ACTION_SCALE,
    SAFE_ACTION,
    JointCommand,
    action_targets,
    action_to_command,
    clip_action,
    command_to_action,
)
from h2o_robot_bridge.contract.commands import CommandRange, episode_commands, trained_commands
from h2o_robot_bridge.contract.metadata import check_contract_metadata, contract_metadata
from h2o_robot_bridge.contract.observation import (
    OBS_DIM,
    OBS_FIELDS,
    OBS_NAMES,
    OBS_SLICES,
    build_observation,
    field,
    forward_velocity_from_joints,
    pitch_from_projected_gravity,
    projected_gravity_from_quaternion,
    tilt_from_projected_gravity,
)
from h2o_robot_bridge.contract.robot import (
    CONTRACT_VERSION,
    JOINT_NAMES,
    JOINTS,
    LEG_JOINT_IDS,
    NUM_JOINTS,
    WHEEL_JOINT_IDS,
    WHEEL_RADIUS,
    JointSpec,
)
from h2o_robot_bridge.contract.sensors import (
    ImuReading,
    JointReading,
    SensorSnapshot,
    observation_from_snapshot,
)
from h2o_robot_bridge.contract.tasks import TASKS, RewardWeights, Task, get_task
from h2o_robot_bridge.contract.timing import DEFAULT_TIMING, Timing
from h2o_robot_bridge.contract.topics import TOPICS, RobotTopics

__all__ = [
    "ACTION_DIM",
    "ACTION_NAMES",
    "ACTION_OFFSET",
    "ACTION_SCALE",
    "CONTRACT_VERSION",
    "CommandRange",
    "episode_commands",
    "trained_commands",
    "JOINTS",
    "JOINT_NAMES",
    "LEG_JOINT_IDS",
    "NUM_JOINTS",
    "OBS_DIM",
    "OBS_FIELDS",
    "OBS_NAMES",
    "OBS_SLICES",
    "SAFE_ACTION",
    "TASKS",
    "WHEEL_JOINT_IDS",
    "WHEEL_RADIUS",
    "JointCommand",
    "JointSpec",
    "RewardWeights",
    "Task",
    "ImuReading",
    "JointReading",
    "SensorSnapshot",
    "observation_from_snapshot",
    "TOPICS",
    "RobotTopics",
    "DEFAULT_TIMING",
    "Timing",
    "action_targets",
    "action_to_command",
    "check_contract_metadata",
    "clip_action",
    "command_to_action",
    "contract_metadata",
    "build_observation",
    "field",
    "forward_velocity_from_joints",
    "get_task",
    "pitch_from_projected_gravity",
    "projected_gravity_from_quaternion",
    "tilt_from_projected_gravity",
]
