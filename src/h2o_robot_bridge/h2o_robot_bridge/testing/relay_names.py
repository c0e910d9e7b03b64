"""A robot whose joints are named differently from the contract's, for the relay's tests."""

from __future__ import annotations

ROBOT_JOINT_MAP: list[str] = [
    "hip_l:left_hip",
    "knee_l:left_knee",
    "wheel_l:left_wheel",
    "hip_r:right_hip",
    "knee_r:right_knee",
    "wheel_r:right_wheel",
]
"""``joint_map`` entries (robot name : contract name) of that robot."""
