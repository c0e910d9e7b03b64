"""The demo's supervisor starts scoring only once the runner commands the policy.

Found by ``make stress``: under load, DDS discovery left policy_runner without any sensor
message for seconds after the sim started; it held the safe action (legs hold, wheels off),
its commands still counted as the supervisor's warm-up, and the episode it then scored ended in
a fall after 0.41 s. Here the runner never hears ``/joint_states`` (remapped away), the worst
case of that race: the supervisor must not reset, release or score anything, and must say why.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from h2o_learning.demo.graph import (
    GraphError,
    run_graph,
    runner_process,
    sim_process,
    supervisor_process,
)

FIXTURE = Path(__file__).parent / "fixtures" / "stand_policy.onnx"


def test_no_episode_while_the_runner_waits_for_its_sensors(tmp_path: Path, domain_id: int) -> None:
    report = tmp_path / "report.json"
    runner = runner_process(
        tmp_path, domain_id, str(FIXTURE), "sensors", remaps={"/joint_states": "/unheard"}
    )
    nodes = [runner, sim_process(tmp_path, domain_id, 7)]
    # 12 s: several of the runner's 1 s diagnostics and ~1000 sim ticks with its safe commands.
    sup = supervisor_process(tmp_path, domain_id, report, "evaluate", episodes=1, timeout=12)
    with pytest.raises(GraphError, match="exit code 1"):
        run_graph(nodes, sup, timeout=60.0)
    out = json.loads(report.read_text())
    assert out["status"] == "timeout", out["status"]
    assert out["counts"]["ticks"] > 200 and out["counts"]["commands"] > 200, out["counts"]
    assert out["counts"]["resets"] == 0 and out["counts"]["releases"] == 0, out["counts"]
    assert out["summary"]["n_episodes"] == 0 and out["summary"]["transitions"] == 0
    assert out["diagnostics"]["level"] == "waiting", out["diagnostics"]
    assert "waiting for the runner to command the policy" in sup.log()
