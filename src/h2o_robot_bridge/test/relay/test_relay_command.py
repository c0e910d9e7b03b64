"""The relay core: controller order, never a bad value forwarded, the watchdog and the stop
(real ``sensor_msgs/JointState`` messages, plain times; no rclpy)."""

from __future__ import annotations

import numpy as np
import pytest
from sensor_msgs.msg import JointState

from h2o_robot_bridge.contract import JOINT_NAMES, action_to_command, robot
from h2o_robot_bridge.conversions.to_msg import joint_command_msg
from h2o_robot_bridge.deploy.levels import ControlledStop, StopConfig
from h2o_robot_bridge.relay.command import CommandRelay, ControllerCommands
from h2o_robot_bridge.relay.config import RelayConfig
from h2o_robot_bridge.testing.relay_names import ROBOT_JOINT_MAP

LEGS, WHEELS = list(robot.LEG_JOINT_IDS), list(robot.WHEEL_JOINT_IDS)
ACTION = np.array([0.2, -0.4, 0.5, 0.6, -0.8, -0.25])
COMMAND = action_to_command(ACTION)
SHUFFLED = {
    "joint_map": ROBOT_JOINT_MAP,
    "leg_joints": ["knee_r", "hip_l", "hip_r", "knee_l"],
    "wheel_joints": ["wheel_r", "wheel_l"],
}
RATE, TIMEOUT = 50.0, 0.1
STOP_TARGET = action_to_command(ControlledStop(StopConfig(), RATE).target)


def relay(**params) -> CommandRelay:
    return CommandRelay(RelayConfig.from_params({"rate": RATE, "timeout": TIMEOUT, **params}))


def command_msg(position=COMMAND.position, effort=COMMAND.effort) -> JointState:
    return joint_command_msg(
        0.0, action_to_command(ACTION)._replace(position=position, effort=effort)
    )


def assert_is_stop(out: ControllerCommands | None) -> None:
    assert out is not None and out.stop
    assert np.isfinite(out.leg).all() and np.all(out.wheel == 0.0)


def test_forwards_in_each_controllers_order() -> None:
    r = relay(**SHUFFLED)
    step = r.on_command(command_msg(), 0.0)
    assert step.event == "forward" and step.commands is not None and not step.commands.stop
    # leg controller: knee_r, hip_l, hip_r, knee_l; wheel controller: wheel_r, wheel_l
    p, e = COMMAND.position, COMMAND.effort
    np.testing.assert_array_equal(step.commands.leg, [p[4], p[0], p[3], p[1]])
    np.testing.assert_array_equal(step.commands.wheel, [e[5], e[2]])
    assert r.counts["forwarded"] == 1


def test_identity_names_forward_contract_legs_and_wheels() -> None:
    step = relay().on_command(command_msg(), 0.0)
    assert step.commands is not None
    np.testing.assert_array_equal(step.commands.leg, COMMAND.position[LEGS])
    np.testing.assert_array_equal(step.commands.wheel, COMMAND.effort[WHEELS])


def test_fields_that_do_not_apply_are_ignored() -> None:
    """A wheel position or a leg effort is not forwarded, so a value there is no fault."""
    step = relay().on_command(command_msg(position=np.zeros(6), effort=np.zeros(6)), 0.0)
    assert step.event == "forward" and step.commands is not None
    np.testing.assert_array_equal(step.commands.leg, np.zeros(4))


def _with(array: np.ndarray, index: int, value: float) -> np.ndarray:
    out = np.array(array, dtype=float)
    out[index] = value
    return out


@pytest.mark.parametrize(
    ("make", "cause", "named"),
    [
        (
            lambda: command_msg(position=_with(COMMAND.position, 0, np.nan)),
            "non_finite",
            "left_hip",
        ),
        (
            lambda: command_msg(effort=_with(COMMAND.effort, 5, np.inf)),
            "non_finite",
            "right_wheel",
        ),
        (lambda: command_msg(position=np.full(6, np.nan)), "non_finite", "right_knee"),
        (lambda: command_msg(position=_with(COMMAND.position, 3, 3.0)), "out_of_limits", "limits"),
        (lambda: command_msg(effort=_with(COMMAND.effort, 2, 40.0)), "out_of_limits", "limits"),
        (lambda: JointState(name=list(JOINT_NAMES[:5]), position=[0.0] * 5), "malformed", "lacks"),
        (lambda: JointState(name=list(JOINT_NAMES), position=[0.0] * 3), "malformed", "3 values"),
        (
            lambda: JointState(name=[*JOINT_NAMES, "left_hip"], position=[0.0] * 7),
            "malformed",
            "more than once",
        ),
    ],
    ids=[
        "nan-leg",
        "inf-wheel",
        "all-nan",
        "leg-limit",
        "wheel-limit",
        "missing",
        "length",
        "twice",
    ],
)
def test_bad_command_gives_the_stop_not_the_command(make, cause: str, named: str) -> None:
    r = relay(**SHUFFLED)
    good = r.on_command(command_msg(), 0.0).commands
    step = r.on_command(make(), 0.01)
    assert (
        step.event == "stop" and named in step.message and cause.replace("_", " ") in step.message
    )
    assert_is_stop(step.commands)
    assert step.commands is not None and good is not None
    # legs one stop step from the last forwarded targets, not where the bad command said
    assert np.abs(step.commands.leg - good.leg).max() <= 0.5 / RATE + 1e-12
    assert r.counts[cause] == 1 and r.counts["forwarded"] == 1 and r.stopped


