"""K runs of one config that differ only in their seed, trained in one process as a seed stack.

Each run keeps everything of its own, as :class:`~h2o_learning.training.trainer.Trainer`
builds it: run folder, sim env and buffer, random streams, evaluation, logs, checkpoints and
export. Only the gradient steps are joint: a
:class:`~h2o_learning.algorithms.stack.SeedStack` steps the K algorithms together with
batched matmuls, each on the batches its own run draws. Member k *is* the algorithm its
trainer built, so it computes what the run alone computes, up to the float rounding of the
batched matmuls (``test_stacked.py``); sim collection and evaluation run per run, one after
the other, in one thread.

Checkpoints. Every run's checkpoint also holds the stack's state (networks with the seed
axis, their Adam moments and the K noise generators) and its member index, so a stack
resumes bit-for-bit. A stack resumes from the newest epoch that all of its runs checkpointed
(a stop between the K saves leaves one run a checkpoint ahead). A stacked run's checkpoint
does not resume alone, nor a single run's in a stack: the Adam moments are the stack's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from h2o_learning.algorithms.base import ActorCritic
from h2o_learning.algorithms.stack import SeedStack
from h2o_learning.training.build import build_algorithm
from h2o_learning.training.checkpoint import CheckpointError, checkpoint_epoch
from h2o_learning.training.config import TrainConfig, config_to_dict, learning_dict
from h2o_learning.training.run_folder import RunFolder
from h2o_learning.training.trainer import Trainer, TrainResult, UpdateMeans, progress_bar
from h2o_robot_bridge.errors import ConfigError


class StackedTrainer:
    """K runs (``configs[k]`` in ``run_dirs[k]``) trained together; :meth:`run`.

    Args:
        configs: one config per run, equal in everything that is learned but the seed
            (distinct seeds); the algorithm must be stackable (SAC, H2O).
        run_dirs: one run folder per config.
        resume: continue all K runs from their checkpoints.

    Raises:
        ConfigError: configs that differ in more than the seed, repeated seeds, an algorithm
            that cannot be stacked; and everything :class:`Trainer` raises, before training.
        CheckpointError: on resume, checkpoints that are not this stack's.
    """

    def __init__(
        self,
        configs: Sequence[TrainConfig],
        run_dirs: Sequence[str | Path],
        resume: bool = False,
    ) -> None:
        check_stackable(configs)
        if len(run_dirs) != len(configs):
            raise ConfigError(f"{len(run_dirs)} run folders for {len(configs)} runs")
        epoch = common_checkpoint_epoch(run_dirs) if resume else None
        self.trainers: list[Trainer] = []
        try:
            for config, run_dir in zip(configs, run_dirs, strict=True):
                trainer = Trainer(config, run_dir, resume, resume_epoch=epoch, in_stack=True)
                self.trainers.append(trainer)
            self.stack = self._build_stack()
        except BaseException:
            self.close()
            raise

    def _build_stack(self) -> SeedStack:
        first = self.trainers[0]
        members = [t.algo for t in self.trainers]
        core = build_algorithm(first.config, first.stats)
        if not all(isinstance(a, ActorCritic) for a in [*members, core]):
            raise ConfigError(f"{first.config.algorithm} cannot be stacked")
        stack = SeedStack.of(members, core)  # type: ignore[arg-type]  # checked just above
        for k, trainer in enumerate(self.trainers):
            trainer.stack_slot = (stack, k)
        saved = [t.saved_stack for t in self.trainers]
        if saved[0] is not None:
            _check_saved(saved, stack.seeds)
            stack.load_state_dict(saved[0]["state"])
        return stack

    @property
    def epoch(self) -> int:
        """Epochs completed (the same for every run)."""
        return self.trainers[0].counters.epoch

    def run(
        self,
        should_stop: Callable[[], bool] | None = None,
        export: bool = True,
    ) -> list[TrainResult]:
        """Train all K runs until ``loop.epochs`` (or ``should_stop()`` after an epoch); when
        all epochs ran and ``export``, export each run's policies.

        Returns:
            one result per run, in order.
        """
        first = self.trainers[0]
        loop = first.config.loop
        metrics: list[dict[str, float]] = [{} for _ in self.trainers]
        uses_sim = first.sim_env is not None
        with progress_bar(first.config, self.epoch, uses_sim, len(self.trainers)) as bar:
            while self.epoch < loop.epochs:
                metrics = self.run_epoch(bar)
                if should_stop is not None and should_stop():
                    break
        return [self._result(t, m, export) for t, m in zip(self.trainers, metrics, strict=True)]

    def run_epoch(self, bar: Any = None) -> list[dict[str, float]]:
        """One epoch of every run: collect (run by run), the joint gradient steps, then each
        run's evaluation, log and checkpoint."""
        collected = [t.collect_epoch(bar) for t in self.trainers]
        updates = self.update(self.trainers[0].config.loop.grad_steps_per_epoch, bar)
        return [
            t.end_epoch({**c, **u}, bar)
            for t, c, u in zip(self.trainers, collected, updates, strict=True)
        ]

    def update(self, steps: int, bar: Any = None) -> list[dict[str, float]]:
        """``steps`` joint gradient steps, each member on its own run's batches; per run, the
        epoch mean of each diagnostic (``train/*``)."""
        means = [UpdateMeans() for _ in self.trainers]
        for _ in range(steps):
            if bar is not None:
                bar.update(len(self.trainers))
            # The runs' sim buffers fill in step (same config), so they agree on this.
            if not all(t.can_update() for t in self.trainers):
                continue
            diagnostics = self.stack.update([t.sample_batches() for t in self.trainers])
            for trainer, mean, diag in zip(self.trainers, means, diagnostics, strict=True):
                mean.add(diag)
                trainer.counters.grad_steps += 1
        return [m.metrics() for m in means]

    def _result(self, trainer: Trainer, metrics: dict[str, float], export: bool) -> TrainResult:
        finished = trainer.counters.epoch >= trainer.config.loop.epochs
        record = trainer.export_policies() if finished and export else None
        trainer.log.close()
        policy = None if record is None else trainer.folder.root / record.policy
        root = trainer.folder.root
        return TrainResult(root, trainer.counters.epoch, finished, policy, metrics, record)

    def close(self) -> None:
        """Close every run's simulators and logs."""
        for trainer in self.trainers:
            trainer.close()


