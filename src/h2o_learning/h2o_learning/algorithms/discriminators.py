"""The two domain classifiers of DARC/H2O and the dynamics-gap quantities built from them.

``D_sa(s, a)`` and ``D_sas(s, a, s')`` each output 2 logits (index 0 = real, 1 = sim) through a
``2 * tanh`` head, so every logit lies in [-2, 2] and the dynamics log-ratio
``z_sas[0] - z_sas[1]`` in [-4, 4]. Inputs are raw observations; the shared observation
normaliser runs inside. Every method also takes a leading seed dimension K (inputs (K, B, .),
one classifier pair per seed: :meth:`DynamicsDiscriminators.stacked`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from h2o_learning.algorithms import losses
from h2o_learning.algorithms.networks import MLP, EnsembleMLP, Generators, ObsNormalizer, randn
from h2o_learning.algorithms.protocol import Batch


class Classifier(nn.Module):
    """ReLU MLP with a ``2 * tanh`` head: (B, in_dim) -> (B, 2) logits in [-2, 2].

    Args:
        in_dim: input features.
        hidden: hidden layer sizes.
        generator: initialisation randomness.
        bf16: run the MLP's matmuls under bfloat16 autocast (weights stay float32, the
            logits are returned as float32); False: plain float32.
    """

    def __init__(
        self, in_dim: int, hidden: Sequence[int], generator: torch.Generator, bf16: bool = False
    ) -> None:
        super().__init__()
        # The reference uses nn.Linear's default init for the head too.
        self.mlp: MLP | EnsembleMLP = MLP(in_dim, 2, hidden, generator, last_layer_gain=None)
        self.bf16 = bf16

    @classmethod
    def stacked(cls, classifiers: Sequence[Classifier]) -> Classifier:
        """K classifiers as one over (K, B, in_dim) inputs (their parameters become views)."""
        out = cls.__new__(cls)
        nn.Module.__init__(out)
        out.mlp = EnsembleMLP.stacked([c.mlp for c in classifiers])
        out.bf16 = classifiers[0].bf16
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, in_dim) -> (B, 2) float32."""
        if not self.bf16:
            return 2.0 * torch.tanh(self.mlp(x))
        with torch.autocast(x.device.type, dtype=torch.bfloat16):
            z = self.mlp(x)
        # The head and everything after it (softmax, ratios, u) in float32.
        return 2.0 * torch.tanh(z.float())


