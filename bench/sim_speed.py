"""How fast the simulator runs, against raw PyBullet stepping of the same robot (same run).

Three measurements, each driven by the classical controller so the robot stays upright (a
fallen robot has more contacts and steps slower, which would skew the comparison):

- raw: the limit. Per physics step only ``getJointStates`` + ``setJointMotorControlArray``
  (TORQUE_CONTROL) + ``stepSimulation`` are timed; the controller and the PD arithmetic run
  outside the timed region.
- sim: ``WheelLeggedSim.step`` (PD at physics rate in Python, latency queue, sensor readings).
- env: ``WheelLeggedEnv.step`` (the above + contract observation, reward, termination).

Prints control ticks per second of each, the ratios env/raw and sim/raw (goal: env >= 0.8x raw)
and the real-time factor of the env (simulated seconds per wall-clock second, one core).

Usage: python bench/sim_speed.py [--seconds 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pybullet as p

from h2o_robot_bridge.contract import DEFAULT_TIMING, JOINTS, action_to_command, build_observation
from h2o_robot_bridge.contract import robot as contract_robot
from h2o_robot_bridge.controllers import ClassicalController
from h2o_sim.env import WheelLeggedEnv
from h2o_sim.simulator import WheelLeggedSim

KP = [j.stiffness for j in JOINTS]
KD = [j.damping for j in JOINTS]
WHEELS = set(contract_robot.WHEEL_JOINT_IDS)


def bench_raw(seconds: float, seed: int) -> tuple[float, int]:
    """Timed seconds and control ticks of raw stepping (closed loop, untimed controller)."""
    sim = WheelLeggedSim("real", seed=seed)
    c, body, joints = sim.client_id, sim.body_id, sim.joint_indices
    controller = ClassicalController()
    decimation = sim.timing.decimation
    prev = np.zeros(6)
    timed, ticks, forces = 0.0, 0, [0.0] * 6
    wall_end = time.perf_counter() + seconds * 3  # the untimed work needs wall time too
    while timed < seconds and time.perf_counter() < wall_end:
        states = p.getJointStates(body, joints, physicsClientId=c)
        _, quat = p.getBasePositionAndOrientation(body, physicsClientId=c)
        _, ang_w = p.getBaseVelocity(body, physicsClientId=c)
        rot = np.array(p.getMatrixFromQuaternion(quat)).reshape(3, 3)
        obs = build_observation(
            quat, rot.T @ ang_w, [s[0] for s in states], [s[1] for s in states], (0, 0), prev
        )
        prev = controller.act(obs)
        cmd = action_to_command(prev)
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
    upright = p.getBasePositionAndOrientation(body, physicsClientId=c)[0][2] > 0.3
    sim.close()
    if not upright:
        print("  warning: the robot fell during the raw run")
    return timed, ticks


def bench_sim(seconds: float, seed: int) -> tuple[float, int]:
    """Timed seconds and ticks of ``WheelLeggedSim.step`` (controller untimed)."""
    sim = WheelLeggedSim("real", seed=seed)
    controller = ClassicalController()
    prev = np.zeros(6)
    r = sim.readings
    timed, ticks = 0.0, 0
    while timed < seconds:
        obs = build_observation(r.quat_xyzw, r.ang_vel, r.joint_pos, r.joint_vel, (0, 0), prev)
        prev = controller.act(obs)
        t0 = time.perf_counter()
        r = sim.step(prev)
        timed += time.perf_counter() - t0
        ticks += 1
    sim.close()
    return timed, ticks


def bench_env(seconds: float, seed: int) -> tuple[float, int, int]:
    """Timed seconds, ticks and falls of ``WheelLeggedEnv.step`` (controller untimed)."""
    env = WheelLeggedEnv(task="stand")
    controller = ClassicalController()
    obs, _ = env.reset(seed=seed)
    timed, ticks, falls = 0.0, 0, 0
    while timed < seconds:
        action = controller.act(obs)
        t0 = time.perf_counter()
        obs, _, terminated, truncated, _ = env.step(action)
        timed += time.perf_counter() - t0
        ticks += 1
        if terminated or truncated:
            falls += int(terminated)
            obs, _ = env.reset()
            controller.reset()
    env.close()
    return timed, ticks, falls


def main() -> None:
    parser = argparse.ArgumentParser(
        description="Simulator throughput: raw PyBullet stepping vs WheelLeggedSim.step vs "
        "WheelLeggedEnv.step, same robot, same physics substeps, one run.",
    )
    parser.add_argument(
        "--seconds", type=float, default=3.0, help="timed seconds per measurement (default 3)"
    )
    parser.add_argument("--seed", type=int, default=0, help="initial-state seed")
    args = parser.parse_args()
    if args.seconds <= 0:
        parser.error("--seconds must be positive")

    timed, ticks = bench_raw(args.seconds, args.seed)
    raw = ticks / timed
    timed, ticks = bench_sim(args.seconds, args.seed)
    sim = ticks / timed
    timed, ticks, falls = bench_env(args.seconds, args.seed)
    env = ticks / timed
    decimation, control_hz = DEFAULT_TIMING.decimation, DEFAULT_TIMING.control_hz
    print(f"physics substeps per control tick: {decimation} (control {control_hz:g} Hz)")
    print(f"raw PyBullet (step + torque set + state read): {raw:9.0f} ticks/s")
    print(
        f"WheelLeggedSim.step:                            {sim:9.0f} ticks/s  {sim / raw:.2f}x raw"
    )
    print(
        f"WheelLeggedEnv.step:                            {env:9.0f} ticks/s  {env / raw:.2f}x raw"
    )
    print(
        f"env real-time factor (one core): {env / control_hz:.1f}x; falls during env run: {falls}"
    )
    print(f"ratio env/raw = {env / raw:.2f} (goal >= 0.80)")


if __name__ == "__main__":
    main()