def check_stackable(configs: Sequence[TrainConfig]) -> None:
    """The configs can train as one stack: at least one, equal up to ``seed`` and ``name`` in
    everything that is learned, distinct seeds.

    Raises:
        ConfigError: saying what differs.
    """
    if not configs:
        raise ConfigError("a seed stack needs at least one run")
    seeds = [c.seed for c in configs]
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"a seed stack needs distinct seeds, got {seeds}")
    base = _without_seed(configs[0])
    for config in configs[1:]:
        theirs = _without_seed(config)
        if theirs != base:
            keys = sorted(k for k in base.keys() | theirs.keys() if base.get(k) != theirs.get(k))
            raise ConfigError(
                f"a seed stack's runs may differ only in their seed; {config.name!r} differs "
                f"from {configs[0].name!r} in {', '.join(keys)}"
            )


def _without_seed(config: TrainConfig) -> dict[str, Any]:
    data = learning_dict(config_to_dict(config))
    return {k: v for k, v in data.items() if k not in ("seed", "name")}


def common_checkpoint_epoch(run_dirs: Sequence[str | Path]) -> int:
    """The newest epoch every run folder holds a checkpoint of.

    Raises:
        CheckpointError: a folder without checkpoints, or no epoch they all hold.
    """
    held = []
    for run_dir in run_dirs:
        folder = RunFolder(Path(run_dir))
        epochs = {checkpoint_epoch(p) for p in folder.checkpoints.glob("epoch_*.pt")}
        if not epochs:
            raise CheckpointError(f"cannot resume: no checkpoint in {folder.checkpoints}")
        held.append(epochs)
    common = set.intersection(*held)
    if not common:
        raise CheckpointError(
            "cannot resume the seed stack: its runs hold checkpoints of no common epoch "
            f"({[sorted(e) for e in held]})"
        )
    return max(common)


def _check_saved(saved: list[dict[str, Any] | None], seeds: tuple[int, ...]) -> None:
    """The runs' checkpoints hold this stack's state, member k in run k."""
    for k, state in enumerate(saved):
        if state is None or state.get("member") != k:
            raise CheckpointError(f"run {k}'s checkpoint is not member {k} of this seed stack")
        if list(state["state"].get("seeds", [])) != list(seeds):
            raise CheckpointError(
                f"run {k}'s checkpoint is of the stack of seeds {state['state'].get('seeds')}, "
                f"this stack has {list(seeds)}"
            )
