"""Episodes of a robot driven over ROS, measured from what is observed (pure, no rclpy).

The demo's supervisor node (:mod:`h2o_learning.nodes.supervisor_node`) feeds one observation per
sensor tick (built with the contract's ``build_observation`` from ``/joint_states``,
``/imu/data`` and the newest ``/joint_commands`` action, which is the ``prev_action`` field) to an
:class:`EpisodeMonitor`. The monitor scores every transition with the contract task exactly as
the env does (``task.reward(obs, action, next_obs)`` with ``action = next_obs.prev_action``) and
says when an episode ends:

- ``fall``: ``task.terminated(obs)`` (tilt above the task's ``fall_tilt``);
- ``stuck``: tilt above ``stuck_tilt`` (the runner's tilt cut-off, which latches the safe action)
  for ``stuck_steps`` ticks without reaching ``fall_tilt``; counted as a fall;
- ``time_limit``: ``time_limit_steps`` transitions (the task's limit by default).

Time upright of an episode is its number of transitions times the control period (the simulator
advances exactly one period per published tick, whatever the wall clock does).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from h2o_robot_bridge.contract import OBS_SLICES, get_task, tilt_from_projected_gravity
from h2o_robot_bridge.errors import ConfigError

FALL, STUCK, TIME_LIMIT, STOPPED = "fall", "stuck", "time_limit", "stopped"


@dataclass(frozen=True)
class EpisodeRecord:
    """One finished episode.

    Attributes:
        steps: transitions scored (control ticks after the first).
        ret: undiscounted return (sum of the task reward over the transitions).
        end: why it ended (``fall``, ``stuck``, ``time_limit``, ``stopped``).
        seconds: time upright [s] = steps / control_hz.
    """

    steps: int
    ret: float
    end: str
    seconds: float

    @property
    def fell(self) -> bool:
        """True when the robot fell (or was stuck past the runner's tilt cut-off)."""
        return self.end in (FALL, STUCK)


@dataclass
class EpisodeMonitor:
    """Scores ticks of the current episode and decides when it ends.

    Args:
        task: contract task name.
        control_hz: control rate [Hz].
        time_limit_steps: end an episode after this many transitions (None: never; the
            task's limit is ``get_task(task).max_episode_steps(control_hz)``).
        stuck_tilt: tilt [rad] above which the runner has latched its safe action.
        stuck_steps: ticks above ``stuck_tilt`` (but not fallen) that end the episode.
    """

    task: str = "stand"
    control_hz: float = 100.0
    time_limit_steps: int | None = None
    stuck_tilt: float = 0.5
    stuck_steps: int = 200
    episodes: list[EpisodeRecord] = field(default_factory=list)
    trace: list[tuple[int, int, float, float]] = field(default_factory=list)
    """(episode, step, tilt [rad], reward) of every scored tick, for plots."""

    def __post_init__(self) -> None:
        self._task = get_task(self.task)
        if not self.control_hz > 0:
            raise ConfigError(f"control_hz must be > 0, got {self.control_hz}")
        if self.time_limit_steps is not None and self.time_limit_steps < 1:
            raise ConfigError(f"time_limit_steps must be >= 1, got {self.time_limit_steps}")
        self._prev: NDArray[np.floating] | None = None
        self._steps, self._ret, self._above = 0, 0.0, 0
        self.active = False

    @property
    def steps(self) -> int:
        """Transitions scored in the current episode."""
        return self._steps

    @property
    def total_steps(self) -> int:
        """Transitions scored over all episodes (finished and current)."""
        return sum(e.steps for e in self.episodes) + (self._steps if self.active else 0)

    def start(self) -> None:
        """Begin an episode; its first tick gives the first observation (no reward yet)."""
        self._prev, self._steps, self._ret, self._above = None, 0, 0.0, 0
        self.active = True

    def tick(self, obs: NDArray[np.floating]) -> str | None:
        """Score one observation (OBS_DIM,) of the active episode.

        Returns:
            the end reason when this tick ends the episode (the record is then appended and
            the monitor inactive), else None. Ignored (None) while inactive.
        """
        if not self.active:
            return None
        obs = np.asarray(obs, dtype=np.float64)
        tilt = float(tilt_from_projected_gravity(obs[OBS_SLICES["projected_gravity"]]))
        if self._prev is not None:
            action = obs[OBS_SLICES["prev_action"]]
            reward = float(self._task.reward(self._prev, action, obs))
            self._steps += 1
            self._ret += reward
            self.trace.append((len(self.episodes), self._steps, tilt, reward))
        self._prev = obs
        self._above = self._above + 1 if tilt > self.stuck_tilt else 0
        if bool(self._task.terminated(obs)):
            return self.end(FALL)
        if self._above >= self.stuck_steps:
            return self.end(STUCK)
        if self.time_limit_steps is not None and self._steps >= self.time_limit_steps:
            return self.end(TIME_LIMIT)
        return None

    def end(self, reason: str) -> str:
        """Close the active episode with ``reason`` (e.g. ``stopped`` at the end of a run)."""
        if self.active:
            seconds = self._steps / self.control_hz
            self.episodes.append(EpisodeRecord(self._steps, self._ret, reason, seconds))
        self.active = False
        return reason

    def summary(self) -> dict[str, Any]:
        """JSON-ready: the episodes, and mean/std of time upright and return, fall count."""
        eps = self.episodes
        seconds = np.array([e.seconds for e in eps], dtype=float)
        returns = np.array([e.ret for e in eps], dtype=float)
        return {
            "episodes": [asdict(e) for e in eps],
            "n_episodes": len(eps),
            "falls": int(sum(e.fell for e in eps)),
            "seconds_mean": float(seconds.mean()) if eps else float("nan"),
            "seconds_std": float(seconds.std()) if eps else float("nan"),
            "return_mean": float(returns.mean()) if eps else float("nan"),
            "return_std": float(returns.std()) if eps else float("nan"),
            "transitions": int(sum(e.steps for e in eps)),
        }


WAITING, RESETTING, RELEASING, ACTIVE, DONE = "waiting", "resetting", "releasing", "active", "done"
RESET, RELEASE, FINISH = "reset", "release", "finish"


@dataclass
class EpisodeSupervisor:
    """When to reset the robot and release the runner: the supervisor node's state machine.

    Phases: ``waiting`` (for ``warmup_ticks`` ticks with the runner commanding) -> ``resetting``
    (the node publishes the recorder's reset topic, then calls the simulator's reset service)
    -> ``releasing`` (the node calls the runner's release service until it succeeds: a fall
    latched its tilt cut-off) -> ``active`` (the monitor scores an episode) -> ``resetting``
    ... -> ``done``.

    Args:
        monitor: scores the episodes.
        transitions: finish once this many transitions were scored (collection), or None.
        episodes: finish after this many episodes (evaluation), or None.
        warmup_ticks: commanded ticks to see before the first reset.
        retry_every: ticks between two attempts of an outstanding reset or release.
    """

    monitor: EpisodeMonitor
    transitions: int | None = None
    episodes: int | None = None
    warmup_ticks: int = 20
    retry_every: int = 10
    phase: str = WAITING

    def __post_init__(self) -> None:
        if (self.transitions is None) == (self.episodes is None):
            raise ConfigError("give exactly one of transitions (collect) or episodes (evaluate)")
        self._commanded = 0
        self._waited = 0

    def on_tick(self, obs: NDArray[np.floating], commanded: bool) -> str | None:
        """One sensor tick; returns ``reset``, ``release``, ``finish`` or None (nothing to do).

        While a reset or a release is outstanding it is asked for again every
        ``retry_every`` ticks (the node drops a request while the previous call is pending).
        """
        if self.phase == WAITING:
            self._commanded += int(commanded)
            if self._commanded >= self.warmup_ticks:
                return self._enter(RESETTING)
        elif self.phase in (RESETTING, RELEASING):
            self._waited += 1
            if self._waited >= self.retry_every:
                self._waited = 0
                return RESET if self.phase == RESETTING else RELEASE
        elif self.phase == ACTIVE:
            return self._active_tick(obs)
        return None

    def _enter(self, phase: str) -> str:
        self.phase, self._waited = phase, 0
        return RESET if phase == RESETTING else RELEASE

    def _active_tick(self, obs: NDArray[np.floating]) -> str | None:
        ended = self.monitor.tick(obs)
        target = self.transitions
        if ended is None and target is not None and self.monitor.total_steps >= target:
            ended = self.monitor.end(STOPPED)
        if ended is None:
            return None
        if self._finished():
            self.phase = DONE
            return FINISH
        return self._enter(RESETTING)

    def _finished(self) -> bool:
        if self.transitions is not None:
            return self.monitor.total_steps >= self.transitions
        return len(self.monitor.episodes) >= int(self.episodes or 0)

    def on_reset_done(self) -> str | None:
        """The simulator reset answered; the runner must now be released."""
        if self.phase != RESETTING:
            return None
        return self._enter(RELEASING)

    def on_release(self, success: bool) -> None:
        """Release answered; on success a new episode starts with the next tick."""
        if success and self.phase == RELEASING:
            self.phase = ACTIVE
            self.monitor.start()
