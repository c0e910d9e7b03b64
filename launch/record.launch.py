"""Record the robot topics straight into a crash-safe offline dataset.

    ros2 launch h2o_robot_bridge record.launch.py output:=real.h5 task:=stand
    ros2 launch h2o_robot_bridge record.launch.py output:=sim.h5 use_sim_time:=true

Parameters come from the installed ``config/bridge/recorder.yaml``; an argument given on the
command line overrides its value, an argument left empty keeps the file's value. Stop with
Ctrl-C: the dataset is finalised. After a crash: ``h2o-dataset recover OUTPUT.partial -o OUTPUT``.
"""

from __future__ import annotations

import os

import yaml
from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from launch import LaunchDescription


def _arguments() -> list[DeclareLaunchArgument]:
    """Every argument defaults to empty: keep the YAML's value."""
    return [
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
        DeclareLaunchArgument(
            "use_sim_time", default_value="", description="true when the sim stamps in sim time"
        ),
    ]


def _overrides(context: object) -> dict[str, object]:
    """Arguments the user gave (non-empty), parsed as YAML scalars; output stays text."""
    given = {
        "output": LaunchConfiguration("output").perform(context),
        "task": LaunchConfiguration("task").perform(context),
        "control_hz": LaunchConfiguration("control_hz").perform(context),
        "overwrite": LaunchConfiguration("overwrite").perform(context),
        "time_source": LaunchConfiguration("time_source").perform(context),
        "robot_id": LaunchConfiguration("robot_id").perform(context),
        "use_sim_time": LaunchConfiguration("use_sim_time").perform(context),
    }
    text = {"output", "robot_id", "task", "time_source"}
    return {
        k: (v if k in text else yaml.safe_load(v)) for k, v in given.items() if v.strip() != ""
    }


def _recorder(context: object) -> list[Node]:
    params_file = os.path.join(
        get_package_share_directory("h2o_robot_bridge"), "config/bridge/recorder.yaml"
    )
    return [
        Node(
            package="h2o_robot_bridge",
            executable="dataset_recorder",
            name="dataset_recorder",
            output="screen",
            parameters=[params_file, _overrides(context)],
        )
    ]


def generate_launch_description() -> LaunchDescription:
    """Declare the arguments (empty = keep the YAML value) and start the recorder."""
    return LaunchDescription([*_arguments(), OpaqueFunction(function=_recorder)])
