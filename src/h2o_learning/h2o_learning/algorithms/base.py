"""The actor-critic core every algorithm shares (SAC-style twin critics, tanh-Gaussian actor,
automatic temperature), with hooks for what each algorithm adds.

One gradient step (:meth:`ActorCritic.update`):
1. ``_prepare`` (algorithm-specific): train discriminators, build the critic batch (corrected
   rewards included) and its per-sample weights, returned as a :class:`CriticBatch`.
2. Actor sample at s (with graph) and at s' (no graph), TD target from the target critics.
3. ``_critic_loss`` (algorithm-specific): per-critic loss terms from a :class:`CriticInputs`.
4. One backward over ``alpha_loss + actor_loss + critic_loss``: their parameter sets are
   disjoint (the actor's Q uses detached critic weights, the temperature is detached in the
   actor loss, log pi is detached in the temperature loss), so this equals separate backwards
   while every forward used the pre-step networks, as in the reference. Then Adam steps and the
   soft target update.

A seed stack (:class:`~h2o_learning.algorithms.stack.SeedStack`) runs this same step with a
leading seed dimension K on every network and batch (:meth:`ActorCritic._install_stack`);
every reduction of the step runs over the batch axis only.

``update_order: sequential`` (d3rlpy's order) replaces step 4 by two: the critic's backward and
step first, then the actor and temperature against the updated critic. ``backup_action: mean``
bootstraps from the actor's mean action instead of a sample (d3rlpy's CQL). See
``docs/algorithm.md``, "Learner parity".
"""

from __future__ import annotations

import copy
import math
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from h2o_learning.algorithms import losses
from h2o_learning.algorithms.config import AlgorithmConfig
from h2o_learning.algorithms.discriminators import DynamicsDiscriminators
from h2o_learning.algorithms.networks import (
    DeterministicPolicy,
    Generators,
    ObsNormalizer,
    RunNoise,
    StackedCritic,
    TanhGaussianActor,
    TwinCritic,
)
from h2o_learning.algorithms.precision import warn_if_slow_bf16
from h2o_learning.algorithms.protocol import Batch, UpdateBatches
from h2o_robot_bridge.errors import ConfigError, H2OError

STATE_FORMAT = 1
# Offset between the initialisation seed and the training-noise seed, so the two streams differ.
_NOISE_SEED_OFFSET = 0x5EED


class AlgorithmError(H2OError, ValueError):
    """An algorithm got a batch it cannot use, or a state dict that does not fit it."""


def make_adam(params: list[nn.Parameter] | list[torch.Tensor], lr: float) -> torch.optim.Adam:
    """Adam with the fused CPU/GPU kernel (one kernel per step instead of a Python loop)."""
    return torch.optim.Adam(params, lr=lr, fused=True)


def concat_batches(first: Batch, second: Batch, dim: int = 0) -> Batch:
    """Row-wise concatenation of two batches (first rows first); ``dim`` is the row axis of
    every field (1 in a seed stack, whose fields are (K, B, ...))."""
    return Batch(*(torch.cat(pair, dim=dim) for pair in zip(first, second, strict=True)))


@dataclass(frozen=True)
class CriticBatch:
    """What ``_prepare`` hands to the shared step: the batch the critic and the actor train on
    and the per-sample weights of the algorithm's critic loss.

    Attributes:
        batch: (B, ...) transitions; the first ``n_real`` rows are real, the others sim.
        n_real: real rows at the start of ``batch`` (0 when it holds one kind only).
        weight: (B - n_real,) importance weights w of the sim rows' Bellman errors (H2O), or
            None (unweighted).
        log_omega: (B - n_real,) log of the dynamics-gap weights omega of the sim rows in the
            penalty's logsumexp (H2O), or None.
        pending: H2O's ``disc_overlap``: the discriminator branch still running on another
            thread, whose result is (weight, log_omega, its diagnostics); None otherwise.
    """

    batch: Batch
    n_real: int = 0
    weight: torch.Tensor | None = None
    log_omega: torch.Tensor | None = None
    pending: Future[tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]] | None = None


