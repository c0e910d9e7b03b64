"""Console scripts ``h2o-train``, ``h2o-eval`` and ``h2o-export`` (plain Python, no ROS).

Every h2o error (bad config, dataset, checkpoint, policy) is printed as one ``error: ...`` line
and exits with status 2; nothing trains or writes before the inputs are checked.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from h2o_robot_bridge.errors import H2OError
from h2o_robot_bridge.policy import Policy

TRAIN_EPILOG = """\
examples:
  h2o-train --config h2o_stand.yaml --set data.path=medium.h5
  h2o-train --config config/train/sac_stand.yaml --set loop.epochs=20 --set seed=3
  h2o-train --config h2o_stand.yaml --run-dir runs/h2o-a --resume   # continue a run

--config takes a path or a name shipped in config/train: <algorithm>_stand for each algorithm
(h2o_stand, sac_stand, ...) and smoke_* for a quick try. --set overrides any key with a YAML
value (section.key=value, repeatable); unknown keys are errors. The run folder gets the resolved
config, checkpoints (and checkpoints/best.pt), metrics.csv, TensorBoard events (tb/), curves.png,
best_<task>.onnx and last_<task>.onnx, and <task>.onnx: the one run.export names (best, the
default: the epoch with the highest evaluation return on `real`; or last), with export.json
saying which and why.
"""

EVAL_EPILOG = """\
examples:
  h2o-eval --policy runs/h2o-a/stand.onnx --dynamics real --episodes 5
  h2o-eval --checkpoint runs/h2o-a --dynamics gravity_x2 --episodes 10 --json
  h2o-eval --classical --set latency_steps=10 --set mass_scale=1.15
  h2o-eval --policy stand.onnx --loop env        # the plain env loop, for comparison

The policy runs through the deploy runner's core (guards, observation, action shaping, joint
command; --loop runner, the default) driving the simulator in-process, exactly as
policy_runner runs it on the robot, so the return printed is what the runner will do. The
simulator's actuation delay and other knobs come from --dynamics and --set. Episodes are
deterministic (no exploration noise) and seeded (--seed), so two evaluations of the same
policy print the same numbers. A fall includes the runner's "stuck" case (tilt past its
cut-off for 2 s).
"""


def run_cli(
    main: Callable[[argparse.Namespace], int],
    parser: argparse.ArgumentParser,
    argv: Sequence[str] | None,
    prefix: str = "error",
) -> int:
    """Parse ``argv`` and run ``main``: an h2o error is one ``<prefix>: ...`` line, exit 2."""
    args = parser.parse_args(argv)
    try:
        return main(args)
    except H2OError as err:
        print(f"{prefix}: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


# ------------------------------------------------------------------------------- h2o-train
def train_parser() -> argparse.ArgumentParser:
    """Arguments of ``h2o-train``."""
    p = argparse.ArgumentParser(
        prog="h2o-train",
        description="Train a wheel-legged policy with H2O (or SAC/CQL/DARC/DARC+): online in "
        "the simulator with unreal dynamics, offline on a real dataset, evaluated in the "
        "'real' dynamics profile; exports an ONNX policy at the end.",
        epilog=TRAIN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--config", required=True, help="training config: path or shipped name")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key, e.g. loop.epochs=20",
    )
    p.add_argument(
        "--run-dir",
        type=Path,
        default=None,
        help="run folder (default: <run.root>/<name>-<date-time>)",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --run-dir from its newest checkpoint",
    )
    p.add_argument("--no-export", action="store_true", help="do not export ONNX at the end")
    p.add_argument(
        "--print-config",
        action="store_true",
        help="print the resolved config and its hash, then exit",
    )
    return p


def _train(args: argparse.Namespace) -> int:
    import yaml  # noqa: PLC0415

    from h2o_learning.training.config import config_hash, config_to_dict, load_config  # noqa: PLC0415

    config = load_config(args.config, args.overrides)
    if args.print_config:
        print(f"# hash {config_hash(config)}")
        print(yaml.safe_dump(config_to_dict(config), sort_keys=False), end="")
        return 0
    from h2o_learning.training.trainer import Trainer  # noqa: PLC0415 - torch/pybullet import

    trainer = Trainer(config, args.run_dir, resume=args.resume)
    print(f"run folder: {trainer.folder.root}  (config hash {trainer.hash})", flush=True)
    try:
        result = trainer.run(export=not args.no_export)
    finally:
        trainer.close()
    summary = {k: round(v, 4) for k, v in result.last_metrics.items() if k.startswith("eval")}
    print(f"done: {result.epochs} epochs in {result.run_dir}; last evaluation {summary}")
    if result.policy_path is not None and result.export is not None:
        print(f"policy: {result.policy_path}; exported {result.export.reason}")
    return 0


def train_main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``h2o-train``."""
    return run_cli(_train, train_parser(), argv)


