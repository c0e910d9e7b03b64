"""Run a policy on the robot (or the simulator) behind the safety layer.

    ros2 launch h2o_robot_bridge deploy.launch.py policy:=stand.onnx
    ros2 launch h2o_robot_bridge deploy.launch.py policy:=classical shadow:=true
    ros2 launch h2o_robot_bridge deploy.launch.py policy:=classical namespace:=r1 \
        use_sim_time:=true            # /r1/joint_states, ... and the sim time on /r1/clock
    ros2 launch h2o_robot_bridge deploy.launch.py policy:=/abs/path/p.onnx rate:=200.0 \
        joint_states:=/robot/joint_states imu:=/robot/imu command:=/robot/joint_commands
    ros2 launch h2o_robot_bridge deploy.launch.py params_file:=my_robot.yaml log_level:=debug
    ros2 launch h2o_robot_bridge deploy.launch.py policy:=stand.onnx autostart:=false
        (then: ros2 lifecycle set /policy_runner configure; ... activate)

Every launch file of the stack takes ``namespace`` (default: the root; the relative topics move
under it, ``/clock`` is remapped to ``<namespace>/clock``), ``params_file`` (default: the
installed ``config/bridge/deploy.yaml``, keyed ``/**`` so it applies in any namespace),
``use_sim_time`` and ``log_level``. The other arguments default to empty: keep the parameter
file's value; an argument given on the command line overrides it.
``policy_runner`` is a managed (lifecycle) node; with ``autostart:=true`` (the file's default)
it configures and activates itself, so no lifecycle manager is needed.
"""

from __future__ import annotations

import os

import yaml
from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue

from h2o_robot_bridge.contract.topics import NAMESPACE_REMAPS
from launch import LaunchDescription

PARAMETERS = {
    "policy": "policy",
    "policies_dir": "policies_dir",
    "rate": "control_hz",
    "trigger": "trigger",
    "shadow": "shadow",
    "autostart": "autostart",
    "fallback": "fallback",
    "joint_states": "joint_states_topic",
    "imu": "imu_topic",
    "cmd_vel": "cmd_vel_topic",
    "estop": "estop_topic",
    "command": "joint_commands_topic",
}
"""Launch argument -> the ``policy_runner`` parameter it overrides."""
TEXT = {
    "policy",
    "policies_dir",
    "trigger",
    "fallback",
    "joint_states",
    "imu",
    "cmd_vel",
    "estop",
    "command",
}
"""Arguments kept as text (the others are YAML scalars: numbers, booleans)."""
FLOAT = {"rate"}
"""Arguments for a double parameter (``rate:=200`` must not set an integer)."""


def _arguments() -> list[DeclareLaunchArgument]:
    """The four stack-wide arguments, then this file's (empty = keep the file's value)."""
    params_file = os.path.join(
        get_package_share_directory("h2o_robot_bridge"), "config/bridge/deploy.yaml"
    )
    return [
        DeclareLaunchArgument(
            "namespace", default_value="", description="namespace of every node ('' = root)"
        ),
        DeclareLaunchArgument(
            "params_file", default_value=params_file, description="parameter file (keyed /**)"
        ),
        DeclareLaunchArgument(
            "use_sim_time", default_value="false", description="follow <namespace>/clock"
        ),
        DeclareLaunchArgument(
            "log_level", default_value="info", description="debug|info|warn|error|fatal"
        ),
        DeclareLaunchArgument(
            "policy", default_value="", description="classical, an .onnx path or a file name"
        ),
        DeclareLaunchArgument(
            "policies_dir", default_value="", description="where file names are looked up"
        ),
        DeclareLaunchArgument("rate", default_value="", description="Hz; 0 = the policy's"),
        DeclareLaunchArgument(
            "trigger", default_value="", description="sensors|timer|joint_states|imu"
        ),
        DeclareLaunchArgument("shadow", default_value="", description="true: never command"),
        DeclareLaunchArgument(
            "autostart", default_value="", description="configure + activate at start"
        ),
        DeclareLaunchArgument("fallback", default_value="", description="classical|none"),
        DeclareLaunchArgument("joint_states", default_value="", description="topic name"),
        DeclareLaunchArgument("imu", default_value="", description="topic name"),
        DeclareLaunchArgument("cmd_vel", default_value="", description="topic name"),
        DeclareLaunchArgument("estop", default_value="", description="topic name"),
        DeclareLaunchArgument("command", default_value="", description="joint commands topic"),
    ]


def _params_files(context: object) -> list[str]:
    """The ``params_file`` argument as a list (empty: none, the code defaults apply)."""
    path = LaunchConfiguration("params_file").perform(context)
    return [path] if path.strip() else []


def _overrides(context: object) -> dict[str, object]:
    """Arguments the user gave (non-empty) as parameters, parsed as YAML scalars or text."""
    given = {
        "policy": LaunchConfiguration("policy").perform(context),
        "policies_dir": LaunchConfiguration("policies_dir").perform(context),
        "rate": LaunchConfiguration("rate").perform(context),
        "trigger": LaunchConfiguration("trigger").perform(context),
        "shadow": LaunchConfiguration("shadow").perform(context),
        "autostart": LaunchConfiguration("autostart").perform(context),
        "fallback": LaunchConfiguration("fallback").perform(context),
        "joint_states": LaunchConfiguration("joint_states").perform(context),
        "imu": LaunchConfiguration("imu").perform(context),
        "cmd_vel": LaunchConfiguration("cmd_vel").perform(context),
        "estop": LaunchConfiguration("estop").perform(context),
        "command": LaunchConfiguration("command").perform(context),
    }
    out: dict[str, object] = {}
    for arg, value in given.items():
        if value.strip() == "":
            continue
        parsed = value if arg in TEXT else yaml.safe_load(value)
        out[PARAMETERS[arg]] = float(parsed) if arg in FLOAT else parsed
    return out


def _runner(context: object) -> list[Node]:
    return [
        Node(
            package="h2o_robot_bridge",
            executable="policy_runner",
            name="policy_runner",
            output="screen",
            namespace=LaunchConfiguration("namespace"),
            parameters=[
                *_params_files(context),
                _overrides(context),
                {
                    "use_sim_time": ParameterValue(
                        LaunchConfiguration("use_sim_time"), value_type=bool
                    )
                },
            ],
            remappings=list(NAMESPACE_REMAPS),
            arguments=["--ros-args", "--log-level", LaunchConfiguration("log_level")],
        )
    ]


def generate_launch_description() -> LaunchDescription:
    """Declare the arguments and start ``policy_runner``."""
    return LaunchDescription([*_arguments(), OpaqueFunction(function=_runner)])
