"""The ``h2o_trainer`` node as a separate process: trains, reports on /diagnostics over DDS,
exports a policy the robot-side loader accepts, and exits; bad parameters fail before training.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from h2o_robot_bridge.dataset import save_dataset
from h2o_robot_bridge.deploy.onnx_policy import OnnxPolicy
from h2o_robot_bridge.testing.processes import node_process, ros_env

# Like h2o_learning.testing.budgets.TINY_TRAIN, less its network sizes: a list value such as
# "algo.hidden=[16, 16]" inside a ROS string-array parameter does not survive rcl's parser.
OVERRIDES = [
    "loop.epochs=2",
    "loop.sim_steps_per_epoch=40",
    "loop.grad_steps_per_epoch=5",
    "loop.warmup_steps=20",
    "loop.eval_max_steps=20",
    "algo.batch_size=16",
    "algo.disc_batch_size=16",
    "run.tensorboard=false",
]


def small_dataset(path: Path, steps: int = 600) -> Path:
    """A small ``medium`` stand dataset (the ``h2o-collect`` code) in the real profile."""
    from h2o_sim.collect import collect_dataset

    return save_dataset(path, collect_dataset("medium", steps, task="stand", seed=0))


def collect_diagnostics(
    proc, domain_id: int, timeout: float
) -> list[tuple[str, str, dict[str, str]]]:
    """(name, message, values) of every /diagnostics status received while ``proc`` runs."""
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.executors import SingleThreadedExecutor

    context = rclpy.Context()
    rclpy.init(context=context, domain_id=domain_id)
    got: list[tuple[str, str, dict[str, str]]] = []
    try:
        node = rclpy.create_node("trainer_node_test", context=context)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)

        def on_msg(msg: DiagnosticArray) -> None:
            for s in msg.status:
                got.append((s.name, s.message, {kv.key: kv.value for kv in s.values}))

        node.create_subscription(DiagnosticArray, "/diagnostics", on_msg, 50)
        deadline = time.monotonic() + timeout
        while proc.alive() and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.1)
        for _ in range(10):  # messages still in flight
            executor.spin_once(timeout_sec=0.05)
        node.destroy_node()
    finally:
        rclpy.try_shutdown(context=context)
    return got


def test_trainer_node_trains_reports_and_exports(
    tmp_path: Path, domain_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in ros_env(domain_id, {}).items():
        monkeypatch.setenv(key, value)  # this process joins the node's private graph
    data = small_dataset(tmp_path / "real.h5")
    run = tmp_path / "run"
    params = {
        "config": "smoke_h2o.yaml",
        "dataset": str(data),
        "run_dir": str(run),
        "overrides": OVERRIDES,
    }
    with node_process("h2o_trainer", tmp_path / "logs", domain_id, params=params) as proc:
        statuses = collect_diagnostics(proc, domain_id, timeout=240.0)
        code = proc.wait(timeout=30.0)
    log = proc.log()
    assert code == 0, log[-3000:]
    ours = [s for s in statuses if s[0] == "h2o_trainer: smoke_h2o"]
    messages = [s[1] for s in ours]
    assert "epoch 2/2" in messages, (messages, log[-2000:])
    epoch2 = next(values for _, message, values in ours if message == "epoch 2/2")
    assert np.isfinite(float(epoch2["eval_real/return_mean"]))
    assert float(epoch2["progress/env_steps"]) == 80
    policy = OnnxPolicy(run / "stand.onnx", task="stand", control_hz=100.0)
    assert policy.metadata["algorithm"] == "h2o"
    assert (run / "checkpoints/epoch_00002.pt").is_file() and (run / "metrics.csv").is_file()
    assert (run / "checkpoints/best.pt").is_file() and (run / "export.json").is_file()


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"config": "smoke_h2o.yaml", "overrides": ["loop.epochz=1"]}, "loop.epochz"),
        ({"config": "smoke_h2o.yaml", "dataset": "/nonexistent/real.h5"}, "not found"),
    ],
)
def test_trainer_node_bad_parameters_exit_before_training(
    params: dict, message: str, tmp_path: Path, domain_id: int
) -> None:
    params = {**params, "run_dir": str(tmp_path / "run")}
    with node_process("h2o_trainer", tmp_path / "logs", domain_id, params=params) as proc:
        code = proc.wait(timeout=120.0)
    log = proc.log()
    assert code == 1, log[-2000:]
    assert "error:" in log and message in log
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_trainer_node_stops_on_sigint_and_resumes(
    tmp_path: Path, domain_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = small_dataset(tmp_path / "real.h5")
    run = tmp_path / "run"
    params = {
        "config": "smoke_h2o.yaml",
        "dataset": str(data),
        "run_dir": str(run),
        "overrides": [*OVERRIDES, "loop.epochs=1000"],
    }
    with node_process("h2o_trainer", tmp_path / "logs", domain_id, params=params) as proc:
        deadline = time.monotonic() + 180.0
        while not list(run.glob("checkpoints/epoch_*.pt")) and time.monotonic() < deadline:
            time.sleep(0.2)
        code = proc.stop(timeout=60.0)  # SIGINT: stop at once or after the epoch, exit 0
    assert code == 0, proc.log()[-2000:]
    assert "stopped after" in proc.log() and not (run / "stand.onnx").exists()
    done = max(int(p.stem.split("_")[1]) for p in run.glob("checkpoints/epoch_*.pt"))
    params = {**params, "resume": True, "overrides": [*OVERRIDES, f"loop.epochs={done + 1}"]}
    with node_process("h2o_trainer", tmp_path / "logs2", domain_id, params=params) as proc:
        code = proc.wait(timeout=240.0)
    assert code == 0, proc.log()[-2000:]
    assert (run / f"checkpoints/epoch_{done + 1:05d}.pt").is_file()
    assert (run / "stand.onnx").is_file()
