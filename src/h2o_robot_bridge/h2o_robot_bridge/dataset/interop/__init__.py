"""Datasets in the offline-RL ecosystem: a Minari export and a d3rlpy loader.

::

    from h2o_robot_bridge.dataset.interop import export_minari, to_d3rlpy

    export_minari(load_dataset("real.h5"), "h2o/stand-real-v0")  # h2o-dataset export
    replay = to_d3rlpy(load_dataset("real.h5"))                   # d3rlpy MDPDataset

``minari`` and ``d3rlpy`` (requirements/interop.txt) are imported only when a function needs
them: the robot computer can use the rest of the package without them. Both formats chain an
episode's observations, so episodes are split where a next observation is not the following
row's observation (:mod:`.episodes`).
"""

from h2o_robot_bridge.dataset.interop.d3rlpy_format import to_d3rlpy
from h2o_robot_bridge.dataset.interop.episodes import (
    EpisodeSpan,
    episode_observations,
    export_episodes,
    export_flags,
)
from h2o_robot_bridge.dataset.interop.minari_format import MinariExport, export_minari, minari_root
from h2o_robot_bridge.dataset.schema import discontinuities

__all__ = [
    "EpisodeSpan",
    "MinariExport",
    "discontinuities",
    "episode_observations",
    "export_episodes",
    "export_flags",
    "export_minari",
    "minari_root",
    "to_d3rlpy",
]
