"""Gradient steps per second of H2O and SAC at the reference sizes, against in-run baselines.

Sizes: robot observation 25, action 6, 256-256 networks, batch 256 (H2O: 128 real + 128 sim,
discriminators on fresh 256 + 256). Every figure is the median of ``--repeats`` timed blocks of
``--steps`` updates, measured in this run (all variants interleaved, so that load changes on a
shared machine hit all of them), at 1 and 2 torch threads. Printed:

- SAC and H2O steps/s, H2O/SAC (cost of an H2O step in SAC steps; issue 15's goal <= 1.5);
  H2O also with the opt-in switches ``disc_precision: bfloat16`` (approximate; not timed on a
  CPU without bf16 instructions, where it is ~6x slower), ``disc_overlap`` (exact; a second
  thread), both, and ``disc_overlap`` with ``disc_stale_weights`` (one discriminator step of
  lag: the discriminator step overlaps the whole actor/critic step), in float32 and bf16. The
  overlap variants are measured in the 2-thread block only, as they are meant to run: one
  torch thread per branch, two cores.
- In-run baselines: an eager SAC and an eager H2O written the common way (separate
  ``nn.Linear`` networks and forwards, a separate backward per loss, default Adam; the H2O
  one computes u through both classifiers and the ratio in a second pass, as the reference
  does). ``SAC speed-up`` and ``H2O speed-up`` are ours over them.
- ``x ref``: our H2O over the reference implementation's (t6-thu/H2O) rate recorded in issue 15
  on an AVX512-BF16 machine of this workplace when quiet (42.5 / 54.7 steps/s at 1 / 2
  threads; the reference code is not in this repo, so it is not re-run here). On another CPU
  (the first line prints this one's) or a loaded machine this ratio means little.
- Seed stacks (``algorithms/stack.py``): runs x steps per second with K = 1, 3, 5 seeds in
  one process, at 256-256 and at 64-64 (where per-op overhead dominates and stacking pays
  most).

Run: ``.venv/bin/python bench/train_speed.py [--steps 30 --repeats 5 --k-seeds 1 3 5]``.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from h2o_learning.algorithms import AlgorithmConfig, make_algorithm
from h2o_learning.algorithms.precision import native_bf16
from h2o_learning.algorithms.protocol import Batch, UpdateBatches
from h2o_learning.algorithms.stack import SeedStack
from h2o_learning.training.buffers import ReplayBuffer
from h2o_learning.training.sampling import sample_batches

OBS_DIM, ACTION_DIM, DATA = 25, 6, 20_000


def random_buffer(rng: np.random.Generator) -> ReplayBuffer:
    """A buffer of DATA random transitions of the robot's sizes."""
    return ReplayBuffer.from_arrays(
        rng.normal(size=(DATA, OBS_DIM)).astype(np.float32),
        rng.uniform(-1, 1, (DATA, ACTION_DIM)).astype(np.float32),
        rng.normal(size=DATA).astype(np.float32),
        rng.normal(size=(DATA, OBS_DIM)).astype(np.float32),
        (rng.random(DATA) < 0.01).astype(np.float32),
    )


def mlp(i: int, o: int) -> nn.Sequential:
    """256-256 ReLU MLP as nn.Sequential (the baselines' networks)."""
    return nn.Sequential(
        nn.Linear(i, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, o)
    )


