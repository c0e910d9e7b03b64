"""cmd_vel of either type: the same task command; which type to subscribe, from the graph."""

from __future__ import annotations

import numpy as np
import pytest

from h2o_robot_bridge.conversions.cmd_vel import (
    TWIST,
    TWIST_STAMPED,
    choose_cmd_vel_type,
    initial_type,
    parse_cmd_vel_type,
)
from h2o_robot_bridge.conversions.from_msg import (
    cmd_vel_to_command,
    twist_stamped_to_command,
    twist_to_command,
)
from h2o_robot_bridge.conversions.to_msg import twist_msg, twist_stamped_msg
from h2o_robot_bridge.errors import ConfigError


def test_both_types_give_the_same_command() -> None:
    plain, stamped = twist_msg(0.4, -0.3), twist_stamped_msg(12.5, 0.4, -0.3, "base_link")
    np.testing.assert_array_equal(twist_stamped_to_command(stamped), [0.4, -0.3])
    np.testing.assert_array_equal(cmd_vel_to_command(stamped), twist_to_command(plain))
    np.testing.assert_array_equal(cmd_vel_to_command(plain), [0.4, -0.3])
    assert stamped.header.frame_id == "base_link" and stamped.header.stamp.sec == 12


@pytest.mark.parametrize("value", ["auto", "twist", "twist_stamped", " twist "])
def test_modes_parse(value: str) -> None:
    assert parse_cmd_vel_type(value) == value.strip()


@pytest.mark.parametrize("value", ["Twist", "stamped", "", 1, None])
def test_bad_modes_are_refused(value: object) -> None:
    with pytest.raises(ConfigError, match="cmd_vel_type must be one of"):
        parse_cmd_vel_type(value)


def test_auto_starts_with_twist_and_follows_a_later_stamped_publisher() -> None:
    current = initial_type("auto")
    assert current == TWIST
    assert choose_cmd_vel_type("auto", current, []).type_name == TWIST  # nobody yet: keep
    assert choose_cmd_vel_type("auto", current, [TWIST, TWIST]).type_name == TWIST
    current = choose_cmd_vel_type("auto", current, [TWIST_STAMPED]).type_name
    assert current == TWIST_STAMPED
    # The stamped publisher leaves: keep it subscribed (it may come back), no churn.
    assert choose_cmd_vel_type("auto", current, []).type_name == TWIST_STAMPED
    assert choose_cmd_vel_type("auto", current, [TWIST]).type_name == TWIST


def test_auto_keeps_its_type_while_both_are_published_and_says_so() -> None:
    choice = choose_cmd_vel_type("auto", TWIST, [TWIST_STAMPED, TWIST])
    assert choice.type_name == TWIST and choice.note is not None and TWIST_STAMPED in choice.note
    assert choose_cmd_vel_type("auto", TWIST, [TWIST]).note is None


@pytest.mark.parametrize(("mode", "fixed"), [("twist", TWIST), ("twist_stamped", TWIST_STAMPED)])
def test_fixed_modes_ignore_the_graph(mode: str, fixed: str) -> None:
    assert initial_type(mode) == fixed
    other = TWIST_STAMPED if fixed == TWIST else TWIST
    choice = choose_cmd_vel_type(mode, fixed, [other])
    assert choice.type_name == fixed and choice.note is not None and other in choice.note


def test_unsupported_publisher_types_are_named() -> None:
    choice = choose_cmd_vel_type("auto", TWIST, ["std_msgs/msg/String"])
    assert choice.type_name == TWIST and "std_msgs/msg/String" in (choice.note or "")
