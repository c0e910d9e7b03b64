"""Load a dataset into d3rlpy (2.8): ``to_d3rlpy(data)`` -> ``d3rlpy.dataset.MDPDataset``.

d3rlpy keeps per episode only the T observations ``o_0 .. o_{T-1}``, the actions, rewards and a
``terminated`` flag (``EpisodeGenerator`` cuts the flat arrays after every row whose terminal or
timeout is set); the next observation of step i is ``o_{i+1}``. What follows for our data:

- Episodes: ours (falls end with ``terminated=True``, truncations with False), split at
  discontinuities like the Minari export (:mod:`.episodes`), so that ``o_{i+1}`` is our
  ``next_observations[i]`` for every step but the last; an unclosed last row is closed as a
  truncation (d3rlpy silently drops rows after the last flag).
- The final next observation of an episode is **not representable**. After a fall d3rlpy
  uses zeros and ``terminal=1`` (no bootstrap: nothing a Q-learner needs is lost). After a
  truncation the last step has no next observation at all, so d3rlpy never samples it: an
  episode of T rows gives T - 1 transitions (``Episode.transition_count``), one row lost per
  truncated or split episode (``transition_count = N - (episodes not ending in a fall)``), and
  a truncated episode of a single row has none: d3rlpy stores episodes through their
  transitions, so it drops that episode altogether (``len(episodes)`` is smaller by one).
- Rewards become (N, 1) float32; everything else keeps its dtype and values exactly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from h2o_robot_bridge.contract import ACTION_DIM
from h2o_robot_bridge.dataset.interop.episodes import export_episodes, export_flags
from h2o_robot_bridge.dataset.schema import Dataset, validate_dataset
from h2o_robot_bridge.errors import ConfigError, DatasetError

if TYPE_CHECKING:
    from d3rlpy.dataset import MDPDataset


def to_d3rlpy(data: Dataset) -> MDPDataset:
    """A d3rlpy ``MDPDataset`` of ``data`` (its own copies of the arrays; see the module doc).

    Example::

        import d3rlpy
        from h2o_robot_bridge.dataset import load_dataset
        from h2o_robot_bridge.dataset.interop import to_d3rlpy

        dataset = to_d3rlpy(load_dataset("real.h5"))
        cql = d3rlpy.algos.CQLConfig().create(device="cpu:0")
        cql.fit(dataset, n_steps=10_000)

    Args:
        data: the dataset (validated first).

    Returns:
        ``MDPDataset`` with one d3rlpy episode per :func:`.episodes.export_episodes` span, in
        order, except single-row truncated spans (d3rlpy drops them): ``observations``
        (T, OBS_DIM) float32, ``actions`` (T, ACTION_DIM) float32, ``rewards`` (T, 1) float32,
        ``terminated`` True only for a fall.

    Raises:
        DatasetError: invalid or empty data.
        ConfigError: d3rlpy is not installed.
        ContractMismatchError: the metadata describes another robot contract.
    """
    try:
        from d3rlpy.constants import ActionSpace
        from d3rlpy.dataset import MDPDataset
    except ImportError as err:
        raise ConfigError(
            "to_d3rlpy needs the d3rlpy package (requirements/interop.txt; "
            "bash scripts/setup_venv.sh installs it)"
        ) from err
    validate_dataset(data)
    if not data.size:
        raise DatasetError("an empty dataset has no episode for d3rlpy")
    terminals, timeouts = export_flags(data, export_episodes(data))
    return MDPDataset(
        observations=data.observations.copy(),
        actions=data.actions.copy(),
        rewards=data.rewards.copy(),
        # d3rlpy types its flags as float32 (it only tests them for truth).
        terminals=terminals.astype(np.float32),
        timeouts=timeouts.astype(np.float32),
        # Given, not guessed from the data: float actions would be detected as continuous
        # too, but the size must be the contract's even for a dataset that never moved a joint.
        action_space=ActionSpace.CONTINUOUS,
        action_size=ACTION_DIM,
    )
