"""The training loop: bit-for-bit resume, run folder contents, model selection, bad input
before training."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import onnxruntime as ort
import pytest
import torch

from h2o_learning.testing.runs import assert_same_state, metric_rows, tiny
from h2o_learning.training.build import algorithm_from_checkpoint
from h2o_learning.training.checkpoint import CheckpointError
from h2o_learning.training.config import load_config
from h2o_learning.training.export import probe_batch
from h2o_learning.training.selection import Scored, read_record
from h2o_learning.training.trainer import Trainer
from h2o_robot_bridge.contract.policy import INPUT_NAME, OUTPUT_ACTION
from h2o_robot_bridge.dataset.io import META_ATTR
from h2o_robot_bridge.deploy.onnx_policy import OnnxPolicy
from h2o_robot_bridge.errors import ConfigError, ContractMismatchError, DatasetError


def onnx_actions(path: Path) -> np.ndarray:
    """The ONNX policy's actions on the export's probe observations."""
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run([OUTPUT_ACTION], {INPUT_NAME: probe_batch()})[0]


def torch_actions(checkpoint: Path) -> np.ndarray:
    """The checkpoint's deterministic policy on the same observations."""
    _, algo, _ = algorithm_from_checkpoint(checkpoint)
    with torch.no_grad():
        return algo.policy_module()(torch.from_numpy(probe_batch())).numpy()


class SelectOnUpdates(Trainer):
    """The real trainer, selecting on the epoch's gradient-step count instead of the evaluation
    return: a real metric whose order the config fixes. With ``SEAM``, epoch 1 takes no step
    (``learning_starts``) and epochs 2 and 3 take 8 each, so the best is epoch 2 (a tie keeps
    the earlier), not the last."""

    select_metric = "train/updates"


SEAM = ("loop.epochs=3", "loop.eval_every=1", "loop.learning_starts=100", "loop.eval_sim=false")


def test_resume_equals_uninterrupted_run(real_dataset: Path, tmp_path: Path) -> None:
    config = tiny(real_dataset, "loop.epochs=3")
    straight = Trainer(config, tmp_path / "straight")
    result = straight.run(export=False)
    straight.close()
    assert result.finished and result.epochs == 3

    first = Trainer(tiny(real_dataset, "loop.epochs=3"), tmp_path / "split")
    first.run(should_stop=lambda: first.counters.epoch >= 2, export=False)
    first.close()
    resumed = Trainer(config, tmp_path / "split", resume=True)
    assert resumed.counters.epoch == 2
    resumed.run(export=False)
    resumed.close()

    assert_same_state(straight.algo.state_dict(), resumed.algo.state_dict(), "algorithm")
    assert_same_state(straight.sim_buffer.state_dict(), resumed.sim_buffer.state_dict(), "buffer")
    assert straight.counters == resumed.counters
    assert metric_rows(tmp_path / "straight/metrics.csv") == metric_rows(
        tmp_path / "split/metrics.csv"
    )
    assert straight.best is not None and resumed.best == straight.best


def test_an_evaluation_depends_on_the_policy_alone(real_dataset: Path, tmp_path: Path) -> None:
    """Evaluating one policy again (on the run's evaluators, used before) gives bitwise the
    numbers of the first time; this run's policy gave 43.2016 / 43.2021 / 43.2023 while the
    simulator's reset kept the last episode's ground contacts."""
    trainer = Trainer(tiny(real_dataset, "loop.epochs=2", "seed=1"), tmp_path / "run")
    trainer.run(export=False)
    results = [trainer.evaluate() for _ in range(3)]
    trainer.close()
    assert results[0] == results[1] == results[2]


