"""Export a dataset as a local Minari dataset (Farama's offline-RL format, ``minari`` package).

What Minari gets, per exported episode (:func:`.episodes.export_episodes`) of T rows:

- ``observations`` (T + 1, OBS_DIM) float32: ``o_0 .. o_T``, the rows' observations then the
  last row's next observation (:func:`.episodes.episode_observations`);
- ``actions`` (T, ACTION_DIM) float32, ``rewards`` (T,) float32 as recorded (unclipped);
- ``terminations`` (T,) bool = our ``terminals`` (falls); ``truncations`` (T,) bool = our
  ``timeouts``, plus the last row of an episode split at a discontinuity or left open;
- spaces from :mod:`h2o_robot_bridge.contract.spaces`; no env spec (Minari would build the
  simulator to make one).

Our metadata (contract fingerprint, task, command, control rate, source, ...) is stored whole in
the dataset metadata under ``h2o_meta``, and ``h2o_export`` says which rows each Minari episode
came from and how many episodes were split: ``minari.load_dataset(id).storage.metadata``.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any, NamedTuple

from h2o_robot_bridge.contract.spaces import action_space, observation_space
from h2o_robot_bridge.dataset.interop.episodes import (
    EpisodeSpan,
    episode_observations,
    export_episodes,
    export_flags,
)
from h2o_robot_bridge.dataset.schema import Dataset, validate_dataset
from h2o_robot_bridge.errors import ConfigError, DatasetError

ROOT_VARIABLE = "MINARI_DATASETS_PATH"
"""Minari's datasets folder (default ``~/.minari/datasets``): it takes no root argument."""
META_KEY = "h2o_meta"
EXPORT_KEY = "h2o_export"


class MinariExport(NamedTuple):
    """What :func:`export_minari` wrote.

    Attributes:
        dataset_id: the Minari id (``namespace/name-vN``).
        path: the dataset's folder (``<root>/<dataset_id>``).
        episodes: the exported episodes (row ranges of the source and why each ends).
        splits: how many episodes were split at a discontinuity (0 for a well-formed dataset).
    """

    dataset_id: str
    path: Path
    episodes: list[EpisodeSpan]
    splits: int


def import_minari() -> ModuleType:
    """The ``minari`` module, or a :class:`ConfigError` that says how to install it."""
    try:
        import minari
    except ImportError as err:
        raise ConfigError(
            "the Minari export needs the minari package (requirements/interop.txt; "
            "bash scripts/setup_venv.sh installs it)"
        ) from err
    return minari


@contextlib.contextmanager
def minari_root(root: str | os.PathLike | None) -> Iterator[None]:
    """Point Minari at datasets folder ``root`` inside the block (None: leave Minari's default).

    Minari reads :data:`ROOT_VARIABLE` at every call, so this sets it and restores it after
    (process-wide: not for concurrent threads using Minari with other roots).
    """
    if root is None:
        yield
        return
    old = os.environ.get(ROOT_VARIABLE)
    os.environ[ROOT_VARIABLE] = str(Path(root).resolve())
    try:
        yield
    finally:
        if old is None:
            del os.environ[ROOT_VARIABLE]
        else:
            os.environ[ROOT_VARIABLE] = old


def export_minari(
    data: Dataset,
    dataset_id: str,
    root: str | os.PathLike | None = None,
    overwrite: bool = False,
) -> MinariExport:
    """Write ``data`` as the local Minari dataset ``dataset_id`` (see the module docstring).

    Args:
        data: the dataset (validated first).
        dataset_id: Minari id, ``(namespace/)name-vN``, e.g. ``h2o/stand-real-v0``.
        root: Minari's datasets folder; None: ``$MINARI_DATASETS_PATH`` or ``~/.minari/datasets``.
        overwrite: replace an existing dataset of that id.

    Returns:
        What was written; read it back with ``minari.load_dataset(dataset_id)`` under the same
        root (:func:`minari_root`).

    Raises:
        DatasetError: invalid or empty data, or the id exists and ``overwrite`` is False.
        ConfigError: malformed id, or minari is not installed.
        ContractMismatchError: the metadata describes another robot contract.
    """
    minari = import_minari()
    validate_dataset(data)
    if not data.size:
        raise DatasetError("an empty dataset has no episode to export")
    _check_id(dataset_id)
    spans = export_episodes(data)
    with minari_root(root):
        path = Path(minari.storage.get_dataset_path(dataset_id))
        if path.exists():
            if not overwrite:
                raise DatasetError(
                    f"Minari dataset {dataset_id} exists at {path}; refusing to overwrite it "
                    "(pass overwrite / --overwrite)"
                )
            shutil.rmtree(path)
        try:
            _create(minari, data, dataset_id, spans)
        except BaseException:
            # Minari writes in place: never leave a half-written dataset under the id.
            shutil.rmtree(path, ignore_errors=True)
            raise
    splits = sum(span.end == "discontinuity" for span in spans)
    return MinariExport(dataset_id, path, spans, splits)


def _check_id(dataset_id: str) -> None:
    from minari.dataset.minari_dataset import parse_dataset_id

    try:
        parse_dataset_id(dataset_id)
    except (ValueError, TypeError) as err:  # TypeError: no -vN version (int(None))
        raise ConfigError(
            f"bad Minari dataset id {dataset_id!r}: expected (namespace/)name-vN, "
            "e.g. h2o/stand-real-v0"
        ) from err


def _create(minari: ModuleType, data: Dataset, dataset_id: str, spans: list[EpisodeSpan]) -> None:
    from minari.data_collector import EpisodeBuffer

    terminals, timeouts = export_flags(data, spans)
    buffers = [
        EpisodeBuffer(
            observations=episode_observations(data, s),
            actions=data.actions[s.start : s.stop],
            rewards=data.rewards[s.start : s.stop],
            terminations=terminals[s.start : s.stop],
            truncations=timeouts[s.start : s.stop],
            infos={},  # none recorded; Minari's readers expect a dict, not None
        )
        for s in spans
    ]
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        # Minari warns for every optional field it is not given (author, e-mail, code link,
        # eval env): we have none of them to give, and the warnings would drown the summary.
        warnings.filterwarnings("ignore", message=r".*is (set to )?None", category=UserWarning)
        dataset = minari.create_dataset_from_buffers(
            dataset_id,
            buffers,
            observation_space=observation_space(),
            action_space=action_space(),
            algorithm_name=_behaviour(data.meta),
            description=_description(data, len(spans)),
        )
    dataset.storage.update_metadata({META_KEY: data.meta, EXPORT_KEY: _export_record(spans)})


def _behaviour(meta: dict[str, Any]) -> str:
    """Minari's ``algorithm_name``: the behaviour that collected the data, as far as known."""
    source = meta.get("source", {})
    return str(source.get("behaviour") or source.get("kind") or "unknown")


def _description(data: Dataset, episodes: int) -> str:
    meta = data.meta
    return (
        f"h2o {meta['task']} dataset, contract version {meta['contract_version']}: "
        f"{data.size} transitions in {episodes} episodes at {meta['control_hz']:g} Hz, "
        f"source {meta.get('source', {})}. Observations and actions are in the contract layout "
        f"(metadata {META_KEY}: obs_names, action_names, action_scale/offset to joint units)."
    )


def _export_record(spans: list[EpisodeSpan]) -> dict[str, Any]:
    return {
        "episode_rows": [[s.start, s.stop] for s in spans],
        "episode_ends": [s.end for s in spans],
        "split_at_discontinuities": sum(s.end == "discontinuity" for s in spans),
    }
