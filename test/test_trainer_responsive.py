"""``h2o_trainer`` stays a live ROS node while it trains, and stops cleanly on request.

The trainer (a separate process, smallest config, far more epochs than the test waits for)
must, while training: publish ``~/progress`` after each epoch, answer a parameter request, and
on ``~/stop`` (or SIGTERM) end at the next epoch end with a checkpoint of that epoch (written by
the stop: ``checkpoint_every`` is beyond the test), no exported policy, a final ``stopped``
progress message and exit code 0.
"""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from typing import Any

from rcl_interfaces.srv import GetParameters
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from std_msgs.msg import String
from std_srvs.srv import Trigger

from h2o_robot_bridge.testing.nodes.graph_node import GraphNode
from h2o_robot_bridge.testing.processes import NodeProcess, node_process

sys.path.insert(0, str(Path(__file__).parent))
from test_trainer_node import OVERRIDES, small_dataset  # noqa: E402

NODE = "h2o_trainer"
PROGRESS = QoSProfile(
    depth=50, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
)
ANSWER_TIMEOUT = 5.0  # s: a spinning node answers in milliseconds; a blocked one never


class Operator(GraphNode):
    """An rclpy node in the test process: reads the trainer's progress, calls its services."""

    def __init__(self, domain_id: int) -> None:
        super().__init__(domain_id, "trainer_operator")
        self.progress: list[dict[str, Any]] = []
        self.node.create_subscription(
            String,
            f"/{NODE}/progress",
            lambda m: self.progress.append(json.loads(m.data)),
            PROGRESS,
        )
        self.stop_client = self.node.create_client(Trigger, f"/{NODE}/stop")
        self.params_client = self.node.create_client(GetParameters, f"/{NODE}/get_parameters")

    def epochs_seen(self) -> list[int]:
        return [p["epoch"] for p in self.progress if "metrics" in p]

    def call(self, client: Any, request: Any) -> Any:
        """The response, or None when the service did not answer within ANSWER_TIMEOUT."""
        if not client.wait_for_service(timeout_sec=ANSWER_TIMEOUT):
            return None
        future = client.call_async(request)
        self.executor.spin_until_future_complete(future, timeout_sec=ANSWER_TIMEOUT)
        return future.result() if future.done() else None


def trainer(tmp_path: Path, domain_id: int, *overrides: str) -> tuple[NodeProcess, Path]:
    run = tmp_path / "run"
    params = {
        "config": "smoke_h2o.yaml",
        "dataset": str(small_dataset(tmp_path / "real.h5")),
        "run_dir": str(run),
        # Never finishes by itself here, and never checkpoints by itself: the checkpoint a
        # stop leaves is the stop's own.
        "overrides": [*OVERRIDES, "loop.epochs=1000", "loop.checkpoint_every=1000", *overrides],
    }
    return node_process(NODE, tmp_path / "logs", domain_id, params=params), run


def wait_training(operator: Operator, proc: NodeProcess, epochs: int = 2) -> None:
    """Until ``epochs`` epoch reports arrived (so training is surely under way)."""
    ok = operator.spin_until(
        lambda: len(operator.epochs_seen()) >= epochs or not proc.alive(), 45.0
    )
    assert ok and proc.alive(), (operator.progress[-3:], proc.log()[-3000:])


def check_stopped(operator: Operator, proc: NodeProcess, run: Path) -> None:
    """Exit 0, a final ``stopped`` report, the last epoch checkpointed, nothing exported."""
    code = proc.wait(timeout=30.0)
    assert code == 0, proc.log()[-3000:]
    operator.spin_until(lambda: operator.progress[-1]["state"] == "stopped", 5.0)
    final = operator.progress[-1]
    assert final["state"] == "stopped", (operator.progress[-3:], proc.log()[-2000:])
    assert (run / f"checkpoints/epoch_{final['epoch']:05d}.pt").is_file(), final
    assert final["epoch"] >= max(operator.epochs_seen())
    assert not (run / "stand.onnx").exists()
    assert f"stopped after {final['epoch']} epochs" in proc.log()


def test_trainer_answers_and_stops_on_request(tmp_path: Path, domain_id: int) -> None:
    proc, run = trainer(tmp_path, domain_id)
    operator = Operator(domain_id)
    try:
        with proc:
            wait_training(operator, proc)
            # Parameters answer while the worker trains (a node that only spun once would not).
            got = operator.call(operator.params_client, GetParameters.Request(names=["config"]))
            assert got is not None and got.values[0].string_value == "smoke_h2o.yaml"
            assert proc.alive()
            answer = operator.call(operator.stop_client, Trigger.Request())
            assert answer is not None and answer.success, answer
            assert "stopping after epoch" in answer.message
            states = [p["state"] for p in operator.progress]
            check_stopped(operator, proc, run)
    finally:
        operator.close()
    assert "training" in states and states.index("starting") < states.index("training")
    epochs = operator.epochs_seen()
    assert epochs == sorted(epochs) and epochs[0] >= 1
    assert all(
        "eval_real/return_mean" in p["metrics"] for p in operator.progress if "metrics" in p
    )


def test_sigterm_stops_at_the_epoch_end_with_a_checkpoint(tmp_path: Path, domain_id: int) -> None:
    proc, run = trainer(tmp_path, domain_id)
    operator = Operator(domain_id)
    try:
        with proc:
            wait_training(operator, proc, epochs=1)
            proc.signal(signal.SIGTERM)
            check_stopped(operator, proc, run)
    finally:
        operator.close()


def test_a_second_signal_exits_at_once(tmp_path: Path, domain_id: int) -> None:
    # Long epochs: both signals arrive while the first epoch runs.
    proc, run = trainer(tmp_path, domain_id, "loop.grad_steps_per_epoch=100000")
    operator = Operator(domain_id)
    try:
        with proc:
            ok = operator.spin_until(
                lambda: any(p["state"] == "starting" for p in operator.progress), 45.0
            )
            assert ok and proc.alive(), proc.log()[-3000:]
            proc.signal(signal.SIGINT)
            operator.spin_until(lambda: operator.progress[-1]["state"] == "stopping", 5.0)
            assert operator.progress[-1]["state"] == "stopping", operator.progress[-3:]
            proc.signal(signal.SIGINT)
            code = proc.wait(timeout=10.0)
    finally:
        operator.close()
    assert code == 130, proc.log()[-2000:]
    assert "second signal: exiting now" in proc.log()
    assert not list(run.glob("checkpoints/epoch_*.pt"))  # the first epoch never ended
