"""How fast the simulator runs, against raw PyBullet stepping of the same robot (same run).

Three measurements, each driven by the classical controller so the robot stays upright (a
fallen robot has more contacts and steps slower, which would skew the comparison):

- raw: the limit. Per physics step only ``getJointStates`` + ``setJointMotorControlArray``
  (TORQUE_CONTROL) + ``stepSimulation`` are timed; the controller and the PD arithmetic run
  outside the timed region.
- sim: ``WheelLeggedSim.step`` (PD at physics rate in Python, latency queue, sensor readings).
- env: ``WheelLeggedEnv.step`` (the above + contract observation, reward, termination).

The three run in turn, ``--rounds`` times (a VM whose speed drifts during the run then moves
all three alike); prints the median control ticks per second of each, the median per-round
ratios env/raw and sim/raw (goal: env >= 0.8x raw) and the real-time factor of the env
(simulated seconds per wall-clock second, one core).

Usage: python bench/sim_speed.py [--seconds 3] [--rounds 10]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pybullet as p
from numpy.typing import NDArray

from h2o_robot_bridge.contract import DEFAULT_TIMING, JOINTS, action_to_command, build_observation
from h2o_robot_bridge.contract import robot as contract_robot
from h2o_robot_bridge.controllers import ClassicalController
from h2o_sim.env import WheelLeggedEnv
from h2o_sim.simulator import WheelLeggedSim

KP = [j.stiffness for j in JOINTS]
KD = [j.damping for j in JOINTS]
WHEELS = set(contract_robot.WHEEL_JOINT_IDS)


class RawLoop:
    """Raw stepping of the robot (closed loop, untimed controller and PD arithmetic)."""

    def __init__(self, seed: int) -> None:
        self.sim = WheelLeggedSim("real", seed=seed)
        self.controller = ClassicalController()
        self.prev: NDArray[np.floating] = np.zeros(6)
        self.forces = [0.0] * 6

    def run(self, seconds: float) -> tuple[float, int]:
        """Timed seconds and control ticks of about ``seconds`` of timed stepping."""
        sim = self.sim
        c, body, joints = sim.client_id, sim.body_id, sim.joint_indices
        decimation, forces = sim.timing.decimation, self.forces
        timed, ticks = 0.0, 0
        wall_end = time.perf_counter() + seconds * 3  # the untimed work needs wall time too
        while timed < seconds and time.perf_counter() < wall_end:
            states = p.getJointStates(body, joints, physicsClientId=c)
            _, quat = p.getBasePositionAndOrientation(body, physicsClientId=c)
            _, ang_w = p.getBaseVelocity(body, physicsClientId=c)
            rot = np.array(p.getMatrixFromQuaternion(quat)).reshape(3, 3)
            obs = build_observation(
                quat,
                rot.T @ ang_w,
                [s[0] for s in states],
                [s[1] for s in states],
                (0, 0),
                self.prev,
            )
            self.prev = self.controller.act(obs)
            cmd = action_to_command(self.prev)
            target = [
                float(cmd.effort[i]) if i in WHEELS else float(cmd.position[i]) for i in range(6)
            ]
            for _ in range(decimation):
                t0 = time.perf_counter()
                states = p.getJointStates(body, joints, physicsClientId=c)
                p.setJointMotorControlArray(
                    body, joints, p.TORQUE_CONTROL, forces=forces, physicsClientId=c
                )
                p.stepSimulation(physicsClientId=c)
                timed += time.perf_counter() - t0
                forces = [
                    target[i]
                    if i in WHEELS
                    else KP[i] * (target[i] - states[i][0]) - KD[i] * states[i][1]
                    for i in range(6)
                ]
            ticks += 1
        self.forces = forces
        return timed, ticks

    def close(self) -> int:
        """Release the client; 1 if the robot fell (its contacts would skew the rate)."""
        c, body = self.sim.client_id, self.sim.body_id
        upright = p.getBasePositionAndOrientation(body, physicsClientId=c)[0][2] > 0.3
        self.sim.close()
        return int(not upright)


class SimLoop:
    """``WheelLeggedSim.step`` (controller untimed)."""

    def __init__(self, seed: int) -> None:
        self.sim = WheelLeggedSim("real", seed=seed)
        self.controller = ClassicalController()
        self.prev: NDArray[np.floating] = np.zeros(6)

    def run(self, seconds: float) -> tuple[float, int]:
        """Timed seconds and ticks."""
        r, timed, ticks = self.sim.readings, 0.0, 0
        while timed < seconds:
            obs = build_observation(
                r.quat_xyzw, r.ang_vel, r.joint_pos, r.joint_vel, (0, 0), self.prev
            )
            self.prev = self.controller.act(obs)
            t0 = time.perf_counter()
            r = self.sim.step(self.prev)
            timed += time.perf_counter() - t0
            ticks += 1
        return timed, ticks

    def close(self) -> int:
        """Release the client; 1 if the robot fell."""
        fell = int(self.sim.readings.base_pos[2] < 0.3)
        self.sim.close()
        return fell


class EnvLoop:
    """``WheelLeggedEnv.step`` (controller untimed); counts falls (then resets)."""

    def __init__(self, seed: int) -> None:
        self.env = WheelLeggedEnv(task="stand")
        self.controller = ClassicalController()
        self.obs, _ = self.env.reset(seed=seed)
        self.falls = 0

    def run(self, seconds: float) -> tuple[float, int]:
        """Timed seconds and ticks."""
        timed, ticks = 0.0, 0
        while timed < seconds:
            action = self.controller.act(self.obs)
            t0 = time.perf_counter()
            self.obs, _, terminated, truncated, _ = self.env.step(action)
            timed += time.perf_counter() - t0
            ticks += 1
            if terminated or truncated:
                self.falls += int(terminated)
                self.obs, _ = self.env.reset()
                self.controller.reset()
        return timed, ticks

    def close(self) -> int:
        """Release the client; the falls."""
        self.env.close()
        return self.falls


def interleaved(seconds: float, rounds: int, seed: int) -> dict[str, list[float]]:
    """Ticks/s of raw, sim and env per round, the three run in turn each round (a machine
    that speeds up or slows down during the run then moves all three alike)."""
    loops: dict[str, RawLoop | SimLoop | EnvLoop] = {
        "raw": RawLoop(seed),
        "sim": SimLoop(seed),
        "env": EnvLoop(seed),
    }
    rates: dict[str, list[float]] = {name: [] for name in loops}
    for _ in range(rounds):
        for name, loop in loops.items():
            timed, ticks = loop.run(seconds / rounds)
            rates[name].append(ticks / timed)
    falls = {name: loop.close() for name, loop in loops.items()}
    if any(falls.values()):
        print(f"  warning: the robot fell during the run: {falls}")
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(
        description="Simulator throughput: raw PyBullet stepping vs WheelLeggedSim.step vs "
        "WheelLeggedEnv.step, same robot, same physics substeps, one run.",
    )
    parser.add_argument(
        "--seconds", type=float, default=3.0, help="timed seconds per measurement (default 3)"
    )
    parser.add_argument(
        "--rounds", type=int, default=10, help="interleaved rounds the seconds split into"
    )
    parser.add_argument("--seed", type=int, default=0, help="initial-state seed")
    args = parser.parse_args()
    if args.seconds <= 0 or args.rounds < 1:
        parser.error("--seconds must be positive and --rounds at least 1")

    rates = interleaved(args.seconds, args.rounds, args.seed)
    ratios = {k: [v / r for v, r in zip(rates[k], rates["raw"], strict=True)] for k in rates}
    raw, sim, env = (float(np.median(rates[k])) for k in ("raw", "sim", "env"))
    sim_x, env_x = float(np.median(ratios["sim"])), float(np.median(ratios["env"]))
    decimation, control_hz = DEFAULT_TIMING.decimation, DEFAULT_TIMING.control_hz
    print(f"physics substeps per control tick: {decimation} (control {control_hz:g} Hz)")
    print(f"{args.rounds} interleaved rounds of {args.seconds / args.rounds:.2f} s each; medians")
    print(f"raw PyBullet (step + torque set + state read): {raw:9.0f} ticks/s")
    print(f"WheelLeggedSim.step:                            {sim:9.0f} ticks/s  {sim_x:.2f}x raw")
    print(f"WheelLeggedEnv.step:                            {env:9.0f} ticks/s  {env_x:.2f}x raw")
    spread = f"{min(ratios['env']):.2f}-{max(ratios['env']):.2f}"
    print(f"env/raw per round: {spread}; env real-time factor (one core): {env / control_hz:.1f}x")
    print(f"ratio env/raw = {env_x:.2f} (goal >= 0.80)")


if __name__ == "__main__":
    main()
