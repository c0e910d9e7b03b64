"""Task commands drawn per episode: the range they come from and the fixed grid they are
evaluated on.

A policy for ``move_straight`` must follow whatever ``/cmd_vel`` the robot is given, not one
speed. Training samples a command per episode, uniformly from a :class:`CommandRange`;
evaluation runs its episodes on :meth:`CommandRange.grid`, a fixed set of commands spread over
the range (episode ``i`` gets grid command ``i % len(grid)``; fewer episodes than grid points
get points spread over the grid), so successive evaluations of a run differ only by the
policy. The observation carries the command, so a dataset row says
which command it was recorded under, whatever produced it (a sampled range, a bag's
``/cmd_vel``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from h2o_robot_bridge.contract.tasks import Task
from h2o_robot_bridge.errors import ConfigError

GRID_POINTS = 3
"""Evaluation grid points per axis of a range (low, middle, high); 1 for a fixed axis."""


@dataclass(frozen=True)
class CommandRange:
    """Uniform ranges of the task command.

    Attributes:
        forward: (low, high) forward speed [m/s].
        yaw: (low, high) yaw rate [rad/s]; (0, 0) for straight-line commands.
    """

    forward: tuple[float, float]
    yaw: tuple[float, float] = (0.0, 0.0)

    def __post_init__(self) -> None:
        for name, pair in (("forward", self.forward), ("yaw", self.yaw)):
            low, high = (float(x) for x in pair)
            if not (np.isfinite(low) and np.isfinite(high) and low <= high):
                raise ConfigError(f"command_range.{name}: need finite low <= high, got {pair}")

    @classmethod
    def parse(cls, value: Any) -> CommandRange:
        """From ``{"forward": [lo, hi], "yaw": [lo, hi]}`` (yaw optional) or a CommandRange."""
        if isinstance(value, CommandRange):
            return value
        known = {"forward", "yaw"}
        if not isinstance(value, dict) or "forward" not in value or set(value) - known:
            raise ConfigError(
                f"command_range must be {{forward: [low, high], yaw: [low, high]}}, got {value!r}"
            )
        try:
            pairs = {k: tuple(float(x) for x in v) for k, v in value.items()}
        except (TypeError, ValueError) as err:
            raise ConfigError(f"command_range: expected pairs of numbers, got {value!r}") from err
        if any(len(p) != 2 for p in pairs.values()):
            raise ConfigError(f"command_range: expected [low, high] pairs, got {value!r}")
        return cls(**pairs)  # type: ignore[arg-type]

    @classmethod
    def single(cls, command: ArrayLike) -> CommandRange:
        """The range holding only ``command`` (v [m/s], w [rad/s])."""
        v, w = (float(x) for x in np.asarray(command, dtype=np.float64).reshape(2))
        return cls((v, v), (w, w))

    def to_dict(self) -> dict[str, list[float]]:
        """``{"forward": [low, high], "yaw": [low, high]}`` (what :meth:`parse` reads)."""
        forward, yaw = self.to_list()
        return {"forward": forward, "yaw": yaw}

    def to_list(self) -> list[list[float]]:
        """``[[forward low, high], [yaw low, high]]`` for dataset and policy metadata."""
        return [[float(x) for x in self.forward], [float(x) for x in self.yaw]]

    def check(self, task: Task) -> CommandRange:
        """This range, if every command in it is one the deploy runner passes unclamped for
        ``task`` (``task.max_command``); else a :class:`ConfigError`."""
        for name, pair, limit in zip(
            ("forward", "yaw"), (self.forward, self.yaw), task.max_command, strict=True
        ):
            if max(abs(pair[0]), abs(pair[1])) > limit:
                raise ConfigError(
                    f"command_range.{name} {list(pair)} exceeds the task's +-{limit} "
                    f"(task {task.name!r}: the deploy runner clamps commands beyond it)"
                )
        return self

    def sample(self, rng: np.random.Generator) -> NDArray[np.float64]:
        """One command (2,) drawn uniformly (forward first, then yaw, from ``rng``)."""
        return np.array([rng.uniform(*self.forward), rng.uniform(*self.yaw)])

    def grid(self, points: int = GRID_POINTS) -> list[tuple[float, float]]:
        """The evaluation commands: ``points`` evenly spaced values per non-fixed axis, forward
        speed varying slowest; (G, 2) as a list of (v [m/s], w [rad/s])."""
        axes = [
            np.linspace(lo, hi, points if hi > lo else 1).tolist()
            for lo, hi in (self.forward, self.yaw)
        ]
        return [(float(v), float(w)) for v in axes[0] for w in axes[1]]

    def contains(self, commands: ArrayLike, tol: float = 1e-6) -> NDArray[np.bool_]:
        """Which commands (..., 2) lie in the range (within ``tol``), (...,)."""
        c = np.asarray(commands, dtype=np.float64)
        lo = np.array([self.forward[0], self.yaw[0]]) - tol
        hi = np.array([self.forward[1], self.yaw[1]]) + tol
        return np.all((c >= lo) & (c <= hi), axis=-1)


def episode_commands(
    command_range: CommandRange | None, episodes: int
) -> list[tuple[float, float]] | None:
    """The command of each of ``episodes`` evaluation episodes: the range's grid, round robin,
    or, for fewer episodes than grid points, points spread evenly over the grid (first, ...,
    last); None without a range (every episode uses the run's one command)."""
    if command_range is None:
        return None
    grid = command_range.grid()
    if episodes < len(grid):
        picks = np.linspace(0, len(grid) - 1, episodes).round().astype(int)
        return [grid[int(i)] for i in picks]
    return [grid[i % len(grid)] for i in range(episodes)]


def trained_commands(metadata: dict[str, Any] | None) -> CommandRange | None:
    """The commands a policy was trained on, from its metadata's ``extra.commands`` (None:
    not recorded, e.g. an export from before they were, or a controller)."""
    value = ((metadata or {}).get("extra") or {}).get("commands")
    if value is None:
        return None
    try:
        return CommandRange.parse(value)
    except ConfigError:
        return None  # unreadable provenance: treated as not recorded, never a load failure
