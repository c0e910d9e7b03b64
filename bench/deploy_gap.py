"""Where does a policy's evaluation and its deployment part ways? One policy, the same initial
states, each factor of the deployed loop switched on in turn (in-process, no DDS).

    python bench/deploy_gap.py [--policy stand.onnx | --classical] [--episodes 10]

Rows: the plain env loop without the deploy shaping (the old evaluation, the baseline), with
the shaping, the runner core in-process (must equal the shaped env up to rounding), then the
runner with the actuation delays a DDS loop adds (one control period: a command that misses
the sim's next tick; jitter: a timer drifting against the sim's clock). Prints return, falls
and the return's ratio to the baseline of this run.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from h2o_learning.training.evaluation import RunnerEvaluator, eval_seeds, run_episodes
from h2o_robot_bridge.controllers import ClassicalController
from h2o_robot_bridge.deploy.onnx_policy import OnnxPolicy
from h2o_robot_bridge.deploy.shaping import NO_SHAPING
from h2o_sim.env import WheelLeggedEnv

FIXTURE = Path(__file__).resolve().parents[1] / "test" / "fixtures" / "stand_policy.onnx"
DELAYS: dict[str, dict[str, float]] = {
    "runner, delay 5 ms": {"latency_steps": 5},
    "runner, delay 10 ms (1 period)": {"latency_steps": 10},
    "runner, delay 0-10 ms jitter": {"latency_jitter_steps": 10},
    "runner, delay 20 ms": {"latency_steps": 20},
}


def main() -> None:
    """Print the breakdown table."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--policy", type=Path, default=FIXTURE, help="ONNX policy")
    p.add_argument("--classical", action="store_true", help="the classical controller")
    p.add_argument("--episodes", type=int, default=10)
    args = p.parse_args()
    policy = ClassicalController.from_yaml() if args.classical else OnnxPolicy(args.policy)
    seeds = eval_seeds(0, args.episodes)
    rows = []
    for name, shaping in (
        ("env, no shaping (baseline)", NO_SHAPING),
        ("env, deploy shaping", None),
    ):
        env = WheelLeggedEnv(policy.task, "real", shaping=shaping)
        policy.reset()
        rows.append((name, run_episodes(policy.act, env, seeds)))
        env.close()
    for name, knobs in {"runner core in-process": None, **DELAYS}.items():
        evaluator = RunnerEvaluator(policy.task, "real", knobs)
        rows.append((name, evaluator.run(policy, seeds)))
        evaluator.close()
    base = float(rows[0][1].returns.mean())
    print(f"{policy.name}, {args.episodes} episodes of the `real` profile, same initial states")
    print(f"{'loop':34s} {'return':>9s} {'falls':>6s} {'ratio':>6s}")
    for name, r in rows:
        mean = float(r.returns.mean())
        print(f"{name:34s} {mean:9.1f} {int(r.falls.sum()):>3d}/{len(r.falls):<2d} "
              f"{mean / base:6.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
