"""Write small policy files in the artifact format without torch (tests, benchmarks, demos).

:func:`write_mlp_policy` builds a tanh MLP with observation normalisation and the contract's
action scaling inside the graph, exactly as the production exporter must (see
:mod:`h2o_robot_bridge.contract.policy`), with the ``onnx`` package's graph helpers. Knobs make
deliberately broken files for the loader's error tests. Needs ``onnx`` (a dev dependency; the
robot only needs onnxruntime).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from h2o_robot_bridge.contract import ACTION_DIM, ACTION_OFFSET, ACTION_SCALE, OBS_DIM
from h2o_robot_bridge.contract.policy import (
    INPUT_NAME,
    OUTPUT_ACTION,
    OUTPUT_JOINT_COMMAND,
    make_policy_metadata,
)


def mlp_weights(
    hidden: Sequence[int] = (64, 64), seed: int = 0, bias: ArrayLike | None = None
) -> list[tuple[NDArray[np.float32], NDArray[np.float32]]]:
    """Random (W (in, out), b (out,)) layers OBS_DIM -> hidden -> ACTION_DIM.

    ``bias`` (ACTION_DIM,) is added to the last layer's bias (pre-tanh), e.g. to make a policy
    whose action is clearly not the safe action.
    """
    rng = np.random.default_rng(seed)
    sizes = [OBS_DIM, *hidden, ACTION_DIM]
    layers = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
        w = rng.normal(0.0, 1.0 / np.sqrt(fan_in), size=(fan_in, fan_out)).astype(np.float32)
        b = rng.normal(0.0, 0.05, size=fan_out).astype(np.float32)
        layers.append((w, b))
    if bias is not None:
        w, b = layers[-1]
        layers[-1] = (w * 0.1, (b + np.asarray(bias, dtype=np.float32)).astype(np.float32))
    return layers


def mlp_reference(
    obs: ArrayLike,
    layers: list[tuple[NDArray[np.float32], NDArray[np.float32]]],
    obs_mean: ArrayLike,
    obs_std: ArrayLike,
) -> NDArray[np.float64]:
    """The same MLP in numpy (float64): ``tanh(mlp((obs - mean) / std))``, (N, ACTION_DIM)."""
    mean, std = np.asarray(obs_mean, np.float64), np.asarray(obs_std, np.float64)
    x = (np.atleast_2d(np.asarray(obs, dtype=np.float64)) - mean) / std
    for i, (w, b) in enumerate(layers):
        x = x @ w.astype(np.float64) + b
        if i < len(layers) - 1:
            x = np.tanh(x)
    return np.tanh(x)


def write_mlp_policy(
    path: str | Path,
    layers: list[tuple[NDArray[np.float32], NDArray[np.float32]]] | None = None,
    obs_mean: ArrayLike | None = None,
    obs_std: ArrayLike | None = None,
    task: str = "stand",
    control_hz: float = 100.0,
    metadata: dict[str, Any] | None = None,
    input_name: str = INPUT_NAME,
    action_name: str = OUTPUT_ACTION,
    joint_command_scale: ArrayLike | None = None,
    obs_dim: int = OBS_DIM,
) -> Path:
    """Write a tanh-MLP policy file in the artifact format; returns the path.

    Args:
        path: output ``.onnx`` file (weights embedded).
        layers: from :func:`mlp_weights` (default: ``mlp_weights()``).
        obs_mean, obs_std: normalisation (OBS_DIM,), inside the graph (default 0 / 1).
        task, control_hz: recorded in the metadata.
        metadata: keys to override in the metadata JSON (to make mismatching files).
        input_name, action_name, joint_command_scale, obs_dim: break the interface on purpose.
    """
    import json  # noqa: PLC0415

    import onnx  # noqa: PLC0415 - dev-only dependency
    from onnx import TensorProto, helper, numpy_helper  # noqa: PLC0415

    layers = layers if layers is not None else mlp_weights()
    mean = np.zeros(obs_dim) if obs_mean is None else np.asarray(obs_mean)
    std = np.ones(obs_dim) if obs_std is None else np.asarray(obs_std)
    scale = ACTION_SCALE if joint_command_scale is None else np.asarray(joint_command_scale)

    def const(name: str, value: ArrayLike) -> onnx.TensorProto:
        return numpy_helper.from_array(np.asarray(value, dtype=np.float32), name)

    inits = [const("obs_mean", mean), const("obs_inv_std", 1.0 / std)]
    inits += [const("act_scale", scale), const("act_offset", ACTION_OFFSET)]
    nodes = [
        helper.make_node("Sub", [input_name, "obs_mean"], ["centred"]),
        helper.make_node("Mul", ["centred", "obs_inv_std"], ["h0"]),
    ]
    for i, (w, b) in enumerate(layers):
        inits += [const(f"w{i}", w), const(f"b{i}", b)]
        nodes.append(helper.make_node("Gemm", [f"h{i}", f"w{i}", f"b{i}"], [f"z{i}"]))
        out = action_name if i == len(layers) - 1 else f"h{i + 1}"
        nodes.append(helper.make_node("Tanh", [f"z{i}"], [out]))
    nodes += [
        helper.make_node("Mul", [action_name, "act_scale"], ["scaled"]),
        helper.make_node("Add", ["scaled", "act_offset"], [OUTPUT_JOINT_COMMAND]),
    ]
    graph = helper.make_graph(
        nodes,
        "h2o_policy",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, ["batch", obs_dim])],
        [
            helper.make_tensor_value_info(action_name, TensorProto.FLOAT, ["batch", ACTION_DIM]),
            helper.make_tensor_value_info(
                OUTPUT_JOINT_COMMAND, TensorProto.FLOAT, ["batch", ACTION_DIM]
            ),
        ],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    props = make_policy_metadata(task, control_hz, "synthetic", "none")
    if metadata:
        (key,) = props
        meta = json.loads(props[key])
        meta.update(metadata)
        props = {key: json.dumps(meta)}
    helper.set_model_props(model, props)
    onnx.checker.check_model(model)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path
