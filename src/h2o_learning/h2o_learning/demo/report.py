"""The demo's results: the markdown table and the plots (pure; matplotlib only when plotting)."""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Any

from h2o_learning.algorithms import ALGORITHMS
from h2o_learning.demo.config import DemoConfig

CLASSICAL = "classical"
"""The deployed classical controller's name (every other policy is an algorithm's run)."""


def policy_label(name: str) -> str:
    """Label of a deployed policy: the classical controller, or the algorithm's long label
    (``SAC (sim only)``); an unknown name stands for itself."""
    if name == CLASSICAL:
        return "classical controller"
    info = ALGORITHMS.get(name)
    return name if info is None else info.long_label


def _pm(mean: float, std: float, digits: int) -> str:
    if not math.isfinite(mean):
        return "n/a"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def _trained_on(
    name: str, cfg: DemoConfig, epochs: dict[str, int], chosen: dict[str, int] | None = None
) -> str:
    if name == CLASSICAL:
        return "hand-tuned (cascaded PD)"
    info = ALGORITHMS.get(name)
    parts = []
    if info is None or info.uses_sim:
        parts.append(f"{cfg.train.sim_dynamics} sim")
    if info is None or info.uses_real:
        parts.append("real data")
    text = f"{' + '.join(parts)}, {epochs.get(name, 0)} epochs"
    if chosen and chosen.get(name, epochs.get(name)) != epochs.get(name):
        text += f" (deployed: epoch {chosen[name]}, the best evaluated)"
    return text


def _falls(metrics: dict[str, Any]) -> str:
    return f"{metrics['falls']}/{metrics['episodes']}"


def render_table(
    cfg: DemoConfig,
    deployed: dict[str, dict[str, Any]],
    in_process: dict[str, dict[str, Any]],
    train_eval: dict[str, tuple[int, float] | None],
    epochs: dict[str, int],
    chosen: dict[str, int] | None = None,
) -> str:
    """Markdown table: per policy, deployed over DDS on the ``real`` robot next to the same
    policy through the runner core in-process.

    Args:
        deployed: supervisor reports by policy name (``classical``, ``h2o``, ``sac``, ...).
        in_process: in-process runner evaluation on ``real`` by policy name (``return_mean``,
            ``return_std``, ``falls``, ``episodes``).
        train_eval: (epoch, return) of the trainer's last in-process evaluation in ``real``.
        epochs: epochs trained per run.
        chosen: the epoch whose policy was deployed, per run (default: the last).
    """
    limit = cfg.deploy.time_limit_steps
    horizon = f"{limit / 100.0:g} s" if limit else "the task's time limit"
    lines = [
        f"Task `{cfg.task}` on the `real` robot. **Deployed**: over DDS through `policy_runner` "
        f"(trigger `{cfg.trigger}`) on the sim node, {cfg.deploy.episodes} episode(s) per "
        f"policy. **In-process**: the same policy through the runner core driving the simulator "
        f"(no DDS), {cfg.evaluate.episodes} episode(s). Episodes end at a fall or after "
        f"{horizon}.",
        "",
        "| policy | trained on | deployed: time upright [s] | deployed: return | deployed: "
        "falls | in-process: return | in-process: falls | deployed / in-process | runner rate "
        "[Hz] | trainer's last eval (real) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, rep in deployed.items():
        s = rep["summary"]
        rate = rep.get("diagnostics", {}).get("rate_hz")
        tr, ev = train_eval.get(name), in_process.get(name)
        ratio = "n/a"
        if ev is not None and ev["return_mean"] > 0:
            ratio = f"{s['return_mean'] / ev['return_mean']:.2f}"
        cells = [
            policy_label(name),
            _trained_on(name, cfg, epochs, chosen),
            _pm(s["seconds_mean"], s["seconds_std"], 2),
            _pm(s["return_mean"], s["return_std"], 1),
            f"{s['falls']}/{s['n_episodes']}",
            "n/a" if ev is None else _pm(ev["return_mean"], ev["return_std"], 1),
            "n/a" if ev is None else _falls(ev),
            ratio,
            "n/a" if rate is None else f"{float(rate):.1f}",
            "n/a" if tr is None else f"{tr[1]:.1f} (epoch {tr[0]})",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def render_robustness(cfg: DemoConfig, robustness: dict[str, dict[str, Any]]) -> str:
    """Markdown table: falls / episodes and mean return per policy (rows) and perturbed
    ``real`` profile (columns), through the runner core in-process."""
    profiles = list(cfg.evaluate.robustness)
    if not profiles:
        return "No robustness profiles configured (`evaluate.robustness`)."
    knobs = "; ".join(
        f"**{p}**: " + (", ".join(f"{k}={v:g}" for k, v in cfg.evaluate.robustness[p].items())
                        or "nominal")
        for p in profiles
    )  # fmt: skip
    lines = [
        f"Robustness: each policy through the runner core in-process on perturbed `real` "
        f"profiles, {cfg.evaluate.robustness_episodes} episode(s) each; cells are falls / "
        f"episodes (mean return). Profiles: {knobs}. `latency_steps` are physics steps of 1 ms.",
        "",
        "| policy | " + " | ".join(profiles) + " |",
        "|---|" + "---|" * len(profiles),
    ]
    for name, cells in robustness.items():
        row = [policy_label(name)]
        for p in profiles:
            m = cells.get(p)
            row.append("n/a" if m is None else f"{_falls(m)} ({m['return_mean']:.0f})")
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def write_plots(
    root: Path, deployed: dict[str, dict[str, Any]], run_dirs: dict[str, Path], dataset: Path
) -> list[Path]:
    """``deploy.png`` (tilt over time of every deployed episode, time upright per policy),
    ``curves_<run>.png`` (the trainer's learning curves) and ``dataset.png`` (first episode)."""
    out = [_deploy_plot(root / "deploy.png", deployed)]
    for name, run_dir in run_dirs.items():
        src = Path(run_dir) / "curves.png"
        if src.is_file():
            out.append(Path(shutil.copyfile(src, root / f"curves_{name}.png")))
    if dataset.is_file():
        from h2o_robot_bridge.dataset import load_dataset  # noqa: PLC0415
        from h2o_robot_bridge.dataset.plot import plot_episode  # noqa: PLC0415

        data = load_dataset(dataset)
        out.append(plot_episode(data, 0, root / "dataset.png", "recorded real dataset"))
    return out


def _deploy_plot(path: Path, deployed: dict[str, dict[str, Any]]) -> Path:
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    fig, (ax_tilt, ax_bar) = plt.subplots(1, 2, figsize=(13, 4), width_ratios=(2, 1))
    for i, (name, rep) in enumerate(deployed.items()):
        color = f"C{i}"
        trace = rep.get("trace") or []
        for ep in sorted({row[0] for row in trace}):
            rows = [r for r in trace if r[0] == ep]
            label = policy_label(name) if ep == 0 else None
            ax_tilt.plot([r[1] / 100.0 for r in rows], [r[2] for r in rows], color=color,
                         alpha=0.8, label=label)  # fmt: skip
        s = rep["summary"]
        ax_bar.bar(i, s["seconds_mean"], yerr=s["seconds_std"], color=color)
    ax_tilt.set(xlabel="time in episode [s]", ylabel="base tilt [rad]",
                title="deployed over DDS on the 'real' robot")  # fmt: skip
    ax_tilt.legend(loc="best")
    ax_bar.set_xticks(range(len(deployed)), [policy_label(n) for n in deployed], rotation=15)
    ax_bar.set(ylabel="time upright [s]", title="mean time upright")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
