"""Fixtures shared by the system tests."""

from __future__ import annotations

import itertools
import os

import pytest

from h2o_robot_bridge.testing.processes import clean_shared_memory

_counter = itertools.count()


@pytest.fixture
def domain_id() -> int:
    """A ROS_DOMAIN_ID private to this test (pid-based, so parallel test runs do not mix)."""
    return 1 + (os.getpid() * 7 + next(_counter)) % 100


@pytest.fixture(autouse=True, scope="session")
def _dds_shm_cleanup():
    yield
    clean_shared_memory()
