"""The ROS 2 node of the simulator: the only module of this package that imports rclpy."""
