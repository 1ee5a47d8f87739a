"""A real primary and streaming replica per test, with the API reading from the replica."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator

import pytest

from activitylog.runtime.settings import Settings
from activitylog_testing import pg_replica
from activitylog_testing.databases import create_database
from activitylog_testing.pg_replica import PgPair
from activitylog_testing.ports import free_port

DATABASE = "activitylog_replica_test"


@pytest.fixture
def pg_pair() -> Iterator[PgPair]:
    """A primary with the test database migrated, and a replica streaming it."""
    why = pg_replica.available()
    if why:
        # CI has the binaries and root: there a missing pair is a failure, not a skip.
        if os.environ.get("CI"):
            pytest.fail(why)
        pytest.skip(why)
    with pg_replica.primary_and_replica() as pair:
        asyncio.run(create_database(pair.primary_url(), DATABASE))
        yield pair


@pytest.fixture
def replica_settings(settings: Settings, pg_pair: PgPair) -> Settings:
    """The API on the pair: writes on the primary, read routes on the replica, fast checks."""
    return settings.model_copy(
        update={
            "database_url": pg_pair.primary_url(DATABASE),
            "database_read_url": pg_pair.replica_url(DATABASE),
            "database_read_check_s": 0.2,
            "database_read_timeout_s": 1.0,
            "database_read_max_lag_s": 1.0,
            "api_port": free_port(),
            "api_backend_timeout_s": 2.0,
            "api_count_budget_ms": 60_000,
        }
    )
