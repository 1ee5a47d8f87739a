"""Replay with the real command: a fixed dead letter is stored once, however often replayed."""

from __future__ import annotations

import asyncio
import subprocess
import uuid

import pytest
from fault_support import count_events, supervised

from activitylog.storage.stream import ensure_group
from activitylog_testing.polling import wait_for
from activitylog_testing.streams import stream_drained
from support import dumps, event, run_cli

pytestmark = pytest.mark.faults


async def cli(settings, *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(run_cli, settings, *args)


async def test_replaying_twice_adds_nothing(pool, redis, fault_settings, artifacts) -> None:
    settings = fault_settings
    stream = settings.activity_stream
    lead = uuid.uuid4()
    body = event(1, leadId=str(lead), leadAirtableId=None)
    await ensure_group(redis, stream, settings.ingest_group)
    async with supervised(["ingest"], settings, artifacts):
        entry_id = (await redis.xadd(stream, {"payload": dumps(body)})).decode()
        await wait_for(lambda: stream_drained(redis, settings), message="entry handled")
        row_id = await pool.fetchval("SELECT id FROM retry_queue WHERE queue_id = $1", entry_id)
        # An operator gave up on it earlier.
        await pool.execute("UPDATE retry_queue SET status = 'dead' WHERE id = $1", row_id)

        failed = await cli(settings, "retry-queue", "replay", str(row_id))
        assert failed.returncode == 1, failed.stdout + failed.stderr
        assert "does not exist (yet)" in failed.stderr
        listed = await cli(settings, "retry-queue", "list", "--status", "dead")
        assert entry_id in listed.stdout

        await pool.execute("INSERT INTO leads (id, airtable_record_id) VALUES ($1, 'recR1')", lead)
        first = await cli(settings, "retry-queue", "replay", entry_id)
        assert first.returncode == 0, first.stdout + first.stderr
        assert "resolved, event" in first.stdout
        assert " stored" in first.stdout
        second = await cli(settings, "retry-queue", "replay", str(row_id))
        assert second.returncode == 0, second.stdout + second.stderr
        assert "already resolved; nothing to do" in second.stdout

        # n8n retries the same event through the stream: still one row.
        await redis.xadd(stream, {"payload": dumps(body)})
        await wait_for(lambda: stream_drained(redis, settings), message="redelivery handled")
    assert await count_events(pool) == 1
    status = await pool.fetchval("SELECT status FROM retry_queue WHERE id = $1", row_id)
    assert status == "resolved"
