"""The ROS 2 nodes of the bridge: the only modules of this package that import rclpy."""
