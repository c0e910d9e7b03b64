"""ROS 2 node ``h2o_trainer``: parameters -> training config, train, publish progress, exit.

A job, not a server: it trains, exports the policy, publishes a final status and exits (0 when
done or stopped on request after checkpointing; 1 on bad parameters or input, before any
training, or when training fails).

Threads: the training loop (:class:`h2o_learning.training.trainer.Trainer`, unchanged) runs in
a worker thread; the main thread spins the node the whole time, so parameter services,
``ros2 node info``/``ros2 param`` and the stop service answer during training. Only the main
thread touches ROS: the worker hands its progress over through a queue.

Progress, at least once per epoch:
- ``~/progress`` (``std_msgs/String``, JSON; reliable, transient local, depth 10, so a late
  ``ros2 topic echo`` sees the latest): ``{"run", "state", "epoch", "epochs", "elapsed_s",
  "run_dir"}`` plus ``"metrics"`` after each epoch; ``state`` is ``starting``, ``training``,
  ``stopping``, ``stopped``, ``finished`` or ``failed``. While an epoch runs the same
  fields are repeated every :data:`HEARTBEAT_PERIOD` seconds (no metrics).
- ``/diagnostics`` (``diagnostic_msgs/DiagnosticArray``, one status named
  ``h2o_trainer: <run>``, the epoch's metrics as values) after every epoch, at the start and
  at the end.

Stop: service ``~/stop`` (``std_srvs/Trigger``), SIGINT or SIGTERM. The run stops at the next
epoch end, the one step boundary the trainer can resume from bit for bit (the simulator's state
cannot be saved mid-epoch); that epoch is checkpointed (also when ``checkpoint_every`` would
skip it), nothing is exported, the exit code is 0 and ``resume:=true`` continues. A second
signal exits at once with code 130, keeping the checkpoints already written (atomically).

Parameters:
    config (str): training config, a path or a name in ``config/train`` (``h2o_stand.yaml``).
    dataset (str): real dataset path; overrides ``data.path`` when not empty.
    overrides (str[]): ``section.key=value`` overrides, as ``h2o-train --set``.
    run_dir (str): run folder; empty = ``<run.root>/<name>-<time>``.
    resume (bool): continue the run in ``run_dir`` from its newest checkpoint.
    export (bool): export the policies into the run folder at the end (``<task>.onnx`` is the
        one ``run.export`` names; the final status says which and why).
"""

from __future__ import annotations

import json
import os
import queue
import signal
import sys
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from rclpy.signals import SignalHandlerOptions
from std_msgs.msg import String
from std_srvs.srv import Trigger

from h2o_learning.training.node_config import PARAMETERS, node_config
from h2o_robot_bridge.contract import TOPICS
from h2o_robot_bridge.errors import H2OError

if TYPE_CHECKING:
    from h2o_learning.training.trainer import TrainResult

NODE_NAME = "h2o_trainer"
HEARTBEAT_PERIOD = 2.0
"""Wall seconds between ``~/progress`` messages while an epoch runs."""
PROGRESS_QOS = QoSProfile(
    depth=10, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
)
FORCED_EXIT = 130
"""Exit code after a second SIGINT/SIGTERM (128 + SIGINT, the shell's convention)."""


def status_message(
    name: str, level: bytes, message: str, values: dict[str, float | str], stamp: object
) -> DiagnosticArray:
    """One DiagnosticArray with the run's status."""
    status = DiagnosticStatus(level=level, name=name, message=message, hardware_id=NODE_NAME)
    status.values = [KeyValue(key=k, value=str(v)) for k, v in values.items()]
    msg = DiagnosticArray(status=[status])
    msg.header.stamp = stamp
    return msg


@dataclass(frozen=True)
class Report:
    """One progress report from the worker, published by the main thread.

    Attributes:
        state: ``starting`` / ``training`` / ``stopped`` / ``finished`` / ``failed``.
        message: the diagnostics status message (``epoch 3/10``).
        values: diagnostics values (epoch metrics, run folder, exported policy).
        metrics: the epoch's metrics for ``~/progress`` (empty outside epoch ends).
    """

    state: str
    message: str
    values: dict[str, float | str]
    metrics: dict[str, float]


