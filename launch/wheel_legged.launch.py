"""The simulated wheel-legged robot on the robot's topics.

    ros2 launch h2o_sim wheel_legged.launch.py dynamics:=gravity_x2
    ros2 launch h2o_sim wheel_legged.launch.py real_time_factor:=0.0 use_sim_time:=true
    ros2 launch h2o_sim wheel_legged.launch.py lockstep:=true use_sim_time:=true
    ros2 launch h2o_sim wheel_legged.launch.py gui:=true        # needs a display

Parameters come from the installed ``config/sim/wheel_legged_sim.yaml``; an argument given on
the command line overrides its value, an argument left empty keeps the file's value (so the
defaults live in one place). Every dynamics knob can also be set at run time:
``ros2 param set /wheel_legged_sim gravity_scale 2.0``.
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
        DeclareLaunchArgument(
            "dynamics",
            default_value="",
            description="dynamics profile: real, gravity_x2, friction_x0.3, joint_noise, a path",
        ),
        DeclareLaunchArgument("control_hz", default_value="", description="control rate [Hz]"),
        DeclareLaunchArgument(
            "physics_hz", default_value="", description="physics rate [Hz], k * control_hz"
        ),
        DeclareLaunchArgument(
            "use_sim_time", default_value="", description="stamp with sim time (else wall time)"
        ),
        DeclareLaunchArgument(
            "real_time_factor",
            default_value="",
            description="sim seconds per wall second; 0.0 = as fast as possible",
        ),
        DeclareLaunchArgument(
            "lockstep",
            default_value="",
            description="step once the command answering each sample is in (use_sim_time)",
        ),
        DeclareLaunchArgument(
            "gui", default_value="", description="PyBullet GUI (true/false; needs a display)"
        ),
        DeclareLaunchArgument("seed", default_value="", description="seed (-1 = fresh entropy)"),
    ]


def _overrides(context: object) -> dict[str, object]:
    """Arguments the user gave (non-empty), parsed as YAML scalars (numbers, booleans, text)."""
    given = {
        "dynamics": LaunchConfiguration("dynamics").perform(context),
        "control_hz": LaunchConfiguration("control_hz").perform(context),
        "physics_hz": LaunchConfiguration("physics_hz").perform(context),
        "use_sim_time": LaunchConfiguration("use_sim_time").perform(context),
        "real_time_factor": LaunchConfiguration("real_time_factor").perform(context),
        "lockstep": LaunchConfiguration("lockstep").perform(context),
        "gui": LaunchConfiguration("gui").perform(context),
        "seed": LaunchConfiguration("seed").perform(context),
    }
    return {k: yaml.safe_load(v) for k, v in given.items() if v.strip() != ""}


def _sim_node(context: object) -> list[Node]:
    params_file = os.path.join(
        get_package_share_directory("h2o_sim"), "config/sim/wheel_legged_sim.yaml"
    )
    return [
        Node(
            package="h2o_sim",
            executable="wheel_legged_sim",
            name="wheel_legged_sim",
            output="screen",
            parameters=[params_file, _overrides(context)],
        )
    ]


def generate_launch_description() -> LaunchDescription:
    """Declare the arguments (empty = keep the YAML value) and start the sim node."""
    return LaunchDescription([*_arguments(), OpaqueFunction(function=_sim_node)])
