"""Gymnasium env of the wheel-legged robot: contract observation, action, reward, termination.

Everything a learner sees comes from the robot contract: the observation is
``build_observation`` of the simulated readings, the reward ``task.reward(obs, action,
next_obs)`` and the termination ``task.terminated(next_obs)`` (both at once by
``task.outcome``, bitwise the same), exactly as for a real log. Time limits truncate
(``task.max_episode_steps(control_hz)``), never terminate.

The control loop is the deployed one (docs/control_loop.md): the agent's action goes through the
deploy runner's action shaping (:class:`~h2o_robot_bridge.deploy.shaping.ActionShaper`, imported:
clip, fade-in after reset, rate limit, per tick), then reaches the motors after the dynamics
profile's actuation delay (``latency_steps`` plus per-tick ``latency_jitter_steps``). The action
the env reports (``prev_action`` in the next observation, the reward's action,
``info["applied_action"]``) is the shaped one, what the robot received, exactly as the runner
builds its observation; what the motors got after joint noise is in ``info["executed_action"]``.

``randomize`` draws dynamics knobs afresh at every reset (domain randomisation, e.g. the
actuation delay a user does not know exactly): ``{"latency_steps": (0, 20)}`` draws a whole
number in [0, 20], other knobs a float uniform in [low, high].

``command_range`` draws the task command afresh at every reset (uniform in a
:class:`~h2o_robot_bridge.contract.CommandRange`, from the env's generator after the simulator
seed and the knobs, so a run without it draws exactly what it drew before);
``reset(options={"command": ...})`` still fixes one.
"""

from __future__ import annotations

import os
from typing import Any

import gymnasium as gym
import numpy as np
import pybullet as p
from numpy.typing import NDArray

from h2o_robot_bridge.contract import (
    DEFAULT_TIMING,
    OBS_DIM,
    CommandRange,
    Timing,
    build_observation,
    clip_action,
    get_task,
    observation_from_snapshot,
)
from h2o_robot_bridge.contract.spaces import action_space, observation_space
from h2o_robot_bridge.deploy.safety import SafetyConfig
from h2o_robot_bridge.deploy.shaping import ActionShaper, ShapingConfig
from h2o_robot_bridge.errors import ConfigError
from h2o_sim.dynamics import INTEGER_KNOBS, DynamicsProfile, knob_names, resolve_profile
from h2o_sim.simulator import ActionError, WheelLeggedSim

Ranges = dict[str, tuple[float, float]]


def deploy_shaping(timing: Timing = DEFAULT_TIMING) -> ShapingConfig:
    """The deploy runner's default shaping (``config/bridge/deploy.yaml``) at ``timing``."""
    return SafetyConfig(control_hz=timing.control_hz).shaping


def episode_sim_seed(seed: int) -> int:
    """The simulator seed of ``WheelLeggedEnv.reset(seed=seed)``: other loops over the same
    simulator (the in-process runner loop) start their episodes from the same initial state."""
    rng, _ = gym.utils.seeding.np_random(int(seed))
    return int(rng.integers(2**63 - 1))


def check_ranges(randomize: Any) -> Ranges:
    """Validate ``{knob: (low, high)}`` (known knobs, low <= high); raises ConfigError."""
    if not randomize:
        return {}
    if not isinstance(randomize, dict):
        raise ConfigError(f"randomize must map knob -> [low, high], got {randomize!r}")
    out: Ranges = {}
    for name, pair in randomize.items():
        if name not in knob_names():
            raise ConfigError(f"randomize: unknown dynamics knob {name!r}; known: {knob_names()}")
        try:
            low, high = (float(x) for x in pair)
        except (TypeError, ValueError) as err:
            raise ConfigError(f"randomize.{name}: expected [low, high], got {pair!r}") from err
        if not (np.isfinite(low) and np.isfinite(high) and low <= high):
            raise ConfigError(f"randomize.{name}: need finite low <= high, got {pair!r}")
        out[name] = (low, high)
    return out


