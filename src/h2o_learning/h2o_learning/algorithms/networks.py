"""Networks shared by every algorithm: MLPs, the fused twin-critic ensemble, the tanh-Gaussian
actor and the observation normaliser.

Every network takes *normalised* observations except :class:`DeterministicPolicy`, the export
wrapper, which holds the normaliser itself. Initialisation draws from an explicit
``torch.Generator`` so that building an algorithm never touches torch's global RNG.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from h2o_robot_bridge.errors import ConfigError

LOG_2 = math.log(2.0)
LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


class NoiseTape:
    """Standard-normal draws made ahead of time and served in order.

    H2O's ``disc_overlap`` runs the discriminator branch on another thread; drawing its noise
    first, from the step's generator(s), keeps every draw of the step in the order (and so
    the values) of the serial step.

    Args:
        source: the generator(s) to draw from now.
        shapes: the shapes of the draws, in the order they will be asked for.
        device: torch device.
    """

    def __init__(
        self,
        source: RunNoise,
        shapes: Sequence[Sequence[int]],
        device: torch.device,
    ) -> None:
        self._draws = [randn(shape, source, device) for shape in shapes]

    def next(self, shape: Sequence[int]) -> torch.Tensor:
        """The next draw; ValueError if it was recorded with another shape."""
        if not self._draws or tuple(self._draws[0].shape) != tuple(shape):
            got = tuple(self._draws[0].shape) if self._draws else "nothing"
            raise ValueError(f"noise tape: asked for {tuple(shape)}, next draw is {got}")
        return self._draws.pop(0)


# The training noise of one run (a torch.Generator), of a K-seed stack (one generator per
# member, in member order; see ``algorithms/stack.py``), or draws made ahead (NoiseTape).
RunNoise = torch.Generator | tuple[torch.Generator, ...]
Generators = RunNoise | NoiseTape


def randn(
    shape: Sequence[int],
    generator: Generators,
    device: torch.device,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Standard-normal noise of ``shape``.

    With one generator, exactly ``torch.randn(shape, generator=...)``. With K generators (a
    seed stack, ``shape[0] == K``), slice k is drawn from generator k alone with shape
    ``shape[1:]``: the noise member k would draw in a run of its own.
    """
    if isinstance(generator, torch.Generator):
        return torch.randn(tuple(shape), generator=generator, device=device, dtype=dtype)
    if isinstance(generator, NoiseTape):
        return generator.next(shape).to(dtype)
    if shape[0] != len(generator):
        raise ValueError(f"noise of shape {tuple(shape)} for {len(generator)} generators")
    return torch.stack(
        [torch.randn(tuple(shape[1:]), generator=g, device=device, dtype=dtype) for g in generator]
    )


def _share_storage(param: torch.Tensor, view: torch.Tensor) -> None:
    """Point ``param`` at ``view`` (a slice of a stacked weight): a member of a seed stack
    then reads, and checkpoints, the live stacked weights without a copy."""
    param.data = view


def init_linear_(
    weight: torch.Tensor,
    bias: torch.Tensor,
    fan_in: int,
    fan_out: int,
    generator: torch.Generator,
    last_layer_gain: float | None = None,
) -> None:
    """Initialise one linear layer in place.

    Hidden layers follow ``nn.Linear``'s default (weights and bias ~ U(-1/sqrt(fan_in),
    1/sqrt(fan_in))); the last layer is Xavier-uniform with a small gain and a zero bias, as in
    the H2O reference, so initial Q values and action means start near zero.

    Args:
        weight: the layer's weight (any layout), modified in place.
        bias: the layer's bias, modified in place.
        fan_in: input features of the layer.
        fan_out: output features of the layer.
        generator: the source of randomness.
        last_layer_gain: Xavier gain for an output layer; None for a hidden layer.
    """
    with torch.no_grad():
        if last_layer_gain is None:
            bound = 1.0 / math.sqrt(fan_in)
            weight.uniform_(-bound, bound, generator=generator)
            bias.uniform_(-bound, bound, generator=generator)
        else:
            bound = last_layer_gain * math.sqrt(6.0 / (fan_in + fan_out))
            weight.uniform_(-bound, bound, generator=generator)
            bias.zero_()


