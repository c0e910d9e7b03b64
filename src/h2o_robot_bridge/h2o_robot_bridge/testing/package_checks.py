"""Checks every package runs in its own tests: ruff, and a ROS-free core.

The rule they enforce: only modules under a ``nodes/`` folder import rclpy. Everything else
(the core) must import with rclpy made unimportable, so it is testable and usable without ROS.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

# Run in a fresh interpreter (torch alone takes a second to import, so one run for all).
_IMPORT_ALL = (
    "import importlib, sys, traceback\n"
    "for m in ('rclpy', 'rclpy.node'):\n"
    "    sys.modules[m] = None\n"
    "for name in sys.argv[1:]:\n"
    "    try:\n"
    "        importlib.import_module(name)\n"
    "    except Exception:\n"
    "        print('FAILED', name, traceback.format_exc(limit=3))\n"
)


def package_dir(test_file: str | Path) -> Path:
    """The package folder (``src/<pkg>``) of a test file anywhere under ``src/<pkg>/test/``."""
    path = Path(test_file).resolve()
    for parent in path.parents:
        if parent.name == "test":
            return parent.parent
    raise ValueError(f"{test_file} is not under a test/ folder")


def core_modules(pkg_dir: Path) -> list[str]:
    """Dotted names of every module of the package outside its ``nodes/`` folders."""
    base = pkg_dir / pkg_dir.name
    names = []
    for path in sorted(base.rglob("*.py")):
        parts = path.relative_to(pkg_dir).with_suffix("").parts
        if "nodes" in parts:
            continue
        names.append(".".join(p for p in parts if p != "__init__"))
    return names


def node_modules(pkg_dir: Path) -> list[Path]:
    """Files in the package's ``nodes/`` folders (``__init__.py`` excepted)."""
    base = pkg_dir / pkg_dir.name
    return sorted(p for p in base.rglob("nodes/*.py") if p.name != "__init__.py")


def import_failures_without_rclpy(modules: list[str]) -> str:
    """Import each module with rclpy unimportable; the report of those that failed ("" if none)."""
    result = subprocess.run(
        [sys.executable, "-c", _IMPORT_ALL, *modules], capture_output=True, text=True
    )
    if result.returncode != 0:
        return result.stderr[-2000:]
    return result.stdout[-4000:] if "FAILED" in result.stdout else ""


def ruff_report(path: Path) -> str:
    """``ruff check`` output for ``path`` ("" when clean)."""
    ruff = Path(sys.executable).with_name("ruff")
    result = subprocess.run(
        [str(ruff), "check", "--no-cache", str(path)], capture_output=True, text=True
    )
    return "" if result.returncode == 0 else result.stdout + result.stderr


def check_ruff(pkg_dir: Path) -> None:
    """AssertionError with ruff's report unless the package is ruff clean."""
    report = ruff_report(pkg_dir)
    assert not report, report


def check_core_imports_without_rclpy(pkg_dir: Path) -> None:
    """AssertionError naming the core modules that fail to import with rclpy unimportable."""
    modules = core_modules(pkg_dir)
    assert len(modules) >= 5 and all(m.startswith(pkg_dir.name) for m in modules)
    failures = import_failures_without_rclpy(modules)
    assert not failures, failures


def check_nodes_are_the_rclpy_importers(pkg_dir: Path) -> None:
    """AssertionError unless exactly the modules under ``nodes/`` import rclpy."""
    importers = {
        p
        for p in (pkg_dir / pkg_dir.name).rglob("*.py")
        if any(line.lstrip().startswith(("import rclpy", "from rclpy")) for line in p.open())
    }
    assert importers == set(node_modules(pkg_dir)), importers ^ set(node_modules(pkg_dir))


PACKAGE_CHECKS = (
    check_ruff,
    check_core_imports_without_rclpy,
    check_nodes_are_the_rclpy_importers,
)
"""What every package's ``test/test_package.py`` runs on itself."""
