"""A node inside a system test's process: its own rclpy context in the test's DDS domain.

Tests subclass :class:`GraphNode` for the publishers, subscriptions and graph queries they
need; spinning and teardown are shared.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import rclpy
from rclpy.executors import SingleThreadedExecutor

from h2o_robot_bridge.testing.processes import ros_env


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """``os.environ`` updated with ``values`` inside the block, restored after it."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


class GraphNode:
    """``self.node`` in domain ``domain_id``, spun by ``self.executor``; a context manager.

    Args:
        domain_id: the test's DDS domain (the ``domain_id`` fixture).
        name: the node's name.
    """

    def __init__(self, domain_id: int, name: str) -> None:
        self.context = rclpy.Context()
        with _environment(ros_env(domain_id, {})):  # the same DDS settings as the processes
            rclpy.init(context=self.context, domain_id=domain_id)
            self.node = rclpy.create_node(name, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)

    def spin_until(
        self,
        done: Callable[[], bool],
        timeout: float,
        alive: Callable[[], bool] = lambda: True,
    ) -> bool:
        """Spin until ``done()`` (True), ``timeout`` seconds pass or ``alive()`` turns False."""
        end = time.monotonic() + timeout
        while not done():
            if time.monotonic() > end or not alive():
                return False
            self.executor.spin_once(timeout_sec=0.05)
        return True

    def close(self) -> None:
        self.executor.shutdown(timeout_sec=1.0)
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
