"""The ONNX policy artifact: the one definition shared by the exporter (h2o_learning) and the
loader (the bridge's policy runner).

Graph interface:
- input ``obs``: (N, OBS_DIM) float32, the *raw* contract observation (normalisation is inside);
- output ``action``: (N, ACTION_DIM) float32 in [-1, 1] (the deterministic policy action);
- output ``joint_command``: (N, ACTION_DIM) float32, ``ACTION_OFFSET + ACTION_SCALE * action``
  (leg position targets [rad], wheel efforts [N m]): the contract's action scaling, inside the
  graph, so a reader without this package still gets joint units. The runner re-derives it with
  the contract (and clips to limits) and checks the two agree at load.

Metadata: one ONNX ``metadata_props`` entry, key :data:`METADATA_KEY`, a JSON object holding
:func:`~h2o_robot_bridge.contract.contract_metadata` plus ``task``, ``control_hz``,
``algorithm``, ``config_hash`` and free-form ``extra``.
"""

from __future__ import annotations

import json
from typing import Any

from h2o_robot_bridge.contract import check_contract_metadata, contract_metadata, get_task
from h2o_robot_bridge.errors import PolicyLoadError

INPUT_NAME = "obs"
OUTPUT_ACTION = "action"
OUTPUT_JOINT_COMMAND = "joint_command"
METADATA_KEY = "h2o_policy"
FORMAT_VERSION = 1


def make_policy_metadata(
    task: str,
    control_hz: float,
    algorithm: str,
    config_hash: str,
    extra: dict[str, Any] | None = None,
) -> dict[str, str]:
    """``metadata_props`` for an exported policy (a one-entry dict, JSON value)."""
    get_task(task)  # fail at export time, not on the robot
    meta = {
        "format_version": FORMAT_VERSION,
        **contract_metadata(),
        "task": task,
        "control_hz": float(control_hz),
        "algorithm": algorithm,
        "config_hash": config_hash,
        "extra": extra or {},
    }
    return {METADATA_KEY: json.dumps(meta)}


def parse_policy_metadata(props: dict[str, str], what: str) -> dict[str, Any]:
    """Decode and check the metadata of a policy file against this contract.

    Args:
        props: the model's ``metadata_props`` as a dict (onnxruntime:
            ``session.get_modelmeta().custom_metadata_map``).
        what: the file, for messages.

    Raises:
        PolicyLoadError: no or unreadable metadata, or an unknown task.
        ContractMismatchError: made for another contract (names the differing key).
    """
    if METADATA_KEY not in props:
        raise PolicyLoadError(f"{what}: no {METADATA_KEY!r} metadata (not an h2o policy export)")
    try:
        meta = json.loads(props[METADATA_KEY])
    except json.JSONDecodeError as err:
        raise PolicyLoadError(f"{what}: metadata is not valid JSON: {err}") from err
    if meta.get("format_version") != FORMAT_VERSION:
        raise PolicyLoadError(
            f"{what}: policy format {meta.get('format_version')!r}, expected {FORMAT_VERSION}"
        )
    check_contract_metadata(meta, what)
    try:
        get_task(meta["task"])
    except (KeyError, Exception) as err:
        raise PolicyLoadError(f"{what}: bad task in metadata: {err}") from err
    return meta
