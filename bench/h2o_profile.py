"""Where one H2O gradient step spends its time: a wall-clock table by phase.

Sizes as ``bench/train_speed.py`` (obs 25, action 6, 256-256 networks, 128 real + 128 sim,
discriminators on fresh 256 + 256). The step is replayed phase by phase with the algorithm's
own methods in the order of ``ActorCritic.update`` (joint order), a timer around each phase
(CPU ops are synchronous, so a phase's wall clock is its cost). Per phase: median ms per step
over ``--steps`` steps, share of the step, and the GFLOP of its matmuls (counted from the
layer sizes) with the GFLOP/s reached. ``--ops`` adds torch.profiler's top operators;
``--bf16`` profiles the ``disc_precision: bfloat16`` switch (``disc_overlap`` is not
profiled: this replay is serial).

Run: ``.venv/bin/python bench/h2o_profile.py [--threads 1 --steps 60 --ops]``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch
from train_speed import ACTION_DIM, OBS_DIM, random_buffer  # bench/, the same sizes and data

from h2o_learning.algorithms import AlgorithmConfig, losses, make_algorithm
from h2o_learning.algorithms.base import CriticBatch, CriticInputs, concat_batches
from h2o_learning.algorithms.h2o import H2O
from h2o_learning.training.buffers import ReplayBuffer
from h2o_learning.training.sampling import sample_batches

OBS, ACT, H = OBS_DIM, ACTION_DIM, 256


def mlp_macs(rows: int, in_dim: int, out_dim: int) -> float:
    """Multiply-adds of one forward of a 256-256 MLP over ``rows`` inputs."""
    return rows * (in_dim * H + H * H + H * out_dim)


def phase_gflop() -> dict[str, float]:
    """GFLOP of each phase's matmuls (2 per MAC; a backward is 2 forwards, 1 if only dX)."""
    sa, sas = OBS + ACT, 2 * OBS + ACT
    disc = 3 * (mlp_macs(512, sa, 2) + mlp_macs(512, sas, 2))
    u_pass = mlp_macs(128 * 11, sas, 2)
    actor_s = mlp_macs(256, OBS, 2 * ACT)
    return {
        "discriminator step": 2 * disc / 1e9,
        "u pass / weights": 2 * u_pass / 1e9,
        "actor at s + Q(s, a_pi)": 2 * (actor_s + 2 * mlp_macs(256, sa, 1)) / 1e9,
        "TD target (pi(s'), Qbar)": 2 * (actor_s + 2 * mlp_macs(256, sa, 1)) / 1e9,
        "critic forward + loss": 2 * 2 * mlp_macs(256, sa, 1) / 1e9,
        "backward": 2 * (2 * actor_s + 2 * mlp_macs(256, sa, 1) + 4 * mlp_macs(256, sa, 1)) / 1e9,
    }


class Timer:
    """Accumulates wall-clock seconds per phase name, per step."""

    def __init__(self) -> None:
        self.step: dict[str, float] = {}
        self.steps: list[dict[str, float]] = []

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        yield
        self.step[name] = self.step.get(name, 0.0) + time.perf_counter() - start

    def next_step(self) -> None:
        self.steps.append(self.step)
        self.step = {}


