"""The training loop (docs/algorithm.md, "The loop"): collect in the sim, update, evaluate, log,
checkpoint.

Per epoch: ``loop.sim_steps_per_epoch`` steps of the stochastic policy in the sim env (only if
the algorithm uses sim data; the env executes its joint noise but returns/stores the clean
action), then ``loop.grad_steps_per_epoch`` gradient steps on a real batch from the offline
dataset and a sim batch from the online buffer, then every ``loop.eval_every`` epochs
``loop.eval_episodes`` deterministic episodes in the ``real`` profile and, logged separately,
in the sim profile. Everything is built and validated in :class:`Trainer`'s constructor, so bad
input fails before the first step.

Model selection (:mod:`~h2o_learning.training.selection`). An evaluation whose ``real`` return
beats the best so far is checkpointed as ``checkpoints/best.pt`` (restored on resume). At the
end :meth:`Trainer.export_policies` exports ``best_<task>.onnx`` from it and
``last_<task>.onnx`` from the final epoch, copies the one ``run.export`` names to
``<task>.onnx`` and writes ``export.json`` saying which and why.

Bit-for-bit resume. Every random stream is explicit and saved in the checkpoint: the
algorithm's own torch generator (inside its ``state_dict``), the trainer's torch generator for
batch sampling, its numpy generator for warm-up actions, and torch's global RNG. The sim env is
the one piece of state that cannot be saved, so checkpoints are taken only at epoch ends and
every epoch's rollout starts with a fresh ``reset(seed=...)`` whose seed is a function of the
run seed and the episode counter (an episode still running at the end of an epoch is cut there:
its last transition is a truncation, so the critic bootstraps through it). Evaluation runs in
separate envs with fixed seeds and a deterministic policy, so it consumes none of the training
streams. Hence ``run N epochs`` == ``run k epochs, stop, resume, run N - k`` exactly (tested).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from h2o_learning.algorithms.protocol import UpdateBatches
from h2o_learning.algorithms.stack import SeedStack
from h2o_learning.training.buffers import ReplayBuffer
from h2o_learning.training.build import (
    algorithm_from_checkpoint,
    build_algorithm,
    check_env_spaces,
    command_of,
    data_stats,
    load_real_data,
    sim_buffer_capacity,
)
from h2o_learning.training.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from h2o_learning.training.config import TrainConfig, config_hash, config_to_dict, learning_dict
from h2o_learning.training.evaluation import (
    RunnerEvaluator,
    TorchPolicy,
    episode_limit,
    eval_seeds,
    make_env,
)
from h2o_learning.training.export import copy_policy, export_policy
from h2o_learning.training.metrics_log import (
    EPOCH,
    REAL_RETURN,
    SIM_RETURN,
    MetricsLog,
    plot_curves,
)
from h2o_learning.training.run_folder import RunFolder, open_run_folder
from h2o_learning.training.sampling import sample_batches
from h2o_learning.training.selection import (
    SELECT_METRIC,
    Criterion,
    ExportRecord,
    Scored,
    best_from_payload,
    best_payload,
    decide,
    improves,
    policy_file,
    write_record,
)
from h2o_robot_bridge.contract import (
    ACTION_DIM,
    DEFAULT_TIMING,
    OBS_DIM,
    CommandRange,
    episode_commands,
)
from h2o_robot_bridge.dataset import Dataset

StackSlot = tuple[SeedStack, int]
"""A stacked run's seed stack and its member index in it."""

EpochCallback = Callable[[int, dict[str, float]], None]
"""Called after each epoch with (epochs completed, that epoch's metrics)."""

KEEP_CHECKPOINTS = 2
"""Newest checkpoints kept in a run folder (each holds the sim buffer)."""


@dataclass
class Counters:
    """Progress counters, saved in checkpoints."""

    epoch: int = 0  # epochs completed
    env_steps: int = 0  # sim steps taken in training
    episodes: int = 0  # training episodes started
    grad_steps: int = 0  # gradient steps taken


