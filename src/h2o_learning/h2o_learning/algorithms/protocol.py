"""Types shared by the algorithms and the trainer: batches and the algorithm protocol.

Every algorithm (SAC, CQL, DARC, DARC+, H2O) implements :class:`Algorithm`; the trainer only
talks to this protocol, so offline, online and hybrid training share one loop.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol

import torch


class Batch(NamedTuple):
    """A batch of transitions, float32 torch tensors on the algorithm's device.

    Attributes:
        obs: (B, obs_dim) raw contract observations (normalisation happens inside networks).
        action: (B, action_dim) actions in [-1, 1] (the clean, commanded action).
        reward: (B,) task reward.
        next_obs: (B, obs_dim) observation after the action.
        terminal: (B,) 1.0 where the episode *terminated* (a fall); truncation is 0.0, so the
            critic bootstraps through time limits.
    """

    obs: torch.Tensor
    action: torch.Tensor
    reward: torch.Tensor
    next_obs: torch.Tensor
    terminal: torch.Tensor


class Algorithm(Protocol):
    """What the trainer needs from an algorithm.

    Attributes:
        name: ``sac``, ``cql``, ``darc``, ``darc_plus`` or ``h2o``.
        uses_real: samples the offline real dataset in ``update``.
        uses_sim: collects online simulator data (the trainer steps the sim env only then).
    """

    name: str
    uses_real: bool
    uses_sim: bool

    def update(self, real: Batch | None, sim: Batch | None) -> dict[str, float]:
        """One gradient step on all networks; returns scalar diagnostics (losses, alpha, ...)."""
        ...

    def act(self, obs: torch.Tensor, deterministic: bool = False) -> torch.Tensor:
        """Actions (B, action_dim) in [-1, 1] for raw observations (B, obs_dim); no graph."""
        ...

    def policy_module(self) -> torch.nn.Module:
        """A module mapping raw obs (B, obs_dim) -> deterministic action (B, action_dim) in
        [-1, 1], normalisation included: what ONNX export traces."""
        ...

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume bit-for-bit (networks, optimisers, log alpha, RNG)."""
        ...

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Inverse of :meth:`state_dict`."""
        ...