class TrainerNode(Node):
    """Declares parameters, builds the trainer (all validation), reports progress, stops."""

    def __init__(self) -> None:
        super().__init__(NODE_NAME)
        values = {k: self.declare_parameter(k, v).value for k, v in PARAMETERS.items()}
        self.cfg = node_config(values)  # raises before anything is published
        self.pub = self.create_publisher(DiagnosticArray, TOPICS.diagnostics, 10)
        self.progress_pub = self.create_publisher(String, "~/progress", PROGRESS_QOS)
        from h2o_learning.training.trainer import Trainer  # noqa: PLC0415 - heavy (torch, pybullet)

        self.trainer = Trainer(self.cfg.train, self.cfg.run_dir, resume=self.cfg.resume)
        self.status_name = f"{NODE_NAME}: {self.cfg.train.name}"
        self.stop_requested = threading.Event()
        self.outbox: queue.SimpleQueue[Report] = queue.SimpleQueue()
        self.state = "starting"
        self.epoch = self.trainer.counters.epoch  # epochs done (written by the worker only)
        self.result: TrainResult | None = None
        self.error: BaseException | None = None
        self._started = time.monotonic()
        self.create_service(Trigger, "~/stop", self._on_stop)
        self.create_timer(HEARTBEAT_PERIOD, self._heartbeat)
        self.get_logger().info(f"run folder {self.trainer.folder.root}, hash {self.trainer.hash}")

    # --- worker thread: trains, never touches ROS ---------------------------------------
    def train(self) -> None:
        """The worker: run to the end or to the stop request, checkpoint, queue the result."""
        try:
            self._report("starting", "starting", {"run_dir": str(self.trainer.folder.root)})
            self.result = result = self.trainer.run(
                on_epoch=self.on_epoch,
                should_stop=self._should_stop,
                export=self.cfg.export,
            )
            if not result.finished:
                self._checkpoint_stop()
            self._report(*self._final(result))
        except BaseException as err:  # handed to the main thread, which re-raises it
            self.error = err
            self._report("failed", f"failed: {type(err).__name__}: {err}", {})

    def _should_stop(self) -> bool:
        """Asked by the trainer after each epoch: a stop request, or ROS shut down."""
        return self.stop_requested.is_set() or not self.context.ok()

    def on_epoch(self, epoch: int, metrics: dict[str, float]) -> None:
        """Trainer callback after each epoch (checkpointed already when due)."""
        self.epoch = epoch
        total = self.cfg.train.loop.epochs
        self._report("training", f"epoch {epoch}/{total}", {"epoch": epoch, **metrics}, metrics)

    def _checkpoint_stop(self) -> None:
        """Stopped: the last epoch done must have a checkpoint to resume from."""
        epoch = self.trainer.counters.epoch
        if epoch > 0 and not self.trainer.folder.checkpoint(epoch).is_file():
            self.trainer.save()

    def _final(self, result: TrainResult) -> tuple[str, str, dict[str, float | str]]:
        values: dict[str, float | str] = {"epoch": result.epochs, "run_dir": str(result.run_dir)}
        if result.policy_path is not None and result.export is not None:
            values["policy"] = str(result.policy_path)
            values["export"] = result.export.reason
        state = "finished" if result.finished else "stopped"
        return state, state, values

    def _report(
        self,
        state: str,
        message: str,
        values: dict[str, float | str],
        metrics: dict[str, float] | None = None,
    ) -> None:
        self.outbox.put(Report(state, message, values, metrics or {}))

    # --- main thread: ROS -----------------------------------------------------------------
    def request_stop(self, why: str) -> str:
        """Ask the worker to stop at the next epoch end; returns what will happen."""
        if self.state in ("stopped", "finished", "failed"):
            return f"not training ({self.state})"
        if not self.stop_requested.is_set():
            self.stop_requested.set()
            self.state = "stopping"
            self.get_logger().info(f"stop requested ({why}): stopping at the end of the epoch")
            self._publish_progress({})
        return f"stopping after epoch {self.epoch + 1} (in progress), then checkpointing"

    def _on_stop(self, request: Trigger.Request, response: Trigger.Response) -> Any:
        response.message = self.request_stop("~/stop")
        response.success = not response.message.startswith("not training")
        return response

    def flush(self) -> None:
        """Publish every queued report (main thread only)."""
        while True:
            try:
                report = self.outbox.get_nowait()
            except queue.Empty:
                return
            if not (self.state == "stopping" and report.state == "training"):
                self.state = report.state
            self._publish_diagnostics(report)
            self._publish_progress(report.metrics)

    def _heartbeat(self) -> None:
        if self.state in ("training", "starting", "stopping"):
            self._publish_progress({})

    def _publish_progress(self, metrics: dict[str, float]) -> None:
        data: dict[str, Any] = {
            "run": self.cfg.train.name,
            "state": self.state,
            "epoch": self.epoch,
            "epochs": self.cfg.train.loop.epochs,
            "elapsed_s": round(time.monotonic() - self._started, 3),
            "run_dir": str(self.trainer.folder.root),
        }
        if metrics:
            data["metrics"] = metrics
        self.progress_pub.publish(String(data=json.dumps(data)))

    def _publish_diagnostics(self, report: Report) -> None:
        level = DiagnosticStatus.ERROR if report.state == "failed" else DiagnosticStatus.OK
        stamp = self.get_clock().now().to_msg()
        self.pub.publish(
            status_message(self.status_name, level, report.message, report.values, stamp)
        )

    def run(self, executor: SingleThreadedExecutor, signals: _Signals) -> int:
        """Train in a worker thread while spinning; 0 when finished or stopped on request.

        Raises:
            whatever the training raised (after the final reports went out).
        """
        if signals.received is not None:  # a signal before training started: nothing to do
            self.request_stop(signals.name())
        worker = threading.Thread(target=self.train, name=f"{NODE_NAME}.train", daemon=True)
        worker.start()
        try:
            while worker.is_alive():
                executor.spin_once(timeout_sec=0.1)
                self.flush()
                if signals.received is not None and not self.stop_requested.is_set():
                    self.request_stop(signals.name())
        except ExternalShutdownException:
            # The context is gone (nothing can be published): still end at the epoch's end
            # with its checkpoint, before the trainer is closed under the worker's feet.
            self.stop_requested.set()
            worker.join()
            raise
        worker.join()
        self.flush()
        for _ in range(5):  # let the last messages leave before the participant goes
            executor.spin_once(timeout_sec=0.05)
        if self.error is not None:
            raise self.error
        self._log_result()
        return 0

    def _log_result(self) -> None:
        result = self.result
        assert result is not None
        message = "finished" if result.finished else "stopped"
        text = f"{message} after {result.epochs} epochs, run folder {result.run_dir}"
        if result.policy_path is not None:
            text += f", policy {result.policy_path}"
        self.get_logger().info(text)