# -------------------------------------------------------------------------------- h2o-eval
def eval_parser() -> argparse.ArgumentParser:
    """Arguments of ``h2o-eval``."""
    p = argparse.ArgumentParser(
        prog="h2o-eval",
        description="Evaluate a policy (ONNX export or training checkpoint) with deterministic "
        "episodes in a simulator dynamics profile.",
        epilog=EVAL_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--policy", type=Path, help="exported .onnx policy")
    src.add_argument("--checkpoint", type=Path, help="checkpoint file or run folder")
    src.add_argument(
        "--classical", action="store_true", help="the classical controller (the baseline)"
    )
    add_dynamics_arguments(p)
    p.add_argument(
        "--loop",
        choices=("runner", "env"),
        default="runner",
        help="runner: through the deploy runner core (default); env: the plain gym env loop",
    )
    p.add_argument("--task", default="stand", help="task of --classical (default stand)")
    p.add_argument("--episodes", type=int, default=5, help="number of episodes (default 5)")
    p.add_argument("--seed", type=int, default=0, help="seed of the episode resets")
    p.add_argument(
        "--max-steps",
        type=int,
        default=None,
        help="cap on episode length [control steps] (default: task time limit)",
    )
    p.add_argument(
        "--forward",
        nargs=2,
        type=float,
        metavar=("LOW", "HIGH"),
        help="evaluate on the fixed grid of commands of this forward speed range [m/s] "
        "(episode i gets grid command i mod the grid size; default: a checkpoint's training "
        "range, else the task's one command)",
    )
    p.add_argument(
        "--yaw",
        nargs=2,
        type=float,
        metavar=("LOW", "HIGH"),
        default=(0.0, 0.0),
        help="yaw rate range of that grid [rad/s] (with --forward; default 0 0)",
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    return p


def _load_policy(args: argparse.Namespace) -> tuple[Policy, tuple[float, float] | None, Any]:
    """(runner policy, command, command range or None) for --policy, --checkpoint or
    --classical."""
    from h2o_robot_bridge.contract import DEFAULT_TIMING  # noqa: PLC0415

    if args.classical:
        from h2o_robot_bridge.controllers import ClassicalController  # noqa: PLC0415

        controller = ClassicalController.from_yaml(None, args.task, DEFAULT_TIMING.control_hz)
        return controller, None, None
    if args.policy is not None:
        from h2o_robot_bridge.deploy.onnx_policy import OnnxPolicy  # noqa: PLC0415

        return OnnxPolicy(args.policy), None, None
    import torch  # noqa: PLC0415

    from h2o_learning.training.build import algorithm_from_checkpoint, command_of  # noqa: PLC0415
    from h2o_learning.training.evaluation import TorchPolicy  # noqa: PLC0415

    config, algo, _ = algorithm_from_checkpoint(args.checkpoint)

    def act(obs: np.ndarray) -> np.ndarray:
        x = torch.as_tensor(obs, dtype=torch.float32)[None]
        return algo.act(x, deterministic=True)[0].cpu().numpy()

    policy = TorchPolicy(act, config.env.task, DEFAULT_TIMING.control_hz, str(args.checkpoint))
    return policy, command_of(config), config.env.command_range


def add_dynamics_arguments(p: argparse.ArgumentParser) -> None:
    """``--dynamics PROFILE`` and repeatable ``--set KNOB=VALUE`` (read by
    :func:`parse_overrides`)."""
    p.add_argument(
        "--dynamics", default="real", help="dynamics profile name or YAML path (default: real)"
    )
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KNOB=VALUE",
        help="dynamics knob on top of --dynamics (repeatable), e.g. latency_steps=10",
    )


def parse_overrides(items: Sequence[str]) -> dict[str, float]:
    """``["knob=value", ...]`` -> ``{knob: value}`` (validated by the simulator)."""
    from h2o_robot_bridge.errors import ConfigError  # noqa: PLC0415

    out: dict[str, float] = {}
    for item in items:
        name, sep, value = item.partition("=")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep:
            raise ConfigError(f"--set expects KNOB=NUMBER, got {item!r}")
    return out


def _eval(args: argparse.Namespace) -> int:
    from h2o_learning.training.evaluation import (  # noqa: PLC0415
        RunnerEvaluator,
        episode_limit,
        eval_seeds,
        make_env,
        run_episodes,
    )
    from h2o_robot_bridge.contract import (  # noqa: PLC0415
        DEFAULT_TIMING,
        CommandRange,
        episode_commands,
        get_task,
    )
    from h2o_robot_bridge.errors import ConfigError  # noqa: PLC0415

    if args.episodes < 1:
        raise ConfigError(f"--episodes must be >= 1, got {args.episodes}")
    overrides = parse_overrides(args.overrides)
    policy, command, command_range = _load_policy(args)
    task, seeds = policy.task, eval_seeds(args.seed, args.episodes)
    if args.forward is not None:
        command_range = CommandRange(tuple(args.forward), tuple(args.yaw))
    commands = None
    if command_range is not None:
        commands = episode_commands(command_range.check(get_task(task)), len(seeds))
    limit = episode_limit(task, DEFAULT_TIMING.control_hz, args.max_steps)
    if args.loop == "runner":
        evaluator = RunnerEvaluator(task, args.dynamics, overrides or None, command=command)
        try:
            result = evaluator.run(policy, seeds, limit, commands)
        finally:
            evaluator.close()
    else:
        env = make_env(task, args.dynamics, overrides or None, command, DEFAULT_TIMING)
        try:
            result = run_episodes(policy.act, env, seeds, limit, commands)
        finally:
            env.close()
    metrics = result.metrics(f"eval_{args.dynamics}")
    if args.json:
        print(
            json.dumps(
                {
                    "task": task,
                    "dynamics": args.dynamics,
                    "overrides": overrides,
                    "loop": args.loop,
                    "returns": result.returns.tolist(),
                    "commands": commands,
                    **metrics,
                }
            )
        )
    else:
        where = ", ".join([args.dynamics, *args.overrides])
        print(f"{policy.name}: task {task}, dynamics {where}, {args.episodes} episodes, "
              f"through the {args.loop}")  # fmt: skip
        for i, (ret, n, fell) in enumerate(
            zip(result.returns, result.lengths, result.falls, strict=True)
        ):
            cmd = "" if commands is None else f"  command {commands[i]}"
            print(f"  episode {i}: return {ret:9.2f}  steps {n:5d}{cmd}  {'FELL' if fell else ''}")
        print("  " + "  ".join(f"{k.split('/')[-1]} {v:.3f}" for k, v in metrics.items()))
    return 0


def eval_main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``h2o-eval``."""
    return run_cli(_eval, eval_parser(), argv)


# ------------------------------------------------------------------------------ h2o-export
def export_parser() -> argparse.ArgumentParser:
    """Arguments of ``h2o-export``."""
    p = argparse.ArgumentParser(
        prog="h2o-export",
        description="Export a checkpoint's deterministic policy as an ONNX file the robot-side "
        "runner loads (observation normalisation, action scaling and contract metadata inside; "
        "checked against torch to 1e-5).",
        epilog="example:\n  h2o-export --checkpoint runs/h2o-a -o stand.onnx",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--checkpoint",
        type=Path,
        required=True,
        help="checkpoint file or run folder (its newest checkpoint)",
    )
    p.add_argument("-o", "--output", type=Path, required=True, help="the .onnx file to write")
    return p


def _export(args: argparse.Namespace) -> int:
    from h2o_learning.training.build import algorithm_from_checkpoint  # noqa: PLC0415
    from h2o_learning.training.config import config_hash  # noqa: PLC0415
    from h2o_learning.training.export import export_policy  # noqa: PLC0415
    from h2o_learning.training.trainer import export_extra  # noqa: PLC0415
    from h2o_robot_bridge.contract import DEFAULT_TIMING  # noqa: PLC0415

    config, algo, payload = algorithm_from_checkpoint(args.checkpoint)
    path = export_policy(
        algo.policy_module(),
        args.output,
        config.env.task,
        DEFAULT_TIMING.control_hz,
        config.algorithm,
        config_hash(config),
        export_extra(config, int(payload["epoch"])),
    )
    print(f"exported {config.algorithm} policy ({payload['epoch']} epochs) to {path}")
    return 0


def export_main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``h2o-export``."""
    return run_cli(_export, export_parser(), argv)
