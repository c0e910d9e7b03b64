"""The ROS 2 nodes of the learning package: the only modules here that import rclpy."""