def test_same_seed_same_run_other_seed_other_run(real_dataset: Path, tmp_path: Path) -> None:
    def weights(seed: int, name: str) -> torch.Tensor:
        trainer = Trainer(tiny(real_dataset, "loop.epochs=1", f"seed={seed}"), tmp_path / name)
        trainer.run(export=False)
        trainer.close()
        return torch.cat([p.flatten() for p in trainer.algo.policy_module().parameters()])

    a, b, c = weights(0, "a"), weights(0, "b"), weights(1, "c")
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_run_folder_holds_everything(real_dataset: Path, tmp_path: Path) -> None:
    config = tiny(real_dataset, "loop.epochs=2", "run.tensorboard=true")
    trainer = Trainer(config, tmp_path / "run")
    result = trainer.run()
    trainer.close()
    root = tmp_path / "run"
    assert result.policy_path == root / "stand.onnx" and result.policy_path.is_file()
    for name in ("best_stand.onnx", "last_stand.onnx", "export.json"):
        assert (root / name).is_file(), name
    assert load_config(root / "config.yaml") == config
    assert sorted(p.name for p in (root / "checkpoints").iterdir()) == [
        "best.pt",
        "epoch_00001.pt",
        "epoch_00002.pt",
    ]
    assert (root / "curves.png").stat().st_size > 1000
    assert list((root / "tb").glob("events.out.tfevents.*"))
    rows = metric_rows(root / "metrics.csv")
    assert [r["epoch"] for r in rows] == ["1", "2"]
    # Evaluation in real and sim each eval epoch, logged apart; diagnostics of the update.
    assert rows[1]["eval_real/return_mean"] and rows[1]["eval_sim/return_mean"]
    assert rows[0]["eval_real/return_mean"] == ""  # eval_every=2
    for key in ("train/critic_loss", "train/actor_loss", "rollout/reward_mean"):
        assert np.isfinite(float(rows[1][key])), key
    assert float(rows[1]["progress/env_steps"]) == 120


def test_sac_runs_without_any_dataset(tmp_path: Path) -> None:
    trainer = Trainer(tiny(None, "loop.epochs=1", algorithm="sac"), tmp_path / "r")
    assert trainer.real_data is None and trainer.real_buffer is None
    assert trainer.run(export=False).finished
    trainer.close()


def test_learning_starts_delays_updates(real_dataset: Path, tmp_path: Path) -> None:
    config = tiny(real_dataset, "loop.epochs=2", "loop.learning_starts=100", algorithm="sac")
    trainer = Trainer(config, tmp_path / "r")
    first = trainer.run_epoch()
    second = trainer.run_epoch()
    trainer.close()
    assert first["train/updates"] == 0 and second["train/updates"] == 8


# ------------------------------------------------------------------------------- bad input
def test_real_algorithm_without_dataset_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="data.path is not set"):
        Trainer(tiny(None, algorithm="h2o"), tmp_path / "r")
    assert not (tmp_path / "r").exists()


def test_missing_dataset_file(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="not found.*h2o-collect"):
        Trainer(tiny(tmp_path / "nope.h5"), tmp_path / "r")


def test_dataset_of_another_task_is_refused(real_dataset: Path, tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="task"):
        Trainer(tiny(real_dataset, "env.task=move_straight"), tmp_path / "r")


def test_dataset_with_another_command_is_refused(real_dataset: Path, tmp_path: Path) -> None:
    with pytest.raises(ContractMismatchError, match="command"):
        Trainer(tiny(real_dataset, "env.command=[0.3, 0.0]"), tmp_path / "r")


def test_dataset_of_another_contract_is_refused(real_dataset: Path, tmp_path: Path) -> None:
    path = tmp_path / "other.h5"
    shutil.copy(real_dataset, path)
    with h5py.File(path, "r+") as f:  # edit the file: the writer itself refuses this metadata
        meta = json.loads(f.attrs[META_ATTR])
        meta["obs_names"] = meta["obs_names"][::-1]
        f.attrs[META_ATTR] = json.dumps(meta)
    with pytest.raises(ContractMismatchError, match="obs_names"):
        Trainer(tiny(path), tmp_path / "r")
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    ("override", "match"),
    [
        ("env.eval_dynamics=marsgravity", "marsgravity"),
        ("env.sim_overrides={bogus: 1.0}", "bogus"),
    ],
)
def test_bad_dynamics_fail_before_training(
    override: str, match: str, real_dataset: Path, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match=match):
        Trainer(tiny(real_dataset, override), tmp_path / "r")
    assert not (tmp_path / "r").exists()


def test_existing_run_folder_is_not_overwritten(real_dataset: Path, tmp_path: Path) -> None:
    Trainer(tiny(real_dataset), tmp_path / "r").close()
    with pytest.raises(ConfigError, match="--resume"):
        Trainer(tiny(real_dataset), tmp_path / "r")


def test_resume_refuses_corrupt_checkpoint_before_training(
    real_dataset: Path, tmp_path: Path
) -> None:
    trainer = Trainer(tiny(real_dataset, "loop.epochs=1"), tmp_path / "r")
    trainer.run(export=False)
    trainer.close()
    checkpoint = tmp_path / "r/checkpoints/epoch_00001.pt"
    checkpoint.write_bytes(checkpoint.read_bytes()[:1000])
    before = (tmp_path / "r/metrics.csv").read_text()
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        Trainer(tiny(real_dataset, "loop.epochs=2"), tmp_path / "r", resume=True)
    assert (tmp_path / "r/metrics.csv").read_text() == before


