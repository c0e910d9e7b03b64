"""ROS 2 node ``h2o_trainer``: parameters -> training config, run the trainer, publish progress.

A job, not a server: it trains, exports the policy, publishes a final status and exits (0 when
done or stopped by SIGINT after checkpointing the current epoch; 1 on bad parameters or input,
before any training). Progress goes to
``/diagnostics`` (``diagnostic_msgs/DiagnosticArray``, one status named ``h2o_trainer: <run>``
whose values are the epoch's metrics), after every epoch.

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

import sys

import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node

from h2o_learning.training.node_config import PARAMETERS, node_config
from h2o_robot_bridge.contract import TOPICS
from h2o_robot_bridge.errors import H2OError


def status_message(
    name: str, level: bytes, message: str, values: dict[str, float | str], stamp: object
) -> DiagnosticArray:
    """One DiagnosticArray with the run's status."""
    status = DiagnosticStatus(level=level, name=name, message=message, hardware_id="h2o_trainer")
    status.values = [KeyValue(key=k, value=str(v)) for k, v in values.items()]
    msg = DiagnosticArray(status=[status])
    msg.header.stamp = stamp
    return msg


class TrainerNode(Node):
    """Declares parameters, builds the trainer (all validation), publishes progress."""

    def __init__(self) -> None:
        super().__init__("h2o_trainer")
        values = {k: self.declare_parameter(k, v).value for k, v in PARAMETERS.items()}
        self.cfg = node_config(values)  # raises before anything is published
        self.pub = self.create_publisher(DiagnosticArray, TOPICS.diagnostics, 10)
        from h2o_learning.training.trainer import Trainer  # noqa: PLC0415 - heavy (torch, pybullet)

        self.trainer = Trainer(self.cfg.train, self.cfg.run_dir, resume=self.cfg.resume)
        self.status_name = f"h2o_trainer: {self.cfg.train.name}"
        self.get_logger().info(f"run folder {self.trainer.folder.root}, hash {self.trainer.hash}")

    def publish(self, level: bytes, message: str, values: dict[str, float | str]) -> None:
        if not self.context.ok():  # shutting down (SIGINT): nothing can be sent any more
            return
        stamp = self.get_clock().now().to_msg()
        self.pub.publish(status_message(self.status_name, level, message, values, stamp))

    def on_epoch(self, epoch: int, metrics: dict[str, float]) -> None:
        total = self.cfg.train.loop.epochs
        self.publish(DiagnosticStatus.OK, f"epoch {epoch}/{total}", {"epoch": epoch, **metrics})

    def train(self) -> bool:
        """Run to the end, or until ROS shuts down (SIGINT: the epoch in progress finishes and
        is checkpointed, so ``resume:=true`` continues). True when every epoch ran."""
        self.publish(DiagnosticStatus.OK, "starting", {"run_dir": str(self.trainer.folder.root)})
        result = self.trainer.run(
            on_epoch=self.on_epoch,
            should_stop=lambda: not self.context.ok(),
            export=self.cfg.export,
        )
        values: dict[str, float | str] = {"epoch": result.epochs, "run_dir": str(result.run_dir)}
        if result.policy_path is not None and result.export is not None:
            values["policy"] = str(result.policy_path)
            values["export"] = result.export.reason
        message = "finished" if result.finished else "stopped"
        self.publish(DiagnosticStatus.OK, message, values)
        text = f"{message} after {result.epochs} epochs: {values}"
        if self.context.ok():
            self.get_logger().info(text)
        else:  # /rosout is gone after SIGINT
            print(f"h2o_trainer: {text}", file=sys.stderr, flush=True)
        return result.finished


def main(args: list[str] | None = None) -> None:
    """Entry point of ``h2o_trainer``."""
    rclpy.init(args=args)
    node = None
    code = 0
    try:
        node = TrainerNode()
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        executor.spin_once(timeout_sec=0.1)  # answer discovery/parameter requests once
        node.train()
    except H2OError as err:
        print(f"h2o_trainer: error: {err}", file=sys.stderr, flush=True)
        code = 1
    except (KeyboardInterrupt, ExternalShutdownException):
        # Checkpoints are written atomically at epoch ends, so the run stays resumable.
        where = node.trainer.folder.checkpoints if node is not None else "the run folder"
        print(f"h2o_trainer: stopped after SIGINT; resume from {where}", file=sys.stderr)
    finally:
        if node is not None:
            node.trainer.close()
            node.destroy_node()
        rclpy.try_shutdown()
    sys.exit(code)
