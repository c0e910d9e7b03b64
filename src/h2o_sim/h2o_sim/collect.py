"""``h2o-collect``: behaviour datasets from the simulator's ``real`` profile (D4RL-style kinds).

The simulator with the ``real`` dynamics stands in for the robot (the paper's sim-to-sim
protocol), so these play the part of the "small real dataset" H2O learns from. The behaviour
policy is the classical controller (:class:`ClassicalController`) with noise:

- ``random``: uniform random actions in [-1, 1]^6 every tick (the robot falls quickly).
- ``medium``: controller action + Gaussian noise N(0, 0.2) per joint (substantial: it wobbles
  and falls now and then; its episode returns are about half of ``expert``'s on ``stand``).
- ``expert``: controller action + N(0, 0.05) (nearly always balances; "expert-ish": the
  controller is good, not optimal for the reward).
- ``medium-replay``: like a training replay buffer: each tick is a uniform random action with
  probability p, else a ``medium`` action; p goes linearly from 1 to 0 over the run.
- ``medium-expert``: the first half of the steps ``medium``, the second half ``expert``
  (concatenated, as in D4RL).

**Mediocre data for commanded tasks** (``move_straight``): ``--forward LO HI`` (and ``--yaw``)
draws each episode's command from that range, which may cover only part of what the policy
is later asked to do (e.g. slow speeds only), and ``--track-fraction F`` hands the
controller of the ``medium`` stretches F times the command, so their mean action is not the
optimal one: at F = 0.5 the robot moves at about half the speed it is asked for. The
observations (and so the rewards) carry the command actually asked for. ``expert`` stretches
always track the full command.

Recorded actions are the ones the robot received: the behaviour's action (noise added, clipped)
after the deploy runner's action shaping, which the env applies (``info["applied_action"]``).
Rewards and
terminations are the env's (the contract task's), episodes end at falls (terminal) and at the
task time limit or the end of the budget (timeouts).

    h2o-collect --kind medium --steps 20000 -o medium.h5 --task stand --seed 0
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from h2o_robot_bridge.contract import ACTION_DIM, OBS_DIM, OBS_SLICES, CommandRange
from h2o_robot_bridge.controllers.classical import ClassicalController
from h2o_robot_bridge.dataset import Dataset, concat_datasets, make_meta, save_dataset
from h2o_robot_bridge.dataset.io import check_writable
from h2o_robot_bridge.deploy.shaping import ShapingConfig
from h2o_robot_bridge.errors import ConfigError, H2OError
from h2o_sim.env import WheelLeggedEnv

KINDS = ("random", "medium", "medium-replay", "expert", "medium-expert")
MEDIUM_NOISE = 0.2
EXPERT_NOISE = 0.05


@dataclass(frozen=True)
class Behaviour:
    """Noise around the controller for one stretch of steps.

    Attributes:
        noise_std: Gaussian noise added to the controller's action.
        random_from, random_to: probability of a uniform random action instead, linearly
            from the first to the last step of the stretch.
        track_fraction: the controller is given this fraction of the task command (1: the
            command; 0.5: half the speed and yaw rate asked for).
    """

    noise_std: float
    random_from: float = 0.0
    random_to: float = 0.0
    track_fraction: float = 1.0

    def controller_obs(self, obs: np.ndarray) -> np.ndarray:
        """The observation the controller acts on: ``obs`` with its command scaled."""
        if self.track_fraction == 1.0:
            return obs
        out = obs.copy()
        out[OBS_SLICES["command"]] *= self.track_fraction
        return out


def behaviours(kind: str, steps: int, track_fraction: float = 1.0) -> list[tuple[Behaviour, int]]:
    """The (behaviour, steps) stretches that make up dataset ``kind``; ``track_fraction`` is
    that of the medium (not the expert) stretches."""
    if not 0.0 <= track_fraction <= 1.0:
        raise ConfigError(f"track_fraction must be in [0, 1], got {track_fraction}")
    medium = Behaviour(MEDIUM_NOISE, track_fraction=track_fraction)
    if kind == "random":
        return [(Behaviour(0.0, 1.0, 1.0), steps)]
    if kind == "medium":
        return [(medium, steps)]
    if kind == "expert":
        return [(Behaviour(EXPERT_NOISE), steps)]
    if kind == "medium-replay":
        return [(Behaviour(MEDIUM_NOISE, 1.0, 0.0, track_fraction), steps)]
    if kind == "medium-expert":
        return [(medium, steps // 2), (Behaviour(EXPERT_NOISE), steps - steps // 2)]
    raise ConfigError(f"unknown dataset kind {kind!r}; known: {list(KINDS)}")


def rollout(
    env: WheelLeggedEnv,
    controller: ClassicalController,
    behaviour: Behaviour,
    steps: int,
    rng: np.random.Generator,
    progress: object | None = None,
) -> dict[str, np.ndarray]:
    """Run ``steps`` env steps (resetting after each episode); the last row ends an episode."""
    obs_buf = np.zeros((steps, OBS_DIM), np.float32)
    next_buf = np.zeros((steps, OBS_DIM), np.float32)
    act_buf = np.zeros((steps, ACTION_DIM), np.float32)
    rew = np.zeros(steps, np.float32)
    term = np.zeros(steps, bool)
    trunc = np.zeros(steps, bool)
    obs, _ = env.reset()
    controller.reset()
    for i in range(steps):
        frac = i / max(steps - 1, 1)
        p_random = behaviour.random_from + (behaviour.random_to - behaviour.random_from) * frac
        if rng.random() < p_random:
            action = rng.uniform(-1.0, 1.0, ACTION_DIM)
        else:
            noise = rng.normal(0.0, behaviour.noise_std, ACTION_DIM)
            action = controller.act(behaviour.controller_obs(obs)) + noise
        action = np.clip(action, -1.0, 1.0).astype(np.float32)
        next_obs, reward, terminated, truncated, info = env.step(action)
        # The action the robot received (after the deploy shaping), as a recorder logs it.
        applied = info["applied_action"]
        obs_buf[i], act_buf[i], rew[i], next_buf[i] = obs, applied, reward, next_obs
        term[i], trunc[i] = terminated, truncated
        if terminated or truncated:
            obs, _ = env.reset()
            controller.reset()
        else:
            obs = next_obs
        if progress is not None:
            progress.update(1)  # type: ignore[attr-defined]
    if steps and not (term[-1] or trunc[-1]):
        trunc[-1] = True  # the budget ended the episode
    return {
        "observations": obs_buf,
        "actions": act_buf,
        "rewards": rew,
        "next_observations": next_buf,
        "terminals": term,
        "timeouts": trunc,
    }


def collect_dataset(
    kind: str,
    steps: int,
    task: str = "stand",
    seed: int = 0,
    dynamics: str = "real",
    progress: bool = False,
    shaping: ShapingConfig | None = None,
    command_range: CommandRange | None = None,
    track_fraction: float = 1.0,
) -> Dataset:
    """A behaviour dataset of ``steps`` transitions (see the module docstring for kinds).

    ``shaping``: the action shaping between behaviour and robot (default: the deploy runner's,
    as when recording a robot through it; ``NO_SHAPING`` records the behaviour's own actions).
    ``command_range``: each episode's command drawn from it (None: the task's one command).
    ``track_fraction``: of the command, given to the medium stretches' controller.

    Raises:
        ConfigError: unknown kind, task or dynamics profile; ``steps`` < 1.
    """
    if steps < 1:
        raise ConfigError(f"steps must be >= 1, got {steps}")
    plan = behaviours(kind, steps, track_fraction)
    env = WheelLeggedEnv(
        task=task, dynamics=dynamics, shaping=shaping, command_range=command_range
    )
    controller = ClassicalController.from_yaml(task=task, control_hz=env.timing.control_hz)
    rng = np.random.default_rng(seed)
    env.reset(seed=seed)
    meta = make_meta(
        task,
        env.timing.control_hz,
        {
            "kind": "sim",
            "dynamics": dynamics,
            "behaviour": kind,
            "seed": seed,
            "policy": "classical",
            "shaping": env.shaping.to_dict(),
            "stretches": [
                {
                    "noise_std": b.noise_std,
                    "random_from": b.random_from,
                    "random_to": b.random_to,
                    "track_fraction": b.track_fraction,
                    "steps": n,
                }
                for b, n in plan
            ],
        },
        # The one command (shape (2,), checked by the env); with a range, the task default.
        command=None if command_range else (float(env.command[0]), float(env.command[1])),
        command_range=env.command_range,
    )
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=steps, unit="step", desc=f"collecting {kind}")
    try:
        parts = [
            Dataset(**rollout(env, controller, b, n, rng, bar), meta=meta) for b, n in plan if n
        ]
    finally:
        env.close()
        if bar is not None:
            bar.close()
    return concat_datasets(parts, meta)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="h2o-collect",
        description="Collect a behaviour dataset in the simulator (default: the 'real' "
        "dynamics, standing in for the robot) with the classical controller plus noise. "
        "Kinds: random (uniform actions), medium (controller + N(0, 0.2)), medium-replay "
        "(random actions with probability falling from 1 to 0, else medium), expert "
        "(controller + N(0, 0.05)), medium-expert (half medium, half expert).",
    )
    parser.add_argument("--kind", choices=KINDS, required=True, help="behaviour policy")
    parser.add_argument("--steps", type=int, default=20000, help="transitions to collect")
    parser.add_argument("-o", "--output", required=True, help="dataset file to write (.h5)")
    parser.add_argument("--task", default="stand", help="contract task (stand, move_straight)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the env and the noise")
    parser.add_argument("--dynamics", default="real", help="dynamics profile (default real)")
    parser.add_argument(
        "--forward",
        nargs=2,
        type=float,
        metavar=("LOW", "HIGH"),
        help="draw each episode's forward speed command uniformly in [LOW, HIGH] m/s "
        "(default: the task's one command)",
    )
    parser.add_argument(
        "--yaw",
        nargs=2,
        type=float,
        metavar=("LOW", "HIGH"),
        default=(0.0, 0.0),
        help="yaw rate command range [rad/s] with --forward (default 0 0)",
    )
    parser.add_argument(
        "--track-fraction",
        type=float,
        default=1.0,
        help="the medium stretches' controller tracks this fraction of the command "
        "(0.5: half the speed asked for; a mediocre behaviour; default 1)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing file")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``h2o-collect``; errors print one clear line and exit 2."""
    args = build_parser().parse_args(argv)
    try:
        check_writable(args.output, args.overwrite)
        commands = None
        if args.forward is not None:
            commands = CommandRange(tuple(args.forward), tuple(args.yaw))
        data = collect_dataset(
            args.kind,
            args.steps,
            args.task,
            args.seed,
            args.dynamics,
            progress=not args.quiet,
            command_range=commands,
            track_fraction=args.track_fraction,
        )
        path = save_dataset(Path(args.output), data, overwrite=args.overwrite)
    except H2OError as err:
        print(f"h2o-collect: error: {err}", file=sys.stderr)
        return 2
    falls = int(data.terminals.sum())
    episodes = int((data.terminals | data.timeouts).sum())
    print(
        f"wrote {data.size} transitions ({episodes} episodes, {falls} falls, mean reward "
        f"{float(data.rewards.mean()):.3f}) to {path}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
