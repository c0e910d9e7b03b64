"""ruff over this package (the workspace-wide run lives in test/test_ruff.py)."""

import subprocess
import sys
from pathlib import Path


def test_ruff() -> None:
    pkg = Path(__file__).resolve().parents[1]
    ruff = Path(sys.executable).with_name("ruff")
    result = subprocess.run(
        [str(ruff), "check", "--no-cache", str(pkg)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout
