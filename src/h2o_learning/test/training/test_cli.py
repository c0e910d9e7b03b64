"""Entry points h2o-train, h2o-eval, h2o-export: tiny-budget smoke runs and bad input.

Most runs call the console scripts' ``main`` functions in-process (the same code, without paying
torch's import per run); one run of each installed script checks the wiring.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from h2o_learning.testing.budgets import TINY_TRAIN
from h2o_learning.training.cli import eval_main, export_main, train_main
from h2o_learning.training.metrics_log import read_metrics
from h2o_robot_bridge.deploy.onnx_policy import OnnxPolicy

BIN = Path(sys.executable).parent
TINY = TINY_TRAIN


def sets(*items: str) -> list[str]:
    return [x for item in items for x in ("--set", item)]


def train(tmp_path: Path, data: Path, algorithm: str, *extra: str) -> Path:
    run = tmp_path / algorithm
    args = ["--config", "smoke_h2o", "--run-dir", str(run)]
    args += sets(*TINY, f"algorithm={algorithm}", f"data.path={data}")
    assert train_main([*args, *extra]) == 0
    return run


@pytest.mark.parametrize("algorithm", ["sac", "cql", "darc", "darc_plus"])
def test_train_each_baseline(algorithm: str, real_dataset: Path, tmp_path: Path, capsys) -> None:
    run = train(tmp_path, real_dataset, algorithm, "--no-export")
    out = capsys.readouterr().out
    assert "done: 1 epochs" in out and "eval_real/return_mean" in out
    assert (run / "checkpoints/epoch_00001.pt").is_file() and not (run / "stand.onnx").exists()
    row = read_metrics(run / "metrics.csv")[-1]
    assert row["train/updates"] == 5 and math.isfinite(row["train/critic_loss"])
    # Only algorithms that use the sim step it (CQL is offline).
    assert row["progress/env_steps"] == (0 if algorithm == "cql" else 40)


def test_train_export_eval_h2o(real_dataset: Path, tmp_path: Path, capsys) -> None:
    run = train(tmp_path, real_dataset, "h2o")
    printed = capsys.readouterr().out.splitlines()[-1]  # the last line says which and why
    assert printed.startswith(f"policy: {run / 'stand.onnx'}; exported best: epoch 1 of 1 ")
    assert printed.endswith(" over 1 runner episode (the last)")
    assert OnnxPolicy(run / "stand.onnx").metadata["algorithm"] == "h2o"

    out = tmp_path / "exported.onnx"
    assert export_main(["--checkpoint", str(run), "-o", str(out)]) == 0
    meta = OnnxPolicy(out).metadata
    assert meta == OnnxPolicy(run / "last_stand.onnx").metadata  # same weights and provenance
    best = tmp_path / "best.onnx"
    assert export_main(["--checkpoint", str(run / "checkpoints/best.pt"), "-o", str(best)]) == 0
    assert OnnxPolicy(best).metadata == OnnxPolicy(run / "best_stand.onnx").metadata
    capsys.readouterr()

    common = ["--dynamics", "gravity_x2", "--episodes", "2", "--max-steps", "15", "--json"]
    assert eval_main(["--policy", str(out), *common]) == 0
    from_onnx = json.loads(capsys.readouterr().out)
    assert eval_main(["--checkpoint", str(run), *common]) == 0
    from_checkpoint = json.loads(capsys.readouterr().out)
    assert from_onnx["dynamics"] == "gravity_x2" and len(from_onnx["returns"]) == 2
    # ONNX and torch act alike to 1e-5, so the seeded episodes give (nearly) equal returns.
    assert from_onnx["returns"] == pytest.approx(from_checkpoint["returns"], rel=1e-3, abs=1e-3)


def test_resume_from_cli_continues_the_run(real_dataset: Path, tmp_path: Path, capsys) -> None:
    run = train(tmp_path, real_dataset, "sac", "--no-export")
    args = ["--config", "smoke_h2o", "--run-dir", str(run), "--resume", "--no-export"]
    args += sets(*TINY, "algorithm=sac", f"data.path={real_dataset}", "loop.epochs=2")
    assert train_main(args) == 0
    assert "done: 2 epochs" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--config", "smoke_h2o", "--set", "loop.epochz=1"], "loop.epochz"),
        (["--config", "no_such_config"], "not found"),
        (["--config", "smoke_h2o", "--set", "data.path=/nonexistent.h5"], "not found"),
        (["--config", "smoke_h2o", "--set", "data.path=null"], "data.path is not set"),
    ],
)
def test_train_bad_input_is_one_clear_error(argv: list[str], message: str, capsys) -> None:
    assert train_main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err


def test_print_config_shows_resolved_values(capsys) -> None:
    assert train_main(["--config", "smoke_h2o", "--set", "seed=4", "--print-config"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# hash ") and "seed: 4" in out and "algorithm: h2o" in out


def test_export_and_eval_bad_input(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"garbage")
    assert export_main(["--checkpoint", str(bad), "-o", str(tmp_path / "x.onnx")]) == 2
    assert "not a readable checkpoint" in capsys.readouterr().err
    assert not (tmp_path / "x.onnx").exists()
    assert eval_main(["--checkpoint", str(tmp_path), "--episodes", "1"]) == 2
    assert "no checkpoint" in capsys.readouterr().err
    not_onnx = tmp_path / "p.onnx"
    not_onnx.write_bytes(b"nope")
    assert eval_main(["--policy", str(not_onnx)]) == 2
    assert "not a loadable ONNX model" in capsys.readouterr().err


@pytest.mark.parametrize("script", ["h2o-train", "h2o-eval", "h2o-export"])
def test_installed_scripts_have_help(script: str) -> None:
    result = subprocess.run([str(BIN / script), "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "example" in result.stdout


def test_installed_train_script_runs(real_dataset: Path, tmp_path: Path) -> None:
    args = [str(BIN / "h2o-train"), "--config", "smoke_h2o", "--run-dir", str(tmp_path / "r")]
    args += sets(*TINY, f"data.path={real_dataset}", "run.progress=true")
    result = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "r/stand.onnx").is_file()
    assert "step" in result.stderr  # the tqdm bar
    bad = subprocess.run(
        [str(BIN / "h2o-train"), "--config", "smoke_h2o", "--set", "x=1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2 and "unknown key" in bad.stderr


def test_eval_classical_through_the_runner_and_the_env(capsys) -> None:
    common = ["--classical", "--episodes", "1", "--max-steps", "300", "--json"]
    outputs = {}
    for loop in ("runner", "env"):
        assert eval_main([*common, "--loop", loop]) == 0
        outputs[loop] = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert outputs["runner"]["loop"] == "runner"
    # Same initial state, same shaping: the two loops agree up to float rounding.
    r, e = outputs["runner"]["returns"][0], outputs["env"]["returns"][0]
    assert r == pytest.approx(e, rel=1e-6)
    # A delay the controller does not survive (40 ms; it stands 20 ms) changes the number: the
    # knob reaches the sim.
    assert eval_main([*common, "--set", "latency_steps=40"]) == 0
    delayed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert delayed["overrides"] == {"latency_steps": 40.0}
    assert delayed["returns"][0] < 0.8 * r


@pytest.mark.parametrize("bad", ["latency_steps", "latency_steps=x", "nope=1"])
def test_eval_bad_override_is_one_clear_error(bad: str, capsys) -> None:
    assert eval_main(["--classical", "--episodes", "1", "--set", bad]) == 2
    assert "error:" in capsys.readouterr().err


@pytest.mark.parametrize("loop", ["runner", "env"])
def test_eval_on_a_command_grid(loop: str, capsys) -> None:
    """``--forward``/``--yaw`` evaluate on the range's grid, through either loop; the
    controller's return on a faster command is higher than standing still would earn."""
    common = ["--classical", "--task", "move_straight", "--episodes", "3", "--max-steps", "150"]
    argv = [*common, "--forward", "0", "0.5", "--yaw", "-0.5", "0.5", "--loop", loop]
    assert eval_main([*argv, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["commands"] == [[0.0, -0.5], [0.25, 0.0], [0.5, 0.5]]
    assert eval_main(argv) == 0
    assert "command (0.5, 0.5)" in capsys.readouterr().out
    assert eval_main([*common, "--forward", "0", "2"]) == 2  # beyond the task's limits
    assert "exceeds" in capsys.readouterr().err
