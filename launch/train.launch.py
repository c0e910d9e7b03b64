"""Train a policy: ``ros2 launch h2o_learning train.launch.py config:=h2o_stand.yaml``.

Starts the ``h2o_trainer`` node (a job: it exits when training is done), which trains with the
given config (a name in config/train or a path), publishes progress on ``/diagnostics`` (shared
by every robot: absolute) and exports ``<task>.onnx`` (the epoch ``run.export`` names;
``export.json`` says why) into the run folder. Arguments:

- ``namespace``, ``params_file``, ``use_sim_time``, ``log_level``: as in every launch file of
  the stack (``params_file``: a parameter file keyed ``/**``; default none: h2o_learning ships
  no trainer parameter file, the node's defaults and the arguments below apply);
- ``config``: training config (default: keep the parameter file's, else ``h2o_stand.yaml``);
- ``dataset``: real dataset (.h5) overriding the config's ``data.path`` (default: keep);
- ``run_dir``: run folder (default: ``runs/<name>-<time>``);
- ``resume``: continue the run in ``run_dir`` (default false).

An empty argument keeps the parameter file's value (or the node's default).
"""

from __future__ import annotations

import yaml
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue

from h2o_robot_bridge.contract.topics import NAMESPACE_REMAPS
from launch import LaunchDescription

TEXT = {"config", "dataset", "run_dir"}


def _arguments() -> list[DeclareLaunchArgument]:
    """The four stack-wide arguments, then this file's (empty = keep the file's value)."""
    return [
        DeclareLaunchArgument(
            "namespace", default_value="", description="namespace of the node ('' = root)"
        ),
        DeclareLaunchArgument(
            "params_file", default_value="", description="parameter file (keyed /**); '' = none"
        ),
        DeclareLaunchArgument("use_sim_time", default_value="false", description="sim time"),
        DeclareLaunchArgument(
            "log_level", default_value="info", description="debug|info|warn|error|fatal"
        ),
        DeclareLaunchArgument(
            "config",
            default_value="",
            description="training config: name in config/train or a path (h2o_stand.yaml)",
        ),
        DeclareLaunchArgument(
            "dataset", default_value="", description="real dataset .h5 (overrides data.path)"
        ),
        DeclareLaunchArgument(
            "run_dir", default_value="", description="run folder (default runs/<name>-<time>)"
        ),
        DeclareLaunchArgument(
            "resume", default_value="", description="continue the run in run_dir (true/false)"
        ),
    ]


def _params_files(context: object) -> list[str]:
    """The ``params_file`` argument as a list (empty: none, the code defaults apply)."""
    path = LaunchConfiguration("params_file").perform(context)
    return [path] if path.strip() else []


def _overrides(context: object) -> dict[str, object]:
    """Arguments the user gave (non-empty): paths as text, ``resume`` as a boolean."""
    given = {
        "config": LaunchConfiguration("config").perform(context),
        "dataset": LaunchConfiguration("dataset").perform(context),
        "run_dir": LaunchConfiguration("run_dir").perform(context),
        "resume": LaunchConfiguration("resume").perform(context),
    }
    return {
        k: (v if k in TEXT else yaml.safe_load(v)) for k, v in given.items() if v.strip() != ""
    }


def _trainer(context: object) -> list[Node]:
    return [
        Node(
            package="h2o_learning",
            executable="h2o_trainer",
            name="h2o_trainer",
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
    """Declare the arguments and start the trainer."""
    return LaunchDescription([*_arguments(), OpaqueFunction(function=_trainer)])
