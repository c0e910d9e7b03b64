"""System test of ``h2o-demo`` at the tiny budget: every stage over real DDS in separate
processes, and every artifact checked (dataset, checkpoint, ONNX, deployment at its rate)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml

from h2o_learning.demo.config import load_demo_config, resolve_demo_config
from h2o_learning.training.build import algorithm_from_checkpoint
from h2o_learning.training.selection import read_record
from h2o_robot_bridge.contract import ACTION_DIM, get_task
from h2o_robot_bridge.dataset import episode_bounds, load_dataset
from h2o_robot_bridge.deploy.onnx_policy import OnnxPolicy
from h2o_robot_bridge.testing.processes import find_executable


def _demo(
    out: Path, domain_id: int, *extra: str, timeout: float = 400
) -> subprocess.CompletedProcess:
    argv = [find_executable("h2o-demo"), "--budget", "tiny", "--out", str(out)]
    argv += ["--domain-id", str(domain_id), *extra]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def tiny_demo(
    tmp_path_factory: pytest.TempPathFactory, module_domain_id: int
) -> tuple[Path, subprocess.CompletedProcess]:
    out = tmp_path_factory.mktemp("demo") / "report"
    return out, _demo(out, module_domain_id)


def test_demo_runs_and_prints_the_table(tiny_demo) -> None:
    out, proc = tiny_demo
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    stages = ("collect", "train", "export", "evaluate", "deploy", "report")
    for i, stage in enumerate(stages):
        assert f"[{i + 1}/6] {stage}" in proc.stdout
    table = (out / "table.md").read_text()
    assert "| classical controller |" in table and "| H2O |" in table
    assert table in proc.stdout
    results = json.loads((out / "results.json").read_text())
    assert set(results["deploy"]) == {"classical", "h2o"}
    # In-process through the runner core next to the DDS deployment, and the robustness grid.
    cfg = load_demo_config(None, "tiny")
    evaluated = results["evaluate"]
    assert set(evaluated["real"]) == {"classical", "h2o"}
    assert evaluated["real"]["classical"]["falls"] == 0
    for name in ("classical", "h2o"):
        assert set(evaluated["robustness"][name]) == set(cfg.evaluate.robustness)
    assert "in-process: return" in table and "Robustness:" in table
    for name in ("deploy.png", "curves_h2o.png", "dataset.png", "demo_config.yaml"):
        assert (out / name).stat().st_size > 0, name


def test_demo_dataset_is_valid(tiny_demo) -> None:
    out, _ = tiny_demo
    cfg = load_demo_config(None, "tiny")
    data = load_dataset(out / "dataset" / "real.h5", task="stand")
    # Recorded ticks: most of the driven ones (start-up and load drop a few).
    assert data.size >= 0.5 * cfg.collect.transitions
    r = get_task("stand").reward(data.observations, data.actions, data.next_observations)
    np.testing.assert_allclose(data.rewards, r, rtol=1e-5, atol=1e-6)
    # The exploration noise is in the recorded actions: not the deterministic controller.
    assert float(np.std(np.diff(data.actions[:, 4]))) > 0.05
    for a, b in episode_bounds(data):  # prev_action of each row is the previous action
        np.testing.assert_allclose(data.observations[a + 1 : b, -ACTION_DIM:],
                                   data.actions[a : b - 1], atol=1e-6)  # fmt: skip
    assert data.meta["source"]["robot"].startswith("sim-real")
    collect = json.loads((out / "dataset" / "collect.json").read_text())
    assert collect["status"] == "ok"
    assert collect["summary"]["transitions"] >= cfg.collect.transitions


def test_demo_checkpoint_and_onnx_load(tiny_demo) -> None:
    out, proc = tiny_demo
    run = out / "runs" / "h2o"
    config, _, payload = algorithm_from_checkpoint(run)
    assert config.algorithm == "h2o" and config.env.sim_dynamics == "gravity_x2"
    assert payload["dataset"]["size"] > 0
    # The demo deploys the best evaluated epoch: its checkpoint, and the record of why.
    record = read_record(run / "export.json")
    assert (
        record.exported == "best" and f"h2o: deploying stand.onnx, {record.reason}" in proc.stdout
    )
    results = json.loads((out / "results.json").read_text())
    assert results["train"]["h2o"]["export"] == record.to_dict()
    _, algo, best = algorithm_from_checkpoint(run / "checkpoints" / "best.pt")
    assert best["epoch"] == record.epoch
    policy = OnnxPolicy(out / "policies" / "stand.onnx", task="stand", control_hz=100.0)
    obs = load_dataset(out / "dataset" / "real.h5").observations[:5]
    for o in obs:
        action = policy.act(o)
        assert action.shape == (ACTION_DIM,) and np.all(np.abs(action) <= 1.0)
    # The exported graph is the checkpoint's deterministic policy.
    import torch  # noqa: PLC0415

    with torch.no_grad():
        ref = algo.policy_module()(torch.as_tensor(obs, dtype=torch.float32)).numpy()
    np.testing.assert_allclose(np.stack([policy.act(o) for o in obs]), ref, atol=1e-5)


def test_demo_deploy_ran_at_its_rate(tiny_demo) -> None:
    out, _ = tiny_demo
    cfg = load_demo_config(None, "tiny")
    limit = cfg.deploy.time_limit_steps
    for name in ("classical", "h2o"):
        rep = json.loads((out / "deploy" / f"{name}.json").read_text())
        assert rep["status"] == "ok", rep
        diag = rep["diagnostics"]
        # The runner's own loop statistics: 100 Hz within load margins.
        assert 80.0 <= float(diag["rate_hz"]) <= 125.0, diag
        assert float(diag["ticks"]) > 50, diag
        eps = rep["summary"]["episodes"]
        assert len(eps) == cfg.deploy.episodes
        assert all(0 < e["steps"] <= limit for e in eps)
        # The robot published at its rate too: ticks seen vs the wall time of the run.
        assert rep["counts"]["ticks"] >= 0.5 * 100.0 * sum(e["seconds"] for e in eps)
    classical = json.loads((out / "deploy" / "classical.json").read_text())["summary"]
    assert classical["falls"] == 0  # the known-good controller balances through the episode
    assert classical["episodes"][0]["steps"] == limit


def test_demo_failure_names_stage_and_log(tmp_path: Path, domain_id: int) -> None:
    raw = yaml.safe_load(resolve_demo_config(None).read_text())
    raw["budgets"]["tiny"]["collect"]["timeout"] = 1.0  # cannot drive 400 ticks in 1 s
    config = tmp_path / "demo.yaml"
    config.write_text(yaml.safe_dump(raw))
    proc = _demo(tmp_path / "report", domain_id, "--config", str(config), timeout=120)
    assert proc.returncode == 1
    assert "stage 'collect' failed" in proc.stderr
    assert "supervisor.log" in proc.stderr
    assert (tmp_path / "report" / "logs" / "collect" / "supervisor.log").is_file()


def test_demo_bad_budget_is_a_clear_error(tmp_path: Path, domain_id: int) -> None:
    proc = _demo(tmp_path / "r", domain_id, "--budget", "huge", timeout=60)
    assert proc.returncode == 2
    assert "unknown budget 'huge'" in proc.stderr and "tiny" in proc.stderr
    assert not (tmp_path / "r").exists()
