"""Deterministic evaluation episodes of a policy in a simulator profile, through the runner.

Evaluation runs the policy the way the robot runs it (docs/control_loop.md): through the deploy
runner's core (:class:`~h2o_robot_bridge.deploy.runner.PolicyRunner`: guards, observation,
shaping, joint command) driving the simulator in-process (:class:`h2o_sim.runner_loop.RunnerLoop`),
scored from the runner's observations with the same :class:`~h2o_learning.demo.episodes.
EpisodeMonitor` that scores DDS deployments. So "eval return" is "what the runner will do".
:func:`run_episodes` (a plain env loop) stays for envs and ablations.

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

from h2o_robot_bridge.contract import (
    DEFAULT_TIMING,
    CommandRange,
    Timing,
    get_task,
    observation_from_snapshot,
)
from h2o_robot_bridge.deploy.levels import FallbackConfig
from h2o_robot_bridge.deploy.runner import PolicyRunner, RunnerConfig
from h2o_robot_bridge.deploy.safety import SafetyConfig
from h2o_robot_bridge.policy import Policy

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
    randomize: dict[str, tuple[float, float]] | None = None,
    command_range: CommandRange | None = None,
) -> Any:
    """The simulator env (``h2o_sim.env.WheelLeggedEnv``) for a task and a dynamics profile,
    at the control loop's ``timing`` (the caller's, so training and evaluation share one), with
    the deploy runner's action shaping, optional per-episode knob ``randomize`` ranges and an
    optional ``command_range`` each episode's command is drawn from."""
    from h2o_sim.env import WheelLeggedEnv  # noqa: PLC0415 - pybullet only when simulating

    return WheelLeggedEnv(
        task=task,
        dynamics=dynamics,
        timing=timing,
        overrides=overrides or None,
        command=command,
        randomize=randomize or None,
        command_range=command_range,
    )


@dataclass
class TorchPolicy:
    """A learner's deterministic policy as a runner :class:`~h2o_robot_bridge.policy.Policy`.

    Attributes:
        act_fn: observation (OBS_DIM,) -> action (ACTION_DIM,) in [-1, 1].
        task: contract task.
        control_hz: control rate [Hz].
        name: for logs.
    """

    act_fn: ActFn
    task: str
    control_hz: float
    name: str = "learner"

    def reset(self) -> None:
        """Stateless: nothing to forget."""

    def act(self, obs: NDArray[np.float32]) -> NDArray[np.float32]:
        """The policy's action for one observation."""
        return self.act_fn(obs)


def runner_config(
    timing: Timing = DEFAULT_TIMING, safety: SafetyConfig | None = None
) -> RunnerConfig:
    """The deploy runner's settings (``config/bridge/deploy.yaml`` defaults) at ``timing``,
    without the fallback controller: an evaluation measures the policy alone (a fault then
    gives the controlled stop, and the robot falls as it would without a safety net)."""
    from dataclasses import replace  # noqa: PLC0415

    base = safety or SafetyConfig()
    return RunnerConfig(
        safety=replace(base, control_hz=timing.control_hz),
        fallback=FallbackConfig(controller="none"),
    )


