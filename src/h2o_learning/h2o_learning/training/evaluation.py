"""Deterministic evaluation episodes of a policy in a simulator profile.

The ``real`` profile stands in for the robot (docs/algorithm.md: evaluating in the sim would be
misleading); the trainer also evaluates in the sim profile and logs it separately. Evaluation
episodes use fixed reset seeds (:func:`eval_seeds`), so successive evaluations differ only by
the policy, and never touch the training random streams.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from h2o_robot_bridge.contract import DEFAULT_TIMING, Timing, get_task

ActFn = Callable[[NDArray[np.float32]], NDArray[np.float32]]
"""One raw observation (OBS_DIM,) -> one action (ACTION_DIM,) in [-1, 1]."""


@dataclass(frozen=True)
class EvalResult:
    """Outcome of a set of evaluation episodes.

    Attributes:
        returns: (E,) undiscounted episode returns.
        lengths: (E,) episode lengths [control steps].
        falls: (E,) True where the episode ended by termination (a fall).
    """

    returns: NDArray[np.float64]
    lengths: NDArray[np.int64]
    falls: NDArray[np.bool_]

    def metrics(self, prefix: str) -> dict[str, float]:
        """``{prefix}/return_mean`` etc. for logging."""
        return {
            f"{prefix}/return_mean": float(np.mean(self.returns)),
            f"{prefix}/return_std": float(np.std(self.returns)),
            f"{prefix}/length_mean": float(np.mean(self.lengths)),
            f"{prefix}/fall_rate": float(np.mean(self.falls)),
        }


def make_env(
    task: str,
    dynamics: str,
    overrides: dict[str, float] | None = None,
    command: tuple[float, float] | None = None,
    timing: Timing = DEFAULT_TIMING,
) -> Any:
    """The simulator env (``h2o_sim.env.WheelLeggedEnv``) for a task and a dynamics profile,
    at the control loop's ``timing`` (the caller's, so training and evaluation share one)."""
    from h2o_sim.env import WheelLeggedEnv  # noqa: PLC0415 - pybullet only when simulating

    return WheelLeggedEnv(
        task=task,
        dynamics=dynamics,
        timing=timing,
        overrides=overrides or None,
        command=command,
    )


def eval_seeds(seed: int, episodes: int, stream: int = 1) -> list[int]:
    """Reset seeds of the evaluation episodes of a run (fixed for the whole run)."""
    state = np.random.SeedSequence(seed, spawn_key=(stream,)).generate_state(episodes)
    return [int(s) for s in state]


def run_episodes(
    act: ActFn, env: Any, seeds: Sequence[int], max_steps: int | None = None
) -> EvalResult:
    """Roll out one episode per reset seed with ``act``; stop at termination, truncation or
    ``max_steps``."""
    returns, lengths, falls = [], [], []
    for seed in seeds:
        obs, _ = env.reset(seed=int(seed))
        total, steps, fell = 0.0, 0, False
        while True:
            obs, reward, terminated, truncated, _ = env.step(act(obs))
            total += float(reward)
            steps += 1
            if terminated or truncated or (max_steps is not None and steps >= max_steps):
                fell = bool(terminated)
                break
        returns.append(total)
        lengths.append(steps)
        falls.append(fell)
    return EvalResult(np.array(returns), np.array(lengths, dtype=np.int64), np.array(falls))


def episode_limit(task: str, control_hz: float, max_steps: int | None) -> int:
    """Evaluation episode length: the task's time limit, capped by ``max_steps``."""
    limit = get_task(task).max_episode_steps(control_hz)
    return limit if max_steps is None else min(limit, max_steps)