class ObsNormalizer(nn.Module):
    """``(obs - mean) / std``, clipped to ``[-clip, clip]``; part of every exported policy.

    Args:
        obs_dim: observation size.
        mean: (obs_dim,) mean, or None for zeros.
        std: (obs_dim,) standard deviation, or None for ones; floored at ``min_std`` so constant
            features (e.g. a fixed task command) map to 0 instead of dividing by zero.
        clip: bound on normalised values (protects the networks from a sensor glitch).
        min_std: floor on ``std``.
    """

    mean: torch.Tensor  # (obs_dim,) buffer
    inv_std: torch.Tensor  # (obs_dim,) buffer, 1 / max(std, min_std)

    def __init__(
        self,
        obs_dim: int,
        mean: np.ndarray | torch.Tensor | None = None,
        std: np.ndarray | torch.Tensor | None = None,
        clip: float = 10.0,
        min_std: float = 1e-3,
    ) -> None:
        super().__init__()
        mean_t = _vector(mean, obs_dim, 0.0, "obs_mean")
        std_t = _vector(std, obs_dim, 1.0, "obs_std")
        if bool((std_t < 0).any()):
            raise ConfigError("obs_std must be >= 0 in every dimension")
        self.register_buffer("mean", mean_t)
        self.register_buffer("inv_std", 1.0 / std_t.clamp_min(min_std))
        self.clip = float(clip)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """(B, obs_dim) raw observations -> (B, obs_dim) normalised, clipped."""
        return ((obs - self.mean) * self.inv_std).clamp(-self.clip, self.clip)


def _vector(
    value: np.ndarray | torch.Tensor | None, n: int, fill: float, what: str
) -> torch.Tensor:
    """A float32 (n,) tensor from an optional array; ConfigError on a bad shape or value."""
    if value is None:
        return torch.full((n,), fill, dtype=torch.float32)
    out = torch.as_tensor(np.asarray(value, dtype=np.float32)).reshape(-1).clone()
    if out.shape != (n,):
        raise ConfigError(f"{what} must have shape ({n},), got {tuple(out.shape)}")
    if not bool(torch.isfinite(out).all()):
        raise ConfigError(f"{what} contains NaN or inf")
    return out


class MLP(nn.Module):
    """Plain ReLU MLP ``in -> hidden... -> out`` (nn.Linear layers, ONNX friendly).

    Args:
        in_dim: input features.
        out_dim: output features.
        hidden: hidden layer sizes.
        generator: initialisation randomness.
        last_layer_gain: Xavier gain of the output layer, or None for the default init.
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        hidden: Sequence[int],
        generator: torch.Generator,
        last_layer_gain: float | None = 1e-2,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        sizes = [in_dim, *hidden]
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
            linear = nn.Linear(fan_in, fan_out)
            init_linear_(linear.weight, linear.bias, fan_in, fan_out, generator)
            layers += [linear, nn.ReLU()]
        last = nn.Linear(sizes[-1], out_dim)
        init_linear_(last.weight, last.bias, sizes[-1], out_dim, generator, last_layer_gain)
        layers.append(last)
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, in_dim) -> (B, out_dim)."""
        return self.net(x)


