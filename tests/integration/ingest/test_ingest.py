"""The ingest service against real PostgreSQL and Redis: nothing lost, nothing doubled."""

from __future__ import annotations

import asyncio
import functools
import uuid
from pathlib import Path

import asyncpg
import orjson
import redis.asyncio as aioredis

from activitylog.runtime.settings import Settings
from activitylog.storage.stream import ensure_group
from activitylog_ingest.service import run_ingest
from activitylog_testing.polling import wait_for
from activitylog_testing.serving import running
from activitylog_testing.streams import drain, stream_drained
from support import count_rows, dumps, event, pending_at_least, pending_count, publish_raw, spawn
from tcp_proxy import proxy_for_database


def invalid_payloads() -> list[tuple[bytes, str]]:
    """Twenty bad entries, four of each kind, with a word their reason must contain."""
    bad: list[tuple[bytes, str]] = []
    for i in range(4):
        bad.append((dumps(event(9000 + i, eventType="SMS_BLASTED")), "unknown event type"))
        bad.append((dumps(event(9100 + i, description=None)), "description"))
        bad.append((dumps(event(9200 + i, messageContent="nul\u0000here")), "NUL"))
        bad.append((b"{not json at all " + str(i).encode(), "not valid JSON"))
        bad.append((dumps(event(9400 + i, eventCategory="BOOKING")), "eventCategory"))
    return bad


async def test_valid_stored_once_invalid_dead_lettered_and_republish_adds_nothing(
    settings: Settings, pool: asyncpg.Pool, redis: aioredis.Redis
) -> None:
    valid = [dumps(event(n)) for n in range(1000)]
    bad = invalid_payloads()
    mixed = valid[:500] + [payload for payload, _ in bad] + valid[500:]
    publish_raw(settings, mixed)
    await drain(settings)  # a burst-mode worker: returns once the stream is drained
    assert await _done(pool, 1000, 20), "1,000 rows and 20 dead letters"
    assert await _no_pending(redis, settings)

    rows = await pool.fetch("SELECT payload, last_error, status FROM retry_queue")
    assert {r["status"] for r in rows} == {"dead"}
    by_payload = {r["payload"]: r["last_error"] for r in rows}
    for payload, reason in bad:
        stored = payload.decode()
        assert stored in by_payload, f"missing dead letter for {stored[:60]}"
        assert reason in by_payload[stored]

    publish_raw(settings, valid)
    await drain(settings)
    assert await stream_drained(redis, settings)
    assert await count_rows(pool) == 1000
    assert await pool.fetchval("SELECT count(*) FROM retry_queue") == 20
    assert await pool.fetchval("SELECT count(DISTINCT lead_id) FROM lead_activity_log") == 50


async def _done(pool: asyncpg.Pool, rows: int, dead: int) -> bool:
    stored = await count_rows(pool)
    letters = await pool.fetchval("SELECT count(*) FROM retry_queue")
    assert stored <= rows
    return stored == rows and letters == dead


async def _no_pending(redis: aioredis.Redis, settings: Settings) -> bool:
    return await pending_count(redis, settings) == 0


async def _at_least(pool: asyncpg.Pool, n: int) -> bool:
    return await count_rows(pool) >= n


async def test_database_unreachable_nothing_acked_then_everything_stored(
    settings: Settings, pool: asyncpg.Pool, redis: aioredis.Redis
) -> None:
    proxy, proxied_url = proxy_for_database(settings.database_url or "")
    await proxy.start()
    via_proxy = settings.model_copy(update={"database_url": proxied_url})
    try:
        async with running(functools.partial(run_ingest, via_proxy)):
            publish_raw(settings, [dumps(event(n)) for n in range(100)])
            await wait_for(lambda: _at_least(pool, 100), message="first 100 rows")
            await proxy.cut()
            publish_raw(settings, [dumps(event(n)) for n in range(100, 600)])
            await wait_for(lambda: pending_at_least(redis, settings, 1), message="read while down")
            # Poll for a while: rows must not grow and nothing may be acknowledged.
            for _ in range(20):
                assert await count_rows(pool) == 100
                groups = await redis.xinfo_groups(settings.activity_stream)
                group = next(g for g in groups if g["name"] == settings.ingest_group.encode())
                assert int(group["pending"]) + int(group["lag"] or 0) == 500
                await asyncio.sleep(0.05)
            await proxy.restore()
            await wait_for(lambda: _at_least(pool, 600), timeout=60, message="600 rows")
            await wait_for(lambda: _no_pending(redis, settings), message="all acked")
    finally:
        await proxy.cut()
    assert await count_rows(pool) == 600


