"""scripts/command_baselines.py (the source of docs/results/joint_noise and the move presets'
behaviour.json) on a tiny set of real evaluation episodes: rows per fraction and noise, the
noise reaching the simulator (it changes the return), refusals of bad values."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "command_baselines.py"


def _run(out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), str(out), *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_action_noise_rows_and_refusals(tmp_path: Path) -> None:
    settings = {"task": "stand", "seeds": [1, 2], "max_steps": 150}
    refs = {"real": {"random": 10.0, "classical": 150.0, "episodes": 2}}
    (tmp_path / "references.json").write_text(json.dumps({"settings": settings, "profiles": refs}))
    rows_file = tmp_path / "rows.json"
    done = _run(
        tmp_path, "--fractions", "1", "--action-noise", "0", "1.0", "--json", str(rows_file)
    )
    assert done.returncode == 0, done.stderr
    rows = json.loads(rows_file.read_text())["rows"]
    assert [(r["fraction"], r["action_noise_std"]) for r in rows] == [(1.0, 0.0), (1.0, 1.0)]
    clean, noisy = rows
    assert clean["falls"] == 0 and clean["return"] > 140  # the controller stands 1.5 s
    assert noisy["return"] < clean["return"]  # the noise acts (random-like actions at sigma 1)
    assert all(
        r["episodes"] == 2 and r["score"] == pytest.approx((r["return"] - 10) / 1.4) for r in rows
    )
    assert "| 1.0 | 1.0 |" in done.stdout
    bad = _run(tmp_path, "--action-noise", "-0.1")
    assert bad.returncode != 0 and "must be >= 0" in bad.stderr
