"""Re-drive of pending retry_queue rows; stale stream entries the service claims."""

from __future__ import annotations

import asyncio
import functools
import time
import uuid
from datetime import UTC, datetime, timedelta

import orjson
from redis.exceptions import ResponseError

from activitylog.domain.dead_letters import RetryStatus
from activitylog.domain.leads.records import LeadInput
from activitylog.domain.retry.outcomes import RetryPolicy, accept_row, is_stream_id
from activitylog.domain.stream_entries import decode_entry
from activitylog.ingest.processor import ProcessorConfig, StreamProcessor
from activitylog.runtime.settings import Settings
from activitylog.storage.stream import ensure_group
from activitylog.use_cases.leads import saving as lead_saving
from activitylog.use_cases.retry.redrive import redrive_due
from activitylog_retry.service import run_retry
from activitylog_testing.polling import wait_for
from activitylog_testing.serving import running
from support import dumps, event


def late_event(n: int, lead: uuid.UUID, **extra) -> dict:
    return event(n, leadId=str(lead), leadAirtableId=None, **extra)


async def add_lead(pool, lead: uuid.UUID, airtable_id: str) -> None:
    await pool.execute(
        "INSERT INTO leads (id, airtable_record_id, first_name) VALUES ($1, $2, 'Late')",
        lead,
        airtable_id,
    )


async def test_a_row_waits_for_its_lead_then_is_stored_with_the_stream_id(
    pool, add_row, policy
) -> None:
    lead = uuid.uuid4()
    body = late_event(1, lead, timestamp=None, executionId=None)
    row = await add_row(body, queue_id="1767225600000-3", lead_id=str(lead))

    attempted = datetime.now(UTC)
    (first,) = await redrive_due(pool, policy, 10)
    assert first.status is RetryStatus.PENDING
    assert first.retry_count == 1
    assert f"lead {lead} does not exist" in (first.error or "")
    assert first.next_retry_at is not None
    # Later than the attempt (not than now: the back-off here is 50 ms, which a loaded
    # machine can spend before this line runs).
    assert first.next_retry_at > attempted

    await add_lead(pool, lead, "recLateLead1")

    async def resolved():
        outcomes = await redrive_due(pool, policy, 10)
        return next((o for o in outcomes if o.succeeded), None)

    outcome = await wait_for(resolved, message="the row to resolve once the lead exists")
    assert outcome.row_id == row.id
    assert outcome.inserted
    # The same id the ingest gives this entry: a late redelivery adds nothing.
    stream_path = decode_entry("1767225600000-3", {b"payload": dumps(body)})
    assert outcome.event_id == stream_path.id
    stored = await pool.fetchrow("SELECT * FROM lead_activity_log WHERE id = $1", stream_path.id)
    assert stored["lead_id"] == lead
    assert stored["timestamp"] == stream_path.timestamp
    status = await pool.fetchval("SELECT status FROM retry_queue WHERE id = $1", row.id)
    assert status == "resolved"


async def test_a_row_dead_waiting_for_its_lead_comes_back_when_the_lead_does(
    pool, add_row, policy, fetch_row
) -> None:
    lead = uuid.uuid4()
    row = await add_row(late_event(2, lead), lead_id=str(lead))
    for _ in range(policy.max_attempts):
        await pool.execute("UPDATE retry_queue SET next_retry_at = now()")
        await redrive_due(pool, policy, 10)
    current = await fetch_row(row.id)
    assert current.status is RetryStatus.DEAD  # a lead that never comes is alerted
    assert f"lead {lead} does not exist (yet)" in current.last_error
    assert await pool.fetchval("SELECT waiting_for FROM retry_queue") == [f"lead:{lead}"]

    # The lead sync brings it after all: the row is pending and due again, then stored.
    async with pool.acquire() as conn, conn.transaction():
        await lead_saving.save_leads(conn, [LeadInput(lead, "recCameLate1", {})])
    assert (await fetch_row(row.id)).status is RetryStatus.PENDING
    (outcome,) = await redrive_due(pool, policy, 10)
    assert outcome.status is RetryStatus.RESOLVED
    assert await pool.fetchval("SELECT lead_id FROM lead_activity_log") == lead


