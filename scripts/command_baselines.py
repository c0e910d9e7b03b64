"""Returns of the classical controller handed a fraction of the command (1: the controller; 0.5:
the move datasets' behaviour without its noise; 0: balancing in place) on an experiment's own
evaluation episodes (its ``references.json``: seeds, commands, episode cap), through the runs'
evaluator, scored against the stored references. Prints a markdown table; ``--json`` writes it.

``--action-noise`` also runs each fraction with N(0, sigma) on the executed action (the
``joint_noise`` gap's knob ``action_noise_std``, added to the profile): how strong a joint-noise
gap the robot allows (the H2O paper's is sigma = 1).

    python scripts/command_baselines.py OUT --json docs/results/move_quick/behaviour.json
    python scripts/command_baselines.py OUT --fractions 1 --action-noise 0 0.1 0.3 1
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from h2o_learning.experiment.scores import References
from h2o_learning.training.evaluation import RunnerEvaluator
from h2o_robot_bridge.contract import DEFAULT_TIMING, OBS_SLICES
from h2o_robot_bridge.controllers import ClassicalController


@dataclass
class ScaledCommand:
    """The classical controller acting on the observation with its command scaled by
    ``fraction`` (a runner policy: ``reset``, ``act``)."""

    controller: ClassicalController
    fraction: float
    name: str = "classical_scaled"

    def __post_init__(self) -> None:
        self.task = self.controller.task
        self.control_hz = self.controller.control_hz

    def reset(self) -> None:
        self.controller.reset()

    def act(self, obs: NDArray[np.float32]) -> NDArray[np.float32]:
        seen = obs.copy()
        seen[OBS_SLICES["command"]] *= self.fraction
        return self.controller.act(seen)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="an h2o-experiment --out folder")
    parser.add_argument("--fractions", type=float, nargs="+", default=[1.0, 0.5, 0.0])
    parser.add_argument("--profile", default="real")
    parser.add_argument(
        "--action-noise",
        type=float,
        nargs="+",
        default=[0.0],
        help="std of the executed-action noise (action units, the joint_noise knob) on top of "
        "the profile; one row per fraction and value (default 0: none)",
    )
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args(argv)
    if any(not sigma >= 0.0 for sigma in args.action_noise):
        parser.error("--action-noise values must be >= 0")
    stored = json.loads((args.out / "references.json").read_text())
    settings = stored["settings"]
    refs = References(**stored["profiles"][args.profile])
    rows = [row for sigma in args.action_noise for row in noise_rows(args, settings, refs, sigma)]
    print(f"| command fraction | action noise std | return in {args.profile} | score | falls |")
    print("|---|---|---|---|---|")
    for r in rows:
        falls = f"{r['falls']}/{r['episodes']}"
        print(
            f"| {r['fraction']} | {r['action_noise_std']} | {r['return']:.1f} "
            f"| {r['score']:.1f} | {falls} |"
        )
    if args.json:
        args.json.write_text(
            json.dumps({"settings": settings, "profile": args.profile, "rows": rows}, indent=1)
        )
    return 0


def noise_rows(
    args: argparse.Namespace, settings: dict, refs: References, sigma: float
) -> list[dict[str, float]]:
    """One row per ``args.fractions`` with executed-action noise ``sigma`` on the profile."""
    commands = [tuple(c) for c in settings.get("commands", [])] or None
    overrides = {"action_noise_std": sigma} if sigma > 0.0 else None
    evaluator = RunnerEvaluator(settings["task"], args.profile, overrides=overrides)
    rows = []
    try:
        for fraction in args.fractions:
            policy = ScaledCommand(
                ClassicalController.from_yaml(None, settings["task"], DEFAULT_TIMING.control_hz),
                fraction,
            )
            result = evaluator.run(policy, settings["seeds"], settings["max_steps"], commands)
            ret = float(np.mean(result.returns))
            rows.append(
                {
                    "fraction": fraction,
                    "action_noise_std": sigma,
                    "return": ret,
                    "score": refs.score(ret),
                    "episodes": len(result.returns),
                    "falls": int(np.sum(result.falls)),
                }
            )
    finally:
        evaluator.close()
    return rows


if __name__ == "__main__":
    raise SystemExit(main())
