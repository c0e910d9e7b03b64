"""Run a policy on the robot (or the simulator) behind the safety layer.

    ros2 launch h2o_robot_bridge deploy.launch.py policy:=stand.onnx
    ros2 launch h2o_robot_bridge deploy.launch.py policy:=classical shadow:=true
    ros2 launch h2o_robot_bridge deploy.launch.py policy:=/abs/path/p.onnx rate:=200.0 \
        joint_states:=/robot/joint_states imu:=/robot/imu command:=/robot/joint_commands
    ros2 launch h2o_robot_bridge deploy.launch.py policy:=stand.onnx autostart:=false
        (then: ros2 lifecycle set /policy_runner configure; ... activate)

Parameters come from config/bridge/deploy.yaml; the arguments below override them.
``policy_runner`` is a managed (lifecycle) node; with ``autostart:=true`` (default) it
configures and activates itself, so no lifecycle manager is needed.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue

from h2o_robot_bridge.contract.topics import TOPICS
from launch import LaunchDescription


def generate_launch_description() -> LaunchDescription:
    share = get_package_share_directory("h2o_robot_bridge")
    params_file = os.path.join(share, "config/bridge/deploy.yaml")
    args = [
        DeclareLaunchArgument("policy", description="classical, an .onnx path or a file name"),
        DeclareLaunchArgument("policies_dir", default_value="policies"),
        DeclareLaunchArgument("rate", default_value="0.0", description="Hz; 0 = the policy's"),
        DeclareLaunchArgument(
            "trigger", default_value="sensors", description="sensors|timer|joint_states|imu"
        ),
        DeclareLaunchArgument("shadow", default_value="false"),
        DeclareLaunchArgument(
            "autostart", default_value="true", description="configure + activate at start"
        ),
        DeclareLaunchArgument(
            "fallback", default_value="classical", description="classical|none"
        ),
        DeclareLaunchArgument("joint_states", default_value=TOPICS.joint_states),
        DeclareLaunchArgument("imu", default_value=TOPICS.imu),
        DeclareLaunchArgument("cmd_vel", default_value=TOPICS.cmd_vel),
        DeclareLaunchArgument("estop", default_value=TOPICS.estop),
        DeclareLaunchArgument("command", default_value=TOPICS.joint_commands),
        DeclareLaunchArgument("use_sim_time", default_value="false"),
    ]
    node = Node(
        package="h2o_robot_bridge",
        executable="policy_runner",
        name="policy_runner",
        output="screen",
        parameters=[
            params_file,
            {
                "policy": LaunchConfiguration("policy"),
                "policies_dir": LaunchConfiguration("policies_dir"),
                "control_hz": ParameterValue(LaunchConfiguration("rate"), value_type=float),
                "trigger": LaunchConfiguration("trigger"),
                "shadow": ParameterValue(LaunchConfiguration("shadow"), value_type=bool),
                "autostart": ParameterValue(LaunchConfiguration("autostart"), value_type=bool),
                "fallback": LaunchConfiguration("fallback"),
                "joint_states_topic": LaunchConfiguration("joint_states"),
                "imu_topic": LaunchConfiguration("imu"),
                "cmd_vel_topic": LaunchConfiguration("cmd_vel"),
                "estop_topic": LaunchConfiguration("estop"),
                "joint_commands_topic": LaunchConfiguration("command"),
                "use_sim_time": ParameterValue(
                    LaunchConfiguration("use_sim_time"), value_type=bool
                ),
            },
        ],
    )
    return LaunchDescription([*args, node])
