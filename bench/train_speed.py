"""Gradient steps per second of H2O and SAC at the reference sizes, against an eager baseline.

Sizes: robot observation 25, action 6, 256-256 networks, batch 256 (H2O: 128 real + 128 sim,
discriminators on fresh 256 + 256). Every figure is the median of ``--repeats`` timed blocks of
``--steps`` updates, measured in this run, at 1 and 2 torch threads. Printed ratios:

- ``H2O/SAC``: cost of an H2O step in SAC steps (goal <= 2).
- ``SAC speed-up``: this package's SAC over a straightforward eager SAC (separate ``nn.Linear``
  critics, separate forwards and backwards, default Adam), written below as the baseline.

Run: ``.venv/bin/python bench/train_speed.py [--steps 30 --repeats 5]``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from h2o_learning.algorithms import AlgorithmConfig, make_algorithm
from h2o_learning.algorithms.protocol import Batch
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


class EagerSAC:
    """The baseline: SAC as commonly written (two nn.Sequential critics, separate passes)."""

    def __init__(self) -> None:
        def mlp(i: int, o: int) -> nn.Sequential:
            return nn.Sequential(
                nn.Linear(i, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, o)
            )

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
        with torch.no_grad():
            for net, target in ((self.q1, self.t1), (self.q2, self.t2)):
                for p, tp in zip(net.parameters(), target.parameters(), strict=True):
                    tp.mul_(1 - 5e-3).add_(p, alpha=5e-3)


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=30, help="updates per timed block")
    parser.add_argument("--repeats", type=int, default=5, help="timed blocks (median taken)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    real, sim = random_buffer(rng), random_buffer(rng)
    gen = torch.Generator().manual_seed(0)
    config = AlgorithmConfig()
    algos = {name: make_algorithm(name, OBS_DIM, ACTION_DIM, config) for name in ("sac", "h2o")}
    baseline = EagerSAC()

    def run(name: str) -> Callable[[], object]:
        if name == "eager_sac":
            return lambda: baseline.update(None, sim.sample(config.batch_size, gen))
        algo = algos[name]
        return lambda: algo.update(*sample_batches(algo, real, sim, gen))

    print(
        f"{'threads':>7} {'eager SAC':>10} {'SAC':>8} {'H2O':>8} {'H2O/SAC':>8} "
        f"{'SAC speed-up':>13}"
    )
    for threads in args.threads:
        torch.set_num_threads(threads)
        # Interleave the three so that load changes on a shared machine hit all of them.
        rates: dict[str, list[float]] = {"eager_sac": [], "sac": [], "h2o": []}
        for _ in range(args.repeats):
            for name in rates:
                rates[name].append(steps_per_second(run(name), args.steps, 1))
        med = {k: statistics.median(v) for k, v in rates.items()}
        print(
            f"{threads:>7} {med['eager_sac']:>10.1f} {med['sac']:>8.1f} {med['h2o']:>8.1f} "
            f"{med['sac'] / med['h2o']:>8.2f} {med['sac'] / med['eager_sac']:>12.2f}x"
        )
    print("(gradient steps/s, median of repeats; H2O/SAC = cost of one H2O step in SAC steps)")


if __name__ == "__main__":
    main()
