"""How late each command of a closed loop acted, from what the robot reported (pure).

The simulator reports as wheel effort in ``/joint_states`` the torque applied in the last
physics step of the period that ended at that sample: the commanded wheel effort times
``motor_strength``, clipped to ``motor_strength`` times the joint's max effort. A command that
answers the sample of tick k (stamped with that sample's stamp, as ``policy_runner`` does) and
acts during the period right after it (the env's model: no extra delay) therefore shows in the
sample of tick k + 1; one that misses that period and acts one period later shows in tick
k + 2 (1 tick of extra delay); one that is overwritten before any step applies it never shows
(dropped).

Inputs are the samples' stamps and wheel efforts (``/joint_states``) and the commands' stamps
and wheel efforts (``/joint_commands``). Sample stamps must lie on the control grid (the sim
node with ``use_sim_time:=true``: stamp = tick * control period), so that a sample missing from
the record is noticed instead of shifting every tick after it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from h2o_robot_bridge.contract import robot

DROPPED = -1
"""Delay value of a command that never acted."""
UNKNOWN = -2
"""Delay value of a command that cannot be placed: its stamp is no recorded sample's (a safe
action stamped with the clock), a sample it needs is missing from the record, or its wheel
efforts equal those of the command before it (no visible change)."""
WHEELS = list(robot.WHEEL_JOINT_IDS)


@dataclass(frozen=True)
class LoopDelays:
    """Per command (in stamp order): extra delay in control ticks, :data:`DROPPED` or
    :data:`UNKNOWN`.

    Attributes:
        delays: (M,) int.
        max_delay: the largest delay looked for [ticks]; later counts as dropped.
    """

    delays: NDArray[np.int64]
    max_delay: int

    @property
    def known(self) -> int:
        """Commands whose fate is known (acted with some delay, or dropped)."""
        return int(np.sum(self.delays != UNKNOWN))

    def count(self, delay: int) -> int:
        """Commands with this delay value (e.g. 0, 1, :data:`DROPPED`)."""
        return int(np.sum(self.delays == delay))

    def fraction(self, delay: int) -> float:
        """Share of the known commands with this delay value (NaN when none is known)."""
        return self.count(delay) / self.known if self.known else float("nan")

    def distribution(self) -> dict[str, int]:
        """``{"0": n0, "1": n1, ..., "dropped": n, "unknown": n}`` (delays that occurred)."""
        names = {DROPPED: "dropped", UNKNOWN: "unknown"}
        counts = Counter(int(d) for d in self.delays)
        return {names.get(d, str(d)): counts[d] for d in sorted(counts, key=_order)}


def _order(delay: int) -> tuple[int, int]:
    return (delay < 0, -delay if delay < 0 else delay)


def applied_wheel_effort(commanded: ArrayLike, motor_strength: float = 1.0) -> NDArray[np.float64]:
    """Wheel torque the simulator applies for commanded wheel efforts (..., 2) [N m]."""
    limit = motor_strength * robot.MAX_EFFORT[WHEELS]
    return np.clip(motor_strength * np.asarray(commanded, dtype=np.float64), -limit, limit)


def loop_delays(
    sample_stamps: ArrayLike,
    sample_efforts: ArrayLike,
    command_stamps: ArrayLike,
    command_efforts: ArrayLike,
    control_dt: float,
    motor_strength: float = 1.0,
    max_delay: int = 5,
    atol: float = 1e-9,
) -> LoopDelays:
    """Extra delay of each command, in control ticks (see the module docstring).

    Args:
        sample_stamps: (N,) ``/joint_states`` stamps [s] on the control grid.
        sample_efforts: (N, 2) their wheel efforts [N m] (contract wheel order).
        command_stamps: (M,) ``/joint_commands`` stamps [s] (the sample each answers).
        command_efforts: (M, 2) their wheel efforts [N m].
        control_dt: control period [s].
        motor_strength: the simulator's ``motor_strength``.
        max_delay: look this many ticks beyond the on-time one, no further.
        atol: tolerance [N m] when comparing applied with reported efforts (float rounding
            through the action conversion).
    """
    ticks = np.rint(np.asarray(sample_stamps, dtype=np.float64) / control_dt).astype(np.int64)
    efforts = np.asarray(sample_efforts, dtype=np.float64)
    reported = dict(zip(ticks.tolist(), efforts, strict=True))
    stamps = np.asarray(command_stamps, dtype=np.float64)
    order = np.argsort(stamps, kind="stable")
    expected = applied_wheel_effort(np.asarray(command_efforts)[order], motor_strength)
    delays = np.full(len(order), UNKNOWN, dtype=np.int64)
    for i, stamp in enumerate(stamps[order]):
        tick = int(np.rint(stamp / control_dt))
        on_grid = abs(stamp - tick * control_dt) < 1e-6 and tick in reported
        changed = i == 0 or not np.allclose(expected[i], expected[i - 1], rtol=0, atol=atol)
        if on_grid and changed:
            delays[i] = _delay(reported, tick, expected[i], max_delay, atol)
    return LoopDelays(delays, max_delay)


def _delay(
    reported: dict[int, NDArray[np.float64]],
    tick: int,
    expected: NDArray[np.float64],
    max_delay: int,
    atol: float,
) -> int:
    """Delay of one command answering ``tick``: the first later sample showing it."""
    for delay in range(max_delay + 1):
        effort = reported.get(tick + 1 + delay)
        if effort is None:
            return UNKNOWN  # a sample missing from the record: cannot tell
        if np.allclose(effort, expected, rtol=0, atol=atol):
            return delay
    return DROPPED
