"""The installed ``h2o-gap`` script: wired, and its help explains the commands."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent


def test_installed_script_help() -> None:
    out = subprocess.run(
        [str(BIN / "h2o-gap"), "--help"], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert "report" in out and "calibrate" in out and "Tolerance" in out
    out = subprocess.run(
        [str(BIN / "h2o-gap"), "calibrate", "--help"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    assert "--budget" in out and "gravity_scale" in out
