"""The simulated wheel-legged robot on the robot's topics.

    ros2 launch h2o_sim wheel_legged.launch.py dynamics:=gravity_x2
    ros2 launch h2o_sim wheel_legged.launch.py real_time_factor:=0.0 use_sim_time:=true
    ros2 launch h2o_sim wheel_legged.launch.py lockstep:=true use_sim_time:=true
    ros2 launch h2o_sim wheel_legged.launch.py namespace:=r1   # /r1/joint_states, /r1/clock
    ros2 launch h2o_sim wheel_legged.launch.py urdf:=none        # no robot_state_publisher
    ros2 launch h2o_sim wheel_legged.launch.py gui:=true        # needs a display

Every launch file of the stack takes ``namespace`` (default: the root; the relative topics move
under it), ``params_file`` (default: the installed ``config/sim/wheel_legged_sim.yaml``, keyed
``/**``), ``use_sim_time`` and ``log_level``, applied to every node it starts. The sim's
``/clock`` is remapped to ``clock`` for every node: in namespace ``r1`` this world's sim time is
``/r1/clock`` (two sims in two namespaces do not share one ``/clock``), at the root ``/clock``.
The other arguments default to empty: keep the parameter file's value (so the defaults live in
one place); an argument given on the command line overrides it. Every dynamics knob can also
be set at run time: ``ros2 param set /wheel_legged_sim gravity_scale 2.0`` (in a namespace:
``/r1/wheel_legged_sim``).

``robot_state_publisher`` (``/tf`` of the legs from ``joint_states``) is started where the
package is installed, with the URDF ``h2o-urdf`` writes (installed as
``share/h2o_sim/urdf/wheel_legged.urdf``; ``urdf:=FILE`` for another, ``urdf:=none`` for none);
it then publishes ``robot_description`` and the sim does not (one publisher). Where the package
is missing a log line says so and the sim publishes ``robot_description`` itself. In a
namespace its ``/tf`` and ``/tf_static`` are remapped under it (one TF tree per robot).
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml
from ament_index_python.packages import PackageNotFoundError, get_package_share_directory
from launch.actions import DeclareLaunchArgument, LogInfo, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue

from h2o_robot_bridge.contract.topics import NAMESPACE_REMAPS
from launch import LaunchDescription

TF_REMAPS = [("/tf", "tf"), ("/tf_static", "tf_static")]
"""robot_state_publisher's TF under the namespace (at the root: /tf itself)."""


def _arguments() -> list[DeclareLaunchArgument]:
    """The four stack-wide arguments, then this file's (empty = keep the file's value)."""
    params_file = os.path.join(
        get_package_share_directory("h2o_sim"), "config/sim/wheel_legged_sim.yaml"
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
            description="stamp with sim time (else wall time); nodes follow <namespace>/clock",
        ),
        DeclareLaunchArgument(
            "log_level", default_value="info", description="debug|info|warn|error|fatal"
        ),
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
        DeclareLaunchArgument(
            "urdf",
            default_value="",
            description="URDF for robot_state_publisher ('' = the installed wheel_legged.urdf, "
            "'none' = do not start it)",
        ),
    ]


def _params_files(context: object) -> list[str]:
    """The ``params_file`` argument as a list (empty: none, the code defaults apply)."""
    path = LaunchConfiguration("params_file").perform(context)
    return [path] if path.strip() else []


def _overrides(context: object) -> dict[str, object]:
    """Arguments the user gave (non-empty), parsed as YAML scalars (numbers, booleans, text)."""
    given = {
        "dynamics": LaunchConfiguration("dynamics").perform(context),
        "control_hz": LaunchConfiguration("control_hz").perform(context),
        "physics_hz": LaunchConfiguration("physics_hz").perform(context),
        "real_time_factor": LaunchConfiguration("real_time_factor").perform(context),
        "lockstep": LaunchConfiguration("lockstep").perform(context),
        "gui": LaunchConfiguration("gui").perform(context),
        "seed": LaunchConfiguration("seed").perform(context),
    }
    return {k: yaml.safe_load(v) for k, v in given.items() if v.strip() != ""}


def _sim_node(context: object) -> list[Node]:
    # One robot_description publisher: robot_state_publisher's when it runs, else the sim's.
    publish_description = _urdf(context) is None
    return [
        Node(
            package="h2o_sim",
            executable="wheel_legged_sim",
            name="wheel_legged_sim",
            output="screen",
            namespace=LaunchConfiguration("namespace"),
            parameters=[
                *_params_files(context),
                _overrides(context),
                {
                    "publish_robot_description": publish_description,
                    "use_sim_time": ParameterValue(
                        LaunchConfiguration("use_sim_time"), value_type=bool
                    ),
                },
            ],
            remappings=list(NAMESPACE_REMAPS),
            arguments=["--ros-args", "--log-level", LaunchConfiguration("log_level")],
        )
    ]


def _urdf(context: object) -> Path | None:
    """The URDF robot_state_publisher starts with; None: it does not start (``urdf:=none``, or
    the package is not installed)."""
    urdf = LaunchConfiguration("urdf").perform(context).strip()
    if urdf.lower() == "none":
        return None
    try:
        get_package_share_directory("robot_state_publisher")
    except PackageNotFoundError:
        return None
    if not urdf:
        share = Path(get_package_share_directory("h2o_sim"))
        return share / "urdf" / "wheel_legged.urdf"
    return Path(urdf).expanduser()


def _state_publisher(context: object) -> list[Node | LogInfo]:
    """``robot_state_publisher`` on the sim's joint states where it is installed (it is
    optional: the stack runs without it); else a log line saying why not."""
    path = _urdf(context)
    if path is None:
        why = (
            "urdf:=none"
            if LaunchConfiguration("urdf").perform(context).strip().lower() == "none"
            else "the package is not installed (apt install ros-$ROS_DISTRO-robot-state-publisher)"
        )
        return [
            LogInfo(
                msg=f"robot_state_publisher not started: {why}; the sim publishes "
                "robot_description itself"
            )
        ]
    if not path.is_file():
        raise RuntimeError(f"urdf:={path}: no such file")
    description = path.read_text()
    return [
        Node(
            package="robot_state_publisher",
            executable="robot_state_publisher",
            name="robot_state_publisher",
            output="screen",
            namespace=LaunchConfiguration("namespace"),
            parameters=[
                *_params_files(context),
                {
                    "robot_description": ParameterValue(description, value_type=str),
                    "use_sim_time": ParameterValue(
                        LaunchConfiguration("use_sim_time"), value_type=bool
                    ),
                },
            ],
            remappings=[*NAMESPACE_REMAPS, *TF_REMAPS],
            arguments=["--ros-args", "--log-level", LaunchConfiguration("log_level")],
        )
    ]


def generate_launch_description() -> LaunchDescription:
    """Declare the arguments, start the sim node (and robot_state_publisher when it can)."""
    return LaunchDescription(
        [
            *_arguments(),
            OpaqueFunction(function=_sim_node),
            OpaqueFunction(function=_state_publisher),
        ]
    )