@dataclass
class RunnerEvaluator:
    """Evaluation episodes through the deploy runner core in one simulator profile.

    Args:
        task: contract task (reward, termination, time limit).
        dynamics: profile name or YAML path (the robot stand-in: ``real``).
        overrides: knobs on top of the profile (e.g. ``{"latency_steps": 10}``).
        timing: control loop timing.
        command: task command (``/cmd_vel``) or None for the task's default.
        config: runner settings (default: the deploy defaults at ``timing``).
        sim_seed: seed of the simulator's own stream; an episode seed of None in :meth:`run`
            continues that stream, as the sim node's ``~/reset`` service does (so an episode can
            start from the very state a DDS deployment's episode started from).
    """

    task: str
    dynamics: str = "real"
    overrides: dict[str, float] | None = None
    timing: Timing = DEFAULT_TIMING
    command: tuple[float, float] | None = None
    config: RunnerConfig | None = None
    sim_seed: int | None = None

    def __post_init__(self) -> None:
        from h2o_sim.dynamics import resolve_profile  # noqa: PLC0415 - pybullet when simulating
        from h2o_sim.simulator import WheelLeggedSim  # noqa: PLC0415

        get_task(self.task)
        profile = resolve_profile(self.dynamics, self.overrides)
        self.sim = WheelLeggedSim(profile, self.timing, seed=self.sim_seed)
        self.runner_config = self.config or runner_config(self.timing)

    def run(
        self,
        policy: Policy,
        seeds: Sequence[int | None],
        max_steps: int | None = None,
        commands: Sequence[tuple[float, float]] | None = None,
    ) -> EvalResult:
        """One episode per reset seed (None: continue the simulator's stream) of ``max_steps``
        ticks (default: the task's time limit; more is allowed, e.g. 20 s of ``stand``);
        returns an :class:`EvalResult` (falls include the runner's "stuck" case: tilted past
        its cut-off for 2 s without falling). ``commands``: one ``/cmd_vel`` command per
        episode (v [m/s], w [rad/s]; e.g. :func:`~h2o_robot_bridge.contract.episode_commands`),
        else the evaluator's ``command`` throughout."""
        if commands is not None and len(commands) != len(seeds):
            raise ValueError(f"{len(commands)} commands for {len(seeds)} episodes")
        from h2o_learning.demo.episodes import EpisodeMonitor  # noqa: PLC0415
        from h2o_sim.env import episode_sim_seed  # noqa: PLC0415
        from h2o_sim.runner_loop import RunnerLoop  # noqa: PLC0415

        limit = max_steps or get_task(self.task).max_episode_steps(self.timing.control_hz)
        loop = RunnerLoop(PolicyRunner(policy, self.runner_config), self.sim, self.command)
        monitor = EpisodeMonitor(
            self.task,
            self.timing.control_hz,
            time_limit_steps=limit,
            stuck_tilt=self.runner_config.safety.tilt_limit,
        )
        for i, seed in enumerate(seeds):
            if commands is not None:
                loop.command = np.asarray(commands[i], dtype=np.float64)
            cmd = loop.task_command
            readings = loop.reset(seed=None if seed is None else episode_sim_seed(int(seed)))
            monitor.start()
            first = loop.runner.safety.last_output  # the safe action after a restart
            monitor.tick(observation_from_snapshot(readings.snapshot(), cmd, first))
            while monitor.active:
                tick = loop.tick()
                obs = observation_from_snapshot(tick.readings.snapshot(), cmd, tick.result.action)
                monitor.tick(obs)
        eps = monitor.episodes
        return EvalResult(
            np.array([e.ret for e in eps]),
            np.array([e.steps for e in eps], dtype=np.int64),
            np.array([e.fell for e in eps]),
        )

    def close(self) -> None:
        """Release the simulator."""
        self.sim.close()


def eval_seeds(seed: int, episodes: int, stream: int = 1) -> list[int]:
    """Reset seeds of the evaluation episodes of a run (fixed for the whole run)."""
    state = np.random.SeedSequence(seed, spawn_key=(stream,)).generate_state(episodes)
    return [int(s) for s in state]


def run_episodes(
    act: ActFn,
    env: Any,
    seeds: Sequence[int],
    max_steps: int | None = None,
    commands: Sequence[tuple[float, float]] | None = None,
) -> EvalResult:
    """Roll out one episode per reset seed with ``act``; stop at termination, truncation or
    ``max_steps``. ``commands``: the task command of each episode (None: the env's)."""
    if commands is not None and len(commands) != len(seeds):
        raise ValueError(f"{len(commands)} commands for {len(seeds)} episodes")
    returns, lengths, falls = [], [], []
    for i, seed in enumerate(seeds):
        options = None if commands is None else {"command": commands[i]}
        obs, _ = env.reset(seed=int(seed), options=options)
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