async def test_a_row_goes_dead_after_the_last_attempt(pool, add_row, policy, fetch_row) -> None:
    # Two leads share the phone the event names: no retry can choose between them.
    await pool.execute(
        "INSERT INTO leads (airtable_record_id, phone) VALUES ('recTwin1', '4085550002'), "
        "('recTwin2', '+1 408 555 0002')"
    )
    row = await add_row(event(2, leadAirtableId=None, leadPhone="4085550002"))
    lead = "phone +14085550002 matches 2 leads"

    async def dead():
        await redrive_due(pool, policy, 10)
        current = await fetch_row(row.id)
        return current if current.status is RetryStatus.DEAD else None

    final = await wait_for(dead, message="the row to go dead")
    assert final.retry_count == policy.max_attempts == 3
    assert lead in final.last_error
    assert "gave up after 3 attempts" in final.last_error
    assert await pool.fetchval("SELECT count(*) FROM lead_activity_log") == 0


async def test_an_invalid_payload_goes_dead_at_once(pool, add_row, policy, fetch_row) -> None:
    bad_type = await add_row(event(3, eventType="SMS_TELEPATHY"))
    not_json = await add_row("{broken")
    outcomes = {o.row_id: o for o in await redrive_due(pool, policy, 10)}
    assert outcomes[bad_type.id].status is RetryStatus.DEAD
    assert outcomes[bad_type.id].went_dead
    assert "eventType: unknown event type 'SMS_TELEPATHY'" in outcomes[bad_type.id].error
    assert (await fetch_row(not_json.id)).status is RetryStatus.DEAD
    assert "not valid JSON" in (await fetch_row(not_json.id)).last_error


async def test_rows_not_yet_due_are_left_alone(pool, add_row, policy) -> None:
    later = datetime.now(UTC) + timedelta(hours=1)
    await add_row(event(4), next_retry_at=later)
    assert await redrive_due(pool, policy, 10) == []


async def test_replicas_never_attempt_the_same_row_twice(pool, add_row) -> None:
    # Long back-off so that each row is due exactly once during the test.
    policy = RetryPolicy(max_attempts=10, backoff_initial_s=600, backoff_max_s=600)
    rows = []
    for n in range(120):
        body = event(n) if n % 2 else late_event(n, uuid.uuid4())
        rows.append(await add_row(body))

    async def replica() -> int:
        attempted = 0
        while batch := await redrive_due(pool, policy, 7):
            attempted += len(batch)
        return attempted

    totals = await asyncio.gather(*(replica() for _ in range(4)))
    assert sum(totals) == len(rows)
    counts = dict(await pool.fetch("SELECT status, count(*) FROM retry_queue GROUP BY status"))
    assert counts == {"resolved": 60, "pending": 60}
    assert await pool.fetchval("SELECT max(retry_count) FROM retry_queue") == 1
    assert await pool.fetchval("SELECT count(*) FROM lead_activity_log") == 60


async def test_ids_are_derived_as_on_the_stream(add_row) -> None:
    body = event(5, timestamp=None, executionId=None)
    from_stream = await add_row(body, queue_id="1767225600123-0")
    from_n8n = await add_row(body, queue_id="48213-0")
    assert is_stream_id(from_stream.queue_id)
    assert not is_stream_id(from_n8n.queue_id)
    entry = decode_entry(from_stream.queue_id, {b"payload": dumps(body)})
    assert accept_row(from_stream).id == entry.id
    assert accept_row(from_stream).timestamp == entry.timestamp
    # An n8n fallback row has no arrival time in its id: the row's creation time stands in.
    assert accept_row(from_n8n).timestamp == from_n8n.created_at
    assert accept_row(from_n8n).id != entry.id
    assert accept_row(from_n8n).id == accept_row(from_n8n).id


def test_backoff_grows_and_is_capped() -> None:
    policy = RetryPolicy(max_attempts=10, backoff_initial_s=30, backoff_max_s=3600)
    for failures, ceiling in [(1, 30), (2, 60), (3, 120), (8, 3600), (30, 3600)]:
        delays = [policy.delay_s(failures) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays), (failures, delays)
        assert len(set(delays)) > 1  # jitter


async def test_service_resolves_a_late_lead_and_stops_promptly(
    pool, add_row, retry_settings, fetch_row
) -> None:
    lead = uuid.uuid4()
    settings = retry_settings.model_copy(update={"retry_max_attempts": 1000})
    row = await add_row(late_event(6, lead), lead_id=str(lead))
    async with running(functools.partial(run_retry, settings)) as stop:
        await wait_for(
            lambda: pool.fetchval("SELECT retry_count >= 2 FROM retry_queue WHERE id=$1", row.id),
            message="a few failed attempts",
        )
        await add_lead(pool, lead, "recLateLead6")
        await wait_for(
            lambda: pool.fetchval("SELECT count(*) FROM lead_activity_log"),
            message="the event stored",
        )
        stopped_at = time.monotonic()
        stop.set()
    assert time.monotonic() - stopped_at < 5
    assert (await fetch_row(row.id)).status is RetryStatus.RESOLVED


