"""Fixtures shared by the system tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from h2o_robot_bridge.testing.processes import (
    clean_shared_memory,
    free_domain_id,
    release_domain_id,
)


@pytest.fixture
def domain_id() -> Iterator[int]:
    """A ROS_DOMAIN_ID private to this test: leased, so no other test of this run or of a
    parallel run on this machine holds it (``free_domain_id``)."""
    domain = free_domain_id()
    yield domain
    release_domain_id(domain)


@pytest.fixture(scope="module")
def module_domain_id() -> Iterator[int]:
    """Like ``domain_id``, for a module-scoped fixture (a node shared by a module's tests)."""
    domain = free_domain_id()
    yield domain
    release_domain_id(domain)


@pytest.fixture(autouse=True, scope="session")
def _dds_shm_cleanup():
    yield
    clean_shared_memory()
