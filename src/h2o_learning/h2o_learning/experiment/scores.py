"""Normalised scores: 0 = a uniform random policy, 100 = the classical controller.

A raw return says little across profiles and tasks (``stand`` pays ~1 per tick whatever the
policy does until it falls); D4RL's normalisation makes the table readable: a score of 100 is
"as good as the hand-tuned controller", 0 "no better than random actions". Each profile gets its
own references (a policy evaluated in ``gravity_x2`` is scored against the controller and the
random policy in ``gravity_x2``), measured through the same evaluator, on the same reset seeds,
with the same episode count and length as the runs' evaluations.

A run's score averages its last :data:`SCORE_WINDOW` evaluations (fewer if it has fewer), as
single evaluations of a few episodes are noisy.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from h2o_robot_bridge.contract import ACTION_DIM, DEFAULT_TIMING, Timing

SCORE_WINDOW = 3
"""Evaluations averaged into a run's score (the last ones)."""
RANDOM, CLASSICAL = "random", "classical"
MIN_SPREAD = 1e-6
"""Classical minus random return below this: the profile cannot tell policies apart (NaN)."""


@dataclass(frozen=True)
class References:
    """Reference returns of one profile (same evaluation settings as the runs).

    Attributes:
        random: mean return of the uniform random policy.
        classical: mean return of the classical controller.
        episodes: episodes behind each mean.
    """

    random: float
    classical: float
    episodes: int

    def score(self, ret: float) -> float:
        """100 (ret - random) / (classical - random); NaN when the two references coincide."""
        spread = self.classical - self.random
        if not (math.isfinite(ret) and abs(spread) > MIN_SPREAD):
            return float("nan")
        return 100.0 * (ret - self.random) / spread

    def to_dict(self) -> dict[str, float]:
        """As stored in ``references.json``."""
        return asdict(self)


@dataclass
class RandomPolicy:
    """Uniform random actions in [-1, 1]^ACTION_DIM each tick, from its own seeded stream (a
    runner :class:`~h2o_robot_bridge.policy.Policy`)."""

    task: str
    control_hz: float
    seed: int = 0
    name: str = RANDOM

    def __post_init__(self) -> None:
        self._rng = np.random.default_rng(self.seed)

    def reset(self) -> None:
        """Nothing to forget (the stream continues, so episodes differ)."""

    def act(self, obs: NDArray[np.float32]) -> NDArray[np.float32]:
        """A fresh uniform action (ACTION_DIM,), whatever ``obs`` is."""
        return self._rng.uniform(-1.0, 1.0, ACTION_DIM).astype(np.float32)


def measure_references(
    task: str,
    profile: str,
    seeds: Sequence[int],
    max_steps: int | None,
    timing: Timing = DEFAULT_TIMING,
    commands: Sequence[tuple[float, float]] | None = None,
) -> References:
    """The random policy's and the classical controller's mean return in ``profile`` over one
    episode per reset seed (``seeds``: the runs' evaluation seeds), episodes capped at
    ``max_steps`` ticks (None: the task's time limit), through the runs' evaluator;
    ``commands``: the task command of each episode (None: the task's one command)."""
    from h2o_learning.training.evaluation import RunnerEvaluator  # noqa: PLC0415
    from h2o_robot_bridge.controllers import ClassicalController  # noqa: PLC0415

    hz = timing.control_hz
    evaluator = RunnerEvaluator(task, profile, timing=timing)
    try:
        rand = evaluator.run(RandomPolicy(task, hz), seeds, max_steps, commands)
        classical = evaluator.run(
            ClassicalController.from_yaml(None, task, hz), seeds, max_steps, commands
        )
    finally:
        evaluator.close()
    return References(
        random=float(np.mean(rand.returns)),
        classical=float(np.mean(classical.returns)),
        episodes=len(seeds),
    )


def window_mean(rows: Iterable[dict[str, float]], key: str, window: int = SCORE_WINDOW) -> float:
    """Mean of ``key`` over the last ``window`` rows that hold a finite value of it (NaN if
    none): ``rows`` are a run's ``metrics.csv`` rows, oldest first."""
    values = [r[key] for r in rows if key in r and math.isfinite(r[key])]
    return float(np.mean(values[-window:])) if values else float("nan")


def references_from_dict(data: dict[str, Any]) -> dict[str, References]:
    """``references.json``'s ``profiles`` mapping back into :class:`References`."""
    return {name: References(**values) for name, values in data.items()}