class EnsembleMLP(nn.Module):
    """E independent MLPs evaluated together: stacked weights and one ``baddbmm`` per layer.

    Member ``k`` computes exactly what an :class:`MLP` with weights ``weights[i][k].T`` and
    biases ``biases[i][k, 0]`` computes (see :meth:`member_state`).

    Args:
        in_dim: input features.
        out_dim: output features per member.
        hidden: hidden layer sizes.
        n_members: ensemble size (2 for twin critics).
        generator: initialisation randomness.
        last_layer_gain: Xavier gain of the output layer, or None.
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        hidden: Sequence[int],
        n_members: int,
        generator: torch.Generator,
        last_layer_gain: float | None = 1e-2,
    ) -> None:
        super().__init__()
        self.n_members = n_members
        sizes = [in_dim, *hidden, out_dim]
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        n_layers = len(sizes) - 1
        for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            weight = torch.empty(n_members, fan_in, fan_out)
            bias = torch.empty(n_members, 1, fan_out)
            gain = last_layer_gain if i == n_layers - 1 else None
            for k in range(n_members):
                init_linear_(weight[k], bias[k], fan_in, fan_out, generator, gain)
            self.weights.append(nn.Parameter(weight))
            self.biases.append(nn.Parameter(bias))

    def forward(self, x: torch.Tensor, detach_params: bool = False) -> torch.Tensor:
        """Evaluate all members.

        Args:
            x: (B, in_dim) input shared by all members, or (E, B, in_dim) one per member.
            detach_params: use detached weights (gradients flow to ``x`` only): the actor loss
                differentiates Q w.r.t. the action without building weight gradients.

        Returns:
            (E, B, out_dim).
        """
        if x.dim() == 2:
            x = x.unsqueeze(0).expand(self.n_members, -1, -1)
        n_layers = len(self.weights)
        for i in range(n_layers):
            weight, bias = self.weights[i], self.biases[i]
            if detach_params:
                weight, bias = weight.detach(), bias.detach()
            x = torch.baddbmm(bias, x, weight)
            if i < n_layers - 1:
                x = torch.relu(x)
        return x

    @classmethod
    def stacked(cls, members: Sequence[MLP | EnsembleMLP]) -> EnsembleMLP:
        """One ensemble holding the weights of ``members`` in order (an MLP is one member, an
        ensemble all of its members); the members' parameters are then views of it, so they
        see every update of the stack (a seed stack's per-seed networks).

        All members must have the same layer sizes.
        """
        layers = [_layer_weights(m) for m in members]
        out = cls.__new__(cls)
        nn.Module.__init__(out)
        out.weights, out.biases = nn.ParameterList(), nn.ParameterList()
        for i in range(len(layers[0])):
            out.weights.append(nn.Parameter(torch.cat([m[i][0] for m in layers]).clone()))
            out.biases.append(nn.Parameter(torch.cat([m[i][1] for m in layers]).clone()))
        out.n_members = out.weights[0].shape[0]
        first = 0
        for member in members:
            n = member.n_members if isinstance(member, EnsembleMLP) else 1
            for i in range(len(out.weights)):
                weight, bias = out.weights[i].data, out.biases[i].data
                if isinstance(member, EnsembleMLP):
                    _share_storage(member.weights[i], weight[first : first + n])
                    _share_storage(member.biases[i], bias[first : first + n])
                else:
                    linear = member.net[2 * i]
                    assert isinstance(linear, nn.Linear)
                    _share_storage(linear.weight, weight[first].T)
                    _share_storage(linear.bias, bias[first, 0])
            first += n
        return out

    def member_state(self, k: int) -> dict[str, torch.Tensor]:
        """Member ``k`` as an :class:`MLP` state dict (``net.0.weight``, ``net.0.bias``, ...)."""
        state = {}
        for i, (weight, bias) in enumerate(zip(self.weights, self.biases, strict=True)):
            state[f"net.{2 * i}.weight"] = weight[k].T.detach().clone()
            state[f"net.{2 * i}.bias"] = bias[k, 0].detach().clone()
        return state


def _layer_weights(net: MLP | EnsembleMLP) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Per layer, (E, in, out) weight and (E, 1, out) bias copies in EnsembleMLP layout."""
    if isinstance(net, EnsembleMLP):
        return [(w.detach(), b.detach()) for w, b in zip(net.weights, net.biases, strict=True)]
    linears = [m for m in net.net if isinstance(m, nn.Linear)]
    return [(lin.weight.detach().T[None], lin.bias.detach()[None, None]) for lin in linears]


class TwinCritic(nn.Module):
    """Q ensemble (default 2 members) over ``concat(normalised obs, action)``."""

    def __init__(
        self,
        obs_dim: int,
        action_dim: int,
        hidden: Sequence[int],
        generator: torch.Generator,
        n_members: int = 2,
        last_layer_gain: float | None = 1e-2,
    ) -> None:
        super().__init__()
        self.ensemble = EnsembleMLP(
            obs_dim + action_dim, 1, hidden, n_members, generator, last_layer_gain
        )

    def forward(
        self, obs: torch.Tensor, action: torch.Tensor, detach_params: bool = False
    ) -> torch.Tensor:
        """(B, obs_dim) normalised obs and (B, action_dim) actions -> (E, B) Q values.

        ``obs`` may also be (E, B, obs_dim) with ``action`` (E, B, action_dim).
        """
        x = torch.cat((obs, action), dim=-1)
        return self.ensemble(x, detach_params).squeeze(-1)


class StackedCritic(TwinCritic):
    """The twin critics of K seeds as one ensemble of K * E members (member-major order):
    (K, B, obs_dim) and (K, B, action_dim) -> (K, E, B) Q values; seed k's critics see only
    seed k's rows.

    Args:
        critics: one TwinCritic per seed (same sizes); their parameters become views of this
            module's.
    """

    def __init__(self, critics: Sequence[TwinCritic]) -> None:
        nn.Module.__init__(self)
        self.per_seed = critics[0].ensemble.n_members
        self.ensemble = EnsembleMLP.stacked([c.ensemble for c in critics])

    def forward(
        self, obs: torch.Tensor, action: torch.Tensor, detach_params: bool = False
    ) -> torch.Tensor:
        """(K, B, obs_dim), (K, B, action_dim) -> (K, E, B)."""
        x = torch.cat((obs, action), dim=-1)
        k, b, d = x.shape
        x = x.unsqueeze(1).expand(k, self.per_seed, b, d).reshape(k * self.per_seed, b, d)
        return self.ensemble(x, detach_params).reshape(k, self.per_seed, b)


class TanhGaussianActor(nn.Module):
    """Tanh-squashed Gaussian policy (reference parameterisation).

    ``log_std = log_std_scale * raw + log_std_offset`` with both scalars learnable (initialised
    1 and -1), clamped to ``[log_std_min, log_std_max]``; ``a = tanh(mean + std * eps)``.

    Args:
        obs_dim: observation size.
        action_dim: action size.
        hidden: hidden layer sizes.
        generator: initialisation randomness.
        log_std_bounds: (min, max) clamp of the log standard deviation.
        log_std_init: (scale, offset) initial values.
        last_layer_gain: Xavier gain of the output layer.
    """

    def __init__(
        self,
        obs_dim: int,
        action_dim: int,
        hidden: Sequence[int],
        generator: torch.Generator,
        log_std_bounds: tuple[float, float] = (-20.0, 2.0),
        log_std_init: tuple[float, float] = (1.0, -1.0),
        last_layer_gain: float | None = 1e-2,
    ) -> None:
        super().__init__()
        self.action_dim = action_dim
        # An EnsembleMLP over (K, B, obs_dim) in a seed stack (:meth:`stacked`).
        self.trunk: MLP | EnsembleMLP = MLP(
            obs_dim, 2 * action_dim, hidden, generator, last_layer_gain
        )
        self.log_std_scale = nn.Parameter(torch.tensor(float(log_std_init[0])))
        self.log_std_offset = nn.Parameter(torch.tensor(float(log_std_init[1])))
        self.log_std_min, self.log_std_max = (float(b) for b in log_std_bounds)

    @classmethod
    def stacked(cls, actors: Sequence[TanhGaussianActor]) -> TanhGaussianActor:
        """The actors of K seeds as one: observations (K, B, obs_dim) -> (K, B, A), trunk an
        EnsembleMLP, log-std scale and offset (K, 1, 1). The actors' parameters become views
        of the stack's (they act and export with the live weights)."""
        first = actors[0]
        out = cls.__new__(cls)
        nn.Module.__init__(out)
        out.action_dim = first.action_dim
        out.log_std_min, out.log_std_max = first.log_std_min, first.log_std_max
        out.trunk = EnsembleMLP.stacked([a.trunk for a in actors])
        for name in ("log_std_scale", "log_std_offset"):
            values = torch.stack([getattr(a, name).detach() for a in actors]).reshape(-1, 1, 1)
            param = nn.Parameter(values.clone())
            setattr(out, name, param)
            for k, actor in enumerate(actors):
                _share_storage(getattr(actor, name), param.data[k, 0, 0])
        return out

    def distribution(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, obs_dim) normalised obs -> pre-tanh mean and clamped log std, each (B, A)."""
        mean, raw = self.trunk(obs).split(self.action_dim, dim=-1)
        log_std = (self.log_std_scale * raw + self.log_std_offset).clamp(
            self.log_std_min, self.log_std_max
        )
        return mean, log_std

    def sample(
        self, obs: torch.Tensor, generator: Generators
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Reparameterised sample.

        Args:
            obs: (..., obs_dim) normalised observations ((K, B, obs_dim) in a seed stack).
            generator: source of the Gaussian noise (one per seed in a stack).

        Returns:
            actions (..., A) in (-1, 1) and their log-probabilities (...,) in nats.
        """
        mean, log_std = self.distribution(obs)
        eps = randn(mean.shape, generator, mean.device, mean.dtype)
        pre_tanh = mean + log_std.exp() * eps
        return torch.tanh(pre_tanh), tanh_gaussian_log_prob(eps, log_std, pre_tanh)

    def deterministic(self, obs: torch.Tensor) -> torch.Tensor:
        """(B, obs_dim) normalised obs -> (B, A) mode-ish action ``tanh(mean)``."""
        return torch.tanh(self.trunk(obs)[..., : self.action_dim])


def tanh_gaussian_log_prob(
    eps: torch.Tensor, log_std: torch.Tensor, pre_tanh: torch.Tensor
) -> torch.Tensor:
    """log pi(tanh(u)) for ``u = mean + std * eps``, summed over the last axis.

    Uses the stable tanh Jacobian ``log(1 - tanh(u)^2) = 2 (log 2 - u - softplus(-2u))``
    (the one torch's ``TanhTransform`` uses).

    Args:
        eps: (..., A) standard-normal noise.
        log_std: (..., A) log standard deviation.
        pre_tanh: (..., A) the pre-squash sample u.

    Returns:
        (...,) log-density of the squashed action.
    """
    gauss = -0.5 * eps.square() - log_std - LOG_SQRT_2PI
    log_det = 2.0 * (LOG_2 - pre_tanh - nn.functional.softplus(-2.0 * pre_tanh))
    return (gauss - log_det).sum(-1)


class DeterministicPolicy(nn.Module):
    """Raw observation (B, obs_dim) -> deterministic action (B, A) in [-1, 1].

    Normalisation is inside, so this is the whole policy that ONNX export traces; it shares
    (not copies) the parameters of the live actor.
    """

    def __init__(self, normalizer: ObsNormalizer, actor: TanhGaussianActor) -> None:
        super().__init__()
        self.normalizer = normalizer
        self.actor = actor

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """(B, obs_dim) raw obs -> (B, A) actions."""
        return self.actor.deterministic(self.normalizer(obs))