@dataclass(frozen=True)
class TrainResult:
    """What a finished (or stopped) run produced."""

    run_dir: Path
    epochs: int
    finished: bool
    policy_path: Path | None
    """``<task>.onnx``, the policy ``run.export`` names (None: not exported)."""
    last_metrics: dict[str, float]
    export: ExportRecord | None = None
    """Which epoch ``policy_path`` holds and why (as in ``export.json``)."""


class Trainer:
    """One training run: build and validate everything, then :meth:`run`.

    Args:
        config: the resolved config.
        run_dir: the run folder (default ``<run.root>/<name>-<time>``).
        resume: continue the run in ``run_dir`` from its newest checkpoint (or that of
            ``resume_epoch``).
        resume_epoch: the epoch checkpoint to resume from (None: the newest).
        in_stack: the run is member of a seed stack
            (:class:`~h2o_learning.training.stacked.StackedTrainer` sets :attr:`stack_slot`
            and does its gradient steps); a stacked run's checkpoint resumes only so, and a
            single run's never so.

    Raises:
        ConfigError, DatasetError, ContractMismatchError, CheckpointError: bad input, before
            any training.
    """

    select_metric: ClassVar[str] = SELECT_METRIC
    """The logged metric the best epoch maximises (a seam: tests select on a known one)."""

    def __init__(
        self,
        config: TrainConfig,
        run_dir: str | Path | None = None,
        resume: bool = False,
        resume_epoch: int | None = None,
        in_stack: bool = False,
    ) -> None:
        self.config = config
        self.in_stack = in_stack
        self.stack_slot: StackSlot | None = None  # (the stack, this run's member index)
        self.saved_stack: dict[str, Any] | None = None  # the resumed checkpoint's stack state
        # The run's control loop timing: one object for every env, the dataset check and export.
        self.timing = DEFAULT_TIMING
        self.hash = config_hash(config)
        if config.run.threads:
            torch.set_num_threads(config.run.threads)
        torch.manual_seed(config.seed)
        self.real_data = load_real_data(config, self.timing)
        self.stats = data_stats(config, self.real_data)
        self.algo = build_algorithm(config, self.stats)
        self.device = torch.device(config.run.device)
        self.counters = Counters()
        self.np_rng = np.random.default_rng(np.random.SeedSequence(config.seed, spawn_key=(2,)))
        self.sample_gen = torch.Generator(device=self.device).manual_seed(config.seed + 7919)
        self.real_buffer = self._real_buffer(self.real_data)
        self.sim_env = self._sim_env() if self.algo.uses_sim else None
        self.sim_buffer = self._sim_buffer() if self.algo.uses_sim else None
        self._eval_envs = {name: self._make_eval_env(name) for name in self._eval_names()}
        self.best: Scored | None = None  # the best evaluated epoch so far (checkpoints/best.pt)
        checkpoint = self._resume_checkpoint(run_dir, resume_epoch) if resume else None
        best = self._load_best_checkpoint(run_dir) if resume else None
        self.folder = open_run_folder(config, run_dir, resume)
        if checkpoint is not None:
            self._restore(checkpoint)
            self.best = None if best is None else self._restore_best(*best)
        self.log = MetricsLog(
            self.folder.metrics_csv,
            self.folder.tensorboard if config.run.tensorboard else None,
            resume_epoch=self.counters.epoch if resume else None,
        )

    # ----------------------------------------------------------------------------- building
    def _real_buffer(self, data: Dataset | None) -> ReplayBuffer | None:
        if data is None or not self.algo.uses_real:
            return None
        return ReplayBuffer.from_arrays(
            data.observations,
            data.actions,
            data.rewards,
            data.next_observations,
            data.terminals.astype(np.float32),
            device=str(self.device),
        )

    def _sim_env(self) -> Any:
        """The training env: the run's task, command, timing and sim dynamics, the deploy
        shaping, and the configured per-episode randomisation, checked."""
        cfg, env_cfg = self.config, self.config.env
        env = make_env(
            env_cfg.task,
            env_cfg.sim_dynamics,
            env_cfg.sim_overrides,
            command_of(cfg),
            self.timing,
            randomize=dict(env_cfg.sim_randomize),
            command_range=env_cfg.command_range,
        )
        check_env_spaces(env, f"sim env ({env_cfg.sim_dynamics})")
        return env

    def _sim_buffer(self) -> ReplayBuffer:
        capacity = sim_buffer_capacity(self.config, self.real_data)
        return ReplayBuffer(OBS_DIM, ACTION_DIM, capacity, device=str(self.device))

    def _resume_checkpoint(self, run_dir: str | Path | None, epoch: int | None) -> dict[str, Any]:
        if run_dir is None:
            raise CheckpointError("resume needs the run folder (--run-dir)")
        folder = RunFolder(Path(run_dir))
        if epoch is not None:
            if not folder.checkpoint(epoch).is_file():
                raise CheckpointError(f"cannot resume: no checkpoint {folder.checkpoint(epoch)}")
            return load_checkpoint(folder.checkpoint(epoch))
        path = folder.latest_checkpoint()
        if path is None:
            raise CheckpointError(
                f"cannot resume: no checkpoint in {Path(run_dir) / 'checkpoints'}"
            )
        return load_checkpoint(path)

    def _load_best_checkpoint(
        self, run_dir: str | Path | None
    ) -> tuple[Path, dict[str, Any]] | None:
        """``checkpoints/best.pt`` of the run to resume and its payload (None: not written)."""
        path = RunFolder(Path(run_dir or ".")).best_checkpoint
        return (path, load_checkpoint(path)) if path.is_file() else None

    def _restore_best(self, path: Path, payload: dict[str, Any]) -> Scored | None:
        """The best so far, from the best checkpoint. A best from after the resumed checkpoint
        (a run stopped after a best epoch that had no epoch checkpoint: ``checkpoint_every``
        > 1) is kept: it is a policy of this run, evaluated the same way, and the replayed
        epochs compete with it."""
        if not _epochs_only_differ(payload, self.config):
            raise CheckpointError(f"{path} was written by a run with another config")
        return best_from_payload(payload, self.select_metric)

    # ---------------------------------------------------------------------------- the loop
    def run(
        self,
        on_epoch: EpochCallback | None = None,
        should_stop: Callable[[], bool] | None = None,
        export: bool = True,
    ) -> TrainResult:
        """Train until ``loop.epochs`` (or ``should_stop()`` after an epoch); when all epochs
        ran and ``export``, :meth:`export_policies`.

        Returns:
            the run folder, epochs completed, whether all were done, the exported policy and
            why it was chosen.
        """
        loop = self.config.loop
        metrics: dict[str, float] = {}
        with progress_bar(self.config, self.counters.epoch, self.sim_env is not None) as bar:
            while self.counters.epoch < loop.epochs:
                metrics = self.run_epoch(bar)
                if on_epoch is not None:
                    on_epoch(self.counters.epoch, metrics)
                if should_stop is not None and should_stop():
                    break
        finished = self.counters.epoch >= loop.epochs
        record = self.export_policies() if finished and export else None
        self.log.close()
        policy = None if record is None else self.folder.root / record.policy
        return TrainResult(
            self.folder.root, self.counters.epoch, finished, policy, metrics, record
        )

    def run_epoch(self, bar: Any = None) -> dict[str, float]:
        """One epoch: collect, update, maybe evaluate; then log and checkpoint."""
        metrics = self.collect_epoch(bar)
        metrics.update(self.update(self.config.loop.grad_steps_per_epoch, bar))
        return self.end_epoch(metrics, bar)

    def collect_epoch(self, bar: Any = None) -> dict[str, float]:
        """The epoch's sim steps, if the algorithm uses sim data (rollout metrics)."""
        if self.sim_env is None:
            return {}
        return self.collect(self.config.loop.sim_steps_per_epoch, bar)

    def end_epoch(self, metrics: dict[str, float], bar: Any = None) -> dict[str, float]:
        """Close the epoch whose collect and update gave ``metrics``: count it, maybe
        evaluate, log, maybe checkpoint; returns all of its metrics."""
        self.counters.epoch += 1
        if self._eval_due():
            metrics.update(self.evaluate())
            self._track_best(metrics)
        metrics.update(self._counter_metrics())
        self.log.log(self.counters.epoch, metrics)
        if self._eval_due():
            plot_curves(self.log.rows, self.folder.curves_png, f"{self.config.name} ({self.hash})")
        if self._checkpoint_due():
            self.save()
        if bar is not None:
            bar.set_postfix(_postfix(metrics), refresh=False)
        return metrics

    def _track_best(self, metrics: dict[str, float]) -> None:
        """Checkpoint this epoch as ``checkpoints/best.pt`` (the full state, with the value it
        was selected on) when its evaluation beats the best so far (ties keep the earlier)."""
        value = metrics.get(self.select_metric)
        if value is None or not improves(float(value), self.best):
            return
        self.best = Scored(self.counters.epoch, float(value))
        selection = best_payload(self.best, self.select_metric)
        save_checkpoint(
            self.folder.best_checkpoint, {**self.checkpoint_payload(), "selection": selection}
        )

    def _eval_due(self) -> bool:
        e, loop = self.counters.epoch, self.config.loop
        return e % loop.eval_every == 0 or e == loop.epochs

    def _checkpoint_due(self) -> bool:
        e, loop = self.counters.epoch, self.config.loop
        return e % loop.checkpoint_every == 0 or e == loop.epochs

    def _counter_metrics(self) -> dict[str, float]:
        c = self.counters
        out = {"progress/env_steps": c.env_steps, "progress/grad_steps": c.grad_steps}
        if self.sim_buffer is not None:
            out["progress/sim_buffer"] = len(self.sim_buffer)
        return {k: float(v) for k, v in out.items()}

    # ------------------------------------------------------------------------------ collect
    def _episode_seed(self) -> int:
        seq = np.random.SeedSequence(self.config.seed, spawn_key=(3, self.counters.episodes))
        self.counters.episodes += 1
        return int(seq.generate_state(1)[0])

    def collect(self, steps: int, bar: Any = None) -> dict[str, float]:
        """``steps`` sim steps with the stochastic policy (uniform random during warm-up),
        stored in the sim buffer with the clean action. Starts with a fresh seeded reset."""
        assert self.sim_env is not None and self.sim_buffer is not None
        obs, _ = self.sim_env.reset(seed=self._episode_seed())
        returns, current, rewards = [], 0.0, []
        for _ in range(steps):
            action = self._rollout_action(obs)
            next_obs, reward, terminated, truncated, _ = self.sim_env.step(action)
            self.sim_buffer.add(obs, action, float(reward), next_obs, float(terminated))
            self.counters.env_steps += 1
            current += float(reward)
            rewards.append(float(reward))
            obs = next_obs
            if terminated or truncated:
                returns.append(current)
                current = 0.0
                obs, _ = self.sim_env.reset(seed=self._episode_seed())
            if bar is not None:
                bar.update(1)
        out = {"rollout/reward_mean": float(np.mean(rewards)) if rewards else float("nan")}
        out["rollout/episodes"] = float(len(returns))
        if returns:
            out["rollout/episode_return"] = float(np.mean(returns))
        return out

    def _rollout_action(self, obs: np.ndarray) -> np.ndarray:
        if self.counters.env_steps < self.config.loop.warmup_steps:
            return self.np_rng.uniform(-1.0, 1.0, ACTION_DIM).astype(np.float32)
        x = torch.as_tensor(obs, dtype=torch.float32, device=self.device)[None]
        return self.algo.act(x, deterministic=False)[0].cpu().numpy().astype(np.float32)

    # ------------------------------------------------------------------------------- update
    def can_update(self) -> bool:
        """Whether a gradient step is due (the sim buffer holds ``loop.learning_starts``)."""
        if self.sim_buffer is None:
            return True
        needed = max(1, self.config.loop.learning_starts)
        return len(self.sim_buffer) >= needed

    def update(self, steps: int, bar: Any = None) -> dict[str, float]:
        """``steps`` gradient steps; returns the epoch mean of each diagnostic (``train/*``)."""
        means = UpdateMeans()
        for _ in range(steps):
            if bar is not None:
                bar.update(1)
            if not self.can_update():
                continue
            means.add(self.algo.update(*self.sample_batches()))
            self.counters.grad_steps += 1
        return means.metrics()

    def sample_batches(self) -> UpdateBatches:
        """One gradient step's batches, from this run's buffers and sampling generator."""
        return sample_batches(self.algo, self.real_buffer, self.sim_buffer, self.sample_gen)

    # ----------------------------------------------------------------------------- evaluate
    def _eval_names(self) -> list[str]:
        return ["real", "sim"] if self.config.loop.eval_sim else ["real"]

    def _make_eval_env(self, which: str) -> RunnerEvaluator:
        """The ``real`` (robot stand-in) or ``sim`` evaluation, through the deploy runner core,
        apart from the training env so evaluating never disturbs a rollout."""
        env_cfg = self.config.env
        if which == "real":
            dynamics, overrides = env_cfg.eval_dynamics, env_cfg.eval_overrides
        else:
            dynamics, overrides = env_cfg.sim_dynamics, env_cfg.sim_overrides
        return RunnerEvaluator(
            env_cfg.task, dynamics, dict(overrides) or None, self.timing, command_of(self.config)
        )

    def policy(self) -> TorchPolicy:
        """The deterministic policy as a runner :class:`~h2o_robot_bridge.policy.Policy`."""
        return TorchPolicy(self.policy_fn(), self.config.env.task, self.timing.control_hz)

    def policy_fn(self) -> Callable[[np.ndarray], np.ndarray]:
        """The deterministic policy as numpy obs (OBS_DIM,) -> action (ACTION_DIM,)."""

        def act(obs: np.ndarray) -> np.ndarray:
            x = torch.as_tensor(obs, dtype=torch.float32, device=self.device)[None]
            return self.algo.act(x, deterministic=True)[0].cpu().numpy()

        return act

    def _eval_seeds(self) -> list[int]:
        return eval_seeds(self.config.seed, self.config.loop.eval_episodes)

    def evaluate(self) -> dict[str, float]:
        """Deterministic episodes in the real profile and, if enabled, the sim profile."""
        loop, env_cfg = self.config.loop, self.config.env
        seeds = self._eval_seeds()
        limit = episode_limit(env_cfg.task, self.timing.control_hz, loop.eval_max_steps)
        out: dict[str, float] = {}
        commands = episode_commands(env_cfg.command_range, len(seeds))
        for name, evaluator in self._eval_envs.items():
            result = evaluator.run(self.policy(), seeds, limit, commands)
            out.update(result.metrics(f"eval_{name}"))
        return out

    # ----------------------------------------------------------------------- checkpointing
    def checkpoint_payload(self) -> dict[str, Any]:
        """Everything needed to resume this run bit-for-bit."""
        data = self.real_data
        return {
            "config": config_to_dict(self.config),
            "config_hash": self.hash,
            "epoch": self.counters.epoch,
            "counters": asdict(self.counters),
            "algorithm": self.algo.state_dict(),
            "sim_buffer": self.sim_buffer.state_dict() if self.sim_buffer is not None else None,
            "rng": {
                "numpy": self.np_rng.bit_generator.state,
                "sample": self.sample_gen.get_state(),
                "torch": torch.get_rng_state(),
            },
            "stats": {
                k: None if v is None else torch.from_numpy(v)
                for k, v in self.stats._asdict().items()
            },
            "stack": None if self.stack_slot is None else self._stack_payload(),
            "dataset": None
            if data is None
            else {
                "path": str(self.config.data.path),
                "size": data.size,
                "fingerprint": dataset_fingerprint(data),
            },
        }

    def _stack_payload(self) -> dict[str, Any]:
        assert self.stack_slot is not None
        stack, member = self.stack_slot
        return {"member": member, "state": stack.state_dict()}

    def save(self) -> Path:
        """Checkpoint after the current epoch; keeps the newest few."""
        path = save_checkpoint(
            self.folder.checkpoint(self.counters.epoch), self.checkpoint_payload()
        )
        self.folder.prune_checkpoints(KEEP_CHECKPOINTS)
        return path

    def _restore(self, payload: dict[str, Any]) -> None:
        if not _epochs_only_differ(payload, self.config):
            raise CheckpointError("checkpoint was written by a run with another config")
        saved = payload.get("dataset")
        data = self.real_data
        if (
            saved is not None
            and data is not None
            and saved["fingerprint"] != dataset_fingerprint(data)
        ):
            raise CheckpointError(
                f"the real dataset differs from the one this run started with ({saved['path']})"
            )
        self._check_stack(payload.get("stack"))
        try:
            self.algo.load_state_dict(payload["algorithm"])
            if self.sim_buffer is not None:
                self.sim_buffer.load_state_dict(payload["sim_buffer"])
            rng = payload["rng"]
            self.np_rng.bit_generator.state = rng["numpy"]
            self.sample_gen.set_state(rng["sample"])
            torch.set_rng_state(rng["torch"])
            self.counters = Counters(**payload["counters"])
        except (KeyError, TypeError, ValueError, RuntimeError) as err:
            raise CheckpointError(f"checkpoint does not fit this run: {err}") from err

    def _check_stack(self, saved: dict[str, Any] | None) -> None:
        """A stacked run's checkpoint resumes only in a stack (its Adam moments are in the
        stack's state), a single run's only alone."""
        if saved is not None and not self.in_stack:
            seeds = saved.get("state", {}).get("seeds")
            raise CheckpointError(
                f"this run was trained in a seed stack (seeds {seeds}); resume it with its "
                "stack (h2o-experiment resumes its grid's stacks)"
            )
        if saved is None and self.in_stack:
            raise CheckpointError("a seed stack resumes only checkpoints of its own runs")
        self.saved_stack = saved

    # ------------------------------------------------------------------------------ export
    def export_policies(self) -> ExportRecord:
        """Export ``last_<task>.onnx`` (this epoch's policy) and ``best_<task>.onnx`` (that of
        ``checkpoints/best.pt``), copy the one ``run.export`` names to ``<task>.onnx`` with the
        choice in its metadata ``extra["selection"]``, and write ``export.json``.

        :meth:`run` calls it after the last epoch; call it yourself for a stopped run.
        """
        root, name = self.folder.root, self.config.export_name
        self.export(root / policy_file(name, "last"))
        if self.best is not None:
            _, best, payload = algorithm_from_checkpoint(self.folder.best_checkpoint)
            path = root / policy_file(name, "best")
            self._export_module(best.policy_module(), path, int(payload["epoch"]))
        last = self.counters.epoch
        requested, criterion = self.config.run.export, self.criterion()
        record = decide(requested, criterion, self.best, last, self._logged(last), name)
        copy_policy(root / record.source, root / record.policy, {"selection": record.to_dict()})
        write_record(self.folder.export_record, record)
        return record

    def criterion(self) -> Criterion:
        """What the best epoch is selected on: the metric and its evaluation episodes."""
        seeds = tuple(self._eval_seeds())
        return Criterion(self.select_metric, self.config.env.eval_dynamics, seeds)

    def _logged(self, epoch: int) -> float | None:
        """The selection metric logged for ``epoch`` (None: that epoch was not evaluated)."""
        for row in reversed(self.log.rows):
            if row[EPOCH] == epoch:
                return row.get(self.select_metric)
        return None

    def export(self, path: str | Path) -> Path:
        """Export this epoch's deterministic policy as ONNX to ``path``."""
        return self._export_module(self.algo.policy_module(), path, self.counters.epoch)

    def _export_module(self, policy: torch.nn.Module, path: str | Path, epoch: int) -> Path:
        return export_policy(
            policy,
            path,
            task=self.config.env.task,
            control_hz=self.timing.control_hz,
            algorithm=self.config.algorithm,
            config_hash=self.hash,
            extra=export_extra(self.config, epoch),
        )

    def close(self) -> None:
        """Close the simulators and the logs."""
        for env in [self.sim_env, *self._eval_envs.values()]:
            if env is not None:
                env.close()
        self._eval_envs.clear()
        self.log.close()


