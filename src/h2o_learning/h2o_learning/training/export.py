"""ONNX export of a trained policy, exactly in the format of ``h2o_robot_bridge.contract.policy``.

The graph maps the raw observation ``obs`` (N, OBS_DIM) to ``action`` (N, ACTION_DIM) in [-1, 1]
(the algorithm's deterministic actor with its observation normaliser inside) and
``joint_command = ACTION_OFFSET + ACTION_SCALE * action``. Weights are embedded
(``external_data=False``), the batch dimension is dynamic, and the metadata comes from
:func:`make_policy_metadata` (contract, task, control rate, algorithm, config hash). Every
export is checked against torch on random and upright observations to :data:`PARITY_ATOL`.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import logging
import os
import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from h2o_robot_bridge.contract import ACTION_DIM, ACTION_OFFSET, ACTION_SCALE, OBS_DIM
from h2o_robot_bridge.contract.policy import (
    INPUT_NAME,
    METADATA_KEY,
    OUTPUT_ACTION,
    OUTPUT_JOINT_COMMAND,
    make_policy_metadata,
)
from h2o_robot_bridge.errors import H2OError

PARITY_ATOL = 1e-5
"""Largest allowed |onnx - torch| on any output element."""


class ExportError(H2OError):
    """The policy could not be exported, or the exported graph disagrees with torch."""


class PolicyWithScaling(torch.nn.Module):
    """The exported graph: ``obs -> (action, joint_command)`` (see the module docstring)."""

    def __init__(self, policy: torch.nn.Module) -> None:
        super().__init__()
        self.policy = policy
        self.register_buffer("scale", torch.as_tensor(ACTION_SCALE, dtype=torch.float32))
        self.register_buffer("offset", torch.as_tensor(ACTION_OFFSET, dtype=torch.float32))

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        action = self.policy(obs)
        return action, self.offset + self.scale * action


def export_policy(
    policy: torch.nn.Module,
    path: str | Path,
    task: str,
    control_hz: float,
    algorithm: str,
    config_hash: str,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Export ``policy`` (raw obs -> deterministic action) to ``path`` and check it.

    Args:
        policy: e.g. ``algorithm.policy_module()``; copied to CPU, not modified.
        path: the ``.onnx`` file to write (atomically: a failed export leaves no file).
        task, control_hz, algorithm, config_hash, extra: the metadata (policy_format).

    Raises:
        ExportError: tracing failed, or ONNX and torch outputs differ by more than
            :data:`PARITY_ATOL`.
    """
    path = Path(path)
    module = PolicyWithScaling(copy.deepcopy(policy).to("cpu").float()).eval()
    metadata = make_policy_metadata(task, control_hz, algorithm, config_hash, extra)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.onnx")
    try:
        _trace(module, tmp)
        _add_metadata(tmp, metadata)
        error = parity_error(module, tmp)
        if not error <= PARITY_ATOL:
            raise ExportError(f"{path}: ONNX differs from torch by {error:.3g} > {PARITY_ATOL}")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def copy_policy(source: str | Path, target: str | Path, extra: dict[str, Any]) -> Path:
    """Copy an exported policy with ``extra`` merged into its metadata ``extra``.

    The graph is not touched, so the copy acts exactly like ``source`` (no re-trace, no new
    parity error); written atomically like :func:`export_policy`.

    Raises:
        ExportError: ``source`` is not an h2o policy export.
    """
    import onnx  # noqa: PLC0415 - heavy import, only when exporting

    source, target = Path(source), Path(target)
    props = {p.key: p.value for p in onnx.load(str(source)).metadata_props}
    if METADATA_KEY not in props:
        raise ExportError(f"{source}: no {METADATA_KEY!r} metadata (not an h2o policy export)")
    meta = json.loads(props[METADATA_KEY])
    meta["extra"] = {**meta.get("extra", {}), **extra}
    tmp = target.with_name(target.name + ".tmp.onnx")
    try:
        shutil.copyfile(source, tmp)
        _add_metadata(tmp, {**props, METADATA_KEY: json.dumps(meta)})
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def _trace(module: torch.nn.Module, path: Path) -> None:
    """Dynamo export with a dynamic batch; the exporter's progress chatter is silenced."""
    example = (torch.zeros(2, OBS_DIM),)
    batch = torch.export.Dim("batch")
    quiet = logging.getLogger("torch.onnx._internal.exporter._registration")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # "torchvision is not installed" chatter
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            torch.onnx.export(
                module,
                example,
                str(path),
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_ACTION, OUTPUT_JOINT_COMMAND],
                dynamic_shapes={"obs": {0: batch}},
                external_data=False,
            )
    except Exception as err:  # the exporter raises many types; keep the first line
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        raise ExportError(f"torch.onnx.export failed: {type(err).__name__}: {first}") from err
    finally:
        quiet.setLevel(level)


def _add_metadata(path: Path, metadata: dict[str, str]) -> None:
    import onnx  # noqa: PLC0415 - heavy import, only when exporting

    model = onnx.load(str(path))
    del model.metadata_props[:]
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def probe_batch(n: int = 64, seed: int = 0) -> NDArray[np.float32]:
    """(n, OBS_DIM) observations for parity checks: upright-at-rest first, then random."""
    rng = np.random.default_rng(seed)
    obs = rng.normal(scale=1.0, size=(n, OBS_DIM)).astype(np.float32)
    obs[0] = 0.0
    obs[0, 2] = -1.0  # projected gravity of a level base
    return obs


def parity_error(
    module: torch.nn.Module, path: Path, obs: NDArray[np.float32] | None = None
) -> float:
    """Max |onnx - torch| over both outputs for a batch and for a single observation."""
    import onnxruntime as ort  # noqa: PLC0415

    obs = probe_batch() if obs is None else np.asarray(obs, dtype=np.float32)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    worst = 0.0
    for x in (obs, obs[:1]):
        got = session.run([OUTPUT_ACTION, OUTPUT_JOINT_COMMAND], {INPUT_NAME: x})
        with torch.no_grad():
            want = [t.numpy() for t in module(torch.from_numpy(x))]
        for g, w in zip(got, want, strict=True):
            if g.shape != (len(x), ACTION_DIM):
                raise ExportError(
                    f"{path}: output shape {g.shape}, expected {(len(x), ACTION_DIM)}"
                )
            diff = float(np.max(np.abs(g - w)))
            worst = max(worst, diff if np.isfinite(diff) else float("inf"))
    return worst
