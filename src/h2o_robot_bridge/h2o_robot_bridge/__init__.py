"""h2o_robot_bridge: the robot contract, datasets from real robots, and safe policy deployment."""
