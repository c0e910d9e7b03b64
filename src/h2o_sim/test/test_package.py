"""Package-wide checks: ruff clean, and rclpy imported only by modules under ``nodes/``."""

from __future__ import annotations

from h2o_robot_bridge.testing.package_checks import (
    core_modules,
    import_failures_without_rclpy,
    node_modules,
    package_dir,
    ruff_report,
)

PKG = package_dir(__file__)


def test_ruff() -> None:
    report = ruff_report(PKG)
    assert not report, report


def test_core_imports_without_rclpy() -> None:
    modules = core_modules(PKG)
    assert len(modules) >= 5 and all(m.startswith(PKG.name) for m in modules)
    failures = import_failures_without_rclpy(modules)
    assert not failures, failures


def test_nodes_are_the_modules_that_import_rclpy() -> None:
    base = PKG / PKG.name
    importers = {
        p
        for p in base.rglob("*.py")
        if any(line.lstrip().startswith(("import rclpy", "from rclpy")) for line in p.open())
    }
    assert importers == set(node_modules(PKG))
