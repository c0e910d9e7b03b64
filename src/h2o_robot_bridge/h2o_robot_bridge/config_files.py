"""Config files: where the shipped ones live (source checkout or installed), and reading YAML.

Lookup order for ``config_file(package, "dynamics/real.yaml")``:
1. ``$H2O_CONFIG_DIR/dynamics/real.yaml`` if that variable is set;
2. ``<repo>/config/...`` when running from a source tree (editable or symlink install);
3. ``<prefix>/share/<package>/config/...`` of an installed package (colcon, pip).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

import yaml

from h2o_robot_bridge.errors import ConfigError


def _candidates(package: str, relative: str) -> list[Path]:
    out = []
    if os.environ.get("H2O_CONFIG_DIR"):
        out.append(Path(os.environ["H2O_CONFIG_DIR"]) / relative)
    # Source tree: <repo>/src/<pkg>/<pkg>/paths.py -> <repo>/config.
    here = Path(__file__).resolve()
    out.append(here.parents[3] / "config" / relative)
    # Installed: <prefix>/lib/pythonX.Y/site-packages/<pkg>/paths.py -> <prefix>/share/<package>.
    out.append(here.parents[4] / "share" / package / "config" / relative)
    out.append(Path(sys.prefix) / "share" / package / "config" / relative)
    return out


def config_file(package: str, relative: str) -> Path:
    """Absolute path of a config file shipped by ``package``.

    Raises:
        ConfigError: the file exists in none of the places searched (all of them listed).
    """
    return _find(package, relative, Path.is_file, "file")


def config_dir(package: str, relative: str) -> Path:
    """Like :func:`config_file` for a folder (e.g. ``"dynamics"`` to list profiles)."""
    return _find(package, relative, Path.is_dir, "folder")


def _find(package: str, relative: str, exists: Callable[[Path], bool], kind: str) -> Path:
    candidates = _candidates(package, relative)
    for path in candidates:
        if exists(path):
            return path
    tried = "\n  ".join(str(p) for p in candidates)
    raise ConfigError(f"config {kind} {relative!r} of {package} not found; tried:\n  {tried}")


def load_yaml_mapping(path: str | Path, what: str = "config", empty_ok: bool = False) -> dict:
    """The top-level mapping of a YAML file (read with ``yaml.safe_load``: never unpickles).

    Args:
        path: the file.
        what: what the file is, for error messages (``"dynamics file"``, ...).
        empty_ok: an empty file is ``{}`` instead of an error.

    Raises:
        ConfigError: the file cannot be read, is not valid YAML, or does not hold a mapping.
    """
    try:
        text = Path(path).read_text()
    except OSError as err:
        raise ConfigError(f"{what} {path}: cannot read: {err}") from err
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError(f"{what} {path}: cannot read: not valid YAML: {err}") from err
    if data is None and empty_ok:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{what} {path}: expected a mapping at the top level")
    return data
