"""The ONNX policy loader: torch parity and one clear error per kind of bad file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from h2o_robot_bridge.contract import ACTION_DIM, ACTION_OFFSET, ACTION_SCALE, OBS_DIM
from h2o_robot_bridge.contract.policy import make_policy_metadata
from h2o_robot_bridge.contract.sensors import ImuReading, JointReading
from h2o_robot_bridge.deploy.levels import FallbackConfig
from h2o_robot_bridge.deploy.onnx_policy import OnnxPolicy, probe_observations
from h2o_robot_bridge.deploy.runner import PolicyRunner, RunnerConfig
from h2o_robot_bridge.deploy.safety import SafetyConfig
from h2o_robot_bridge.errors import ContractMismatchError, PolicyLoadError
from h2o_robot_bridge.testing.synthetic import mlp_reference, mlp_weights, write_mlp_policy


def _torch_policy_file(path: Path, seed: int = 0):
    """A torch tanh-MLP with normalisation, exported with the artifact format; (module, path)."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnxscript")
    import onnx

    gen = torch.Generator().manual_seed(seed)

    class Actor(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = torch.nn.Sequential(
                torch.nn.Linear(OBS_DIM, 64),
                torch.nn.ReLU(),
                torch.nn.Linear(64, 64),
                torch.nn.ReLU(),
                torch.nn.Linear(64, ACTION_DIM),
            )
            with torch.no_grad():
                for p in self.net.parameters():
                    p.copy_(torch.randn(p.shape, generator=gen) * 0.3)
            self.register_buffer("mean", torch.randn(OBS_DIM, generator=gen) * 0.1)
            self.register_buffer("std", torch.rand(OBS_DIM, generator=gen) + 0.5)
            self.register_buffer("scale", torch.tensor(ACTION_SCALE, dtype=torch.float32))
            self.register_buffer("offset", torch.tensor(ACTION_OFFSET, dtype=torch.float32))

        def forward(self, obs):
            action = torch.tanh(self.net((obs - self.mean) / self.std))
            return action, self.offset + self.scale * action

    actor = Actor().eval()
    example = torch.zeros(1, OBS_DIM)
    torch.onnx.export(
        actor,
        (example,),
        str(path),
        input_names=["obs"],
        output_names=["action", "joint_command"],
        dynamic_shapes={"obs": {0: torch.export.Dim("batch", min=1, max=4096)}},
        external_data=False,
    )
    model = onnx.load(str(path))
    onnx.helper.set_model_props(model, make_policy_metadata("stand", 100.0, "test", "abc"))
    onnx.save(model, str(path))
    return actor, path


def test_parity_with_torch_through_the_runner(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    actor, path = _torch_policy_file(tmp_path / "torch.onnx")
    policy = OnnxPolicy(path, task="stand", control_hz=100.0)
    # Through the whole runner (observation from readings, no fade/rate limit): same action.
    safety = SafetyConfig(soft_start=0.0, max_action_rate=0.0, tilt_limit=1.5)
    config = RunnerConfig(safety, fallback=FallbackConfig(controller="none"))
    runner = PolicyRunner(policy, config)
    rng = np.random.default_rng(3)
    worst = 0.0
    for k in range(20):
        t = 0.01 * k
        quat = np.array([*rng.normal(0, 0.1, 3), 1.0])
        runner.on_imu(ImuReading(quat / np.linalg.norm(quat), rng.normal(0, 0.5, 3)), t)
        runner.on_joint_state(
            JointReading(rng.normal(0, 0.3, 6), rng.normal(0, 1, 6), np.zeros(6)), t
        )
        obs = runner._observation(t)  # the exact observation the tick will use
        result = runner.tick(t)
        assert not result.safe, result.reason
        with torch.no_grad():
            expected = actor(torch.from_numpy(obs[None]))[0][0].numpy()
        worst = max(worst, float(np.abs(result.action - expected).max()))
    assert worst < 1e-5
    # Batched inference agrees too, and the graph's joint command is the contract scaling.
    obs = probe_observations(16, seed=5)
    action, joint_command = policy.run_batch(obs)
    with torch.no_grad():
        ref_a, ref_c = actor(torch.from_numpy(obs))
    np.testing.assert_allclose(action, ref_a.numpy(), atol=1e-5)
    np.testing.assert_allclose(joint_command, ref_c.numpy(), atol=1e-5)


def test_synthetic_policy_matches_numpy_reference(tmp_path: Path) -> None:
    layers = mlp_weights(seed=4)
    mean, std = np.full(OBS_DIM, 0.2), np.full(OBS_DIM, 1.5)
    policy = OnnxPolicy(write_mlp_policy(tmp_path / "p.onnx", layers, mean, std))
    obs = probe_observations(8, seed=1)
    for o, ref in zip(obs, mlp_reference(obs, layers, mean, std), strict=True):
        np.testing.assert_allclose(policy.act(o), ref, atol=1e-5)
    expected_cmd = ACTION_OFFSET + ACTION_SCALE * policy.act(obs[2])
    np.testing.assert_allclose(policy.last_joint_command(), expected_cmd, atol=1e-5)
    assert (policy.name, policy.task, policy.control_hz) == ("p.onnx", "stand", 100.0)


def test_act_returns_a_fresh_array(tmp_path: Path) -> None:
    policy = OnnxPolicy(write_mlp_policy(tmp_path / "p.onnx"))
    obs = probe_observations(2, seed=2)
    first = policy.act(obs[0])
    kept = first.copy()
    policy.act(obs[1])
    np.testing.assert_array_equal(first, kept)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(PolicyLoadError, match="not found"):
        OnnxPolicy(tmp_path / "nope.onnx")


def test_corrupt_file(tmp_path: Path) -> None:
    good = write_mlp_policy(tmp_path / "p.onnx").read_bytes()
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(good[: len(good) // 2])
    with pytest.raises(PolicyLoadError, match="not a loadable ONNX model"):
        OnnxPolicy(bad)
    (tmp_path / "text.onnx").write_text("hello")
    with pytest.raises(PolicyLoadError, match="not a loadable ONNX model"):
        OnnxPolicy(tmp_path / "text.onnx")


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"input_name": "observation"}, PolicyLoadError, "inputs are \\['observation'\\]"),
        ({"action_name": "act"}, PolicyLoadError, "no output 'action'"),
        ({"obs_dim": OBS_DIM - 1}, PolicyLoadError, "expected \\[batch, 25\\]"),
        (
            {"joint_command_scale": ACTION_SCALE * 1.1},
            PolicyLoadError,
            "differs from the contract's scaling",
        ),
        ({"metadata": {"contract_version": "other/2"}}, ContractMismatchError, "contract_version"),
        ({"metadata": {"obs_names": ["a"] * OBS_DIM}}, ContractMismatchError, "obs_names"),
        ({"metadata": {"action_scale": [1.0] * 6}}, ContractMismatchError, "action_scale"),
        ({"metadata": {"format_version": 99}}, PolicyLoadError, "policy format 99"),
        ({"metadata": {"task": "dance"}}, PolicyLoadError, "bad task"),
        ({"metadata": {"control_hz": -5}}, PolicyLoadError, "control_hz -5"),
    ],
    ids=[
        "input-name",
        "output-name",
        "input-shape",
        "joint-command-scaling",
        "contract-version",
        "obs-layout",
        "action-scale-meta",
        "format-version",
        "unknown-task",
        "bad-rate",
    ],
)
def test_interface_and_metadata_errors(tmp_path: Path, kwargs, error, message) -> None:
    layers = None
    if kwargs.get("obs_dim"):
        layers = mlp_weights()
        layers[0] = (layers[0][0][: kwargs["obs_dim"]], layers[0][1])
    path = write_mlp_policy(tmp_path / "p.onnx", layers, **kwargs)
    with pytest.raises(error, match=message):
        OnnxPolicy(path)