class EagerSAC:
    """The baseline: SAC as commonly written (two nn.Sequential critics, separate passes)."""

    def __init__(self) -> None:
        self.actor = mlp(OBS_DIM, 2 * ACTION_DIM)
        self.q1, self.q2 = mlp(OBS_DIM + ACTION_DIM, 1), mlp(OBS_DIM + ACTION_DIM, 1)
        self.t1, self.t2 = mlp(OBS_DIM + ACTION_DIM, 1), mlp(OBS_DIM + ACTION_DIM, 1)
        self.t1.load_state_dict(self.q1.state_dict())
        self.t2.load_state_dict(self.q2.state_dict())
        self.log_alpha = torch.zeros((), requires_grad=True)
        self.pi_opt = torch.optim.Adam(self.actor.parameters(), 3e-4)
        self.q_opt = torch.optim.Adam([*self.q1.parameters(), *self.q2.parameters()], 3e-4)
        self.a_opt = torch.optim.Adam([self.log_alpha], 3e-4)

    def policy(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, log_std = self.actor(obs).chunk(2, -1)
        dist = torch.distributions.TransformedDistribution(
            torch.distributions.Normal(mean, log_std.clamp(-20, 2).exp()),
            torch.distributions.transforms.TanhTransform(cache_size=1),
        )
        action = dist.rsample()
        return action, dist.log_prob(action).sum(-1)

    def update(self, real: Batch | None, sim: Batch) -> None:
        b = sim
        action, log_pi = self.policy(b.obs)
        alpha_loss = -(self.log_alpha * (log_pi - ACTION_DIM).detach()).mean()
        alpha = self.log_alpha.exp()
        sa = torch.cat((b.obs, action), -1)
        policy_loss = (alpha * log_pi - torch.min(self.q1(sa), self.q2(sa)).squeeze(-1)).mean()
        data = torch.cat((b.obs, b.action), -1)
        q1, q2 = self.q1(data).squeeze(-1), self.q2(data).squeeze(-1)
        next_action, _ = self.policy(b.next_obs)
        nsa = torch.cat((b.next_obs, next_action), -1)
        target_q = torch.min(self.t1(nsa), self.t2(nsa)).squeeze(-1)
        y = (b.reward + 0.99 * (1 - b.terminal) * target_q).detach()
        q_loss = F.mse_loss(q1, y) + F.mse_loss(q2, y)
        self.a_opt.zero_grad()
        alpha_loss.backward()
        self.a_opt.step()
        self.pi_opt.zero_grad()
        policy_loss.backward()
        self.pi_opt.step()
        self.q_opt.zero_grad()
        q_loss.backward()
        self.q_opt.step()
        self.soft_update()

    @torch.no_grad()
    def soft_update(self) -> None:
        for net, target in ((self.q1, self.t1), (self.q2, self.t2)):
            for p, tp in zip(net.parameters(), target.parameters(), strict=True):
                tp.mul_(1 - 5e-3).add_(p, alpha=5e-3)


class EagerH2O(EagerSAC):
    """Baseline: H2O written the reference's way on top of :class:`EagerSAC` (two separate
    classifiers and forwards; u through both classifiers at 10 perturbed next states, the
    ratio in a second pass; separate backwards for temperature, actor and critic)."""

    def __init__(self) -> None:
        super().__init__()
        sa, sas = OBS_DIM + ACTION_DIM, 2 * OBS_DIM + ACTION_DIM
        self.d_sa, self.d_sas = mlp(sa, 2), mlp(sas, 2)
        self.d_opt = torch.optim.Adam([*self.d_sa.parameters(), *self.d_sas.parameters()], 3e-4)

    def logits(self, b: Batch, next_obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        sa = torch.cat((b.obs, b.action), -1)
        z_sa = 2 * torch.tanh(self.d_sa(sa))
        return z_sa, 2 * torch.tanh(self.d_sas(torch.cat((sa, next_obs), -1)))

    def disc_step(self, real: Batch, sim: Batch) -> None:
        both = Batch(*(torch.cat(pair) for pair in zip(real, sim, strict=True)))
        noisy = Batch(*(x + 0.1 * torch.randn_like(x) if x.dim() == 2 else x for x in both))
        z_sa, z_sas = self.logits(noisy, noisy.next_obs)
        label = torch.cat((torch.zeros(len(real.obs)), torch.ones(len(sim.obs)))).long()
        loss = F.cross_entropy(z_sa, label) + F.cross_entropy(z_sas + z_sa, label)
        self.d_opt.zero_grad()
        loss.backward()
        self.d_opt.step()

    @torch.no_grad()
    def weights(self, sim: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        z_sa, z_sas = self.logits(sim, sim.next_obs)
        p_sa, p_sas = z_sa.softmax(-1), (z_sas + z_sa).softmax(-1)
        ratio = (p_sas[:, 0] * p_sa[:, 1] / (p_sas[:, 1] * p_sa[:, 0])).clamp(1e-5, 1)
        rep = Batch(*(x.repeat_interleave(10, 0) for x in sim))
        z_sa, z_sas = self.logits(rep, rep.next_obs + torch.randn_like(rep.next_obs))
        p_sa, p_sas = z_sa.softmax(-1), (z_sas + z_sa).softmax(-1)
        log_r = p_sas[:, 1].log() - p_sas[:, 0].log() + p_sa[:, 0].log() - p_sa[:, 1].log()
        u = log_r.reshape(-1, 10).mean(1).clamp(1e-45, 10)
        return ratio, (u / u.sum()).log()

    def critic_loss(self, real: Batch, sim: Batch, y: torch.Tensor) -> torch.Tensor:
        ratio, log_omega = self.weights(sim)
        n = len(real.obs)
        loss = torch.zeros(())
        for q_net in (self.q1, self.q2):
            q = q_net(
                torch.cat(
                    (torch.cat((real.obs, sim.obs)), torch.cat((real.action, sim.action))), -1
                )
            ).squeeze(-1)
            penalty = torch.logsumexp(q[n:] + log_omega, 0) - q[:n].mean()
            loss = loss + F.mse_loss(q[:n], y[:n]) + (ratio * (q[n:] - y[n:]) ** 2).mean()
            loss = loss + 0.01 * penalty.clamp(-1000, 1000)
        return loss

    def update_h2o(self, batches: UpdateBatches) -> None:
        real, sim, disc_real, disc_sim = batches
        assert real is not None and sim is not None and disc_real is not None
        assert disc_sim is not None  # H2O samples all four
        self.disc_step(disc_real, disc_sim)
        b = Batch(*(torch.cat(pair) for pair in zip(real, sim, strict=True)))
        action, log_pi = self.policy(b.obs)
        alpha_loss = -(self.log_alpha * (log_pi - ACTION_DIM).detach()).mean()
        alpha = self.log_alpha.exp()
        sa = torch.cat((b.obs, action), -1)
        policy_loss = (alpha * log_pi - torch.min(self.q1(sa), self.q2(sa)).squeeze(-1)).mean()
        with torch.no_grad():
            next_action, _ = self.policy(b.next_obs)
            nsa = torch.cat((b.next_obs, next_action), -1)
            target_q = torch.min(self.t1(nsa), self.t2(nsa)).squeeze(-1)
            y = b.reward + 0.99 * (1 - b.terminal) * target_q
        q_loss = self.critic_loss(real, sim, y)
        for opt, loss in ((self.a_opt, alpha_loss), (self.pi_opt, policy_loss)):
            opt.zero_grad()
            loss.backward(retain_graph=True)
            opt.step()
        self.q_opt.zero_grad()
        q_loss.backward()
        self.q_opt.step()
        self.soft_update()


def steps_per_second(step: Callable[[], object], steps: int, repeats: int) -> float:
    """Median steps/s over ``repeats`` blocks of ``steps`` calls (after a warm-up block)."""
    for _ in range(3):
        step()
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(steps):
            step()
        rates.append(steps / (time.perf_counter() - start))
    return statistics.median(rates)


# Issue 15: t6-thu/H2O's gradient steps/s on this machine type (quiet), 1 and 2 threads.
REFERENCE_RATE = {1: 42.5, 2: 54.7}
H2O_VARIANTS: dict[str, dict[str, object]] = {
    "h2o": {},
    "h2o_bf16": {"disc_precision": "bfloat16"},
    "h2o_overlap": {"disc_overlap": True},
    "h2o_bf16_overlap": {"disc_precision": "bfloat16", "disc_overlap": True},
    "h2o_stale_overlap": {"disc_overlap": True, "disc_stale_weights": True},
    "h2o_bf16_stale_overlap": {
        "disc_precision": "bfloat16",
        "disc_overlap": True,
        "disc_stale_weights": True,
    },
}


def measured_variants() -> dict[str, dict[str, object]]:
    """H2O_VARIANTS without the bf16 ones on a CPU known to lack bf16 instructions (there
    they run ~6x slower than float32: nothing to learn from timing them)."""
    if native_bf16() is not False:
        return H2O_VARIANTS
    return {n: v for n, v in H2O_VARIANTS.items() if v.get("disc_precision") != "bfloat16"}


def stack_rates(
    name: str, hidden: int, real: ReplayBuffer, sim: ReplayBuffer, args: Any
) -> dict[int, float]:
    """Runs x steps per second of K-seed stacks (each member its own batches) of
    hidden-hidden networks, the K values interleaved block by block so that load changes hit
    all of them."""
    ks: list[int] = args.k_seeds
    config = AlgorithmConfig(hidden=(hidden, hidden), disc_hidden=(hidden, hidden))
    steps: dict[int, Callable[[], object]] = {}
    for k in ks:
        stack = SeedStack(name, OBS_DIM, ACTION_DIM, config, list(range(k)))
        gens = [torch.Generator().manual_seed(100 + i) for i in range(k)]
        steps[k] = functools.partial(_stack_step, stack, gens, real, sim)
    rates: dict[int, list[float]] = {k: [] for k in ks}
    for _ in range(args.repeats):
        for k in ks:
            rates[k].append(k * steps_per_second(steps[k], max(5, args.steps // k), 1))
    return {k: statistics.median(v) for k, v in rates.items()}


def _stack_step(
    stack: SeedStack, gens: list[torch.Generator], real: ReplayBuffer, sim: ReplayBuffer
) -> object:
    """One step of every member of ``stack`` on its own batches."""
    return stack.update(
        [sample_batches(m, real, sim, g) for m, g in zip(stack.members, gens, strict=True)]
    )


def core_budget(threads: int) -> set[str]:
    """The variants measured with ``threads`` cores: ``disc_overlap`` needs two (a thread
    per branch, one torch thread each), so it appears in the 2-thread block only."""
    names = {"eager_sac", "eager_h2o", "sac", *measured_variants()}
    return names if threads >= 2 else {n for n in names if not n.endswith("overlap")}


def print_rates(threads: int, med: dict[str, float]) -> None:
    """One block of the table for one thread count."""
    sac = med["sac"]
    print(f"threads {threads}")
    print(f"  {'':<22} {'steps/s':>8} {'H2O/SAC':>8} {'x eager':>8} {'x ref':>6}")
    print(f"  {'eager SAC':<22} {med['eager_sac']:>8.1f}")
    print(f"  {'SAC':<22} {sac:>8.1f} {'':>8} {sac / med['eager_sac']:>7.2f}x")
    print(f"  {'eager H2O':<22} {med['eager_h2o']:>8.1f} {sac / med['eager_h2o']:>8.2f}")
    ref = REFERENCE_RATE.get(threads)
    for name in (n for n in H2O_VARIANTS if n in med):
        rate = med[name]
        vs_ref = f"{rate / ref:>5.2f}x" if ref else f"{'-':>6}"
        print(
            f"  {name:<22} {rate:>8.1f} {sac / rate:>8.2f} {rate / med['eager_h2o']:>7.2f}x "
            f"{vs_ref}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=30, help="updates per timed block")
    parser.add_argument("--repeats", type=int, default=5, help="timed blocks (median taken)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--k-seeds", type=int, nargs="*", default=[1, 3, 5])
    parser.add_argument(
        "--stack-hidden", type=int, nargs="+", default=[256, 64], help="seed-stack widths"
    )
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    real, sim = random_buffer(rng), random_buffer(rng)
    gen = torch.Generator().manual_seed(0)
    config = AlgorithmConfig()
    print(f"CPU: {torch.backends.cpu.get_cpu_capability()}, native bf16: {native_bf16()}")
    if native_bf16() is False:
        print("(bf16 variants not timed: this CPU has no bf16 matmul instructions)")
    algos = {"sac": make_algorithm("sac", OBS_DIM, ACTION_DIM, config)}
    for name, switches in measured_variants().items():
        variant = AlgorithmConfig.from_dict(switches)
        algos[name] = make_algorithm("h2o", OBS_DIM, ACTION_DIM, variant)
    eager_sac, eager_h2o = EagerSAC(), EagerH2O()

    def run(name: str) -> Callable[[], object]:
        if name == "eager_sac":
            return lambda: eager_sac.update(None, sim.sample(config.batch_size, gen))
        if name == "eager_h2o":
            return lambda: eager_h2o.update_h2o(sample_batches(algos["h2o"], real, sim, gen))
        algo = algos[name]
        return lambda: algo.update(*sample_batches(algo, real, sim, gen))

    for threads in args.threads:
        torch.set_num_threads(threads)
        # Interleaved: load changes on a shared machine hit every variant alike.
        names = [n for n in ("eager_sac", "eager_h2o", *algos) if n in core_budget(threads)]
        rates: dict[str, list[float]] = {n: [] for n in names}
        for _ in range(args.repeats):
            for name in rates:
                # disc_overlap's two branches get one torch thread each: the same two cores
                torch.set_num_threads(1 if name.endswith("overlap") else threads)
                rates[name].append(steps_per_second(run(name), args.steps, 1))
        torch.set_num_threads(threads)
        print_rates(threads, {k: statistics.median(v) for k, v in rates.items()})
        for hidden in args.stack_hidden if args.k_seeds else ():
            for name in ("h2o", "sac"):
                rates_k = stack_rates(name, hidden, real, sim, args)
                cells = [f"K={k}: {rate:.1f}" for k, rate in rates_k.items()]
                label = f"seed stack {name.upper()} {hidden}-{hidden}"
                print(f"  {label:<24} runs x steps/s  " + "  ".join(cells))
    print(
        "(gradient steps/s, medians; H2O/SAC = cost of one H2O step in SAC steps; x ref = over "
        "the reference's rate recorded in issue 15, not re-measured here)"
    )


if __name__ == "__main__":
    main()
