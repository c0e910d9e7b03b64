"""Every core (non-node) module imports with rclpy made unimportable: the core stays ROS-free."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("h2o_robot_bridge", "h2o_sim", "h2o_learning")


def core_modules() -> list[str]:
    """Dotted names of every module except ROS nodes (``*_node.py``)."""
    names = []
    for pkg in PACKAGES:
        base = ROOT / "src" / pkg
        for path in sorted((base / pkg).rglob("*.py")):
            if path.name.endswith("_node.py"):
                continue
            parts = path.relative_to(base).with_suffix("").parts
            names.append(".".join(p for p in parts if p != "__init__"))
    return names


def test_there_are_core_modules() -> None:
    assert len(core_modules()) >= 5


def test_imports_without_rclpy() -> None:
    # One interpreter for all modules (torch alone takes a second to import).
    code = (
        "import importlib, sys, traceback\n"
        "for m in ('rclpy', 'rclpy.node'):\n"
        "    sys.modules[m] = None\n"
        "for name in sys.argv[1:]:\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except Exception:\n"
        "        print('FAILED', name, traceback.format_exc(limit=3))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, *core_modules()], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "FAILED" not in result.stdout, result.stdout[-4000:]
