"""The shortest path: one raw XADD becomes one row; a burst-mode worker drains and returns."""

from __future__ import annotations

import asyncio

from activitylog.runtime.settings import Settings
from activitylog_testing.streams import drain, stream_drained
from support import dumps, event, run_cli


async def test_one_event_is_stored(settings: Settings, pool, redis) -> None:
    await redis.xadd(settings.activity_stream, {"payload": dumps(event(1))})
    await drain(settings)  # returns once the stream is drained: no polling
    row = await pool.fetchrow("SELECT * FROM lead_activity_log")
    assert row["event_type"] == "MESSAGE_SENT"
    assert row["event_category"] == "SMS"
    assert row["lead_airtable_id"] == "recLead00001"


async def test_ingest_burst_stores_what_the_stream_holds_then_exits(
    settings: Settings, pool, redis
) -> None:
    for n in range(1_200):  # more than two batches of INGEST_BATCH_SIZE
        await redis.xadd(settings.activity_stream, {"payload": dumps(event(n))})
    done = await asyncio.to_thread(run_cli, settings, "ingest", "--burst")
    assert done.returncode == 0, done.stderr
    assert await pool.fetchval("SELECT count(*) FROM lead_activity_log") == 1_200
    assert await stream_drained(redis, settings)
