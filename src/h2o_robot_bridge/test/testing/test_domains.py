"""ROS_DOMAIN_ID leases: no two holders, in one process or across processes, share an id."""

from __future__ import annotations

import subprocess
import sys

from h2o_robot_bridge.testing.processes import DOMAIN_IDS, free_domain_id, release_domain_id

HOLD = """
import sys, time
from h2o_robot_bridge.testing.processes import free_domain_id
print(*[free_domain_id() for _ in range(int(sys.argv[1]))], flush=True)
time.sleep(60)
"""
PROBE = """
import fcntl, os, sys
from h2o_robot_bridge.testing.processes import _lease_dir
for d in sys.argv[1:]:
    fd = os.open(_lease_dir() / f"{d}.lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        print("free", end=" ")
    except BlockingIOError:
        print("held", end=" ")
"""


def _probe(ids: list[int]) -> list[str]:
    """'held' or 'free' for each id, as another process sees it."""
    out = subprocess.run(
        [sys.executable, "-c", PROBE, *map(str, ids)], capture_output=True, text=True, timeout=30
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def test_leases_in_one_process_differ_and_release_frees_them() -> None:
    ids = [free_domain_id() for _ in range(5)]
    try:
        assert len(set(ids)) == 5 and all(i in DOMAIN_IDS for i in ids)
        assert _probe(ids) == ["held"] * 5
    finally:
        for i in ids:
            release_domain_id(i)
    assert _probe(ids) == ["free"] * 5


def test_another_process_never_gets_a_leased_id_until_it_dies() -> None:
    child = subprocess.Popen([sys.executable, "-c", HOLD, "30"], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    try:
        held = [int(i) for i in child.stdout.readline().split()]
        assert len(set(held)) == 30
        mine = [free_domain_id() for _ in range(40)]
        for i in mine:
            release_domain_id(i)
        assert not set(held) & set(mine)
    finally:
        child.kill()  # SIGKILL: the kernel drops the child's locks
        child.wait(timeout=10)
        child.stdout.close()
    assert _probe(held) == ["free"] * 30