class WheelLeggedEnv(gym.Env):
    """The robot in PyBullet as a Gymnasium env.

    Args:
        task: contract task (``stand``, ``move_straight``).
        dynamics: profile name, YAML path or :class:`DynamicsProfile`.
        timing: control and physics rates.
        overrides: dynamics knobs replacing the profile's (e.g. ``{"latency_steps": 2}``).
        command: (forward speed [m/s], yaw rate [rad/s]); default: the task's command.
            ``reset(options={"command": (v, w)})`` changes it for one episode onwards.
        command_range: draw the command uniformly from this range at every reset (the task
            command varies per episode); ``command`` is then only the first reset's fallback.
        render_mode: ``None``, ``"human"`` (PyBullet GUI) or ``"rgb_array"``.
        shaping: the action shaping (default: the deploy runner's, :func:`deploy_shaping`);
            its ``control_hz`` must be the timing's.
        randomize: dynamics knob ranges drawn at every reset (see the module docstring).
    """

    # "human" (the PyBullet GUI) is offered only where a display exists.
    metadata = {
        "render_modes": ["rgb_array", "human"] if os.environ.get("DISPLAY") else ["rgb_array"],
        "render_fps": 100,
    }

    def __init__(
        self,
        task: str = "stand",
        dynamics: str | DynamicsProfile = "real",
        timing: Timing = DEFAULT_TIMING,
        overrides: dict | None = None,
        command: tuple[float, float] | None = None,
        render_mode: str | None = None,
        shaping: ShapingConfig | None = None,
        randomize: Ranges | None = None,
        command_range: CommandRange | dict | None = None,
    ) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ConfigError(
                f"render_mode {render_mode!r} not supported; use one of "
                f"{self.metadata['render_modes']} or None"
            )
        self.task = get_task(task)
        self.timing = timing
        self.render_mode = render_mode
        self.command = self._check_command(self.task.command if command is None else command)
        self.command_range = (
            None if command_range is None else CommandRange.parse(command_range).check(self.task)
        )
        self.max_episode_steps = self.task.max_episode_steps(timing.control_hz)
        self.metadata = {**self.metadata, "render_fps": int(round(timing.control_hz))}
        self.shaping = deploy_shaping(timing) if shaping is None else shaping
        if self.shaping.control_hz != timing.control_hz:
            raise ConfigError(
                f"shaping is for {self.shaping.control_hz} Hz, the env runs at "
                f"{timing.control_hz} Hz"
            )
        self.shaper = ActionShaper(self.shaping)
        self.randomize = check_ranges(randomize)
        profile = resolve_profile(dynamics, overrides)
        self.sim = WheelLeggedSim(profile, timing, gui=render_mode == "human")
        self.observation_space = observation_space()
        self.action_space = action_space()
        self._obs = np.zeros(OBS_DIM, dtype=np.float32)
        self._steps = 0

    @staticmethod
    def _check_command(command: Any) -> NDArray[np.float64]:
        cmd = np.asarray(command, dtype=np.float64)
        if cmd.shape != (2,) or not np.all(np.isfinite(cmd)):
            raise ConfigError(f"command must be 2 finite numbers (v [m/s], w [rad/s]): {command}")
        return cmd

    @property
    def profile(self) -> DynamicsProfile:
        """The simulator's current dynamics."""
        return self.sim.profile

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[NDArray[np.float32], dict[str, Any]]:
        """Start an episode; the same ``seed`` gives the same episode (for the same actions)."""
        super().reset(seed=seed)
        # The simulator's own generator is drawn from the env's, so reset(seed) fixes both.
        sim_seed = int(self.np_random.integers(2**63 - 1))
        drawn = self._draw_knobs()
        if options and "command" in options:
            self.command = self._check_command(options["command"])
        elif self.command_range is not None:
            self.command = self.command_range.sample(self.np_random)
        readings = self.sim.reset(seed=sim_seed)
        self._steps = 0
        self.shaper.reset()  # a new episode starts like a runner at start-up
        self._obs = observation_from_snapshot(
            readings.snapshot(), self.command, self.shaper.last_output
        )
        info = {"readings": readings, "dynamics": drawn, "command": self.command.copy()}
        return self._obs.copy(), info

    def _draw_knobs(self) -> dict[str, float]:
        """Set the randomised knobs for this episode (from the env's generator)."""
        drawn: dict[str, float] = {}
        rng = self.np_random
        for name, (low, high) in self.randomize.items():
            if name in INTEGER_KNOBS:
                value: float = int(rng.integers(int(np.ceil(low)), int(np.floor(high)) + 1))
            else:
                value = float(rng.uniform(low, high))
            self.sim.set_param(name, value)
            drawn[name] = value
        return drawn

    def step(
        self, action: NDArray
    ) -> tuple[NDArray[np.float32], float, bool, bool, dict[str, Any]]:
        """One control tick. Returns ``obs, reward, terminated, truncated, info``."""
        a = clip_action(action)  # a fresh float64 copy: the caller may reuse its buffer
        if not np.isfinite(a).all():  # never shaped, never sent
            raise ActionError(f"action has non-finite values: {a}")
        a = self.shaper.shape(a).copy()  # what the runner would send the robot
        readings = self.sim.step(a)
        # The snapshot's fields, unpacked here (observation_from_snapshot does only this).
        r = readings
        obs = build_observation(r.quat_xyzw, r.ang_vel, r.joint_pos, r.joint_vel, self.command, a)
        reward, terminated = self.task.outcome(self._obs, a, obs)
        self._steps += 1
        truncated = self._steps >= self.max_episode_steps and not terminated
        self._obs = obs
        info = {
            "applied_action": a,
            "executed_action": self.sim.last_executed_action.copy(),
            "readings": readings,
        }
        return obs.copy(), reward, terminated, truncated, info

    def render(self) -> NDArray[np.uint8] | None:
        """An RGB frame (H, W, 3) following the robot for ``rgb_array``; the GUI draws itself."""
        if self.render_mode != "rgb_array":
            return None
        target = self.sim.readings.base_pos.tolist()
        c = self.sim.client_id
        view = p.computeViewMatrixFromYawPitchRoll(target, 1.2, 45.0, -20.0, 0.0, 2)
        proj = p.computeProjectionMatrixFOV(60.0, 4.0 / 3.0, 0.05, 20.0)
        _, _, rgba, _, _ = p.getCameraImage(
            320, 240, view, proj, renderer=p.ER_TINY_RENDERER, physicsClientId=c
        )
        return np.asarray(rgba, dtype=np.uint8).reshape(240, 320, 4)[:, :, :3]

    def close(self) -> None:
        """Release the PyBullet client."""
        self.sim.close()