def test_resume_refuses_another_config(real_dataset: Path, tmp_path: Path) -> None:
    trainer = Trainer(tiny(real_dataset, "loop.epochs=1"), tmp_path / "r")
    trainer.run(export=False)
    trainer.close()
    with pytest.raises(ConfigError, match="config differs"):
        Trainer(tiny(real_dataset, "algo.beta=0.5"), tmp_path / "r", resume=True)
    with pytest.raises(CheckpointError, match="no checkpoint"):
        Trainer(tiny(real_dataset), tmp_path / "empty", resume=True)


# ------------------------------------------------------------------------- model selection
def test_best_evaluated_epoch_is_exported(tmp_path: Path) -> None:
    config = tiny(None, "loop.epochs=3", "loop.eval_every=1", algorithm="sac")
    trainer = Trainer(config, tmp_path / "run")
    result = trainer.run()
    trainer.close()
    root = tmp_path / "run"
    returns = [float(r["eval_real/return_mean"]) for r in metric_rows(root / "metrics.csv")]
    best = int(np.argmax(returns)) + 1  # the first epoch with the highest return
    record = result.export
    assert record is not None and read_record(root / "export.json") == record
    assert (record.exported, record.epoch, record.metric) == (
        "best",
        best,
        "eval_real/return_mean",
    )
    assert record.value == returns[best - 1] and record.last_value == returns[-1]
    assert record.eval_episodes == config.loop.eval_episodes == len(record.eval_seeds)
    assert f"epoch {best} of 3 had the highest real return" in record.reason
    np.testing.assert_array_equal(
        onnx_actions(root / "stand.onnx"), onnx_actions(root / "best_stand.onnx")
    )
    meta = OnnxPolicy(root / "stand.onnx").metadata["extra"]
    assert meta["epochs"] == best and meta["selection"] == record.to_dict()
    assert OnnxPolicy(root / "best_stand.onnx").metadata["extra"]["epochs"] == best
    assert OnnxPolicy(root / "last_stand.onnx").metadata["extra"]["epochs"] == 3


@pytest.mark.parametrize(("choice", "epoch"), [("best", 2), ("last", 3)])
def test_run_export_names_the_deployed_epoch(choice: str, epoch: int, tmp_path: Path) -> None:
    config = tiny(None, *SEAM, f"run.export={choice}", algorithm="sac")
    trainer = SelectOnUpdates(config, tmp_path / "run")
    result = trainer.run()
    trainer.close()
    root = tmp_path / "run"
    assert [r["train/updates"] for r in metric_rows(root / "metrics.csv")] == ["0", "8", "8"]
    record = result.export
    assert record is not None and read_record(root / "export.json") == record
    assert (record.requested, record.exported, record.epoch) == (choice, choice, epoch)
    assert (record.best_epoch, record.best_value, record.last_epoch) == (2, 8.0, 3)
    # The deployed file acts exactly like the named one, and not like the other.
    deployed = onnx_actions(root / "stand.onnx")
    np.testing.assert_array_equal(deployed, onnx_actions(root / f"{choice}_stand.onnx"))
    other = "last" if choice == "best" else "best"
    assert not np.allclose(deployed, onnx_actions(root / f"{other}_stand.onnx"))
    # best.pt is epoch 2's full state (a plain weights-only torch file), kept by the pruning.
    best = torch.load(root / "checkpoints/best.pt", map_location="cpu", weights_only=True)
    epoch2 = torch.load(root / "checkpoints/epoch_00002.pt", map_location="cpu", weights_only=True)
    assert best["epoch"] == 2 and best["selection"] == {"metric": "train/updates", "value": 8.0}
    assert_same_state(best["algorithm"], epoch2["algorithm"], "algorithm")
    assert_same_state(best["sim_buffer"], epoch2["sim_buffer"], "sim_buffer")
    # ... and the deployed graph is the policy of that epoch's checkpoint.
    expected = torch_actions(root / f"checkpoints/epoch_{epoch:05d}.pt")
    np.testing.assert_allclose(deployed, expected, atol=1e-5, rtol=0)
    assert OnnxPolicy(root / "stand.onnx").metadata["extra"]["selection"]["exported"] == choice


def test_resume_keeps_the_best(tmp_path: Path) -> None:
    config = tiny(None, *SEAM, algorithm="sac")
    first = SelectOnUpdates(config, tmp_path / "run")
    first.run(should_stop=lambda: first.counters.epoch >= 2)
    first.close()
    resumed = SelectOnUpdates(config, tmp_path / "run", resume=True)
    assert resumed.counters.epoch == 2 and resumed.best == Scored(2, 8.0)
    result = resumed.run()
    resumed.close()
    assert result.export is not None and result.export.epoch == 2  # epoch 3 only ties it
    assert result.export.reason.startswith("best: epoch 2 of 3 had the highest train/updates")
    root = tmp_path / "run"
    expected = torch_actions(root / "checkpoints/epoch_00002.pt")
    np.testing.assert_allclose(onnx_actions(root / "stand.onnx"), expected, atol=1e-5, rtol=0)