class UpdateMeans:
    """The epoch mean of each diagnostic of the gradient steps taken (``train/*``)."""

    def __init__(self) -> None:
        self.sums: dict[str, float] = defaultdict(float)
        self.done = 0

    def add(self, diagnostics: dict[str, float]) -> None:
        """Count one gradient step's diagnostics."""
        for key, value in diagnostics.items():
            self.sums[key] += float(value)
        self.done += 1

    def metrics(self) -> dict[str, float]:
        """``train/<name>`` means and ``train/updates`` (the steps taken)."""
        done = self.done
        out = {f"train/{k}": v / done for k, v in self.sums.items()} if done else {}
        out["train/updates"] = float(done)
        return out


def export_extra(config: TrainConfig, epoch: int) -> dict[str, Any]:
    """Provenance of a policy: run name, epochs, seed, sim profile, dataset, and the control
    loop it was trained in (action shaping, randomised knobs, task commands), which the runner
    checks."""
    from h2o_sim.env import deploy_shaping  # noqa: PLC0415 - the env's default shaping

    commands = config.env.command_range or CommandRange.single(command_of(config))
    return {
        "run": config.name,
        "epochs": epoch,
        "seed": config.seed,
        "sim_dynamics": config.env.sim_dynamics,
        "sim_randomize": {k: list(v) for k, v in config.env.sim_randomize.items()},
        "eval_dynamics": config.env.eval_dynamics,
        "dataset": config.data.path,
        "shaping": deploy_shaping(DEFAULT_TIMING).to_dict(),  # the trainer's timing
        # The task commands trained on (the runner says when /cmd_vel leaves them).
        "commands": commands.to_dict(),
    }


