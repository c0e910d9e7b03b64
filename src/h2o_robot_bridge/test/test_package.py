"""Package-wide checks: ruff clean, and rclpy imported only by modules under ``nodes/``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from h2o_robot_bridge.testing.package_checks import PACKAGE_CHECKS, package_dir


@pytest.mark.parametrize("check", PACKAGE_CHECKS, ids=lambda c: c.__name__)
def test_package(check: Callable[[Path], None]) -> None:
    check(package_dir(__file__))
