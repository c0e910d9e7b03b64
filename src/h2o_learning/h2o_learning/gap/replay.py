"""Replay real transitions in the simulator: the sim's one-tick prediction of every real s'.

For each real transition ``(s, a, s')`` the simulator is set to the state of ``s``
(:mod:`.state`: what the observation cannot hold and how it is set), the recorded action ``a``
goes through the env's own control tick (``WheelLeggedEnv.step``: clip, shaping, contract
scaling, actuation delay, ``timing.decimation`` physics steps, ``observation_from_snapshot``
with ``a`` as the next previous action) and the resulting observation is the sim's prediction
of ``s'``.

The control loop is the env's, not a copy of it. The env runs with ``NO_SHAPING`` because a
dataset's action is what the robot *received* (``h2o-collect`` and the recorder log it after
the deploy runner's shaping; the contract's ``prev_action`` is that same action): shaping it
again would fade it in or rate limit it twice. :func:`action_mismatch` checks that the
dataset keeps this promise (``s'.prev_action == a``).

Deterministic by construction: the dynamics knobs that draw random numbers (executed-action
noise, sensor noise, delay jitter, pushes: :data:`RANDOM_KNOBS`) are set to 0 in replay; the gap
is that of the deterministic dynamics. One simulator is reused for every transition and every
profile (knobs changed with ``set_param``); ``set_state`` restores a fresh world's contact
caches first, so a prediction does not depend on the order of the transitions replayed.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from h2o_learning.gap.state import state_from_observation
from h2o_robot_bridge.contract import OBS_DIM, Timing, field
from h2o_robot_bridge.dataset import Dataset
from h2o_robot_bridge.deploy.shaping import NO_SHAPING
from h2o_robot_bridge.errors import ConfigError
from h2o_sim.dynamics import DynamicsProfile, knob_names, resolve_profile
from h2o_sim.env import WheelLeggedEnv

RANDOM_KNOBS = ("action_noise_std", "sensor_noise_std", "latency_jitter_steps", "push_force")
"""Knobs that add random numbers to a tick; 0 in replay (the gap is the dynamics')."""


def replay_profile(profile: DynamicsProfile | str) -> DynamicsProfile:
    """``profile`` with the random knobs off (what replay simulates).

    Raises:
        ConfigError: unknown profile.
    """
    return resolve_profile(profile).replace(**{k: 0 for k in RANDOM_KNOBS})


def action_mismatch(data: Dataset) -> NDArray[np.float64]:
    """Per transition, ``max |s'.prev_action - a|`` (N,): 0 when the dataset's actions are what
    the robot received (the replay's assumption), large where they were logged before shaping."""
    prev = field(data.next_observations, "prev_action").astype(np.float64)
    return np.abs(prev - data.actions.astype(np.float64)).max(axis=1)


class Replayer:
    """One simulator (inside one env) that predicts s' for real transitions.

    Args:
        profile: dynamics to replay with (random knobs are switched off).
        task: contract task of the dataset (the env needs one; rewards are not used).
        timing: the dataset's control rate (physics at the contract's default rate).
    """

    def __init__(
        self, profile: DynamicsProfile | str, task: str, timing: Timing | None = None
    ) -> None:
        timing = Timing() if timing is None else timing
        first = replay_profile(profile)
        self._check_latency(first, timing)
        self.env = WheelLeggedEnv(task=task, dynamics=first, timing=timing, shaping=NO_SHAPING)

    @staticmethod
    def _check_latency(profile: DynamicsProfile, timing: Timing) -> None:
        if profile.latency_steps > timing.decimation:
            raise ConfigError(
                f"replay needs latency_steps <= one control period ({timing.decimation} "
                f"physics steps), got {profile.latency_steps}: an older command would still "
                "be in flight, and the observation holds only the previous one"
            )

    @property
    def profile(self) -> DynamicsProfile:
        """The dynamics replayed now (random knobs off)."""
        return self.env.sim.profile

    def set_profile(self, profile: DynamicsProfile | str) -> None:
        """Switch to other dynamics (changed knobs only, in place: no new simulator)."""
        target = replay_profile(profile)
        self._check_latency(target, self.env.timing)
        now = self.env.sim.profile
        for name in knob_names():
            value = getattr(target, name)
            if getattr(now, name) != value:
                self.env.sim.set_param(name, value)
        # Same knobs now; take the target's name and description too (reports show them).
        self.env.sim.profile = target

    def predict_one(self, obs: NDArray, action: NDArray, command: NDArray) -> NDArray[np.float32]:
        """The sim's next observation (OBS_DIM,) float32 from ``obs`` (OBS_DIM,) under the
        applied ``action`` (6,), with ``command`` (2,) as the next observation's command."""
        self.env.sim.set_state(*state_from_observation(obs))
        self.env.command = np.asarray(command, dtype=np.float64)
        return self.env.step(np.asarray(action, dtype=np.float64))[0]

    def predict(self, data: Dataset, rows: NDArray | None = None, progress: Any = None) -> NDArray:
        """Predictions (n, OBS_DIM) float32 of ``data.next_observations[rows]`` (all rows by
        default); ``progress``: an object with ``update(n)`` (a tqdm bar), called per row."""
        idx = np.arange(data.size) if rows is None else np.asarray(rows)
        out = np.empty((len(idx), OBS_DIM), dtype=np.float32)
        commands = field(data.next_observations, "command")
        for k, i in enumerate(idx):
            out[k] = self.predict_one(data.observations[i], data.actions[i], commands[i])
            if progress is not None:
                progress.update(1)
        return out

    def close(self) -> None:
        """Release the simulator."""
        self.env.close()

    def __enter__(self) -> Replayer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