class _Signals:
    """SIGINT/SIGTERM request a clean stop (the node must still publish and checkpoint, so
    rclpy's own handler, which shuts the context down at once, is off); a second one exits."""

    def __init__(self) -> None:
        self.received: int | None = None
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._handle)

    def _handle(self, signum: int, frame: Any) -> None:
        if self.received is not None:
            # Checkpoints are written atomically at epoch ends: nothing is left half written.
            print(
                f"{NODE_NAME}: second signal: exiting now, resume from the last checkpoint",
                file=sys.stderr,
                flush=True,
            )
            os._exit(FORCED_EXIT)
        self.received = signum

    def name(self) -> str:
        return signal.Signals(self.received).name if self.received is not None else "none"


def main(args: list[str] | None = None) -> None:
    """Entry point of ``h2o_trainer``."""
    signals = _Signals()
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    node = None
    code = 0
    try:
        node = TrainerNode()
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        code = node.run(executor, signals)
    except H2OError as err:
        print(f"{NODE_NAME}: error: {err}", file=sys.stderr, flush=True)
        code = 1
    except ExternalShutdownException:
        # The context was shut down from outside: the run stops where it is; the checkpoints
        # of finished epochs (written atomically) stay resumable.
        where = node.trainer.folder.checkpoints if node is not None else "the run folder"
        print(f"{NODE_NAME}: shut down; resume from {where}", file=sys.stderr, flush=True)
    finally:
        if node is not None:
            node.trainer.close()
            node.destroy_node()
        rclpy.try_shutdown()
    sys.exit(code)
