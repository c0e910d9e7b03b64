"""What the policy runner runs: anything mapping one observation to one action.

Implemented by the ONNX policy loader and by the classical controller, so a robot owner can
compare a learned policy with a known-good baseline through one node.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
from numpy.typing import NDArray


class Policy(Protocol):
    """A controller over the robot contract.

    Attributes:
        name: shown in logs and diagnostics (e.g. the ONNX file name, ``classical``).
        task: the contract task it was made for.
        control_hz: the rate it expects to be called at [Hz].
    """

    name: str
    task: str
    control_hz: float

    def reset(self) -> None:
        """Forget internal state (integrators, filters) before a new episode."""
        ...

    def act(self, obs: NDArray[np.float32]) -> NDArray[np.float32]:
        """Action (ACTION_DIM,) in [-1, 1] for one raw observation (OBS_DIM,)."""
        ...
