"""The demo's table: policy labels and "trained on" come from the algorithm registry."""

from __future__ import annotations

from h2o_learning.demo.config import load_demo_config
from h2o_learning.demo.report import policy_label, render_robustness, render_table


def test_labels_and_trained_on_per_policy() -> None:
    cfg = load_demo_config(None, "tiny")
    summary = {"seconds_mean": 1.0, "seconds_std": 0.0, "return_mean": 2.0, "return_std": 0.0}
    summary.update(falls=0, n_episodes=1)
    names = ["classical", "h2o", "sac", "cql", "darc", "darc_plus"]
    deployed = {n: {"summary": summary} for n in names}
    table = render_table(cfg, deployed, {}, {}, dict.fromkeys(names, 3))
    rows = {line.split(" | ")[0][2:]: line.split(" | ")[1] for line in table.splitlines()[4:]}
    sim = cfg.train.sim_dynamics
    assert rows == {
        "classical controller": "hand-tuned (cascaded PD)",
        "H2O": f"{sim} sim + real data, 3 epochs",
        "SAC (sim only)": f"{sim} sim, 3 epochs",
        "CQL (real only)": "real data, 3 epochs",
        "DARC": f"{sim} sim + real data, 3 epochs",
        "DARC+": f"{sim} sim + real data, 3 epochs",
    }
    assert policy_label("mpc") == "mpc"  # a policy the registry does not know stands for itself


def test_deployed_next_to_in_process_and_robustness_cells() -> None:
    cfg = load_demo_config(None, "demo")
    summary = {"seconds_mean": 10.0, "seconds_std": 0.0, "return_mean": 900.0, "return_std": 1.0}
    summary.update(falls=1, n_episodes=5)
    in_process = {"h2o": {"return_mean": 1000.0, "return_std": 2.0, "falls": 0, "episodes": 10}}
    table = render_table(cfg, {"h2o": {"summary": summary}}, in_process, {}, {"h2o": 4})
    cells = table.splitlines()[-1].split(" | ")
    assert cells[4:8] == ["1/5", "1000.0 ± 2.0", "0/10", "0.90"]
    robust = {"h2o": {"delay 10 ms": {"falls": 2, "episodes": 5, "return_mean": 700.4}}}
    lines = render_robustness(cfg, robust).splitlines()
    header = [c.strip() for c in lines[2].strip("|").split("|")]
    row = [c.strip() for c in lines[4].strip("|").split("|")]
    assert header[0] == "policy" and header[1:] == list(cfg.evaluate.robustness)
    assert row[header.index("delay 10 ms")] == "2/5 (700)"
    assert row[header.index("nominal")] == "n/a"
