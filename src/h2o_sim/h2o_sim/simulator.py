"""The PyBullet simulator of the wheel-legged robot, ROS-free and Gymnasium-free.

One :class:`WheelLeggedSim` owns one PyBullet client (``DIRECT`` unless ``gui``); every call
passes that client id, so several simulators with different dynamics live in one process.

A control tick (:meth:`WheelLeggedSim.step`)::

    clean action (6,) -> + N(0, action_noise_std) -> clip [-1, 1] -> contract action_targets
      -> actuation delay (latency_steps + U{0..latency_jitter_steps} physics steps, in order)
      -> timing.decimation physics steps, each: leg PD torque (contract gains, clipped to the
         contract's max effort, both scaled by motor_strength), wheel torque, minus joint
         damping, + push force -> stepSimulation
      -> SensorReadings (with sensor noise)

Default velocity motors are disabled, so every joint is driven by the torques computed here.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections import deque
from typing import NamedTuple

import numpy as np
import pybullet as p
from numpy.typing import ArrayLike, NDArray

from h2o_robot_bridge.contract import (
    DEFAULT_TIMING,
    JOINT_NAMES,
    NUM_JOINTS,
    SAFE_ACTION,
    ImuReading,
    JointReading,
    SensorSnapshot,
    Timing,
    action_targets,
)
from h2o_robot_bridge.contract import robot as contract_robot
from h2o_robot_bridge.errors import ConfigError, H2OError
from h2o_sim.dynamics import DynamicsProfile, knob_names, resolve_profile
from h2o_sim.robot_model import RobotGeometry, load_geometry, urdf_file

"""Contract default rates (frozen, so one shared instance is a safe default argument)."""

GRAVITY = 9.81
"""Nominal gravity [m/s^2]."""

INIT_PITCH_RANGE = 0.05
"""Initial base pitch is uniform in +-this [rad] (the "small randomised initial state")."""
INIT_JOINT_RANGE = 0.05
"""Initial leg joint offsets from the default pose, uniform in +-this [rad]."""
INIT_VEL_RANGE = 0.05
"""Initial forward base speed, uniform in +-this [m/s]."""
_CLEAR_HEIGHT = 100.0
"""Where a reset lifts the robot for one collision pass, far above the ground [m]."""
CONTACT_DEPTH = 1e-5
"""How deep a standing wheel sinks into the ground [m] (PyBullet's contact at rest, measured
on the nominal robot): :meth:`WheelLeggedSim.set_state` places the lowest wheel there."""


_LEGS = tuple(
    (i, j.stiffness, j.damping, j.max_effort)
    for i, j in enumerate(contract_robot.JOINTS)
    if j.kind == "position"
)
"""PD joints: (contract index, stiffness [N m/rad], damping [N m s/rad], max effort [N m])."""
_WHEELS = tuple(
    (i, j.max_effort) for i, j in enumerate(contract_robot.JOINTS) if j.kind == "torque"
)
"""Torque joints: (contract index, max effort [N m])."""
_IS_WHEEL = np.array([j.kind == "torque" for j in contract_robot.JOINTS])


class ActionError(H2OError, ValueError):
    """An action of the wrong shape or with non-finite values."""


class SensorReadings(NamedTuple):
    """What the robot's sensors report at one control tick (noisy if the profile says so).

    Attributes:
        time: sim time [s].
        quat_xyzw: (4,) base orientation in world, ROS order x, y, z, w.
        ang_vel: (3,) base angular velocity in the base frame [rad/s] (gyro).
        lin_acc: (3,) IMU specific force in the base frame [m/s^2] (+9.81 z at rest), the
            average over the last control period.
        joint_pos: (6,) joint positions, contract order [rad].
        joint_vel: (6,) joint velocities [rad/s].
        joint_effort: (6,) motor torque applied in the last physics step [N m].
        base_pos: (3,) base position in world [m] (ground truth, no noise).
        base_lin_vel: (3,) base linear velocity in the base frame [m/s] (ground truth).
    """

    time: float
    quat_xyzw: NDArray[np.float64]
    ang_vel: NDArray[np.float64]
    lin_acc: NDArray[np.float64]
    joint_pos: NDArray[np.float64]
    joint_vel: NDArray[np.float64]
    joint_effort: NDArray[np.float64]
    base_pos: NDArray[np.float64]
    base_lin_vel: NDArray[np.float64]

    def snapshot(self) -> SensorSnapshot:
        """The readings a robot reports (IMU and joint state), as the core takes them."""
        return SensorSnapshot(
            ImuReading(self.quat_xyzw, self.ang_vel),
            JointReading(self.joint_pos, self.joint_vel, self.joint_effort),
        )


def _rotation(quat_xyzw: tuple[float, ...]) -> NDArray[np.float64]:
    """World-from-base rotation matrix (3, 3)."""
    return np.array(p.getMatrixFromQuaternion(quat_xyzw)).reshape(3, 3)


def _quat_mul(a: NDArray[np.float64], b: NDArray[np.float64]) -> NDArray[np.float64]:
    """Hamilton product of two x, y, z, w quaternions."""
    ax, ay, az, aw = a
    bx, by, bz, bw = b
    return np.array(
        [
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
            aw * bw - ax * bx - ay * by - az * bz,
        ]
    )


def _small_rotation(rotvec: NDArray[np.float64]) -> NDArray[np.float64]:
    angle = float(np.linalg.norm(rotvec))
    if angle < 1e-12:
        return np.array([0.0, 0.0, 0.0, 1.0])
    axis = rotvec / angle
    return np.array([*(axis * math.sin(angle / 2)), math.cos(angle / 2)])


class WheelLeggedSim:
    """The simulated robot with a dynamics profile; one control tick per :meth:`step`.

    Attributes:
        profile: the current dynamics (changed by :meth:`set_param`).
        timing: control and physics rates.
        time: sim time [s] since the last reset.
        last_action: (6,) the clean action of the last tick.
        last_executed_action: (6,) what was really applied (after noise and clipping).
        readings: the latest :class:`SensorReadings`.
    """

    def __init__(
        self,
        profile: DynamicsProfile | str = "real",
        timing: Timing = DEFAULT_TIMING,
        seed: int | None = None,
        gui: bool = False,
        robot: RobotGeometry | str | None = None,
    ) -> None:
        self.profile = resolve_profile(profile)
        self.timing = timing
        self.geometry = robot if isinstance(robot, RobotGeometry) else load_geometry(robot)
        self._urdf = str(urdf_file(self.geometry))
        self._rng = np.random.default_rng(seed)
        if gui and not os.environ.get("DISPLAY"):
            # PyBullet's GUI calls exit() when it cannot open a window: refuse before that.
            raise H2OError("PyBullet GUI requested but no display (DISPLAY is not set)")
        self._client = -1
        self._client = p.connect(p.GUI if gui else p.DIRECT)
        if self._client < 0:
            raise H2OError("PyBullet could not connect (GUI requested without a display?)")
        self._gui = gui
        self._initial_state: int | None = None
        self.time = 0.0
        self.last_action = SAFE_ACTION.copy()
        self.last_executed_action = SAFE_ACTION.copy()
        self.readings = self.reset(seed)

    # --- world ------------------------------------------------------------------------------

    def _build_world(self) -> None:
        """Create plane and robot from scratch and apply the profile's world knobs."""
        c = self._client
        p.resetSimulation(physicsClientId=c)
        p.setPhysicsEngineParameter(
            fixedTimeStep=self.timing.physics_dt,
            numSubSteps=0,
            deterministicOverlappingPairs=1,
            physicsClientId=c,
        )
        plane_shape = p.createCollisionShape(p.GEOM_PLANE, physicsClientId=c)
        self._plane = p.createMultiBody(0, plane_shape, physicsClientId=c)
        p.changeDynamics(
            self._plane,
            -1,
            lateralFriction=self.geometry.ground_friction,
            restitution=self.geometry.restitution,
            physicsClientId=c,
        )
        self._body = p.loadURDF(
            self._urdf,
            [0.0, 0.0, self.geometry.standing_height],
            flags=p.URDF_USE_INERTIA_FROM_FILE,
            physicsClientId=c,
        )
        by_name = {}
        for j in range(p.getNumJoints(self._body, physicsClientId=c)):
            info = p.getJointInfo(self._body, j, physicsClientId=c)
            by_name[info[1].decode()] = j
        missing = [n for n in JOINT_NAMES if n not in by_name]
        if missing:
            raise ConfigError(f"robot model lacks contract joints {missing}")
        self._joints = [by_name[n] for n in JOINT_NAMES]
        self._links = [-1, *self._joints]  # base + each joint's child link
        self._wheel_links = [self._joints[i] for i in contract_robot.WHEEL_JOINT_IDS]
        # Default velocity motors off: they would otherwise brake every joint.
        p.setJointMotorControlArray(
            self._body,
            self._joints,
            p.VELOCITY_CONTROL,
            forces=[0.0] * NUM_JOINTS,
            physicsClientId=c,
        )
        for link in self._links:
            p.changeDynamics(
                self._body,
                link,
                linearDamping=0.0,
                angularDamping=0.0,
                jointDamping=0.0,
                restitution=self.geometry.restitution,
                physicsClientId=c,
            )
        self._nominal = {}
        for link in self._links:
            info = p.getDynamicsInfo(self._body, link, physicsClientId=c)
            self._nominal[link] = (info[0], tuple(info[2]))
        for link in self._wheel_links:
            p.changeDynamics(
                self._body, link, lateralFriction=self.geometry.wheel_friction, physicsClientId=c
            )
        for key in ("gravity_scale", "friction_scale", "mass_scale"):
            self._apply_world_knob(key)

    def _apply_world_knob(self, key: str) -> None:
        """Push a knob that lives inside PyBullet into the running world."""
        c, prof = self._client, self.profile
        if key == "gravity_scale":
            p.setGravity(0.0, 0.0, -GRAVITY * prof.gravity_scale, physicsClientId=c)
        elif key == "friction_scale":
            for link in self._wheel_links:
                p.changeDynamics(
                    self._body,
                    link,
                    lateralFriction=self.geometry.wheel_friction * prof.friction_scale,
                    physicsClientId=c,
                )
        elif key == "mass_scale":
            for link, (mass, inertia) in self._nominal.items():
                p.changeDynamics(
                    self._body,
                    link,
                    mass=mass * prof.mass_scale,
                    localInertiaDiagonal=[i * prof.mass_scale for i in inertia],
                    physicsClientId=c,
                )

    # --- episode ----------------------------------------------------------------------------

    def reset(self, seed: int | None = None) -> SensorReadings:
        """Restore the freshly built world and place the robot in a small random pose near upright.

        Args:
            seed: reseeds this simulator's generator (initial state, noise, pushes); ``None``
                continues the current stream.
        """
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        rng, c = self._rng, self._client
        if self._initial_state is None:
            self._build_world()
            self._initial_state = p.saveState(physicsClientId=c)
        else:
            self._restore_fresh_world()
        self.time = 0.0
        self._tick = 0
        pitch = rng.uniform(-INIT_PITCH_RANGE, INIT_PITCH_RANGE)
        q0 = contract_robot.DEFAULT_POSITIONS.copy()
        # The same offsets on both legs: both wheels touch the ground from the first step.
        hips, knees = list(contract_robot.HIP_JOINT_IDS), list(contract_robot.KNEE_JOINT_IDS)
        q0[hips] += rng.uniform(-INIT_JOINT_RANGE, INIT_JOINT_RANGE)
        q0[knees] += rng.uniform(-INIT_JOINT_RANGE, INIT_JOINT_RANGE)
        v0 = rng.uniform(-INIT_VEL_RANGE, INIT_VEL_RANGE)
        quat = p.getQuaternionFromEuler([0.0, pitch, 0.0])
        p.resetBasePositionAndOrientation(
            self._body, [0.0, 0.0, self.geometry.standing_height], quat, physicsClientId=c
        )
        for j, q in zip(self._joints, q0, strict=True):
            p.resetJointState(self._body, j, float(q), 0.0, physicsClientId=c)
        # Put the lowest wheel on the ground (with the random pose the default height is off).
        wheels = p.getLinkStates(
            self._body, self._wheel_links, computeForwardKinematics=1, physicsClientId=c
        )
        lowest = min(s[0][2] for s in wheels)
        height = self.geometry.standing_height + contract_robot.WHEEL_RADIUS - lowest + 1e-4
        p.resetBasePositionAndOrientation(self._body, [0.0, 0.0, height], quat, physicsClientId=c)
        rot = _rotation(quat)
        p.resetBaseVelocity(self._body, list(rot @ [v0, 0.0, 0.0]), [0, 0, 0], physicsClientId=c)
        # Wheels roll with the base so the initial state has no slip.
        for i in contract_robot.WHEEL_JOINT_IDS:
            p.resetJointState(
                self._body,
                self._joints[i],
                float(q0[i]),
                v0 / contract_robot.WHEEL_RADIUS,
                physicsClientId=c,
            )
        self.last_action = SAFE_ACTION.copy()
        self.last_executed_action = SAFE_ACTION.copy()
        self._command = self._command_tuple(SAFE_ACTION)
        # Commands on their way to the motors: (physics step from which it acts, command).
        self._pending: deque[tuple[int, tuple[float, ...]]] = deque()
        self._physics_step = 0  # physics steps since reset
        self._last_arrival = 0
        self._effort = [0.0] * NUM_JOINTS
        self._applied = self._command  # the command acting in the last physics step
        self._push = (0.0, 0.0)
        self._push_until = -1.0
        self._next_push = self.profile.push_interval
        self._prev_lin_vel = np.array(p.getBaseVelocity(self._body, physicsClientId=c)[0])
        self.readings = self._read()
        return self.readings

    def _restore_fresh_world(self) -> None:
        """Back to the world right after building, so the next episode is bitwise that of a
        fresh simulator; dynamics knobs live outside PyBullet's state and persist.

        ``restoreState`` alone keeps the contact manifolds of the last episode (the saved
        state has none), and their warm-start impulses change the first physics steps of the
        next one; lifting the robot clear of the ground and running collision detection once
        drops them, as a fresh world has none.
        """
        c = self._client
        assert self._initial_state is not None
        p.restoreState(self._initial_state, physicsClientId=c)
        p.resetBasePositionAndOrientation(self._body, [0.0, 0.0, _CLEAR_HEIGHT], [0, 0, 0, 1],
                                          physicsClientId=c)  # fmt: skip
        p.performCollisionDetection(physicsClientId=c)

    def set_state(
        self,
        quat_xyzw: ArrayLike,
        ang_vel: ArrayLike,
        joint_pos: ArrayLike,
        joint_vel: ArrayLike,
        applied_action: ArrayLike,
        base_lin_vel: ArrayLike | None = None,
    ) -> SensorReadings:
        """Put the robot in a given state, standing on the ground with rolling wheels.

        The state a robot's sensors report does not pin down the whole simulator state; the
        rest is set here so that it does not change the next control tick's dynamics:

        - world position x, y = 0 (the plane is flat and unbounded); the heading is the one
          of ``quat_xyzw`` (callers pass yaw 0: gravity and friction are isotropic);
        - base height: the lowest wheel touches the ground, sunk by :data:`CONTACT_DEPTH` as a
          standing wheel is;
        - base linear velocity: the wheels roll without slip (the least-squares base
          velocity that gives both contact points zero velocity, vertical included);
        - wheel angles 0 (the wheels' collision shapes are spheres);
        - the command at the motors is ``applied_action`` (the previous tick's), nothing is
          in flight: exact for an actuation delay of at most one control period;
        - the contact caches of the freshly built world (``restoreState``, as :meth:`reset`).
          PyBullet keeps a little contact state even so: the same call sequence gives the
          same result bit for bit, but replaying states in another order changed ~0.5 % of
          one-tick predictions by up to 0.02 rad/s (measured on 600 logged states).

        Dynamics knobs are kept.

        Args:
            quat_xyzw: (4,) base orientation in world, ROS order x, y, z, w.
            ang_vel: (3,) base angular velocity in the base frame [rad/s].
            joint_pos: (6,) joint positions [rad], contract order (wheels: ignored).
            joint_vel: (6,) joint velocities [rad/s], contract order.
            applied_action: (6,) the action in [-1, 1] the motors execute until the next
                tick's command arrives.
            base_lin_vel: (3,) base linear velocity in the base frame [m/s] instead of the
                rolling one (e.g. a slipping robot's, estimated elsewhere).

        Returns:
            The readings in that state (with sensor noise if the profile has it).
        """
        c, body = self._client, self._body
        quat = [float(v) for v in np.asarray(quat_xyzw, dtype=np.float64)]
        qpos = np.asarray(joint_pos, dtype=np.float64)
        qvel = np.asarray(joint_vel, dtype=np.float64)
        action = np.clip(np.asarray(applied_action, dtype=np.float64), -1.0, 1.0)
        if (
            qpos.shape != (NUM_JOINTS,)
            or qvel.shape != (NUM_JOINTS,)
            or action.shape != (NUM_JOINTS,)
        ):
            raise ActionError(f"joint_pos, joint_vel and applied_action must be ({NUM_JOINTS},)")
        if self._initial_state is not None:  # the caches of a fresh world, as reset() does
            self._restore_fresh_world()
        rot = _rotation(tuple(quat))
        ang_w = (rot @ np.asarray(ang_vel, dtype=np.float64)).tolist()
        height = self.geometry.standing_height
        p.resetBasePositionAndOrientation(body, [0.0, 0.0, height], quat, physicsClientId=c)
        for i, j in enumerate(self._joints):
            q = 0.0 if _IS_WHEEL[i] else float(qpos[i])
            p.resetJointState(body, j, q, float(qvel[i]), physicsClientId=c)
        p.resetBaseVelocity(body, [0.0, 0.0, 0.0], ang_w, physicsClientId=c)
        wheels = p.getLinkStates(
            body,
            self._wheel_links,
            computeLinkVelocity=1,
            computeForwardKinematics=1,
            physicsClientId=c,
        )
        lowest = min(s[0][2] for s in wheels)
        height += contract_robot.WHEEL_RADIUS - CONTACT_DEPTH - lowest
        # Link velocity = base velocity + the part from rotation and joints (what was read
        # with the base at rest): rolling asks r (omega x z) of each wheel centre.
        up = np.array([0.0, 0.0, contract_robot.WHEEL_RADIUS])
        lin_w = np.mean([np.cross(np.array(s[7]), up) - np.array(s[6]) for s in wheels], axis=0)
        if base_lin_vel is not None:
            lin_w = rot @ np.asarray(base_lin_vel, dtype=np.float64)
        p.resetBasePositionAndOrientation(body, [0.0, 0.0, height], quat, physicsClientId=c)
        p.resetBaseVelocity(body, lin_w.tolist(), ang_w, physicsClientId=c)
        self.time = 0.0
        self._tick = 0
        self.last_action = action
        self.last_executed_action = action
        self._command = self._command_tuple(action)
        self._applied = self._command
        self._pending.clear()
        self._physics_step = 0
        self._last_arrival = 0
        self._prev_lin_vel = lin_w
        self._push = (0.0, 0.0)
        self._push_until = -1.0
        self._next_push = self.profile.push_interval
        self.readings = self._read()
        return self.readings

    @staticmethod
    def _command_tuple(action: NDArray) -> tuple[float, ...]:
        """Per joint: leg position target or wheel torque of ``action`` (6,), as plain floats
        (fast in the loop)."""
        return tuple(action_targets(action).tolist())

    # --- control tick -----------------------------------------------------------------------

    def step(self, action: NDArray) -> SensorReadings:
        """Advance one control period with ``action`` (6,) in [-1, 1] (clipped if outside).

        Raises:
            ActionError: wrong shape or non-finite values.
        """
        a = np.array(action, dtype=np.float64)  # a copy: the caller may reuse its buffer
        if a.shape != (NUM_JOINTS,):
            raise ActionError(f"action must have shape ({NUM_JOINTS},), got {a.shape}")
        if not math.isfinite(a.sum()):
            raise ActionError(f"action has non-finite values: {a}")
        clean = np.minimum(np.maximum(a, -1.0), 1.0)
        self.last_action = clean
        sigma = self.profile.action_noise_std
        if sigma > 0.0:
            noisy = a + self._rng.normal(0.0, sigma, NUM_JOINTS)
            self.last_executed_action = np.minimum(np.maximum(noisy, -1.0), 1.0)
        else:
            self.last_executed_action = clean
        self._send(self._command_tuple(self.last_executed_action))
        self._update_push()
        self._physics_steps(self.timing.decimation)
        self._tick += 1
        self.time = self._tick * self.timing.control_dt
        self.readings = self._read()
        return self.readings

    def _send(self, command: tuple[float, ...]) -> None:
        """Queue this tick's command to act after the profile's actuation delay."""
        prof = self.profile
        delay = prof.latency_steps
        if prof.latency_jitter_steps > 0:  # drawn only then: other random streams unchanged
            delay += int(self._rng.integers(0, prof.latency_jitter_steps + 1))
        # In order, like a driver's command stream: a command never overtakes an older one.
        arrival = max(self._physics_step + delay, self._last_arrival)
        self._last_arrival = arrival
        self._pending.append((arrival, command))

    def _update_push(self) -> None:
        """Start a push of random horizontal direction every ``push_interval`` seconds."""
        prof = self.profile
        if prof.push_force <= 0.0:
            self._push = (0.0, 0.0)
            return
        if self.time >= self._next_push:
            angle = self._rng.uniform(0.0, 2.0 * math.pi)
            self._push = (prof.push_force * math.cos(angle), prof.push_force * math.sin(angle))
            self._push_until = self.time + prof.push_duration
            self._next_push = self.time + prof.push_interval
        elif self.time >= self._push_until:
            self._push = (0.0, 0.0)

    def _physics_steps(self, n: int) -> None:
        """``n`` physics steps: PD legs and torque wheels computed here, as plain floats.

        Motor torque per joint: legs ``strength * (kp (target - q) - kd qd)``, wheels
        ``strength * effort``, each clipped to ``strength * max_effort``; the joint then also
        feels ``-joint_damping * qd`` (passive, not part of the reported motor effort).
        """
        c, body, joints = self._client, self._body, self._joints
        prof = self.profile
        strength, damping = prof.motor_strength, prof.joint_damping
        legs = [(i, kp * strength, kd * strength, lim * strength) for i, kp, kd, lim in _LEGS]
        wheels = [(i, lim * strength) for i, lim in _WHEELS]
        push = self._push
        pushing = bool(push[0] or push[1])
        get_states, set_motors, step = (
            p.getJointStates,
            p.setJointMotorControlArray,
            p.stepSimulation,
        )
        command, effort = self._applied, list(self._effort)
        pending, step_index = self._pending, self._physics_step
        last = None
        for _ in range(n):
            while pending and pending[0][0] <= step_index:  # delivered: acts from now on
                command = pending.popleft()[1]
            step_index += 1
            if command is not last:  # wheel torques change only with the command
                for i, lim in wheels:
                    u = strength * command[i]
                    effort[i] = lim if u > lim else (-lim if u < -lim else u)
                last = command
            states = get_states(body, joints, physicsClientId=c)
            for i, kp, kd, lim in legs:
                s = states[i]
                u = kp * (command[i] - s[0]) - kd * s[1]
                if u > lim:
                    u = lim
                elif u < -lim:
                    u = -lim
                effort[i] = u
            if damping:  # passive viscous friction on top of the motor torque
                torque = [e - damping * s[1] for e, s in zip(effort, states, strict=True)]
            else:
                torque = effort
            set_motors(body, joints, p.TORQUE_CONTROL, forces=torque, physicsClientId=c)
            if pushing:
                p.applyExternalForce(
                    body, -1, [push[0], push[1], 0.0], [0, 0, 0], p.LINK_FRAME, physicsClientId=c
                )
            step(physicsClientId=c)
        self._physics_step = step_index
        self._effort = effort
        self._applied = command

    # --- sensors ----------------------------------------------------------------------------

    def _read(self) -> SensorReadings:
        """Sensor readings now; noise per ``sensor_noise_std``."""
        c, body = self._client, self._body
        states = p.getJointStates(body, self._joints, physicsClientId=c)
        pos, quat = p.getBasePositionAndOrientation(body, physicsClientId=c)
        lin, ang = p.getBaseVelocity(body, physicsClientId=c)
        rot = _rotation(quat)
        lin_w = np.array(lin)
        acc_w = (lin_w - self._prev_lin_vel) * self.timing.control_hz
        acc_w[2] += GRAVITY * self.profile.gravity_scale  # specific force: a - g
        self._prev_lin_vel = lin_w
        # Row i of (vectors @ R) is R^T v_i: world -> base frame, one matmul for all three.
        ang_b, acc_b, lin_b = np.array([ang, acc_w, lin_w]) @ rot
        readings = SensorReadings(
            time=self.time,
            quat_xyzw=np.array(quat),
            ang_vel=ang_b,
            lin_acc=acc_b,
            joint_pos=np.array([s[0] for s in states]),
            joint_vel=np.array([s[1] for s in states]),
            joint_effort=np.array(self._effort),
            base_pos=np.array(pos),
            base_lin_vel=lin_b,
        )
        sigma = self.profile.sensor_noise_std
        return self._add_noise(readings, sigma) if sigma > 0.0 else readings

    def _add_noise(self, r: SensorReadings, sigma: float) -> SensorReadings:
        rng = self._rng
        tilt = _small_rotation(rng.normal(0.0, 0.1 * sigma, 3))
        quat = _quat_mul(r.quat_xyzw, tilt)
        return r._replace(
            quat_xyzw=quat / np.linalg.norm(quat),
            ang_vel=r.ang_vel + rng.normal(0.0, sigma, 3),
            lin_acc=r.lin_acc + rng.normal(0.0, sigma, 3),
            joint_pos=r.joint_pos + rng.normal(0.0, 0.1 * sigma, NUM_JOINTS),
            joint_vel=r.joint_vel + rng.normal(0.0, sigma, NUM_JOINTS),
        )

    # --- knobs ------------------------------------------------------------------------------

    def set_param(self, name: str, value: float) -> None:
        """Change one dynamics knob now (see :class:`DynamicsProfile` for names and units).

        Raises:
            ConfigError: unknown knob or invalid value (the profile is left unchanged).
        """
        if name not in knob_names():
            raise ConfigError(f"unknown dynamics knob {name!r}; known: {list(knob_names())}")
        self.profile = self.profile.replace(**{name: value})
        if name in ("gravity_scale", "friction_scale", "mass_scale"):
            self._apply_world_knob(name)
        elif name in ("push_interval", "push_force"):
            self._next_push = self.time + self.profile.push_interval

    # --- introspection ----------------------------------------------------------------------

    @property
    def client_id(self) -> int:
        """The PyBullet physics client of this simulator (for cameras, debugging)."""
        return self._client

    @property
    def body_id(self) -> int:
        """The robot's PyBullet body id."""
        return self._body

    @property
    def joint_indices(self) -> list[int]:
        """PyBullet joint indices of the contract joints, contract order."""
        return list(self._joints)

    def wheel_contact_speed(self) -> NDArray[np.float64]:
        """Slip speed of each wheel [m/s]: rim speed minus ground speed of the wheel centre,
        along the base x axis, (2,), ground truth (for tests and diagnostics)."""
        c = self._client
        states = p.getLinkStates(
            self._body, self._wheel_links, computeLinkVelocity=1, physicsClientId=c
        )
        _, quat = p.getBasePositionAndOrientation(self._body, physicsClientId=c)
        fwd = _rotation(quat)[:, 0]
        out = []
        for s in states:
            lin, ang = np.array(s[6]), np.array(s[7])
            wheel_rot = _rotation(s[5])
            axis = wheel_rot[:, 1]
            # Rim velocity relative to the centre at the contact point: omega x (-R z_world).
            rim = np.cross(float(ang @ axis) * axis, [0.0, 0.0, -contract_robot.WHEEL_RADIUS])
            out.append(float((lin + rim) @ fwd))
        return np.array(out)

    def close(self) -> None:
        """Disconnect from PyBullet (idempotent)."""
        if self._client >= 0:
            with contextlib.suppress(p.error):
                p.disconnect(physicsClientId=self._client)
            self._client = -1

    def __enter__(self) -> WheelLeggedSim:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        # At interpreter shutdown pybullet may already be gone.
        with contextlib.suppress(Exception):
            self.close()
