"""A failure no rule foresaw, while storing one entry, isolates that entry and nothing more."""

from __future__ import annotations

import base64
import functools

import asyncpg
import pytest
import redis.asyncio as aioredis

from activitylog.domain import stream_entries as decoding
from activitylog.ingest import processor
from activitylog.runtime.settings import Settings
from activitylog.storage import retry_queue
from activitylog.storage.stream import ensure_group
from activitylog_ingest.service import run_ingest
from activitylog_testing.polling import wait_for
from activitylog_testing.serving import running
from activitylog_testing.streams import stream_drained
from support import dumps, event

MARKER = "store-this-and-fail"


@pytest.fixture
def failing_store(monkeypatch: pytest.MonkeyPatch) -> None:
    """store_batch fails, as an overflow once did, on any batch holding the marked event."""
    real = processor.store_batch

    async def store_batch(conn, events, dead_letters=None, **kw):  # type: ignore[no-untyped-def]
        if any(MARKER in (e.event.description or "") for e in events):
            raise OverflowError("date value out of range")
        return await real(conn, events, dead_letters, **kw)

    monkeypatch.setattr(processor, "store_batch", store_batch)


async def test_an_entry_that_fails_to_store_is_queued_and_the_rest_stored(
    settings: Settings, pool: asyncpg.Pool, redis: aioredis.Redis, failing_store: None
) -> None:
    stream = settings.activity_stream
    await ensure_group(redis, stream, settings.ingest_group)
    for n in range(20):
        await redis.xadd(stream, {b"payload": dumps(event(n))})
    bad_id = (await redis.xadd(stream, {b"payload": dumps(event(99, description=MARKER))})).decode()
    for n in range(20, 40):
        await redis.xadd(stream, {b"payload": dumps(event(n))})
    async with running(functools.partial(run_ingest, settings)) as stop:
        await wait_for(lambda: stream_drained(redis, settings), timeout=30, message="all handled")
        assert not stop.is_set()
    assert await pool.fetchval("SELECT count(*) FROM lead_activity_log") == 40
    row = await pool.fetchrow("SELECT * FROM retry_queue WHERE queue_id = $1", bad_id)
    assert row["status"] == "dead"
    assert "OverflowError('date value out of range')" in row["last_error"]
    assert MARKER in row["payload"]


async def test_a_letter_that_cannot_be_stored_is_kept_as_base64(
    settings: Settings,
    pool: asyncpg.Pool,
    redis: aioredis.Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_add = retry_queue.add

    async def add(conn, letters):  # type: ignore[no-untyped-def]
        if any("\ud800" in d.payload for d in letters):  # PostgreSQL refuses such text too
            raise UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed")
        return await real_add(conn, letters)

    monkeypatch.setattr(retry_queue, "add", add)
    payload = b'{"description": "\xed\xa0\x80 lone surrogate"}'  # UTF-8 of U+D800: not UTF-8
    monkeypatch.setattr(
        processor,
        "decode_entry",
        lambda entry_id, fields: decoding.dead_letter(
            entry_id, fields[b"payload"].decode("utf-8", "surrogatepass"), "odd"
        ),
    )
    await ensure_group(redis, settings.activity_stream, settings.ingest_group)
    entry_id = (await redis.xadd(settings.activity_stream, {b"payload": payload})).decode()
    async with running(functools.partial(run_ingest, settings)):
        await wait_for(lambda: stream_drained(redis, settings), timeout=30, message="handled")
    row = await pool.fetchrow("SELECT * FROM retry_queue WHERE queue_id = $1", entry_id)
    assert row["status"] == "dead"
    assert row["last_error"].startswith("kept as base64 ")
    assert "original reason: odd" in row["last_error"]
    assert base64.b64decode(row["payload"]) == payload