@dataclass(frozen=True)
class CriticInputs:
    """What ``_critic_loss`` receives (B rows, E critics).

    Attributes:
        q: (E, B) each critic's Q(s, a) at the batch's actions, with graph.
        y: (B,) TD targets, no graph.
        obs_n: (B, obs_dim) normalised observations s.
        next_obs_n: (B, obs_dim) normalised next observations s'.
        data: the critic batch ``_prepare`` returned.
    """

    q: torch.Tensor
    y: torch.Tensor
    obs_n: torch.Tensor
    next_obs_n: torch.Tensor
    data: CriticBatch


class ActorCritic:
    """SAC on whatever batch ``_prepare`` returns; subclasses add their terms.

    Args:
        obs_dim: observation size.
        action_dim: action size.
        config: hyper-parameters.
        obs_mean, obs_std: (obs_dim,) normalisation statistics (None: identity).
        state_std: (obs_dim,) sigma of H2O's next-state perturbation (None: ``obs_std`` + 1e-3,
            or ones without statistics). Ignored by the other algorithms.
        seed: seeds network initialisation and the algorithm's torch Generator.
        device: torch device.
    """

    name: ClassVar[str] = "sac"
    uses_real: ClassVar[bool] = False
    uses_sim: ClassVar[bool] = True
    # Optimisers stepped together with the critic's (their losses join the critic's backward).
    _critic_extras: ClassVar[tuple[str, ...]] = ()
    # The TD target's next action when the config leaves ``backup_action`` null.
    default_backup_action: ClassVar[str] = "sample"
    # Whether a SeedStack may stack it (every loss term reduces over the batch axis only).
    stackable: ClassVar[bool] = True

    def __init__(
        self,
        obs_dim: int,
        action_dim: int,
        config: AlgorithmConfig,
        obs_mean: np.ndarray | None = None,
        obs_std: np.ndarray | None = None,
        state_std: np.ndarray | None = None,
        seed: int = 0,
        device: str = "cpu",
    ) -> None:
        if not isinstance(config, AlgorithmConfig):
            raise ConfigError(f"config must be an AlgorithmConfig, got {type(config).__name__}")
        if obs_dim <= 0 or action_dim <= 0:
            raise ConfigError(f"obs_dim and action_dim must be > 0, got {obs_dim}, {action_dim}")
        self.obs_dim, self.action_dim, self.config = int(obs_dim), int(action_dim), config
        self.backup_action = config.backup_action or self.default_backup_action
        if self.backup_action == "mean" and config.backup_entropy:
            raise ConfigError(
                f"{self.name} bootstraps from the mean action (backup_action "
                f"{config.backup_action or 'null: its default'}); backup_entropy needs "
                "backup_action: sample"
            )
        self.device = torch.device(device)
        self.seed = int(seed)  # of its initial weights and noise
        init = torch.Generator().manual_seed(int(seed))
        self.generator = torch.Generator(device=self.device).manual_seed(
            int(seed) + _NOISE_SEED_OFFSET
        )
        # The step's noise: this generator, or one per seed in a stack.
        self.noise: RunNoise = self.generator
        self._lead: tuple[int, ...] = ()  # (K,) in a seed stack
        c = config
        self.normalizer = ObsNormalizer(obs_dim, obs_mean, obs_std, clip=c.obs_clip)
        self.actor = TanhGaussianActor(
            obs_dim,
            action_dim,
            c.hidden,
            init,
            (c.log_std_min, c.log_std_max),
            (c.log_std_scale_init, c.log_std_offset_init),
            c.last_layer_gain,
        )
        self.critic = TwinCritic(
            obs_dim, action_dim, c.hidden, init, c.n_critics, c.last_layer_gain
        )
        self.target_critic = copy.deepcopy(self.critic).requires_grad_(False)
        self.log_alpha = nn.Parameter(torch.tensor(math.log(c.init_alpha)))
        self.target_entropy = (
            -float(action_dim) if c.target_entropy is None else float(c.target_entropy)
        )
        self.modules = nn.ModuleDict(
            {
                "normalizer": self.normalizer,
                "actor": self.actor,
                "critic": self.critic,
                "target_critic": self.target_critic,
            }
        )
        self._build_extra(init, state_std, obs_std)
        self.modules.to(self.device)
        self.log_alpha.data = self.log_alpha.data.to(self.device)
        self._aux_loss: torch.Tensor | None = None  # set by _critic_loss, joins the backward
        self._build_optimizers()
        self.steps = 0

    def _build_optimizers(self) -> None:
        """Adam for actor, critic (and temperature, extras) over the current modules."""
        c = self.config
        self.optimizers: dict[str, torch.optim.Optimizer] = {
            "actor": make_adam(list(self.actor.parameters()), c.actor_lr),
            "critic": make_adam(list(self.critic.parameters()), c.critic_lr),
        }
        if c.auto_alpha:
            self.optimizers["alpha"] = make_adam([self.log_alpha], c.alpha_lr)
        self._add_optimizers()
        self._online_params: list[torch.Tensor] = list(self.critic.parameters())
        self._target_params: list[torch.Tensor] = list(self.target_critic.parameters())

    def _install_stack(self, members: list[ActorCritic]) -> None:
        """Become the K-seed stack of ``members`` (fresh instances of this class, same config
        and sizes; :class:`~h2o_learning.algorithms.stack.SeedStack` checks that).

        Every network gets a leading seed dimension (weights of seed k = member k's, which
        become views of the stacked ones), log alpha becomes (K, 1), the noise comes from the
        members' own generators, and the optimisers are rebuilt over the stacked parameters
        (Adam is elementwise, so each seed keeps its own moments)."""
        k = len(members)
        self._lead = (k,)
        self.noise = tuple(m.generator for m in members)
        self.actor = TanhGaussianActor.stacked([m.actor for m in members])
        self.critic = StackedCritic([m.critic for m in members])
        self.target_critic = StackedCritic([m.target_critic for m in members])
        self.target_critic.requires_grad_(False)
        self.log_alpha = nn.Parameter(torch.stack([m.log_alpha.detach() for m in members]))
        self.log_alpha.data = self.log_alpha.data.reshape(k, 1)
        for i, member in enumerate(members):
            member.log_alpha.data = self.log_alpha.data[i, 0]
        for name in ("actor", "critic", "target_critic"):
            self.modules[name] = getattr(self, name)
        self._stack_extra(members)
        self._build_optimizers()

    def _stack_extra(self, members: list[ActorCritic]) -> None:
        """Stack algorithm-specific modules (``_install_stack``)."""

    # -- hooks -----------------------------------------------------------------------------

    def _build_extra(
        self, init: torch.Generator, state_std: np.ndarray | None, obs_std: np.ndarray | None
    ) -> None:
        """Create algorithm-specific modules (add them to ``self.modules``)."""

    def _add_optimizers(self) -> None:
        """Create algorithm-specific optimisers (add them to ``self.optimizers``)."""

    def _prepare(self, batches: UpdateBatches) -> tuple[CriticBatch, dict[str, torch.Tensor]]:
        """(the critic batch, scalar diagnostics by name). SAC: the sim batch."""
        return CriticBatch(_require(batches.sim, "a sim batch", self.name)), {}

    def _critic_loss(self, inputs: CriticInputs) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """(([K,] E) loss per critic, scalar (or (K,)) diagnostics by name). SAC: the plain
        Bellman error."""
        q = inputs.q
        return losses.bellman_error(q, inputs.y), {"q_mean": q.detach().mean(dim=(-2, -1))}

    def batch_sizes(self) -> tuple[int, int]:
        """(real, sim) transitions per critic batch (0: none of that kind)."""
        return 0, self.config.batch_size

    def disc_batch_size(self) -> int:
        """Real and sim transitions each per discriminator step; 0: no discriminators."""
        return 0

    # -- the step --------------------------------------------------------------------------

    def update(
        self,
        real: Batch | None,
        sim: Batch | None,
        disc_real: Batch | None = None,
        disc_sim: Batch | None = None,
    ) -> dict[str, float]:
        """One gradient step on every network; returns scalar diagnostics.

        Args:
            real: batch from the offline real dataset (None if the algorithm uses none).
            sim: batch from the sim replay buffer (None if the algorithm uses none).
            disc_real, disc_sim: fresh batches for the discriminator step (DARC, H2O; the
                reference draws 256 + 256 separate transitions). None: reuse ``real``/``sim``.
        """
        return _to_floats(self._step(real, sim, disc_real, disc_sim))

    def _step(
        self,
        real: Batch | None,
        sim: Batch | None,
        disc_real: Batch | None = None,
        disc_sim: Batch | None = None,
    ) -> dict[str, torch.Tensor]:
        """:meth:`update` without the conversion: diagnostics as () tensors ((K,) or (K, 1)
        in a seed stack)."""
        for what, given in (
            ("real", real),
            ("sim", sim),
            ("disc_real", disc_real),
            ("disc_sim", disc_sim),
        ):
            if given is not None:
                self._check_batch(given, what)
        data, stats = self._prepare(UpdateBatches(real, sim, disc_real, disc_sim))
        batch = data.batch
        obs_n = self.normalizer(batch.obs)
        next_n = self.normalizer(batch.next_obs)
        alpha = self.log_alpha.detach().exp()
        self._aux_loss = None
        if self.config.update_order == "sequential":
            critic_loss, critic_stats, next_q = self._critic_step(data, obs_n, next_n, alpha)
            actor_loss, log_pi = self._actor_step(obs_n, alpha, stats)
        else:
            critic_loss, critic_stats, actor_loss, log_pi, next_q = self._joint_step(
                data, obs_n, next_n, alpha, stats
            )
        self._after_step()
        stats.update(critic_stats)
        stats.update(
            critic_loss=critic_loss.detach(),
            actor_loss=actor_loss.detach(),
            alpha=alpha,
            log_pi=log_pi.detach().mean(dim=-1),
            target_q_mean=next_q.mean(dim=-1),
        )
        return stats

    def _joint_step(
        self,
        data: CriticBatch,
        obs_n: torch.Tensor,
        next_n: torch.Tensor,
        alpha: torch.Tensor,
        stats: dict[str, torch.Tensor],
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor, torch.Tensor, torch.Tensor]:
        """``update_order: joint``: every loss from the pre-step networks, one backward.

        With :meth:`_actor_first` (H2O's ``disc_overlap``) the actor's and temperature's
        backward and Adam steps run before the critic loss (which waits for the other
        thread): the same gradients, bitwise, since no loss term shares parameters with
        another and nothing after the TD target reads the actor.

        Returns (critic loss, its diagnostics, actor loss, (B,) log pi, (B,) next_q)."""
        batch, actor_first = data.batch, self._actor_first()
        action_pi, log_pi = self.actor.sample(obs_n, self.noise)
        q_pi = self.critic(obs_n, action_pi, detach_params=True).min(dim=-2).values
        actor_loss = losses.actor_loss(log_pi, q_pi, alpha)
        y, next_q = self._td_target(batch, next_n, alpha)
        temperature_loss = None
        if self.config.auto_alpha:
            temperature_loss = losses.alpha_loss(self.log_alpha, log_pi, self.target_entropy)
            stats["alpha_loss"] = temperature_loss.detach()
        if actor_first:
            actor_total = actor_loss if temperature_loss is None else actor_loss + temperature_loss
            self._apply_gradients(actor_total, self._step_names(("alpha", "actor")))
        q = self.critic(obs_n, batch.action)
        critic_terms, critic_stats = self._critic_loss(CriticInputs(q, y, obs_n, next_n, data))
        critic_loss = critic_terms.sum(dim=-1)
        names: tuple[str, ...] = ("critic",)
        total = critic_loss
        if not actor_first:  # the default: the reference's one backward over all losses
            total, names = actor_loss + critic_loss, ("alpha", "actor", "critic")
            if temperature_loss is not None:
                total = total + temperature_loss
        if self._aux_loss is not None:
            total = total + self._aux_loss
        self._apply_gradients(total, self._step_names(names))
        return critic_loss, critic_stats, actor_loss, log_pi, next_q

    def _actor_first(self) -> bool:
        """Step the actor and temperature before the critic loss (see :meth:`_joint_step`)."""
        return False

    def _critic_step(
        self, data: CriticBatch, obs_n: torch.Tensor, next_n: torch.Tensor, alpha: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor]:
        """``update_order: sequential``, part 1: the critic's own backward and Adam step.

        Returns (critic loss, its diagnostics, next_q (B,))."""
        y, next_q = self._td_target(data.batch, next_n, alpha)
        q = self.critic(obs_n, data.batch.action)
        critic_terms, critic_stats = self._critic_loss(CriticInputs(q, y, obs_n, next_n, data))
        critic_loss = critic_terms.sum(dim=-1)
        total = critic_loss if self._aux_loss is None else critic_loss + self._aux_loss
        self._apply_gradients(total, self._step_names(("critic",)))
        return critic_loss, critic_stats, next_q

    def _actor_step(
        self, obs_n: torch.Tensor, alpha: torch.Tensor, stats: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``update_order: sequential``, part 2: actor and temperature against the critic
        just updated. Returns (actor loss, (B,) log pi)."""
        action_pi, log_pi = self.actor.sample(obs_n, self.noise)
        q_pi = self.critic(obs_n, action_pi, detach_params=True).min(dim=-2).values
        actor_loss = losses.actor_loss(log_pi, q_pi, alpha)
        total = actor_loss
        if self.config.auto_alpha:
            temperature_loss = losses.alpha_loss(self.log_alpha, log_pi, self.target_entropy)
            total = total + temperature_loss
            stats["alpha_loss"] = temperature_loss.detach()
        self._apply_gradients(total, self._step_names(("alpha", "actor")))
        return actor_loss, log_pi

    def _step_names(self, names: tuple[str, ...]) -> list[str]:
        """The optimisers stepped after a backward over these losses: the named ones that
        exist, plus the critic-side extras (e.g. CQL's Lagrange weight) with the critic."""
        out = [n for n in names if n in self.optimizers]
        if "critic" in names:
            out += [n for n in self._critic_extras if n in self.optimizers]
        return out

    @torch.no_grad()
    def _td_target(
        self, batch: Batch, next_n: torch.Tensor, alpha: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(y, next_q), each (B,): min of the target critics at a' ~ pi(s'), no graph."""
        if self.backup_action == "mean":
            next_action, next_log_pi = self.actor.deterministic(next_n), None
        else:
            next_action, next_log_pi = self.actor.sample(next_n, self.noise)
        next_q = self.target_critic(next_n, next_action).min(dim=-2).values
        if self.config.backup_entropy and next_log_pi is not None:
            next_q = next_q - alpha * next_log_pi
        return losses.td_target(batch.reward, batch.terminal, next_q, self.config.gamma), next_q

    def _apply_gradients(self, total: torch.Tensor, names: list[str]) -> None:
        """One backward and the named Adam steps. ``total`` is () or, in a seed stack, (K,):
        summing seeds' losses leaves each seed's gradient its own (disjoint parameters)."""
        for name in names:
            self.optimizers[name].zero_grad(set_to_none=True)
        total.sum().backward()
        for name in names:
            self.optimizers[name].step()

    def _after_step(self) -> None:
        """Count the step; the soft target update every ``target_update_period`` steps."""
        self.steps += 1
        if self.steps % self.config.target_update_period == 0:
            with torch.no_grad():
                torch._foreach_lerp_(self._target_params, self._online_params, self.config.tau)

    def _check_batch(self, batch: Batch, what: str) -> None:
        """AlgorithmError unless ``batch`` holds (B, obs_dim) / (B, action_dim) / (B,) rows
        (with a leading (K,) in a seed stack)."""
        b, k = batch.reward.shape[-1] if batch.reward.dim() else 0, self._lead
        shapes = tuple(tuple(x.shape) for x in batch)
        expected = tuple(
            (*k, *s)
            for s in ((b, self.obs_dim), (b, self.action_dim), (b,), (b, self.obs_dim), (b,))
        )
        if shapes != expected or b == 0:
            raise AlgorithmError(
                f"{self.name}: {what} batch has shapes {shapes} (obs, action, reward, next_obs, "
                f"terminal), expected {expected} with B > 0"
            )

    # -- acting and export -----------------------------------------------------------------

    @torch.no_grad()
    def act(self, obs: torch.Tensor | np.ndarray, deterministic: bool = False) -> torch.Tensor:
        """(B, obs_dim) raw observations -> (B, action_dim) actions in [-1, 1] (or (obs_dim,)
        -> (action_dim,)); stochastic actions draw from the algorithm's generator."""
        obs_t = torch.as_tensor(obs, dtype=torch.float32, device=self.device)
        if obs_t.shape[-1:] != (self.obs_dim,) or obs_t.dim() not in (1, 2):
            raise AlgorithmError(
                f"act expects (B, {self.obs_dim}) or ({self.obs_dim},) observations, got "
                f"{tuple(obs_t.shape)}"
            )
        obs_n = self.normalizer(obs_t.reshape(-1, self.obs_dim))
        if deterministic:
            action = self.actor.deterministic(obs_n)
        else:
            action = self.actor.sample(obs_n, self.noise)[0]
        return action.reshape(*obs_t.shape[:-1], self.action_dim)

    def policy_module(self) -> nn.Module:
        """Raw obs (B, obs_dim) -> deterministic action (B, A): normaliser + actor mean + tanh.
        Shares the live parameters; ``torch.onnx.export`` (dynamo) traces it."""
        return DeterministicPolicy(self.normalizer, self.actor)

    # -- state -----------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Networks, optimisers, log alpha, the generator state and the step count (all
        loadable with ``torch.load(weights_only=True)``)."""
        return {
            "format": STATE_FORMAT,
            "name": self.name,
            "obs_dim": self.obs_dim,
            "action_dim": self.action_dim,
            "config": self.config.to_dict(),
            "modules": self.modules.state_dict(),
            "log_alpha": self.log_alpha.detach().clone(),
            "optimizers": {k: opt.state_dict() for k, opt in self.optimizers.items()},
            "generator": _generator_state(self.noise),
            "steps": self.steps,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` output; AlgorithmError if it belongs to another
        algorithm, other dimensions, or is incomplete."""
        try:
            header = (state["format"], state["name"], state["obs_dim"], state["action_dim"])
        except (KeyError, TypeError) as err:
            raise AlgorithmError(f"not an algorithm state dict (missing {err})") from err
        expected = (STATE_FORMAT, self.name, self.obs_dim, self.action_dim)
        if tuple(header) != expected:
            raise AlgorithmError(
                f"state dict is for (format, name, obs_dim, action_dim) = {tuple(header)}, "
                f"this algorithm is {expected}"
            )
        try:
            if set(state["optimizers"]) != set(self.optimizers):
                raise KeyError(f"optimizers {sorted(state['optimizers'])}")
            self.modules.load_state_dict(state["modules"], strict=True)
            with torch.no_grad():
                self.log_alpha.copy_(state["log_alpha"])
            for key, opt in self.optimizers.items():
                opt.load_state_dict(state["optimizers"][key])
            _set_generator_state(self.noise, state["generator"])
            self.steps = int(state["steps"])
        except (KeyError, RuntimeError, ValueError, TypeError) as err:
            raise AlgorithmError(f"algorithm state dict does not fit {self.name}: {err}") from err


def _require(value: Any, what: str, algorithm: str) -> Any:
    if value is None:
        raise AlgorithmError(f"{algorithm} needs {what}")
    return value


def _generator_state(noise: RunNoise) -> torch.Tensor | list[torch.Tensor]:
    """The RNG state (one tensor; a list of them in a seed stack)."""
    if isinstance(noise, torch.Generator):
        return noise.get_state()
    return [g.get_state() for g in noise]


def _set_generator_state(noise: RunNoise, state: torch.Tensor | list[torch.Tensor]) -> None:
    """Inverse of :func:`_generator_state`; ValueError if the kinds differ."""
    if isinstance(noise, torch.Generator) and isinstance(state, torch.Tensor):
        noise.set_state(state)
    elif not isinstance(noise, torch.Generator) and isinstance(state, list | tuple):
        if len(state) != len(noise):
            raise ValueError(f"{len(state)} generator states for {len(noise)} seeds")
        for g, s in zip(noise, state, strict=True):
            g.set_state(s)
    else:
        raise ValueError("generator state of a seed stack for a single run, or vice versa")


def _to_floats(stats: dict[str, torch.Tensor]) -> dict[str, float]:
    """One device->host transfer for all scalar diagnostics."""
    names = list(stats)
    values = torch.stack([torch.as_tensor(stats[k], dtype=torch.float32) for k in names])
    return dict(zip(names, values.tolist(), strict=True))


class WithDiscriminators(ActorCritic):
    """Adds D_sa/D_sas (one Adam over both: the sas loss also trains D_sa) and their step."""

    def disc_batch_size(self) -> int:
        return self.config.disc_batch_size

    def _build_extra(
        self, init: torch.Generator, state_std: np.ndarray | None, obs_std: np.ndarray | None
    ) -> None:
        self.discriminators = DynamicsDiscriminators(
            self.obs_dim,
            self.action_dim,
            self.config.disc_hidden,
            self.normalizer,
            init,
            self.config.disc_precision,
        )
        self.modules["discriminators"] = self.discriminators
        warn_if_slow_bf16(self.config.disc_precision, self.device)

    def _stack_extra(self, members: list[ActorCritic]) -> None:
        self.discriminators = DynamicsDiscriminators.stacked(
            [m.discriminators for m in members if isinstance(m, WithDiscriminators)]
        )
        self.modules["discriminators"] = self.discriminators

    def _add_optimizers(self) -> None:
        params = [
            p for n, p in self.discriminators.named_parameters() if not n.startswith("normalizer.")
        ]
        self.optimizers["disc"] = make_adam(params, self.config.disc_lr)

    def _disc_batches(self, batches: UpdateBatches) -> tuple[Batch, Batch]:
        """(real, sim) batches of the discriminator step: the fresh ones, else the update's."""
        b = batches
        disc_real = _require(
            b.disc_real if b.disc_real is not None else b.real,
            "a real batch for its discriminators",
            self.name,
        )
        disc_sim = _require(
            b.disc_sim if b.disc_sim is not None else b.sim,
            "a sim batch for its discriminators",
            self.name,
        )
        return disc_real, disc_sim

    def _train_discriminators(
        self, batches: UpdateBatches, noise: Generators | None = None
    ) -> dict[str, torch.Tensor]:
        """One discriminator step on the fresh batches (or the update's batches); stats.
        ``noise``: where its input noise comes from (None: the step's generator(s)). Past
        ``disc_train_steps`` only the losses and stats (the same forward and noise draws, so
        the random streams do not depend on the switch), no gradient step."""
        disc_real, disc_sim = self._disc_batches(batches)
        c = self.config
        # ``steps`` counts finished updates: this is step number ``steps + 1``.
        frozen = 0 < c.disc_train_steps <= self.steps
        with torch.set_grad_enabled(not frozen):
            sa_loss, sas_loss, stats = self.discriminators.loss(
                disc_real,
                disc_sim,
                c.disc_noise_std,
                self.noise if noise is None else noise,
                residual_l2=c.disc_residual_l2,
            )
        if not frozen:
            opt = self.optimizers["disc"]
            opt.zero_grad(set_to_none=True)
            (sa_loss + sas_loss).sum().backward()
            opt.step()
        stats.update(disc_sa_loss=sa_loss.detach(), disc_sas_loss=sas_loss.detach())
        return stats