def test_no_evaluation_exports_the_last_and_says_why(tmp_path: Path) -> None:
    config = tiny(None, "loop.epochs=3", "loop.eval_every=5", algorithm="sac")
    trainer = Trainer(config, tmp_path / "run")
    result = trainer.run(should_stop=lambda: True)  # stopped after epoch 1, before any eval
    assert not result.finished and result.export is None and result.policy_path is None
    record = trainer.export_policies()  # what the demo does at its time cap
    trainer.close()
    root = tmp_path / "run"
    assert (record.requested, record.exported, record.epoch) == ("best", "last", 1)
    assert (
        record.value is None and record.best_epoch is None and record.source == "last_stand.onnx"
    )
    assert "no evaluation" in record.reason and read_record(root / "export.json") == record
    assert not (root / "best_stand.onnx").exists()
    assert not (root / "checkpoints/best.pt").exists()
    np.testing.assert_array_equal(
        onnx_actions(root / "stand.onnx"), onnx_actions(root / "last_stand.onnx")
    )


RANGE = "env.command_range={forward: [0.0, 0.5], yaw: [-0.5, 0.5]}"


@pytest.fixture(scope="module")
def slow_move_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A mediocre move_straight dataset on slow commands only (0-0.2 m/s)."""
    from h2o_robot_bridge.contract import CommandRange
    from h2o_robot_bridge.dataset import save_dataset
    from h2o_sim.collect import collect_dataset

    slow = CommandRange((0.0, 0.2), (-0.5, 0.5))
    data = collect_dataset(
        "medium", 400, task="move_straight", command_range=slow, track_fraction=0.5
    )
    return save_dataset(tmp_path_factory.mktemp("move") / "slow.h5", data)


def test_a_command_range_run_trains_on_many_commands_and_evaluates_on_the_grid(
    slow_move_data: Path, tmp_path: Path
) -> None:
    """Sim episodes each draw a command from the run's range (wider than the data's), so the
    replay holds commands the real data never had; evaluation runs the fixed grid."""
    from h2o_robot_bridge.contract import OBS_SLICES, CommandRange

    cfg = tiny(
        slow_move_data, "env.task=move_straight", RANGE, "loop.epochs=2", "loop.eval_episodes=3"
    )
    assert cfg.env.command_range == CommandRange((0.0, 0.5), (-0.5, 0.5))
    trainer = Trainer(cfg, tmp_path / "r")
    trainer.run(export=False)
    assert trainer.sim_buffer is not None
    cmds = trainer.sim_buffer.observations()[:, OBS_SLICES["command"]].numpy()
    assert cfg.env.command_range.contains(cmds).all()
    assert len(np.unique(cmds, axis=0)) >= 3 and cmds[:, 0].max() > 0.2  # beyond the data's
    rows = metric_rows(tmp_path / "r/metrics.csv")
    assert rows[1]["eval_real/return_mean"] and rows[1]["eval_sim/return_mean"]
    # The export says which commands the policy knows (the deploy runner reads it).
    from h2o_learning.training.trainer import export_extra

    assert export_extra(cfg, 2)["commands"] == {"forward": [0.0, 0.5], "yaw": [-0.5, 0.5]}
    stand = export_extra(load_config("smoke_h2o"), 1)["commands"]
    assert stand == {"forward": [0.0, 0.0], "yaw": [0.0, 0.0]}


def test_command_range_settings_are_checked(slow_move_data: Path, tmp_path: Path) -> None:
    move = "env.task=move_straight"
    # Data drawn from a range cannot serve a run that asks for one command.
    with pytest.raises(ContractMismatchError, match="drawn from.*env.command_range"):
        Trainer(tiny(slow_move_data, move), tmp_path / "a")
    with pytest.raises(ConfigError, match="not both"):
        tiny(slow_move_data, move, RANGE, "env.command=[0.5, 0.0]")
    with pytest.raises(ConfigError, match="exceeds"):
        tiny(slow_move_data, move, "env.command_range={forward: [0.0, 0.9]}")
    with pytest.raises(ConfigError, match="command_range"):
        tiny(slow_move_data, move, "env.command_range={forward: [0.4, 0.1]}")
