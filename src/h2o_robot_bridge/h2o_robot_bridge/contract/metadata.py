"""The contract's fingerprint, saved next to every artifact and checked when one is loaded."""

from __future__ import annotations

from typing import Any

import numpy as np

from h2o_robot_bridge.contract.action import ACTION_NAMES, ACTION_OFFSET, ACTION_SCALE
from h2o_robot_bridge.contract.observation import OBS_NAMES
from h2o_robot_bridge.contract.robot import CONTRACT_VERSION
from h2o_robot_bridge.errors import ContractMismatchError


def contract_metadata() -> dict[str, Any]:
    """JSON-serialisable description of this contract (version, layouts, action scaling)."""
    return {
        "contract_version": CONTRACT_VERSION,
        "obs_names": list(OBS_NAMES),
        "action_names": list(ACTION_NAMES),
        "action_scale": [float(x) for x in ACTION_SCALE],
        "action_offset": [float(x) for x in ACTION_OFFSET],
    }


def check_contract_metadata(meta: dict[str, Any], what: str) -> None:
    """Raise :class:`ContractMismatchError` naming the first key where ``meta`` differs.

    Args:
        meta: metadata read from an artifact (must hold every key of :func:`contract_metadata`).
        what: the artifact, for the message (e.g. a file path).
    """
    ours = contract_metadata()
    for key, expected in ours.items():
        if key not in meta:
            raise ContractMismatchError(f"{what}: metadata has no {key!r} (made by another tool?)")
        got = meta[key]
        if isinstance(expected, list):
            same = len(got) == len(expected) and all(
                np.isclose(g, e) if isinstance(e, float) else g == e
                for g, e in zip(got, expected, strict=True)
            )
        else:
            same = got == expected
        if not same:
            raise ContractMismatchError(
                f"{what}: {key} is {got!r}, this contract has {expected!r}"
            )