def timed_step(
    algo: H2O, real: ReplayBuffer, sim: ReplayBuffer, gen: torch.Generator, t: Timer
) -> None:
    """One H2O update (joint order), each phase timed; same calls as ``ActorCritic.update``."""
    with t("batch sampling"):
        batches = sample_batches(algo, real, sim, gen)
        assert batches.real is not None and batches.sim is not None  # H2O samples both
    with t("discriminator step"):
        stats = algo._train_discriminators(batches)
    with t("u pass / weights"):
        weight, log_om, gap = algo.dynamics_weights(batches.sim)
    with t("batch concat + normalise"):
        data = CriticBatch(concat_batches(batches.real, batches.sim), 128, weight, log_om)
        obs_n, next_n = algo.normalizer(data.batch.obs), algo.normalizer(data.batch.next_obs)
        alpha = algo.log_alpha.detach().exp()
    with t("actor at s + Q(s, a_pi)"):
        action_pi, log_pi = algo.actor.sample(obs_n, algo.generator)
        q_pi = algo.critic(obs_n, action_pi, detach_params=True).min(dim=0).values
        actor_loss = losses.actor_loss(log_pi, q_pi, alpha)
    with t("TD target (pi(s'), Qbar)"):
        y, next_q = algo._td_target(data.batch, next_n, alpha)
    with t("critic forward + loss"):
        q = algo.critic(obs_n, data.batch.action)
        terms, critic_stats = algo._critic_loss(CriticInputs(q, y, obs_n, next_n, data))
        total = actor_loss + terms.sum()
        total = total + losses.alpha_loss(algo.log_alpha, log_pi, algo.target_entropy)
    names = ["alpha", "actor", "critic"]
    with t("backward"):
        for name in names:
            algo.optimizers[name].zero_grad(set_to_none=True)
        total.backward()
    with t("Adam steps (actor, critic, alpha)"):
        for name in names:
            algo.optimizers[name].step()
    with t("target update"):
        algo._after_step()
    with t("stats to floats"):
        stats.update(gap)
        stats.update(critic_stats)
        stats.update(actor_loss=actor_loss.detach(), target_q_mean=next_q.mean())
        torch.stack([torch.as_tensor(v, dtype=torch.float32) for v in stats.values()]).tolist()
    t.next_step()


def whole_steps(
    algo: H2O, real: ReplayBuffer, sim: ReplayBuffer, gen: torch.Generator, n: int
) -> float:
    """Median ms of ``algo.update`` (untimed phases) over n steps: the instrumented table's
    total should be close to it."""
    times = []
    for _ in range(n):
        start = time.perf_counter()
        algo.update(*sample_batches(algo, real, sim, gen))
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--ops", action="store_true", help="also torch.profiler's top ops")
    parser.add_argument(
        "--bf16", action="store_true", help="with disc_precision: bfloat16 (the opt-in switch)"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    real, sim = random_buffer(rng), random_buffer(rng)
    gen = torch.Generator().manual_seed(0)
    config = AlgorithmConfig(disc_precision="bfloat16" if args.bf16 else "float32")
    algo = make_algorithm("h2o", OBS, ACT, config)
    assert isinstance(algo, H2O)
    t = Timer()
    for _ in range(5):
        timed_step(algo, real, sim, gen, t)
    t.steps.clear()
    for _ in range(args.steps):
        timed_step(algo, real, sim, gen, t)
    per_phase: dict[str, list[float]] = defaultdict(list)
    for step in t.steps:
        for name, sec in step.items():
            per_phase[name].append(1e3 * sec)
    med = {name: statistics.median(v) for name, v in per_phase.items()}
    total = sum(med.values())
    gflop = phase_gflop()
    print(
        f"H2O step phases, {args.threads} thread(s), median of {args.steps} steps, "
        f"disc_precision {config.disc_precision}"
    )
    print(f"{'phase':<36} {'ms':>7} {'share':>6} {'GFLOP':>6} {'GFLOP/s':>8}")
    for name, ms in med.items():
        g = gflop.get(name, 0.0)
        rate = f"{g / ms * 1e3:>8.0f}" if g else f"{'':>8}"
        print(f"{name:<36} {ms:>7.2f} {100 * ms / total:>5.1f}% {g:>6.3f} {rate}")
    g_all = sum(gflop.values())
    print(
        f"{'sum of phases':<36} {total:>7.2f} {100.0:>5.1f}% {g_all:>6.3f} "
        f"{g_all / total * 1e3:>8.0f}"
    )
    print(f"{'algo.update (not instrumented)':<36} {whole_steps(algo, real, sim, gen, 30):>7.2f}")
    if args.ops:
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
            for _ in range(10):
                algo.update(*sample_batches(algo, real, sim, gen))
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15))


if __name__ == "__main__":
    main()