def dataset_fingerprint(data: Dataset) -> str:
    """A short hash of the dataset's arrays (detects a changed file on resume)."""
    import hashlib  # noqa: PLC0415

    h = hashlib.sha256()
    for array in data.arrays().values():
        h.update(np.ascontiguousarray(array).tobytes())
    return h.hexdigest()[:16]


def _epochs_only_differ(payload: dict[str, Any], config: TrainConfig) -> bool:
    saved = learning_dict(dict(payload["config"]))
    ours = learning_dict(config_to_dict(config))
    for d in (saved, ours):
        d["loop"] = {**d["loop"], "epochs": 0}
    return saved == ours


def _postfix(metrics: dict[str, float]) -> dict[str, str]:
    keys = {
        REAL_RETURN: "real",
        SIM_RETURN: "sim",
        "rollout/episode_return": "ret",
        "train/critic_loss": "q_loss",
        "train/actor_loss": "pi_loss",
    }
    return {short: f"{metrics[k]:.3g}" for k, short in keys.items() if k in metrics}


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def set_postfix(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __enter__(self) -> _NoBar:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def progress_bar(config: TrainConfig, start_epoch: int, uses_sim: bool, runs: int = 1) -> Any:
    """tqdm over env + gradient steps of the whole run, or of ``runs`` runs trained together
    (a seed stack), or a no-op bar."""
    if not config.run.progress:
        return _NoBar()
    from tqdm import tqdm  # noqa: PLC0415

    loop = config.loop
    per_epoch = (loop.sim_steps_per_epoch * uses_sim + loop.grad_steps_per_epoch) * runs
    return tqdm(
        total=per_epoch * loop.epochs,
        initial=per_epoch * start_epoch,
        desc=config.name if runs == 1 else f"{config.name} x {runs} seeds",
        unit="step",
        mininterval=0.5,
        smoothing=0.05,
    )
