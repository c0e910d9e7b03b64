"""AlgorithmConfig: every count and coefficient of SAC, CQL, DARC(+) and H2O, validated.

Defaults are the H2O reference's (see ``docs/algorithm.md``) unless a field says
otherwise. Build it from YAML with :meth:`AlgorithmConfig.from_dict`; unknown keys and
out-of-range values raise :class:`~h2o_robot_bridge.errors.ConfigError`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from h2o_robot_bridge.errors import ConfigError

# Matmul precisions of the discriminator forwards (``disc_precision``).
DISC_PRECISIONS = ("float32", "bfloat16")


@dataclass(frozen=True)
class AlgorithmConfig:
    """Hyper-parameters shared by all algorithms (each uses the fields it needs).

    Networks:
        hidden: actor and critic hidden sizes.
        disc_hidden: discriminator hidden sizes (DARC, H2O).
        n_critics: Q ensemble size (twin critics: 2).
        last_layer_gain: Xavier gain of actor/critic output layers.
        log_std_min, log_std_max: clamp of the actor's log std.
        log_std_scale_init, log_std_offset_init: initial learnable scale/offset of log std.
        obs_clip: clip of normalised observations.
    Optimisation:
        actor_lr, critic_lr, alpha_lr, disc_lr: Adam learning rates.
        gamma: discount. tau: target soft-update rate. target_update_period: in steps.
        batch_size: transitions per critic/actor step (real + sim).
        sim_fraction: share of ``batch_size`` drawn from sim data when both are used.
        disc_batch_size: real and sim transitions *each* per discriminator step.
        auto_alpha: learn the temperature; init_alpha: its initial value (or the fixed value).
        target_entropy: None -> -action_dim.
        backup_entropy: subtract alpha log pi in the TD target (reference: False).
        backup_action: the TD target's next action: ``sample`` (a' ~ pi(s'), the reference's
            and the H2O spec's), ``mean`` (tanh of the actor mean at s', d3rlpy's CQL) or null:
            the algorithm's own (``mean`` for CQL, ``sample`` for the others; see
            ``docs/algorithm.md``, "Learner parity").
        update_order: ``joint`` (one backward; the actor's Q is the pre-step critic, the
            reference) or ``sequential`` (critic step first, then the actor and temperature
            against the updated critic, as d3rlpy does).
    H2O:
        beta: penalty coefficient. penalty_temperature, penalty_clip: of the logsumexp gap.
        disc_noise_std: Gaussian input noise of the discriminators (normalised units).
        disc_residual_l2: weight of a penalty ``mean((z_sas[0] - z_sas[1])^2)`` on D_sas's
            residual log ratio (the only part the weights use) in D_sas's loss; 0 (default)
            is the paper's and the reference's loss. Where real and sim (s, a) separate, the
            classification losses do not fix how D_sa and D_sas share the separation and the
            residual drifts with it; the penalty leaves the residual only what (s, a) cannot
            explain (``docs/experiment.md``, "Controls").
        disc_train_steps: the discriminators train during the first this-many gradient
            steps, then stay fixed (their losses and accuracies are still logged); 0 (default):
            they train at every step. The reference's ``d_early_stop_steps`` (its runs set it
            beyond the run's length): early stopping is a candidate against classifiers that
            learn to separate the two behaviour policies (``docs/experiment.md``, "Controls").
            DARC and H2O.
        n_next_samples: N perturbed next states for u. next_state_std_ratio: sigma multiplier.
        u_floor, u_clip: clip of u (floor applied before the log-space normalisation).
        ratio_clip_min, ratio_clip_max: clip of the importance weight on sim TD errors.
        legacy_u: reproduce the reference's u/omega (floor 1e-45, linear-space omega).
        disc_precision: matmul precision of the discriminator step and of the u / weight pass
            (DARC, H2O): ``float32`` (default, exact) or ``bfloat16`` (CPU/GPU autocast: about
            2x faster matmuls where the CPU has bf16 instructions; an approximation, logits
            differ by ~1e-2, see ``docs/algorithm.md``, "Speed"). Master weights, Adam and the
            losses stay float32.
        disc_overlap: H2O only. Run the discriminator step and the u / weight pass on a second
            thread while the actor (forward, backward and Adam step), the TD target and the
            critic forward run (they do not depend on it); the critic loss waits for it.
            Exact: the same operations on the same inputs, the branch's noise drawn first in
            the serial order (bitwise equal to the serial step at the same thread count).
            Meant for two cores with one torch thread (``run.threads: 1``): each branch then
            has a core; with two torch threads per branch the cores are oversubscribed.
        disc_stale_weights: H2O only. The sim batch's w and omega come from the discriminators
            *before* this step's discriminator update (one discriminator step stale), the
            update follows. Not the spec's order (a numerical change of one step of lag, see
            ``docs/algorithm.md``, "Speed"); with ``disc_overlap`` it lets the discriminator
            step run during the whole actor/critic step instead of before the critic loss.
    CQL:
        cql_alpha: weight of the CQL(H) term. cql_n_actions: sampled actions per kind.
        cql_temperature, cql_importance_sample, cql_clip_min, cql_clip_max.
        cql_lagrange_threshold: None (fixed weight ``cql_alpha``, the reference) or the gap
            tau of d3rlpy's default: the weight becomes ``a * cql_alpha`` with ``a`` learnt
            by dual descent on ``a * cql_alpha * (gap - tau)`` (``a`` starts at 1).
        cql_lagrange_lr: Adam learning rate of ``log a``.
    DARC:
        darc_reward_scale: multiplier of the log-ratio reward correction (DARC+, which also
            puts real data into the critic batch, is the algorithm ``darc_plus``).
        darc_warmup_steps: gradient steps during which the critic sees the sim reward
            uncorrected while the classifiers already train (DARC's warm-up: a classifier
            that has not learnt yet gives a log ratio of noise, and a large negative one
            makes falling at once the optimal policy). 0 (default): corrected from step 1.
            DARC's own recipe is this warm-up with ``disc_noise_std: 1.0``.
    """

    hidden: tuple[int, ...] = (256, 256)
    disc_hidden: tuple[int, ...] = (256, 256)
    n_critics: int = 2
    last_layer_gain: float = 1e-2
    log_std_min: float = -20.0
    log_std_max: float = 2.0
    log_std_scale_init: float = 1.0
    log_std_offset_init: float = -1.0
    obs_clip: float = 10.0

    actor_lr: float = 3e-4
    critic_lr: float = 3e-4
    alpha_lr: float = 3e-4
    disc_lr: float = 3e-4
    gamma: float = 0.99
    tau: float = 5e-3
    target_update_period: int = 1
    batch_size: int = 256
    sim_fraction: float = 0.5
    disc_batch_size: int = 256
    auto_alpha: bool = True
    init_alpha: float = 1.0
    target_entropy: float | None = None
    backup_entropy: bool = False
    backup_action: str | None = None
    update_order: str = "joint"

    beta: float = 0.01
    penalty_temperature: float = 1.0
    penalty_clip: float = 1000.0
    disc_noise_std: float = 0.1
    disc_residual_l2: float = 0.0
    disc_train_steps: int = 0
    n_next_samples: int = 10
    next_state_std_ratio: float = 1.0
    u_floor: float = 1e-8
    u_clip: float = 10.0
    ratio_clip_min: float = 1e-5
    ratio_clip_max: float = 1.0
    legacy_u: bool = False
    disc_precision: str = "float32"
    disc_overlap: bool = False
    disc_stale_weights: bool = False

    cql_alpha: float = 5.0
    cql_n_actions: int = 10
    cql_temperature: float = 1.0
    cql_importance_sample: bool = True
    cql_clip_min: float = -math.inf
    cql_clip_max: float = math.inf
    cql_lagrange_threshold: float | None = None
    cql_lagrange_lr: float = 1e-4

    darc_reward_scale: float = 1.0
    darc_warmup_steps: int = 0

    def __post_init__(self) -> None:
        for name in ("hidden", "disc_hidden"):
            value = getattr(self, name)
            if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
                raise ConfigError(f"{name} must be a list of layer sizes, got {value!r}")
            sizes = tuple(value)
            if not sizes or not all(_is_int(s) and s > 0 for s in sizes):
                raise ConfigError(f"{name} must be positive integers, got {value!r}")
            object.__setattr__(self, name, tuple(int(s) for s in sizes))
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", "")
            if kind == "bool" and not isinstance(value, bool):
                raise ConfigError(f"{f.name} must be true or false, got {value!r}")
            if kind == "int" and not _is_int(value):
                raise ConfigError(f"{f.name} must be an integer, got {value!r}")
            if kind in ("float", "float | None") and value is not None:
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise ConfigError(f"{f.name} must be a number, got {value!r}")
                object.__setattr__(self, f.name, float(value))
                if math.isnan(value):
                    raise ConfigError(f"{f.name} must not be NaN")
        self._check_ranges()

    def _check_ranges(self) -> None:
        positive = (
            "n_critics",
            "actor_lr",
            "critic_lr",
            "alpha_lr",
            "disc_lr",
            "target_update_period",
            "batch_size",
            "disc_batch_size",
            "init_alpha",
            "penalty_temperature",
            "penalty_clip",
            "n_next_samples",
            "u_floor",
            "u_clip",
            "ratio_clip_max",
            "cql_n_actions",
            "cql_temperature",
            "obs_clip",
            "last_layer_gain",
            "cql_lagrange_lr",
        )
        for name in positive:
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be > 0, got {getattr(self, name)!r}")
        non_negative = (
            "beta",
            "disc_noise_std",
            "disc_residual_l2",
            "next_state_std_ratio",
            "ratio_clip_min",
            "cql_alpha",
            "darc_reward_scale",
            "darc_warmup_steps",
            "disc_train_steps",
        )
        for name in non_negative:
            if not getattr(self, name) >= 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        checks = [
            (0.0 <= self.gamma < 1.0, f"gamma must be in [0, 1), got {self.gamma}"),
            (0.0 < self.tau <= 1.0, f"tau must be in (0, 1], got {self.tau}"),
            (
                0.0 < self.sim_fraction < 1.0,
                f"sim_fraction must be in (0, 1), got {self.sim_fraction}",
            ),
            (self.ratio_clip_min <= self.ratio_clip_max, "ratio_clip_min > ratio_clip_max"),
            (self.u_floor < self.u_clip, "u_floor must be < u_clip"),
            (self.cql_clip_min < self.cql_clip_max, "cql_clip_min must be < cql_clip_max"),
            (self.log_std_min < self.log_std_max, "log_std_min must be < log_std_max"),
            (
                self.target_entropy is None or math.isfinite(self.target_entropy),
                "target_entropy must be finite or null",
            ),
            (
                self.backup_action in (None, "sample", "mean"),
                f"backup_action must be 'sample', 'mean' or null, got {self.backup_action!r}",
            ),
            (
                not (self.backup_action == "mean" and self.backup_entropy),
                "backup_entropy needs backup_action 'sample' (the mean action has no log pi)",
            ),
            (
                self.update_order in ("joint", "sequential"),
                f"update_order must be 'joint' or 'sequential', got {self.update_order!r}",
            ),
            (
                self.disc_precision in DISC_PRECISIONS,
                f"disc_precision must be one of {DISC_PRECISIONS}, got {self.disc_precision!r}",
            ),
            (
                self.cql_lagrange_threshold is None or math.isfinite(self.cql_lagrange_threshold),
                "cql_lagrange_threshold must be finite or null",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)
        n_sim = self.sim_batch_size
        if n_sim < 1 or n_sim >= self.batch_size:
            raise ConfigError(
                f"batch_size {self.batch_size} with sim_fraction {self.sim_fraction} leaves an "
                "empty real or sim part"
            )

    @property
    def sim_batch_size(self) -> int:
        """Sim transitions per step when real and sim data are mixed."""
        return int(round(self.batch_size * self.sim_fraction))

    @property
    def real_batch_size(self) -> int:
        """Real transitions per step when real and sim data are mixed."""
        return self.batch_size - self.sim_batch_size

    @classmethod
    def from_dict(cls, values: Mapping[str, Any] | None) -> AlgorithmConfig:
        """Build from a mapping (e.g. a YAML section); unknown keys raise ConfigError."""
        values = dict(values or {})
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(
                f"unknown algorithm config key(s) {unknown}; known keys: {sorted(known)}"
            )
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python mapping (lists for tuples) that :meth:`from_dict` accepts back."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
