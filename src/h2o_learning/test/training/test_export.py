"""ONNX export: equals torch to 1e-5, dynamic batch, metadata accepted by the robot's loader."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from h2o_learning.algorithms import AlgorithmConfig, make_algorithm
from h2o_learning.training.export import (
    PARITY_ATOL,
    ExportError,
    PolicyWithScaling,
    copy_policy,
    export_policy,
    parity_error,
)
from h2o_robot_bridge.contract import ACTION_DIM, ACTION_OFFSET, ACTION_SCALE, OBS_DIM
from h2o_robot_bridge.contract.policy import (
    INPUT_NAME,
    METADATA_KEY,
    OUTPUT_ACTION,
    OUTPUT_JOINT_COMMAND,
    make_policy_metadata,
    parse_policy_metadata,
)
from h2o_robot_bridge.deploy.onnx_policy import OnnxPolicy
from h2o_robot_bridge.errors import ContractMismatchError


@pytest.fixture(scope="module")
def algo():
    """An H2O algorithm with a non-trivial normaliser and perturbed (not initial) weights."""
    rng = np.random.default_rng(0)
    mean = rng.normal(size=OBS_DIM).astype(np.float32)
    std = rng.uniform(0.1, 2.0, OBS_DIM).astype(np.float32)
    config = AlgorithmConfig(hidden=(64, 64), disc_hidden=(16, 16))
    algo = make_algorithm("h2o", OBS_DIM, ACTION_DIM, config, mean, std, seed=3)
    with torch.no_grad():  # larger last-layer weights than the 1e-2 init: actions far from 0
        for p in algo.policy_module().parameters():
            p.add_(torch.randn(p.shape, generator=torch.Generator().manual_seed(1)) * 0.3)
    return algo


@pytest.fixture(scope="module")
def exported(algo, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("onnx") / "stand.onnx"
    return export_policy(algo.policy_module(), path, "stand", 100.0, "h2o", "0123456789ab")


def test_onnx_equals_torch(algo, exported: Path) -> None:
    session = ort.InferenceSession(str(exported), providers=["CPUExecutionProvider"])
    obs = np.random.default_rng(7).normal(scale=2.0, size=(300, OBS_DIM)).astype(np.float32)
    action, joint = session.run([OUTPUT_ACTION, OUTPUT_JOINT_COMMAND], {INPUT_NAME: obs})
    with torch.no_grad():
        want = algo.policy_module()(torch.from_numpy(obs)).numpy()
        stochastic_free = algo.act(torch.from_numpy(obs), deterministic=True).numpy()
    np.testing.assert_allclose(action, want, atol=1e-5, rtol=0)
    np.testing.assert_allclose(action, stochastic_free, atol=1e-5, rtol=0)
    np.testing.assert_allclose(joint, ACTION_OFFSET + ACTION_SCALE * want, atol=1e-4, rtol=0)
    assert np.abs(action).max() > 0.3  # the check above is not trivially about zeros


@pytest.mark.parametrize("batch", [1, 2, 17])
def test_batch_dimension_is_dynamic(exported: Path, batch: int) -> None:
    session = ort.InferenceSession(str(exported), providers=["CPUExecutionProvider"])
    obs = np.zeros((batch, OBS_DIM), np.float32)
    action, joint = session.run(None, {INPUT_NAME: obs})
    assert action.shape == joint.shape == (batch, ACTION_DIM)


def test_file_is_self_contained_with_metadata(exported: Path) -> None:
    assert not list(exported.parent.glob("*.data"))  # external_data=False
    model = onnx.load(str(exported))
    props = {p.key: p.value for p in model.metadata_props}
    meta = parse_policy_metadata(props, str(exported))
    assert (meta["task"], meta["algorithm"], meta["config_hash"]) == (
        "stand",
        "h2o",
        "0123456789ab",
    )
    assert meta["control_hz"] == 100.0 and METADATA_KEY in props


def test_robot_loader_reads_the_exporters_metadata_exactly(exported: Path) -> None:
    # What the robot's loader reads is what the exporter wrote, key for key (the contract's
    # one definition, make_policy_metadata), not merely a metadata that parses.
    (written,) = make_policy_metadata("stand", 100.0, "h2o", "0123456789ab").values()
    assert OnnxPolicy(exported).metadata == json.loads(written)


def test_robot_loader_accepts_the_export(algo, exported: Path) -> None:
    policy = OnnxPolicy(exported, task="stand", control_hz=100.0)
    obs = np.random.default_rng(3).normal(size=OBS_DIM).astype(np.float32)
    with torch.no_grad():
        want = algo.policy_module()(torch.from_numpy(obs[None]))[0].numpy()
    np.testing.assert_allclose(policy.act(obs), want, atol=1e-5, rtol=0)
    with pytest.raises(ContractMismatchError, match="move_straight"):
        OnnxPolicy(exported, task="move_straight")


def test_parity_check_detects_a_different_graph(algo, exported: Path) -> None:
    other = make_algorithm("sac", OBS_DIM, ACTION_DIM, AlgorithmConfig(hidden=(64, 64)), seed=9)
    with torch.no_grad():
        for p in other.policy_module().parameters():
            p.add_(0.5)
    assert parity_error(PolicyWithScaling(algo.policy_module()), exported) <= PARITY_ATOL
    assert parity_error(PolicyWithScaling(other.policy_module()), exported) > 1e-3


def test_untraceable_policy_raises_export_error(tmp_path: Path) -> None:
    class DataDependent(torch.nn.Module):
        def forward(self, obs: torch.Tensor) -> torch.Tensor:
            n = int(obs.abs().sum().item())  # data-dependent Python control flow
            return torch.tanh(obs[:, :ACTION_DIM]) * (1.0 if n % 2 else -1.0)

    with pytest.raises(ExportError):
        export_policy(DataDependent(), tmp_path / "x.onnx", "stand", 100.0, "sac", "h")
    assert not list(tmp_path.iterdir())  # no partial file left


def test_unknown_task_fails_at_export(algo, tmp_path: Path) -> None:
    with pytest.raises(Exception, match="unknown task"):
        export_policy(algo.policy_module(), tmp_path / "x.onnx", "fly", 100.0, "h2o", "h")


def test_copy_policy_adds_extra_and_keeps_the_graph(exported: Path, tmp_path: Path) -> None:
    copy = copy_policy(exported, tmp_path / "copy.onnx", {"selection": {"epoch": 7}})
    before, after = OnnxPolicy(exported).metadata, OnnxPolicy(copy).metadata
    assert after["extra"] == {**before["extra"], "selection": {"epoch": 7}}
    assert {k: v for k, v in after.items() if k != "extra"} == {
        k: v for k, v in before.items() if k != "extra"
    }
    assert onnx.load(str(copy)).graph == onnx.load(str(exported)).graph
    obs = np.random.default_rng(3).normal(size=(16, OBS_DIM)).astype(np.float32)
    outputs = [
        ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]).run(
            None, {INPUT_NAME: obs}
        )
        for p in (exported, copy)
    ]
    for a, b in zip(*outputs, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not list(tmp_path.glob("*.tmp*"))


def test_copy_policy_refuses_a_foreign_file(exported: Path, tmp_path: Path) -> None:
    model = onnx.load(str(exported))
    del model.metadata_props[:]
    foreign = tmp_path / "foreign.onnx"
    onnx.save(model, str(foreign))
    with pytest.raises(ExportError, match="not an h2o policy export"):
        copy_policy(foreign, tmp_path / "copy.onnx", {})
    assert not (tmp_path / "copy.onnx").exists()
