"""The one store path (store_batch) against real PostgreSQL: COPY first, ON CONFLICT on a repeat."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import asyncpg

from activitylog.contract.events import parse_event
from activitylog.contract.identity import AcceptedEvent
from activitylog.use_cases.store_batch import store_batch
from support import event

RECEIVED = datetime(2026, 3, 2, tzinfo=UTC)


def accepted(n: int, **overrides: object) -> AcceptedEvent:
    return AcceptedEvent.accept(
        parse_event(event(n, **overrides)), received_at=RECEIVED, origin=f"t-{n}", raw=""
    )


async def store(pool: asyncpg.Pool, events: list[AcceptedEvent]):
    async with pool.acquire() as conn:
        return await store_batch(conn, events)


async def test_a_batch_holding_stored_ids_adds_only_the_new_ones(pool: asyncpg.Pool) -> None:
    first = await store(pool, [accepted(1), accepted(2)])
    assert first.inserted == {accepted(1).id, accepted(2).id}

    # 2 was stored before and 3 comes twice: the COPY fails on both, the fallback sorts it out.
    again = await store(pool, [accepted(2), accepted(3), accepted(3), accepted(4)])
    assert again.inserted == {accepted(3).id, accepted(4).id}
    assert again.duplicates == {accepted(2).id}
    ids = await pool.fetch("SELECT id FROM lead_activity_log")
    assert sorted(r["id"] for r in ids) == sorted(accepted(n).id for n in (1, 2, 3, 4))


async def test_metadata_is_stored_as_a_json_object(pool: asyncpg.Pool) -> None:
    meta = {"campaignId": "c7", "nested": {"list": [1, "two", None]}, "ünï": "cödé"}
    await store(pool, [accepted(1, metadata=meta), accepted(2, metadata=None)])
    # Through the COPY path and through the fallback (a repeat of 1 with a new event 3).
    await store(pool, [accepted(1, metadata=meta), accepted(3, metadata=meta)])
    rows = await pool.fetch(
        "SELECT metadata, jsonb_typeof(metadata) AS kind FROM lead_activity_log "
        "ORDER BY description"
    )
    assert [(r["metadata"], r["kind"]) for r in rows] == [
        (meta, "object"),
        (None, None),
        (meta, "object"),
    ]
    found = await pool.fetchval(
        "SELECT count(*) FROM lead_activity_log WHERE metadata @> $1::jsonb", {"campaignId": "c7"}
    )
    assert found == 2


async def test_concurrent_overlapping_batches_store_each_event_once(pool: asyncpg.Pool) -> None:
    # Two workers holding the same entries (a claimed entry redelivered) race to commit.
    batches = [[accepted(n) for n in range(start, start + 300)] for start in (0, 100, 200, 0)]
    results = await asyncio.gather(*(store(pool, b) for b in batches))
    assert sum(len(r.inserted) for r in results) == 500
    assert await pool.fetchval("SELECT count(*) FROM lead_activity_log") == 500
    for result, batch in zip(results, batches, strict=True):
        assert len(result.inserted) + len(result.duplicates) == len(batch)
