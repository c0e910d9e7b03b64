"""Train a policy: ``ros2 launch h2o_learning train.launch.py config:=h2o_stand.yaml``.

Starts the ``h2o_trainer`` node (a job: it exits when training is done), which trains with the
given config (a name in config/train or a path), publishes progress on /diagnostics and exports
``<task>.onnx`` (the epoch ``run.export`` names; ``export.json`` says why) into the run folder.
Arguments:

- ``config``: training config (default ``h2o_stand.yaml``);
- ``dataset``: real dataset (.h5) overriding the config's ``data.path`` (default: keep);
- ``run_dir``: run folder (default: ``runs/<name>-<time>``);
- ``resume``: continue the run in ``run_dir`` (default false).
"""

from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue

from launch import LaunchDescription


def generate_launch_description() -> LaunchDescription:
    args = [
        DeclareLaunchArgument(
            "config",
            default_value="h2o_stand.yaml",
            description="training config: name in config/train or a path",
        ),
        DeclareLaunchArgument(
            "dataset", default_value="", description="real dataset .h5 (overrides data.path)"
        ),
        DeclareLaunchArgument(
            "run_dir", default_value="", description="run folder (default runs/<name>-<time>)"
        ),
        DeclareLaunchArgument(
            "resume", default_value="false", description="continue the run in run_dir"
        ),
    ]
    trainer = Node(
        package="h2o_learning",
        executable="h2o_trainer",
        name="h2o_trainer",
        output="screen",
        parameters=[
            {
                "config": ParameterValue(LaunchConfiguration("config"), value_type=str),
                "dataset": ParameterValue(LaunchConfiguration("dataset"), value_type=str),
                "run_dir": ParameterValue(LaunchConfiguration("run_dir"), value_type=str),
                "resume": ParameterValue(LaunchConfiguration("resume"), value_type=bool),
            }
        ],
    )
    return LaunchDescription([*args, trainer])
