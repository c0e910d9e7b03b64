"""rclpy nodes the system tests run inside their own process (the only rclpy users of testing/)."""
