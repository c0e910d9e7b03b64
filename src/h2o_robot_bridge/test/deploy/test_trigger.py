"""The runner's tick trigger and command stamps (h2o_robot_bridge.deploy.trigger)."""

from __future__ import annotations

import pytest

from h2o_robot_bridge.deploy.config import DeployConfig
from h2o_robot_bridge.deploy.trigger import TRIGGERS, TickTrigger
from h2o_robot_bridge.errors import ConfigError

MS = 1_000_000  # ns
MAX_AGE = 0.05


def trigger(kind: str = "sensors", **ages: float) -> TickTrigger:
    return TickTrigger(
        kind, 100.0, ages.get("joint_state_max_age", MAX_AGE), ages.get("imu_max_age", MAX_AGE)
    )


def sample(trig: TickTrigger, now: float, stamp_ms: int, imu_first: bool = False) -> list[bool]:
    """Feed one sample (joint state + IMU, same stamp); the two tick decisions in order."""
    feeds = [trig.on_joint_state, trig.on_imu]
    if imu_first:
        feeds.reverse()
    return [feed(now, stamp_ms * MS) for feed in feeds]


def test_sensors_is_the_default_and_unknown_kinds_are_refused() -> None:
    assert TRIGGERS[0] == "sensors"
    assert DeployConfig(policy="classical").trigger == "sensors"
    with pytest.raises(ConfigError, match="trigger"):
        trigger("often")


def test_sensors_ticks_once_per_sample_when_the_second_message_arrives_in_either_order() -> None:
    trig = trigger()
    assert sample(trig, 0.000, 0) == [False, True]
    assert sample(trig, 0.010, 10, imu_first=True) == [False, True]
    assert sample(trig, 0.020, 20) == [False, True]
    assert trig.message_ticks == 3


def test_sensors_ignores_duplicates_and_a_half_new_sample() -> None:
    trig = trigger()
    assert sample(trig, 0.0, 0) == [False, True]
    # A republished sample (same stamps) never ticks again, in either order.
    assert sample(trig, 0.001, 0) == [False, False]
    assert sample(trig, 0.002, 0, imu_first=True) == [False, False]
    # Only the joint state is new: wait for the IMU of the same sample, even a duplicate joint
    # state of that sample does not tick.
    assert trig.on_joint_state(0.010, 10 * MS) is False
    assert trig.on_joint_state(0.011, 10 * MS) is False
    assert trig.on_imu(0.012, 10 * MS) is True
    assert trig.message_ticks == 2


def test_sensors_pair_messages_of_one_sample_after_a_lost_message() -> None:
    trig = trigger()
    for k in range(5):
        sample(trig, 0.01 * k, 10 * k)
    # The joint state of sample 5 is lost; its IMU message alone does not tick ...
    assert trig.on_imu(0.05, 50 * MS) is False
    # ... nor does the next joint state with that (previous sample's) IMU: it waits for its
    # own IMU message, so every later tick still sees one sample, not a period-old IMU.
    for k in range(6, 10):
        assert sample(trig, 0.01 * k, 10 * k) == [False, True]
    # The same at start-up, with the IMU first for a while.
    late = trigger()
    assert [late.on_imu(0.01 * k, 10 * k * MS) for k in range(3)] == [False] * 3
    assert late.on_joint_state(0.03, 30 * MS) is False  # IMU 20 ms is another sample
    assert late.on_imu(0.031, 30 * MS) is True


def test_sensors_tick_on_a_late_sample_without_a_watchdog_tick() -> None:
    trig = trigger()
    for k in range(5):
        sample(trig, 0.01 * k, 10 * k)
    # Sample 5 is 30 ms late: the timer (every 10 ms) does not tick on the old inputs ...
    assert [trig.timer(t) for t in (0.05, 0.06, 0.07)] == [False, False, False]
    # ... the late sample ticks once, the next on-time one (only 2 ms later) ticks too.
    assert sample(trig, 0.078, 50) == [False, True]
    assert sample(trig, 0.080, 60) == [False, True]
    assert trig.watchdog_ticks == 0 and trig.message_ticks == 7


def test_watchdog_ticks_at_start_and_after_the_max_age_of_silence_then_every_timer() -> None:
    trig = trigger(joint_state_max_age=0.08, imu_max_age=0.05)
    assert trig.timer(0.0) is True  # nothing received yet: the safe action goes out
    sample(trig, 0.10, 0)
    ticks = {round(t, 3): trig.timer(t) for t in (0.11, 0.13, 0.15, 0.16, 0.17, 0.18)}
    # The smaller max age (IMU, 50 ms) counts: from then on the runner is safe anyway.
    assert ticks == {0.11: False, 0.13: False, 0.15: False, 0.16: True, 0.17: True, 0.18: True}
    # A fresh sample ticks at once and silences the watchdog again.
    assert sample(trig, 0.185, 10) == [False, True]
    assert trig.timer(0.19) is False


