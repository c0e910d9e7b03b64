"""Damaged bags for salvage tests: real files cut short or overwritten, and the check that a
salvaged dataset holds only rows of the intact one.

Every function works on a copy: the intact bag stays as written.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from h2o_robot_bridge.contract import get_task
from h2o_robot_bridge.contract.observation import OBS_SLICES
from h2o_robot_bridge.dataset.bag.salvage import storage_files
from h2o_robot_bridge.dataset.schema import Dataset

SQLITE_PAGE = 4096
"""Page size [bytes] of the ``.db3`` files ``rosbags`` (and rosbag2) write: sqlite's default."""


def copy_bag(bag: Path, dest: Path, metadata: bool = True) -> Path:
    """A copy of the bag folder ``bag`` at ``dest``, without ``metadata.yaml`` if not
    ``metadata`` (what a killed recorder leaves)."""
    shutil.copytree(bag, dest)
    if not metadata:
        (dest / "metadata.yaml").unlink()
    return dest


def cut_copy(bag: Path, dest: Path, fraction: float, metadata: bool = True) -> Path:
    """:func:`copy_bag` with its last storage file cut to ``fraction`` of its size (an
    interrupted copy, a full disk)."""
    copy_bag(bag, dest, metadata)
    last = storage_files(dest)[-1]
    raw = last.read_bytes()
    last.write_bytes(raw[: int(len(raw) * fraction)])
    return dest


def overwrite_page(db3: Path, page: int, data: bytes, offset: int = 0) -> None:
    """Overwrite bytes of sqlite page ``page`` (numbered from 1) of a copied ``.db3``."""
    with db3.open("r+b") as f:
        f.seek((page - 1) * SQLITE_PAGE + offset)
        f.write(data)


def digest(folder: Path) -> dict[str, str]:
    """sha256 of every file in ``folder``: to check that reading a bag changed nothing."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def rows_in(part: Dataset, full: Dataset) -> NDArray[np.intp]:
    """Index into ``full`` of each row of ``part``, asserting that the row is that row of the
    intact bag's dataset (observation, action, reward, next observation, terminal flag), in
    the same order. Where messages were lost, an episode must end at the gap, so the rows'
    timeouts differ (the task's time limit runs from the gap), and a row that starts an
    episode there may have the env's ``prev_action`` after a reset (zeros: its previous tick
    was lost) and the reward that goes with it. Rows are matched by their action (random per
    tick in the test scripts)."""
    index = np.empty(part.size, np.intp)
    for i, action in enumerate(part.actions):
        (match,) = np.flatnonzero((full.actions == action).all(axis=1))  # exactly one
        index[i] = match
    assert (np.diff(index) > 0).all(), "salvaged rows out of order"
    # Never a transition across lost messages: where rows are missing, an episode ends.
    ends = part.timeouts | part.terminals
    assert ends[:-1][np.diff(index) > 1].all(), "an episode runs across lost rows"
    prev = OBS_SLICES["prev_action"]
    starts = np.r_[True, ends[:-1]]
    new_start = starts & ~np.r_[True, (full.timeouts | full.terminals)[:-1]][index]
    reset = new_start & (part.observations[:, prev] == 0).all(axis=1)
    observations = full.observations[index]
    observations[reset, prev] = 0.0
    np.testing.assert_array_equal(part.observations, observations)
    np.testing.assert_array_equal(part.next_observations, full.next_observations[index])
    np.testing.assert_array_equal(part.rewards[~reset], full.rewards[index][~reset])
    # A reset row's reward is the task's for its own observation (no previous action).
    task = get_task(part.meta["task"])
    expected = task.reward(
        part.observations[reset], part.actions[reset], part.next_observations[reset]
    )
    np.testing.assert_allclose(part.rewards[reset], expected, rtol=1e-6)
    np.testing.assert_array_equal(part.terminals, full.terminals[index])
    return index
