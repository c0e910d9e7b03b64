"""Signal handling shared by the nodes that must publish a last command on the way out."""

from __future__ import annotations

import signal
from typing import Any


class Signals:
    """SIGINT/SIGTERM set a flag instead of shutting rclpy down at once: the node must still
    publish its last (stop or exit) command, which needs a live context. Use with
    ``rclpy.init(signal_handler_options=SignalHandlerOptions.NO)``."""

    def __init__(self) -> None:
        self.received: int | None = None
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._handle)

    def _handle(self, signum: int, frame: Any) -> None:
        self.received = signum
