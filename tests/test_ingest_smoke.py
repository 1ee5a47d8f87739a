"""The shortest path: one raw XADD becomes one row."""

from __future__ import annotations

import functools

from activitylog.runtime.settings import Settings
from activitylog_ingest.service import run_ingest
from activitylog_testing.polling import wait_for
from activitylog_testing.serving import running
from support import dumps, event


async def test_one_event_is_stored(settings: Settings, pool, redis) -> None:
    async with running(functools.partial(run_ingest, settings)):
        await redis.xadd(settings.activity_stream, {"payload": dumps(event(1))})
        row = await wait_for(
            lambda: pool.fetchrow("SELECT * FROM lead_activity_log"), message="the row"
        )
    assert row["event_type"] == "MESSAGE_SENT"
    assert row["event_category"] == "SMS"
    assert row["lead_airtable_id"] == "recLead00001"
