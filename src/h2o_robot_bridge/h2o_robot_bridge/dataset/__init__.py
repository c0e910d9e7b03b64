"""Offline RL datasets: format, crash-safe writing, time alignment, bag conversion, inspection.

Public API (others import these names)::

    from h2o_robot_bridge.dataset import Dataset, load_dataset, save_dataset, make_meta
"""

from h2o_robot_bridge.dataset.io import load_dataset, read_meta, save_dataset
from h2o_robot_bridge.dataset.schema import (
    FORMAT,
    KEYS,
    Dataset,
    close_last_episode,
    concat_datasets,
    empty_dataset,
    episode_bounds,
    from_arrays,
    make_meta,
    validate_dataset,
)

__all__ = [
    "FORMAT",
    "KEYS",
    "Dataset",
    "close_last_episode",
    "concat_datasets",
    "empty_dataset",
    "episode_bounds",
    "from_arrays",
    "load_dataset",
    "make_meta",
    "read_meta",
    "save_dataset",
    "validate_dataset",
]