def test_watchdog_with_a_single_topic_trigger_uses_that_topics_max_age() -> None:
    trig = trigger("imu", joint_state_max_age=0.08, imu_max_age=0.03)
    assert trig.on_joint_state(0.0, 0) is False
    assert trig.on_imu(0.0, 0) is True
    assert trig.on_imu(0.001, 0) is True  # single-topic triggers tick on every message
    assert [trig.timer(t) for t in (0.02, 0.0305, 0.032)] == [False, False, True]


def test_timer_trigger_ticks_on_every_timer_and_never_on_messages() -> None:
    trig = trigger("timer")
    assert sample(trig, 0.0, 0) == [False, False]
    assert all(trig.timer(t) for t in (0.0, 0.01, 1.0))


def test_sensors_faster_than_the_control_rate_tick_every_nth_sample() -> None:
    trig = trigger()
    ticks = [any(sample(trig, 0.005 * k, 5 * k)) for k in range(40)]  # 200 Hz sensors
    # Until the sample period is known every sample ticks; then every second one.
    assert all(ticks[:4]) and sum(ticks[10:40]) == 15
    assert trig.decimation() == 2


def test_command_stamp_is_the_newest_fresh_sample_else_the_clock() -> None:
    trig = trigger()
    assert trig.command_stamp(0.0, 123) == 123  # nothing received: node clock
    assert trig.command_stamp(0.0, 0) is None  # sim time not started: nothing to publish
    trig.on_imu(1.000, 7 * MS)
    trig.on_joint_state(1.001, 9 * MS)
    assert trig.command_stamp(1.002, 555) == 9 * MS  # newest of the two samples used
    assert trig.command_stamp(1.0 + MAX_AGE - 1e-6, 555) == 9 * MS  # IMU just within its age
    assert trig.command_stamp(1.0 + MAX_AGE + 1e-6, 555) == 555  # IMU stale: the clock


def test_a_catch_up_burst_of_samples_does_not_halve_the_tick_rate() -> None:
    """A simulator catching up after a stall publishes samples ~6 ms apart for a while; every
    one of them must tick (measured over DDS: the old 16-spacing median skipped every other)."""
    trig = trigger()
    stamp, ticks = 0, []
    for k in range(200):
        stamp += 6 if 100 <= k < 130 else 10  # a 30-sample burst
        ticks.append(sample(trig, stamp / 1000, stamp)[1])
    assert all(ticks)


def test_a_starved_timer_call_waits_for_the_queued_messages() -> None:
    # The runner's process is held off the CPU from 0.04 to 0.10 s; samples 5-9 arrived in the
    # meantime and sit queued behind the timer's callback.
    trig = trigger("imu", imu_max_age=0.03)
    for k in range(5):
        assert trig.on_imu(0.01 * k, 10 * k * MS) is True
        assert trig.timer(0.01 * k + 0.005) is False
    assert trig.timer(0.10) is False  # 55 ms since the last callback: starved, passed over
    assert [trig.on_imu(0.10, 10 * k * MS) for k in range(5, 10)] == [True] * 5
    assert trig.timer(0.105) is False  # fresh again, no watchdog tick at all
    assert trig.watchdog_ticks == 0 and trig.starved_timer_calls == 1


def test_a_dead_sensor_on_a_starved_runner_costs_one_more_period_at_most() -> None:
    trig = trigger("imu", imu_max_age=0.03)
    trig.on_imu(0.0, 0)
    assert trig.timer(0.005) is False
    # Starved until 0.1 s, and nothing was queued: the sensor is really silent.
    assert trig.timer(0.10) is False  # passed over once ...
    assert trig.timer(0.11) is True  # ... the next callback sends the safe action
    # A runner late on every callback still sends it on every other one.
    late = [trig.timer(0.11 + 0.03 * k) for k in range(1, 7)]
    assert late == [False, True, False, True, False, True]


def test_a_watchdog_tick_on_a_regular_timer_is_not_delayed() -> None:
    trig = trigger("imu", imu_max_age=0.03)
    trig.on_imu(0.0, 0)
    ticks = [trig.timer(0.01 * k) for k in range(1, 6)]
    assert ticks == [False, False, False, True, True] and trig.starved_timer_calls == 0
