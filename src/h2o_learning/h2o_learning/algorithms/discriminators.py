"""The two domain classifiers of DARC/H2O and the dynamics-gap quantities built from them.

``D_sa(s, a)`` and ``D_sas(s, a, s')`` each output 2 logits (index 0 = real, 1 = sim) through a
``2 * tanh`` head, so every logit lies in [-2, 2] and the dynamics log-ratio
``z_sas[0] - z_sas[1]`` in [-4, 4]. Inputs are raw observations; the shared observation
normaliser runs inside.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from h2o_learning.algorithms import losses
from h2o_learning.algorithms.networks import MLP, ObsNormalizer
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
        self.mlp = MLP(in_dim, 2, hidden, generator, last_layer_gain=None)
        self.bf16 = bf16

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
        self, real: Batch, sim: Batch, noise_std: float, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """Cross-entropy losses on one real and one sim batch, both through one forward.

        Gaussian noise of std ``noise_std`` is added to the *normalised* s, a and s' inputs
        (regularises the classifiers, as in the reference).

        Returns:
            (sa_loss, sas_loss, stats) with stats ``disc_sa_acc`` and ``disc_sas_acc``
            (balanced accuracies of p_sa and of p_sas = softmax(z_sas + z_sa)).
        """
        n_real = real.obs.shape[0]
        sa, sas = self.inputs(
            torch.cat((real.obs, sim.obs)),
            torch.cat((real.action, sim.action)),
            torch.cat((real.next_obs, sim.next_obs)),
        )
        if noise_std > 0:
            noise = torch.randn(sas.shape, generator=generator, device=sas.device) * noise_std
            sas = sas + noise
            sa = sas[:, : sa.shape[1]]
        z_sa, z_sas = self.d_sa(sa), self.d_sas(sas)
        sa_loss, sas_loss = losses.discriminator_losses(
            z_sa[:n_real], z_sas[:n_real], z_sa[n_real:], z_sas[n_real:]
        )
        with torch.no_grad():
            z_joint = z_sas + z_sa
            stats = {
                "disc_sa_acc": losses.classifier_accuracy(z_sa[:n_real], z_sa[n_real:]),
                "disc_sas_acc": losses.classifier_accuracy(z_joint[:n_real], z_joint[n_real:]),
            }
        return sa_loss, sas_loss, stats

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
        generator: torch.Generator,
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
        """
        b = obs.shape[0]
        eps = torch.randn((b, n_samples, obs.shape[1]), generator=generator, device=obs.device)
        perturbed = (next_obs.unsqueeze(1) + eps * next_obs_std).reshape(b * n_samples, -1)
        sa = torch.cat((self.normalizer(obs), action), dim=-1)
        sas = torch.cat(
            (
                torch.cat((sa, sa.repeat_interleave(n_samples, dim=0))),
                self.normalizer(torch.cat((next_obs, perturbed))),
            ),
            dim=-1,
        )
        log_ratio = losses.log_dynamics_ratio(self.d_sas(sas))
        return log_ratio[:b], -log_ratio[b:].reshape(b, n_samples)
