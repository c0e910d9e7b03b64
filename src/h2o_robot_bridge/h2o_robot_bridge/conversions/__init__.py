"""ROS message <-> numpy conversions as pure functions (message types, never rclpy)."""