async def test_service_claims_entries_left_by_a_vanished_consumer(
    pool, redis, retry_settings: Settings
) -> None:
    stream, group = retry_settings.activity_stream, retry_settings.ingest_group
    await ensure_group(redis, stream, group)
    for n in range(60):
        await redis.xadd(stream, {"payload": dumps(event(n))})
    # A worker read them and died: pending, never acknowledged, and no ingest is running.
    await redis.xreadgroup(group, "vanished-worker", {stream: ">"}, count=100)
    assert (await redis.xpending(stream, group))["pending"] == 60

    async with running(functools.partial(run_retry, retry_settings)):
        await wait_for(
            lambda: pool.fetchval("SELECT count(*) = 60 FROM lead_activity_log"),
            timeout=30,
            message="every stale entry stored",
        )
        await wait_for(
            lambda: _no_pending(redis, stream, group), message="every entry acknowledged"
        )


async def test_service_recreates_a_lost_group(pool, redis, retry_settings: Settings) -> None:
    stream, group = retry_settings.activity_stream, retry_settings.ingest_group
    await ensure_group(redis, stream, group)

    async def group_info() -> dict | None:
        try:
            groups = await redis.xinfo_groups(stream)
        except ResponseError:  # no such stream
            return None
        return next((g for g in groups if g["name"] in (group, group.encode())), None)

    async with running(functools.partial(run_retry, retry_settings)):
        # Redis restarted without persistence while nothing was consuming.
        await redis.delete(stream)
        info = await wait_for(group_info, timeout=30, message="the group recreated by the sweeper")
    # At id 0, so entries a producer adds before any ingest runs are still delivered.
    assert info["last-delivered-id"] in (b"0-0", "0-0")


async def _no_pending(redis, stream: str, group: str) -> bool:
    return (await redis.xpending(stream, group))["pending"] == 0


async def test_service_takes_over_an_entry_delivered_too_often(
    pool, redis, retry_settings: Settings
) -> None:
    stream, group = retry_settings.activity_stream, retry_settings.ingest_group
    await ensure_group(redis, stream, group)
    body = event(7)
    entry_id = (await redis.xadd(stream, {"payload": dumps(body)})).decode()
    await redis.xreadgroup(group, "crashing-worker", {stream: ">"}, count=1)
    for _ in range(retry_settings.ingest_max_deliveries - 1):
        await redis.xclaim(stream, group, "crashing-worker", 0, [entry_id])

    async with running(functools.partial(run_retry, retry_settings)):
        row = await wait_for(
            lambda: pool.fetchrow(
                "SELECT * FROM retry_queue WHERE queue_id = $1 AND status = 'resolved'", entry_id
            ),
            timeout=30,
            message="the entry handed to retry_queue and re-driven",
        )
    assert f"delivered {retry_settings.ingest_max_deliveries} times" in row["last_error"]
    assert await _no_pending(redis, stream, group)
    stored = await pool.fetchval("SELECT count(*) FROM lead_activity_log")
    assert stored == 1
    assert orjson.loads(row["payload"]) == body


async def test_sweep_forgets_consumers_that_are_gone(pool, redis, retry_settings) -> None:
    stream, group = retry_settings.activity_stream, retry_settings.ingest_group
    await ensure_group(redis, stream, group)
    await redis.xadd(stream, {"payload": dumps(event(1))})
    await redis.xgroup_createconsumer(stream, group, "ghost")
    await redis.xreadgroup(group, "busy", {stream: ">"}, count=1)
    processor = StreamProcessor(
        pool=pool,
        redis=redis,
        stop=asyncio.Event(),
        config=ProcessorConfig(
            stream=stream, group=group, consumer="retry-test", claim_idle_ms=60_000
        ),
    )

    async def names() -> set[str]:
        await processor.sweep_stale(forget_after_ms=50)
        return {c["name"].decode() for c in await redis.xinfo_consumers(stream, group)}

    # The idle consumer with nothing pending goes; one holding an entry stays (it may be alive).
    await wait_for(lambda: _without(names, "ghost"), message="the ghost consumer forgotten")
    assert "busy" in await names()


async def _without(names, name: str) -> bool:
    return name not in await names()