class DynamicsDiscriminators(nn.Module):
    """D_sa and D_sas with their training step and the ratio/u estimates.

    Args:
        obs_dim: observation size.
        action_dim: action size.
        hidden: hidden sizes of both classifiers.
        normalizer: the algorithm's observation normaliser (shared, not trained here).
        generator: initialisation randomness.
        precision: ``float32`` or ``bfloat16`` (autocast matmuls, ``disc_precision``).
    """

    def __init__(
        self,
        obs_dim: int,
        action_dim: int,
        hidden: Sequence[int],
        normalizer: ObsNormalizer,
        generator: torch.Generator,
        precision: str = "float32",
    ) -> None:
        super().__init__()
        self.normalizer = normalizer
        bf16 = precision == "bfloat16"
        self.d_sa = Classifier(obs_dim + action_dim, hidden, generator, bf16)
        self.d_sas = Classifier(2 * obs_dim + action_dim, hidden, generator, bf16)

    @classmethod
    def stacked(cls, members: Sequence[DynamicsDiscriminators]) -> DynamicsDiscriminators:
        """The classifier pairs of K seeds as one pair over (K, B, .) inputs, with the first
        member's normaliser (a seed stack shares one)."""
        out = cls.__new__(cls)
        nn.Module.__init__(out)
        out.normalizer = members[0].normalizer
        out.d_sa = Classifier.stacked([m.d_sa for m in members])
        out.d_sas = Classifier.stacked([m.d_sas for m in members])
        return out

    def inputs(
        self, obs: torch.Tensor, action: torch.Tensor, next_obs: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised ``(s, a)`` (B, obs+act) and ``(s, a, s')`` (B, 2 obs+act) inputs."""
        sa = torch.cat((self.normalizer(obs), action), dim=-1)
        return sa, torch.cat((sa, self.normalizer(next_obs)), dim=-1)

    def logits(
        self, obs: torch.Tensor, action: torch.Tensor, next_obs: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(z_sa, z_sas), each (B, 2), for raw (B, .) inputs."""
        sa, sas = self.inputs(obs, action, next_obs)
        return self.d_sa(sa), self.d_sas(sas)

    def loss(
        self,
        real: Batch,
        sim: Batch,
        noise_std: float,
        generator: Generators,
        residual_l2: float = 0.0,
    ) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """Cross-entropy losses on one real and one sim batch, both through one forward.

        Gaussian noise of std ``noise_std`` is added to the *normalised* s, a and s' inputs
        (regularises the classifiers, as in the reference). ``residual_l2 > 0`` adds
        ``residual_l2 * mean((z_sas[0] - z_sas[1])^2)`` over both batches to the sas loss
        (``AlgorithmConfig.disc_residual_l2``; 0 adds nothing, not even a zero term).

        Returns:
            (sa_loss, sas_loss, stats) with stats ``disc_sa_acc`` and ``disc_sas_acc``
            (balanced accuracies of p_sa and of p_sas = softmax(z_sas + z_sa)); each () or
            (K,).
        """
        n_real = real.reward.shape[-1]
        sa, sas = self.inputs(
            torch.cat((real.obs, sim.obs), dim=-2),
            torch.cat((real.action, sim.action), dim=-2),
            torch.cat((real.next_obs, sim.next_obs), dim=-2),
        )
        if noise_std > 0:
            sas = sas + randn(self.loss_noise_shape(real, sim), generator, sas.device) * noise_std
            sa = sas[..., : sa.shape[-1]]
        z_sa, z_sas = self.d_sa(sa), self.d_sas(sas)
        real_rows, sim_rows = slice(None, n_real), slice(n_real, None)
        sa_loss, sas_loss = losses.discriminator_losses(
            z_sa[..., real_rows, :],
            z_sas[..., real_rows, :],
            z_sa[..., sim_rows, :],
            z_sas[..., sim_rows, :],
        )
        if residual_l2 > 0:
            sas_loss = sas_loss + residual_l2 * losses.log_dynamics_ratio(z_sas).square().mean(-1)
        with torch.no_grad():
            z_joint = z_sas + z_sa
            stats = {
                "disc_sa_acc": losses.classifier_accuracy(
                    z_sa[..., real_rows, :], z_sa[..., sim_rows, :]
                ),
                "disc_sas_acc": losses.classifier_accuracy(
                    z_joint[..., real_rows, :], z_joint[..., sim_rows, :]
                ),
            }
        return sa_loss, sas_loss, stats

    @staticmethod
    def loss_noise_shape(real: Batch, sim: Batch) -> tuple[int, ...]:
        """Shape of the input noise :meth:`loss` draws: ([K,] Br + Bs, 2 obs + act)."""
        *lead, n_real, obs_dim = real.obs.shape
        return (*lead, n_real + sim.obs.shape[-2], 2 * obs_dim + real.action.shape[-1])

    @staticmethod
    def gap_noise_shape(obs: torch.Tensor, n_samples: int) -> tuple[int, ...]:
        """Shape of the eps :meth:`ratio_and_gap` draws: ([K,] B, N, obs)."""
        return (*obs.shape[:-1], n_samples, obs.shape[-1])

    @torch.no_grad()
    def log_ratio(
        self, obs: torch.Tensor, action: torch.Tensor, next_obs: torch.Tensor
    ) -> torch.Tensor:
        """log P_M(s'|s,a) / P_Mhat(s'|s,a) (real over sim), (B,), from D_sas only."""
        sas = self.inputs(obs, action, next_obs)[1]
        return losses.log_dynamics_ratio(self.d_sas(sas))

    @torch.no_grad()
    def ratio_and_gap(
        self,
        obs: torch.Tensor,
        action: torch.Tensor,
        next_obs: torch.Tensor,
        next_obs_std: torch.Tensor,
        n_samples: int,
        generator: Generators,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Both H2O quantities of a sim batch in one D_sas forward.

        Args:
            obs, action, next_obs: (B, .) raw sim transitions.
            next_obs_std: (obs_dim,) sigma of the next-state perturbation (raw units).
            n_samples: N perturbed next states ``s'_k = s' + eps_k * sigma`` per transition.
            generator: source of eps.

        Returns:
            log_ratio (B,) = log(P_M / P_Mhat) at the observed s', and
            log_ratio_sim_real (B, N) = log(P_Mhat / P_M) at the perturbed s'_k (input of u).
            With a seed dimension: (K, B) and (K, B, N).
        """
        *lead, b, d = obs.shape
        eps = randn(self.gap_noise_shape(obs, n_samples), generator, obs.device)
        perturbed = (next_obs.unsqueeze(-2) + eps * next_obs_std).reshape(*lead, b * n_samples, d)
        sa = torch.cat((self.normalizer(obs), action), dim=-1)
        sas = torch.cat(
            (
                torch.cat((sa, sa.repeat_interleave(n_samples, dim=-2)), dim=-2),
                self.normalizer(torch.cat((next_obs, perturbed), dim=-2)),
            ),
            dim=-1,
        )
        log_ratio = losses.log_dynamics_ratio(self.d_sas(sas))
        return log_ratio[..., :b], -log_ratio[..., b:].reshape(*lead, b, n_samples)
