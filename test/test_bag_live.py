"""A bag recorded from live rclpy messages (separate processes, real DDS, raw CDR bytes as
``ros2 bag record`` stores them, including rclpy's padding after an empty trailing array)
converts to the contract's transitions, through the CLI (the joint states carry
``effort=[]``; padding after such an array is covered in test_dataset_bag.py)."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from robot_peer import script  # noqa: E402
from test_recorder import check_rows_against_script, namespace, peer_env  # noqa: E402

from h2o_robot_bridge.dataset import load_dataset  # noqa: E402
from h2o_robot_bridge.testing.processes import find_executable  # noqa: E402

PEER = str(Path(__file__).with_name("robot_peer.py"))


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_live_rclpy_bag_converts(tmp_path: Path, domain_id: int, storage: str) -> None:
    n = 150
    bag = tmp_path / "bag"
    env = peer_env(domain_id, namespace(domain_id))
    rec = subprocess.Popen(
        [sys.executable, PEER, "bag", str(bag), storage, "60"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    pub = subprocess.Popen(
        [sys.executable, PEER, "publish", str(n), "11", "--empty-effort"],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert pub.communicate(timeout=60)[0].strip() == "DONE"
    out, err = rec.communicate(timeout=60)
    if "Timeout (" in err:  # the peer's rclpy teardown hung after its bag was written
        warnings.warn(f"bag peer teardown hung, stacks:\n{err[-4000:]}", stacklevel=1)
    assert out.startswith("BAG"), out
    assert int(out.split()[1]) >= 0.9 * 3 * n

    h5 = tmp_path / "live.h5"
    result = subprocess.run(
        [find_executable("h2o-dataset"), "from-bag", str(bag), "-o", str(h5), "-q"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr + result.stdout
    assert "messages read: imu" in result.stdout  # the summary of what was read
    data = load_dataset(h5, task="stand")
    assert data.size >= 0.9 * (n - 1)
    check_rows_against_script(data, script(n, 11))
