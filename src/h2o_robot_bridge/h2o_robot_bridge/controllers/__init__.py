"""Controllers written against the robot contract (numpy only; no simulator, no ROS)."""

from h2o_robot_bridge.controllers.classical import ClassicalController, ClassicalGains, load_gains

__all__ = ["ClassicalController", "ClassicalGains", "load_gains"]
