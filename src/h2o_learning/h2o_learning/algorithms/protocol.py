"""Types shared by the algorithms and the trainer: batches and the algorithm protocol.

Every algorithm (SAC, CQL, DARC, DARC+, H2O) implements :class:`Algorithm`; the trainer only
talks to this protocol, so offline, online and hybrid training share one loop.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol

import numpy as np
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


class UpdateBatches(NamedTuple):
    """The batches of one :meth:`Algorithm.update`, in its argument order (None: not used).

    Attributes:
        real: batch_sizes()[0] transitions of the offline real dataset.
        sim: batch_sizes()[1] transitions of the sim replay buffer.
        disc_real, disc_sim: disc_batch_size() fresh real and sim transitions for the
            discriminator step.
    """

    real: Batch | None
    sim: Batch | None
    disc_real: Batch | None = None
    disc_sim: Batch | None = None


class Algorithm(Protocol):
    """Everything the trainer (and checkpoints, evaluation and export) uses of an algorithm.

    The algorithm states the data it trains on and the batch sizes it wants; the trainer owns
    the buffers and draws the batches (:func:`h2o_learning.training.sampling.sample_batches`),
    then calls :meth:`update`.
    """

    @property
    def name(self) -> str:
        """``sac``, ``cql``, ``darc``, ``darc_plus`` or ``h2o`` (the registry's key)."""
        ...

    @property
    def uses_real(self) -> bool:
        """Trains on the offline real dataset (critic batch or discriminators)."""
        ...

    @property
    def uses_sim(self) -> bool:
        """Trains on online simulator data (the trainer steps the sim env only then)."""
        ...

    def batch_sizes(self) -> tuple[int, int]:
        """(real, sim) transitions per critic/actor batch; 0: no batch of that kind."""
        ...

    def disc_batch_size(self) -> int:
        """Real and sim transitions *each* per discriminator step (fresh batches, drawn after
        the critic batches); 0: no discriminators."""
        ...

    def update(
        self,
        real: Batch | None,
        sim: Batch | None,
        disc_real: Batch | None = None,
        disc_sim: Batch | None = None,
    ) -> dict[str, float]:
        """One gradient step on all networks with batches of :meth:`batch_sizes` and
        :meth:`disc_batch_size` (None where that size is 0); returns scalar diagnostics by
        name (losses, alpha, ...)."""
        ...

    def act(self, obs: torch.Tensor | np.ndarray, deterministic: bool = False) -> torch.Tensor:
        """Actions (B, action_dim) in [-1, 1] for raw observations (B, obs_dim) (or (obs_dim,)
        -> (action_dim,)); no graph. Stochastic actions draw from the algorithm's generator."""
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
