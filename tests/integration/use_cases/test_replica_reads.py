"""The read routes' pool without a usable replica: the primary serves, within the time limits."""

from __future__ import annotations

import time

import asyncpg

from activitylog.domain.replica import ReadsOn
from activitylog.runtime.db import close_pool, create_pool
from activitylog.runtime.settings import Settings
from activitylog.use_cases.replica_reads import ReadRouting
from activitylog_testing.ports import free_port

TIMEOUT_S = 0.5


def _nothing_listens() -> str:
    return f"postgresql://postgres@127.0.0.1:{free_port()}/none"


def _with_replica(settings: Settings, url: str | None) -> Settings:
    return settings.model_copy(
        update={"database_read_url": url, "database_read_timeout_s": TIMEOUT_S}
    )


async def test_without_a_replica_everything_reads_on_the_primary(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    routing = ReadRouting(pool, _with_replica(settings, None))
    await routing.start()
    try:
        assert routing.pool() is pool
        assert routing.report() == {"configured": False, "reads_on": "primary"}
    finally:
        await routing.close()


async def test_an_unreachable_replica_is_found_within_the_timeout(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    routing = ReadRouting(pool, _with_replica(settings, _nothing_listens()))
    started = time.monotonic()
    choice = await routing.check()
    assert time.monotonic() - started < 2 * TIMEOUT_S + 1.0
    assert choice.on is ReadsOn.UNREACHABLE
    assert routing.pool() is pool
    assert routing.report()["reads_on"] == "primary"


async def test_a_primary_given_as_the_replica_is_refused(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    # A read URL pointing at a server that is not in recovery follows no primary of ours.
    routing = ReadRouting(pool, _with_replica(settings, settings.database_url))
    assert (await routing.check()).on is ReadsOn.NOT_A_REPLICA
    assert routing.pool() is pool


async def test_a_pool_that_cannot_connect_lends_the_fallbacks_connection(
    pool: asyncpg.Pool,
) -> None:
    heard: list[BaseException] = []
    replica = await create_pool(
        _nothing_listens(),
        min_size=0,
        connect_timeout_s=TIMEOUT_S,
        fallback=pool,
        on_fallback=heard.append,
    )
    try:
        assert await replica.fetchval("SELECT pg_is_in_recovery()") is False  # the primary's
        async with replica.acquire() as conn:
            assert await conn.fetchval("SELECT 41 + 1") == 42
        assert len(heard) == 2
        assert all(isinstance(e, OSError) for e in heard)
    finally:
        await close_pool(replica)
