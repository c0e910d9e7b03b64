"""Seed stacks in the trainer: K runs in one process train like the K runs alone (float
tolerance), resume bit-for-bit (also from a stop between the K saves), and their checkpoints
never resume the wrong way."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from h2o_learning.testing.runs import assert_same_state, metric_rows, tiny
from h2o_learning.training.checkpoint import CheckpointError
from h2o_learning.training.stacked import StackedTrainer
from h2o_learning.training.trainer import Trainer
from h2o_robot_bridge.errors import ConfigError

SEEDS = (0, 1)


def configs(data: Path, *extra: str, algorithm: str = "h2o") -> list:
    return [tiny(data, f"seed={s}", f"name=s{s}", *extra, algorithm=algorithm) for s in SEEDS]


def dirs(root: Path) -> list[Path]:
    return [root / f"s{s}" for s in SEEDS]


def weights(trainer: Trainer) -> list[torch.Tensor]:
    return [t.detach().clone() for t in trainer.algo.modules.state_dict().values()]


@pytest.mark.parametrize("algorithm", ["sac", "h2o"])
def test_stacked_runs_train_like_the_runs_alone(
    algorithm: str, real_dataset: Path, tmp_path: Path
) -> None:
    """Member k's weights, losses and sim data after 2 epochs are run k's alone, to float
    rounding (the batched matmuls), and the two members are not each other."""
    extra = ("loop.epochs=2", "loop.eval_every=100", "loop.eval_sim=false")
    stack = StackedTrainer(configs(real_dataset, *extra, algorithm=algorithm), dirs(tmp_path))
    got = stack.run(export=False)
    stack.close()
    assert [r.epochs for r in got] == [2, 2] and all(r.finished for r in got)
    for k, config in enumerate(configs(real_dataset, *extra, algorithm=algorithm)):
        alone = Trainer(config, tmp_path / f"alone{k}")
        result = alone.run(export=False)
        alone.close()
        member = stack.trainers[k]
        for a, b in zip(weights(alone), weights(member), strict=True):
            torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5)
        losses = [m for m in result.last_metrics if m.startswith("train/")]
        assert losses, result.last_metrics
        for key in losses:
            assert got[k].last_metrics[key] == pytest.approx(result.last_metrics[key], rel=1e-3)
        a_buf, b_buf = alone.sim_buffer.state_dict(), member.sim_buffer.state_dict()
        for key in a_buf:
            if torch.is_tensor(a_buf[key]):
                torch.testing.assert_close(b_buf[key], a_buf[key], rtol=1e-3, atol=1e-4)
    first, second = (weights(t) for t in stack.trainers)
    assert not all(torch.equal(a, b) for a, b in zip(first, second, strict=True))


def test_stack_resume_equals_uninterrupted_stack(real_dataset: Path, tmp_path: Path) -> None:
    straight = StackedTrainer(configs(real_dataset, "loop.epochs=3"), dirs(tmp_path / "a"))
    straight.run(export=False)
    straight.close()
    first = StackedTrainer(configs(real_dataset, "loop.epochs=3"), dirs(tmp_path / "b"))
    first.run(should_stop=lambda: first.epoch >= 2, export=False)
    first.close()
    resumed = StackedTrainer(configs(real_dataset, "loop.epochs=3"), dirs(tmp_path / "b"), True)
    assert resumed.epoch == 2
    results = resumed.run()
    resumed.close()
    assert_same_state(straight.stack.state_dict(), resumed.stack.state_dict(), "stack")
    for k, (a, b) in enumerate(zip(straight.trainers, resumed.trainers, strict=True)):
        assert_same_state(a.algo.state_dict(), b.algo.state_dict(), f"member {k}")
        assert_same_state(a.sim_buffer.state_dict(), b.sim_buffer.state_dict(), f"buffer {k}")
        assert a.counters == b.counters
        assert metric_rows(a.folder.metrics_csv) == metric_rows(b.folder.metrics_csv)
        assert results[k].policy_path is not None and results[k].policy_path.is_file()


def test_stack_resumes_from_the_newest_epoch_all_runs_hold(
    real_dataset: Path, tmp_path: Path
) -> None:
    """A stop between the K saves leaves run 0 a checkpoint ahead: the stack resumes from the
    epoch both hold and ends where the uninterrupted stack does."""
    extra = ("loop.epochs=3", "loop.eval_every=1")
    straight = StackedTrainer(configs(real_dataset, *extra), dirs(tmp_path / "a"))
    straight.run(export=False)
    straight.close()
    first = StackedTrainer(configs(real_dataset, *extra), dirs(tmp_path / "b"))
    first.run(should_stop=lambda: first.epoch >= 2, export=False)
    first.close()
    (first.trainers[1].folder.checkpoint(2)).unlink()  # run 1's epoch-2 save never happened
    resumed = StackedTrainer(configs(real_dataset, *extra), dirs(tmp_path / "b"), resume=True)
    assert resumed.epoch == 1
    resumed.run(export=False)
    resumed.close()
    assert_same_state(straight.stack.state_dict(), resumed.stack.state_dict(), "stack")
    for a, b in zip(straight.trainers, resumed.trainers, strict=True):
        assert metric_rows(a.folder.metrics_csv) == metric_rows(b.folder.metrics_csv)
        assert a.best == b.best


def test_checkpoints_resume_only_the_way_they_were_trained(
    real_dataset: Path, tmp_path: Path
) -> None:
    stacked = StackedTrainer(configs(real_dataset, "loop.epochs=1"), dirs(tmp_path / "stack"))
    stacked.run(export=False)
    stacked.close()
    longer = configs(real_dataset, "loop.epochs=2")
    with pytest.raises(CheckpointError, match="trained in a seed stack"):
        Trainer(longer[0], tmp_path / "stack/s0", resume=True)
    for k, config in enumerate(configs(real_dataset, "loop.epochs=1")):
        alone = Trainer(config, tmp_path / f"alone/s{k}")
        alone.run(export=False)
        alone.close()
    with pytest.raises(CheckpointError, match="only checkpoints of its own runs"):
        StackedTrainer(longer, dirs(tmp_path / "alone"), resume=True)
    swapped = [tmp_path / "stack/s1", tmp_path / "stack/s0"]
    with pytest.raises((CheckpointError, ConfigError)):
        StackedTrainer(longer, swapped, resume=True)


def test_what_cannot_be_stacked_is_refused_before_training(
    real_dataset: Path, tmp_path: Path
) -> None:
    ok = configs(real_dataset)
    other = [ok[0], tiny(real_dataset, "seed=1", "algo.batch_size=32")]
    with pytest.raises(ConfigError, match="differ only in their seed.*algo"):
        StackedTrainer(other, dirs(tmp_path / "a"))
    with pytest.raises(ConfigError, match="distinct seeds"):
        StackedTrainer([ok[0], ok[0]], dirs(tmp_path / "b"))
    with pytest.raises(ConfigError, match="cannot be stacked"):
        StackedTrainer(configs(real_dataset, algorithm="cql"), dirs(tmp_path / "c"))
    assert not (tmp_path / "c").exists() or not any((tmp_path / "c").rglob("*.pt"))
