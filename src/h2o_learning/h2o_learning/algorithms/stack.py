"""K independent training runs of one algorithm in one process, with stacked weights.

A grid of seeds of one config runs K times the same small matmuls; stacked, each matmul of a
step becomes one batched matmul over K seeds (``baddbmm``), which uses a core better than K
separate steps (``bench/train_speed.py`` prints runs x steps per second for K = 1, 3, 5).

Member k is the run :func:`~h2o_learning.algorithms.make_algorithm` builds with seed
``seeds[k]``, trained on its own batches:

- its own initial weights (built by that call) and its own noise generator (the stack draws
  member k's noise from it, in the shapes and order of a run alone);
- its own batches (``update`` takes one set per member) and its own Adam moments (Adam is
  elementwise; the step count is shared, and equal, because all members step together);
- its own temperature (log alpha is (K, 1)); every loss reduces over the batch axis only and
  the K losses are summed before one backward, so no gradient crosses members.

So member k computes what the single run computes, up to float rounding of the batched
matmuls (``test_stack.py`` checks both that and that members do not influence each other).
``members[k]`` stays a usable algorithm: its parameters are views of the stacked weights, so
``act``, ``policy_module`` and ONNX export see the live networks. Checkpoints of the stack are
:meth:`SeedStack.state_dict` (stacked networks, Adam state and the K generator states); a
member's own ``state_dict`` has its live networks but not the stack's Adam moments.

Stackable: SAC and H2O (``ActorCritic.stackable``). The trainer's side is
:class:`~h2o_learning.training.stacked.StackedTrainer` (K run folders, one process).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from h2o_learning.algorithms.base import ActorCritic, AlgorithmError, _to_floats
from h2o_learning.algorithms.config import AlgorithmConfig
from h2o_learning.algorithms.protocol import Batch, UpdateBatches
from h2o_learning.algorithms.registry import make_algorithm
from h2o_robot_bridge.errors import ConfigError


def stack_batches(batches: Sequence[Batch | None]) -> Batch | None:
    """K batches of equal sizes -> one with fields (K, B, ...) (None if they are None)."""
    if all(b is None for b in batches):
        return None
    if any(b is None for b in batches):
        raise AlgorithmError("a seed stack needs the same batches for every member")
    return Batch(*(torch.stack(fields) for fields in zip(*batches, strict=True)))


class SeedStack:
    """K runs of one algorithm (same config and data sizes, seeds ``seeds``) trained as one.

    Args:
        name: algorithm name (``sac`` or ``h2o``).
        obs_dim, action_dim: sizes.
        config: the shared AlgorithmConfig.
        seeds: one seed per member (K = len(seeds)).
        **kwargs: the rest of :func:`make_algorithm`'s arguments (obs statistics, state_std,
            device), shared by all members.
    """

    def __init__(
        self,
        name: str,
        obs_dim: int,
        action_dim: int,
        config: AlgorithmConfig,
        seeds: Sequence[int],
        **kwargs: Any,
    ) -> None:
        if len(seeds) < 1:
            raise ConfigError("a seed stack needs at least one seed")
        members = [
            make_algorithm(name, obs_dim, action_dim, config, seed=int(s), **kwargs) for s in seeds
        ]
        # The stacked twin: same class and config; its networks are replaced by the stacks.
        core = make_algorithm(name, obs_dim, action_dim, config, seed=int(seeds[0]), **kwargs)
        self._become(members, core, seeds)

    @classmethod
    def of(cls, members: Sequence[ActorCritic], core: ActorCritic) -> SeedStack:
        """The stack of algorithms already built (e.g. by K trainers, one per seed, so member
        k is exactly the run its trainer would train alone), and ``core``, one more instance
        built the same way (its networks are replaced by the stacks).

        Raises:
            ConfigError: members of another class, config, sizes or observation statistics
                than ``core``, or an algorithm that cannot be stacked.
        """
        for member in members:
            _check_same_build(member, core)
        out = cls.__new__(cls)
        out._become(list(members), core, [m.seed for m in members])
        return out

    def _become(self, members: list[ActorCritic], core: ActorCritic, seeds: Sequence[int]) -> None:
        if not members:
            raise ConfigError("a seed stack needs at least one seed")
        if not type(core).stackable:
            raise ConfigError(f"{core.name} cannot be stacked (stackable: sac, h2o)")
        self.members = members
        self.core = core
        self.core._install_stack(self.members)
        self.seeds = tuple(int(s) for s in seeds)

    @property
    def k(self) -> int:
        """Number of members."""
        return len(self.members)

    def update(self, batches: Sequence[UpdateBatches]) -> list[dict[str, float]]:
        """One gradient step of every member on its own batches; per-member diagnostics.

        Args:
            batches: K sets of ``(real, sim, disc_real, disc_sim)`` (e.g. one
                :func:`~h2o_learning.training.sampling.sample_batches` per member, each from
                the member's own sampling generator).
        """
        if len(batches) != self.k:
            raise AlgorithmError(f"{len(batches)} sets of batches for {self.k} members")
        stacked = [stack_batches(kind) for kind in zip(*batches, strict=True)]
        stats = self.core._step(*stacked)
        per_member = {name: value.reshape(self.k) for name, value in stats.items()}
        for member in self.members:
            member.steps = self.core.steps
        return [_to_floats({name: v[k] for name, v in per_member.items()}) for k in range(self.k)]

    def batch_sizes(self) -> tuple[int, int]:
        """Per member: (real, sim) transitions per critic batch."""
        return self.core.batch_sizes()

    def disc_batch_size(self) -> int:
        """Per member: transitions each of the discriminators' fresh batches."""
        return self.core.disc_batch_size()

    def state_dict(self) -> dict[str, Any]:
        """The stack's state (networks with the seed axis, Adam, K generator states, seeds);
        ``torch.load(weights_only=True)`` reads it."""
        return {"seeds": list(self.seeds), "stack": self.core.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Inverse of :meth:`state_dict`; AlgorithmError if it is another stack's."""
        if list(state.get("seeds", [])) != list(self.seeds):
            raise AlgorithmError(
                f"seed stack state for seeds {state.get('seeds')}, this stack has {self.seeds}"
            )
        self.core.load_state_dict(state["stack"])
        for member in self.members:
            member.steps = self.core.steps


def _check_same_build(member: ActorCritic, core: ActorCritic) -> None:
    """``member`` was built like ``core`` up to the seed (class, config, sizes, statistics)."""
    if type(member) is not type(core) or member.config != core.config:
        raise ConfigError(f"seed stack members differ: {member.name} vs {core.name} config")
    if (member.obs_dim, member.action_dim) != (core.obs_dim, core.action_dim):
        raise ConfigError("seed stack members have other observation or action sizes")
    ours, theirs = member.normalizer.state_dict(), core.normalizer.state_dict()
    if any(not torch.equal(ours[k], theirs[k]) for k in theirs):
        raise ConfigError("seed stack members normalise observations with other statistics")
