"""Database outage: PostgreSQL refuses connections for 30 s while events keep arriving."""

from __future__ import annotations

import asyncio
import time

import pytest
from fault_support import count_events, supervised

from activitylog.runtime.db import create_pool
from activitylog.storage.stream import ensure_group, publish, stream_stats
from activitylog.use_cases.health import health_report
from activitylog_testing.polling import wait_for
from activitylog_testing.streams import stream_drained
from support import dumps, event
from tcp_proxy import proxy_for_database

pytestmark = pytest.mark.faults

OUTAGE_S = 30.0
EVENTS = 5_000
WARM_UP = 100


async def test_events_published_during_an_outage_are_all_stored_after_it(
    infra, pool, redis, fault_settings, artifacts
) -> None:
    proxy, proxied_url = proxy_for_database(infra.database_url)
    await proxy.start()
    # Workers, the retry service and the health check all reach PostgreSQL through the proxy.
    settings = fault_settings.model_copy(update={"database_url": proxied_url})
    stream, group = settings.activity_stream, settings.ingest_group
    await ensure_group(redis, stream, group)
    health_pool = await create_pool(proxied_url, min_size=0, max_size=2)

    async def health() -> dict:
        return await health_report(health_pool, redis, settings)

    try:
        async with (
            supervised(["ingest"], settings, artifacts, count=2) as workers,
            supervised(["retry"], settings, artifacts) as retry,
        ):
            await publish(redis, stream, [dumps(event(n)) for n in range(WARM_UP)])
            await wait_for(lambda: _stored(pool, WARM_UP), timeout=30, message="warm-up rows")
            assert (await health())["status"] == "healthy"

            await proxy.cut()
            cut_at = time.monotonic()
            during: list[str] = []
            # Events keep arriving through the first part of the outage.
            for start in range(WARM_UP, WARM_UP + EVENTS, 500):
                await publish(redis, stream, [dumps(event(n)) for n in range(start, start + 500)])
                during.append((await health())["status"])
                await asyncio.sleep(0.5)
            assert set(during) <= {"degraded", "unhealthy"}, during
            assert await count_events(pool) == WARM_UP

            # The outage lasts OUTAGE_S whatever the workers do; then nothing was acknowledged.
            await asyncio.sleep(max(0.0, cut_at + OUTAGE_S - time.monotonic()))
            stats = await stream_stats(redis, stream, group)
            assert stats.pending + stats.lag == EVENTS
            report = await health()
            assert report["status"] == "unhealthy"
            assert any("PostgreSQL unavailable" in r for r in report["reasons"])
            assert workers.all_running()
            assert retry.all_running()
            await proxy.restore()

            await wait_for(
                lambda: _stored(pool, WARM_UP + EVENTS), timeout=90, message="every event stored"
            )
            await wait_for(lambda: stream_drained(redis, settings), timeout=30, message="acked")
            after = await wait_for(_healthy(health), timeout=30, message="healthy again")
            assert after["stream"]["pending"] == 0
        assert workers.exit_codes == []
        assert retry.exit_codes == []
        assert workers.final_codes + retry.final_codes == [0, 0, 0]
    finally:
        await health_pool.close()
        await proxy.cut()

    assert await count_events(pool) == WARM_UP + EVENTS
    distinct = await pool.fetchval("SELECT count(DISTINCT metadata->>'n') FROM lead_activity_log")
    assert distinct == WARM_UP + EVENTS
    assert await pool.fetchval("SELECT count(*) FROM retry_queue") == 0


async def _stored(pool, n: int) -> bool:
    return await count_events(pool) >= n


def _healthy(health):
    async def check() -> dict | None:
        report = await health()
        return report if report["status"] == "healthy" else None

    return check
