"""Record the robot topics straight into a crash-safe offline dataset.

    ros2 launch h2o_robot_bridge record.launch.py output:=real.h5 task:=stand
    ros2 launch h2o_robot_bridge record.launch.py output:=sim.h5 use_sim_time:=true
    ros2 launch h2o_robot_bridge record.launch.py output:=r1.h5 namespace:=r1   # /r1/joint_states

Every launch file of the stack takes ``namespace`` (default: the root; the relative topics move
under it, ``/clock`` is remapped to ``<namespace>/clock``), ``params_file`` (default: the
installed ``config/bridge/recorder.yaml``, keyed ``/**``), ``use_sim_time`` and ``log_level``.
The other arguments default to empty: keep the parameter file's value; an argument given on the
command line overrides it. Stop with Ctrl-C: the dataset is finalised. After a crash:
``h2o-dataset recover OUTPUT.partial -o OUTPUT``.
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

TEXT = {"output", "robot_id", "task", "time_source"}
FLOAT = {"control_hz"}


def _arguments() -> list[DeclareLaunchArgument]:
    """The four stack-wide arguments, then this file's (empty = keep the file's value)."""
    params_file = os.path.join(
        get_package_share_directory("h2o_robot_bridge"), "config/bridge/recorder.yaml"
    )
    return [
        DeclareLaunchArgument(
            "namespace", default_value="", description="namespace of every node ('' = root)"
        ),
        DeclareLaunchArgument(
            "params_file", default_value=params_file, description="parameter file (keyed /**)"
        ),
        DeclareLaunchArgument(
            "use_sim_time",
            default_value="false",
            description="true when the sim stamps in sim time (<namespace>/clock)",
        ),
        DeclareLaunchArgument(
            "log_level", default_value="info", description="debug|info|warn|error|fatal"
        ),
        DeclareLaunchArgument("output", default_value="", description="dataset file (.h5)"),
        DeclareLaunchArgument(
            "task", default_value="", description="contract task: stand or move_straight"
        ),
        DeclareLaunchArgument("control_hz", default_value="", description="control rate [Hz]"),
        DeclareLaunchArgument(
            "overwrite", default_value="", description="replace an existing output (true/false)"
        ),
        DeclareLaunchArgument(
            "time_source", default_value="", description="header (stamps) or receive (wall)"
        ),
        DeclareLaunchArgument("robot_id", default_value="", description="saved in the metadata"),
    ]


def _params_files(context: object) -> list[str]:
    """The ``params_file`` argument as a list (empty: none, the code defaults apply)."""
    path = LaunchConfiguration("params_file").perform(context)
    return [path] if path.strip() else []


def _overrides(context: object) -> dict[str, object]:
    """Arguments the user gave (non-empty), parsed as YAML scalars; output stays text."""
    given = {
        "output": LaunchConfiguration("output").perform(context),
        "task": LaunchConfiguration("task").perform(context),
        "control_hz": LaunchConfiguration("control_hz").perform(context),
        "overwrite": LaunchConfiguration("overwrite").perform(context),
        "time_source": LaunchConfiguration("time_source").perform(context),
        "robot_id": LaunchConfiguration("robot_id").perform(context),
    }
    out: dict[str, object] = {}
    for name, value in given.items():
        if value.strip() == "":
            continue
        parsed = value if name in TEXT else yaml.safe_load(value)
        out[name] = float(parsed) if name in FLOAT else parsed
    return out


def _recorder(context: object) -> list[Node]:
    return [
        Node(
            package="h2o_robot_bridge",
            executable="dataset_recorder",
            name="dataset_recorder",
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
    """Declare the arguments and start the recorder."""
    return LaunchDescription([*_arguments(), OpaqueFunction(function=_recorder)])