async def test_stub_lead_then_last_activity_only_moves_forward(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    def at(ts: str, n: int) -> bytes:
        return dumps(event(n, leadAirtableId="recStubLead01", timestamp=ts))

    async with running(functools.partial(run_ingest, settings)):
        publish_raw(settings, [at("2026-03-01T10:00:00Z", 1)])
        await wait_for(lambda: _at_least(pool, 1), message="first event")
        lead = await pool.fetchrow("SELECT * FROM leads WHERE airtable_record_id = 'recStubLead01'")
        assert (lead["first_name"], lead["last_name"]) == ("", "")
        assert lead["last_activity_at"].isoformat() == "2026-03-01T10:00:00+00:00"

        publish_raw(settings, [at("2026-03-01T11:00:00Z", 2)])
        await wait_for(lambda: _at_least(pool, 2), message="later event")
        publish_raw(settings, [at("2026-03-01T09:00:00Z", 3)])
        await wait_for(lambda: _at_least(pool, 3), message="older event")
    lead = await pool.fetchrow("SELECT * FROM leads WHERE airtable_record_id = 'recStubLead01'")
    assert lead["last_activity_at"].isoformat() == "2026-03-01T11:00:00+00:00"
    assert await pool.fetchval("SELECT count(*) FROM leads") == 1
    linked = await pool.fetchval(
        "SELECT count(*) FROM lead_activity_log WHERE lead_id = $1", lead["id"]
    )
    assert linked == 3


async def test_group_lost_with_the_stream_is_recreated_and_consumption_goes_on(
    settings: Settings, pool: asyncpg.Pool, redis: aioredis.Redis
) -> None:
    async with running(functools.partial(run_ingest, settings)):
        publish_raw(settings, [dumps(event(n)) for n in range(10)])
        await wait_for(lambda: _at_least(pool, 10), message="the first ten")
        # Redis restarted without persistence: stream and group are gone; producers go on.
        await redis.delete(settings.activity_stream)
        publish_raw(settings, [dumps(event(n)) for n in range(10, 30)])
        await wait_for(lambda: _at_least(pool, 30), message="the twenty after the loss")
        await wait_for(lambda: _no_pending(redis, settings), message="all acknowledged")
    assert await count_rows(pool) == 30


async def test_unknown_lead_id_waits_in_retry_queue(
    settings: Settings, pool: asyncpg.Pool, redis: aioredis.Redis
) -> None:
    missing = uuid.uuid4()
    body = event(1, leadAirtableId=None, leadId=str(missing))
    publish_raw(settings, [dumps(body)])
    await drain(settings)
    row = await pool.fetchrow("SELECT * FROM retry_queue")
    assert await _no_pending(redis, settings)
    assert row["status"] == "pending"
    assert str(missing) in row["last_error"]
    assert row["lead_id"] == str(missing)
    assert orjson.loads(row["payload"]) == body
    assert await count_rows(pool) == 0


async def test_own_pending_entries_are_reread_first_on_start(
    settings: Settings, pool: asyncpg.Pool, redis: aioredis.Redis
) -> None:
    publish_raw(settings, [dumps(event(n)) for n in range(30)])
    await ensure_group(redis, settings.activity_stream, settings.ingest_group)
    # A previous life of this consumer read these and died before acknowledging them.
    await redis.xreadgroup(
        settings.ingest_group, settings.ingest_consumer, {settings.activity_stream: ">"}, count=30
    )
    # No claim could bring them back within this test: only the re-read on start can.
    patient = settings.model_copy(update={"claim_idle_ms": 600_000})
    async with running(functools.partial(run_ingest, patient)):
        await wait_for(lambda: _at_least(pool, 30), message="30 rows")
        await wait_for(lambda: _no_pending(redis, settings), message="acked")
    assert await count_rows(pool) == 30


async def test_entries_of_a_dead_consumer_are_claimed_after_idle_time(
    settings: Settings, pool: asyncpg.Pool, redis: aioredis.Redis
) -> None:
    publish_raw(settings, [dumps(event(n)) for n in range(40)])
    await ensure_group(redis, settings.activity_stream, settings.ingest_group)
    await redis.xreadgroup(
        settings.ingest_group, "ghost-replica", {settings.activity_stream: ">"}, count=40
    )
    async with running(functools.partial(run_ingest, settings)):
        await wait_for(lambda: _at_least(pool, 40), timeout=30, message="claimed and stored")
        await wait_for(lambda: _no_pending(redis, settings), message="acked")
    assert await count_rows(pool) == 40


async def test_trimming_keeps_every_entry_some_group_still_needs(
    settings: Settings, pool: asyncpg.Pool, redis: aioredis.Redis
) -> None:
    stream = settings.activity_stream
    async with running(functools.partial(run_ingest, settings)):
        publish_raw(settings, [dumps(event(n)) for n in range(1000)])
        await wait_for(lambda: _at_least(pool, 1000), message="1,000 rows")
        await wait_for(lambda: _shorter_than(redis, stream, 500), message="acked entries trimmed")
        # A second group that has read nothing: from now on nothing it needs may go.
        await redis.xgroup_create(stream, "audit", id="$")
        kept = int(await redis.xlen(stream))
        publish_raw(settings, [dumps(event(n)) for n in range(1000, 2000)])
        await wait_for(lambda: _at_least(pool, 2000), message="2,000 rows")
        await wait_for(lambda: _no_pending(redis, settings), message="acked")
        for _ in range(3):  # several housekeeping rounds (every second in tests)
            await asyncio.sleep(settings.stream_trim_interval_s)
            assert int(await redis.xlen(stream)) >= 1000
    unread = await redis.xreadgroup("audit", "auditor", {stream: ">"}, count=5000)
    assert len(unread[0][1]) == 1000
    assert kept <= 1000


async def _shorter_than(redis: aioredis.Redis, stream: str, n: int) -> bool:
    return int(await redis.xlen(stream)) < n


async def test_sigterm_commits_the_batch_in_hand_then_exits(
    settings: Settings, pool: asyncpg.Pool, redis: aioredis.Redis, artifacts: Path
) -> None:
    publish_raw(settings, [dumps(event(n)) for n in range(300)])
    async with pool.acquire() as blocker:
        tx = blocker.transaction()
        await tx.start()
        await blocker.execute("LOCK TABLE leads IN SHARE ROW EXCLUSIVE MODE")
        log = artifacts / "worker.log"
        log.unlink(missing_ok=True)
        worker = spawn(["ingest"], settings, log_path=log)
        await wait_for(lambda: pending_at_least(redis, settings, 300), message="batch in hand")
        worker.terminate()

        async def signal_handled() -> bool:
            return b"stopping" in log.read_bytes()

        # The worker has taken the signal while its commit is blocked, and must stay.
        await wait_for(signal_handled, timeout=10, message="the worker to take SIGTERM")
        assert worker.poll() is None, "it must not exit with a batch in hand"
        await tx.rollback()
    code = await asyncio.to_thread(worker.wait, 10)
    assert code == 0
    assert await count_rows(pool) == 300
    assert await pending_count(redis, settings) == 0