def test_no_metadata(tmp_path: Path) -> None:
    import onnx

    path = write_mlp_policy(tmp_path / "p.onnx")
    model = onnx.load(str(path))
    del model.metadata_props[:]
    onnx.save(model, str(path))
    with pytest.raises(PolicyLoadError, match="no 'h2o_policy' metadata"):
        OnnxPolicy(path)
    model.metadata_props.add(key="h2o_policy", value="{not json")
    onnx.save(model, str(path))
    with pytest.raises(PolicyLoadError, match="not valid JSON"):
        OnnxPolicy(path)


def test_requested_task_and_rate_must_match(tmp_path: Path) -> None:
    path = write_mlp_policy(tmp_path / "p.onnx", task="stand", control_hz=100.0)
    OnnxPolicy(path, task="stand", control_hz=100.0)
    with pytest.raises(ContractMismatchError, match="task 'stand'.*'move_straight'"):
        OnnxPolicy(path, task="move_straight")
    with pytest.raises(ContractMismatchError, match="control_hz 100.0.*500.0"):
        OnnxPolicy(path, control_hz=500.0)


def test_unsquashed_action_is_refused(tmp_path: Path) -> None:
    import onnx

    path = write_mlp_policy(tmp_path / "p.onnx", layers=mlp_weights(bias=np.full(6, 3.0)))
    model = onnx.load(str(path))
    # Replace the output tanh by identity: actions leave [-1, 1].
    last_tanh = [n for n in model.graph.node if n.op_type == "Tanh"][-1]
    last_tanh.op_type = "Identity"
    onnx.save(model, str(path))
    with pytest.raises(PolicyLoadError, match=r"outside \[-1, 1\]"):
        OnnxPolicy(path)


def test_nonfinite_output_is_refused(tmp_path: Path) -> None:
    layers = mlp_weights()
    layers[0][1][0] = np.nan
    with pytest.raises(PolicyLoadError, match="non-finite action"):
        OnnxPolicy(write_mlp_policy(tmp_path / "p.onnx", layers))


def test_metadata_is_what_the_file_holds(tmp_path: Path) -> None:
    # The loader's metadata is the file's JSON, key for key (the exporter's side of this is
    # h2o_learning's test_export: robot_loader_reads_the_exporters_metadata_exactly).
    policy = OnnxPolicy(write_mlp_policy(tmp_path / "p.onnx", control_hz=500.0))
    (written,) = make_policy_metadata("stand", 500.0, "synthetic", "none").values()
    assert policy.control_hz == 500.0
    assert policy.metadata == json.loads(written)