def test_timeout_gives_the_stop_and_keeps_it_until_a_command() -> None:
    r = relay()
    r.on_command(command_msg(), 0.0)
    assert r.on_timer(0.02).commands is None and r.on_timer(TIMEOUT - 1e-6).commands is None
    step = r.on_timer(TIMEOUT + 0.02)
    assert step.event == "stop" and "no valid command for 120 ms" in step.message
    assert_is_stop(step.commands)
    for k in range(1, 200):  # 4 s of watchdog checks: the stop on every one
        tick = r.on_timer(TIMEOUT + 0.02 * (k + 1))
        assert_is_stop(tick.commands)
        assert tick.event == ""
    assert r.counts["timeout"] == 1 and r.counts["stop_messages"] == 200
    # the legs reached the stop's crouch and hold it
    assert tick.commands is not None
    np.testing.assert_allclose(tick.commands.leg, STOP_TARGET.position[LEGS])
    resumed = r.on_command(command_msg(), 5.0)
    assert resumed.event == "resume" and resumed.commands is not None
    assert not resumed.commands.stop and not r.stopped
    np.testing.assert_array_equal(resumed.commands.wheel, COMMAND.effort[WHEELS])
    assert r.on_timer(5.02).commands is None  # fresh again: no stop


def test_the_stop_is_the_runners_controlled_stop() -> None:
    """Tick by tick the same actions as :class:`ControlledStop` from the last command, with no
    wheel speed (0 N m), in the controllers' order."""
    r = relay(**SHUFFLED)
    r.on_command(command_msg(), 0.0)
    stop, last = ControlledStop(StopConfig(), RATE), ACTION.copy()
    joints = r.config.joints
    for k in range(60):
        out = r.on_timer(TIMEOUT + 0.001 + k / RATE).commands
        last = stop.action(last, None)
        expected = action_to_command(last)
        assert out is not None
        np.testing.assert_allclose(out.leg, expected.position[joints.leg_index])
        np.testing.assert_array_equal(out.wheel, expected.effort[joints.wheel_index])


def test_bad_commands_while_stopped_repeat_the_stop_without_advancing_it() -> None:
    r = relay()
    r.on_command(command_msg(), 0.0)
    first = r.on_timer(0.2).commands
    step = r.on_command(command_msg(position=np.full(6, np.nan)), 0.21)
    assert step.event == "bad" and step.commands is not None and first is not None
    np.testing.assert_array_equal(step.commands.leg, first.leg)
    assert_is_stop(step.commands)
    assert r.counts["non_finite"] == 1 and r.counts["timeout"] == 1


def test_bad_commands_do_not_feed_the_watchdog() -> None:
    r = relay()
    r.on_command(command_msg(), 0.0)
    r.on_command(command_msg(position=np.full(6, np.nan)), 0.05)
    r.on_command(command_msg(), 0.06)  # resumes
    r.on_command(JointState(), 0.1)  # malformed: the stop again
    assert r.stopped and r.counts["malformed"] == 1


def test_nothing_before_the_first_command() -> None:
    r = relay()
    assert all(r.on_timer(t).commands is None for t in np.arange(0.0, 5.0, 0.02))
    assert r.exit_commands() is None and not r.counts


def test_a_bad_first_command_stops_from_the_safe_action() -> None:
    r = relay()
    step = r.on_command(command_msg(effort=np.full(6, np.nan)), 0.0)
    assert_is_stop(step.commands)
    assert step.commands is not None
    safe = action_to_command(np.zeros(6)).position[LEGS]
    assert np.abs(step.commands.leg - safe).max() <= 0.5 / RATE + 1e-12
    assert_is_stop(r.on_timer(0.02).commands)  # and it goes on


def test_exit_sends_the_stop_after_a_command() -> None:
    r = relay()
    r.on_command(command_msg(), 0.0)
    assert_is_stop(r.exit_commands())
