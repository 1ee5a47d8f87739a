"""The log in monthly partitions: one event id stored once across every month; late,
backfilled and far-future events land (in their month, or the default partition until
their month is created); reads of a time range open only its months."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime

import asyncpg

from activitylog.contract.events import parse_event
from activitylog.contract.identity import AcceptedEvent
from activitylog.runtime.backoff import Backoff
from activitylog.runtime.settings import Settings
from activitylog.storage.activity_log import partitions, statistics
from activitylog.use_cases import partitions as upkeep
from activitylog.use_cases.store_batch import store_batch
from activitylog_retry.log_keeper import LogKeeper
from support import event

NOW = datetime.now(UTC)


def at(n: int, when: str, **fields: object) -> AcceptedEvent:
    body = event(n, timestamp=when, **fields)
    return AcceptedEvent.accept(parse_event(body), received_at=NOW, origin=f"p-{n}", raw="")


async def where(pool: asyncpg.Pool, event_id: uuid.UUID) -> list[str]:
    rows = await pool.fetch(
        "SELECT tableoid::regclass::text AS part FROM lead_activity_log WHERE id = $1", event_id
    )
    return [r["part"] for r in rows]


async def test_one_event_id_is_stored_once_across_months(pool: asyncpg.Pool) -> None:
    eid = str(uuid.uuid4())
    first = at(1, "2026-03-05T10:00:00Z", eventId=eid)
    # The same event id sent again with another month's time: the registry knows it.
    again = at(1, "2026-07-05T10:00:00Z", eventId=eid)
    assert first.id == again.id
    async with pool.acquire() as conn:
        await partitions.add_month(conn, date(2026, 3, 1))
        await partitions.add_month(conn, date(2026, 7, 1))
        done = await store_batch(conn, [first])
        replay = await store_batch(conn, [again, first])
    assert done.inserted == {first.id}
    assert replay.inserted == set()
    assert replay.duplicates == {first.id}
    assert await where(pool, first.id) == ["lead_activity_log_y2026m03"]
    assert await pool.fetchval("SELECT count(*) FROM lead_activity_ids") == 1


async def test_a_batch_mixing_new_ids_and_stored_ones_stores_each_once(pool: asyncpg.Pool) -> None:
    # The COPY needs no savepoint once the registry has claimed the ids: within a batch,
    # against stored rows and across months, each id is stored once.
    months = ["2026-03-05T10:00:00Z", "2026-07-05T10:00:00Z"]
    batch = [at(n, months[n % 2], eventId=str(uuid.uuid4())) for n in range(40)]
    async with pool.acquire() as conn:
        for month in (date(2026, 3, 1), date(2026, 7, 1)):
            await partitions.add_month(conn, month)
        done = await store_batch(conn, batch[:25])
        moved = [
            at(n, months[(n + 1) % 2], eventId=str(e.event.event_id))
            for n, e in enumerate(batch[:5])
        ]
        replay = await store_batch(conn, [*batch[20:], *batch[:25], *moved])
    assert done.inserted == {e.id for e in batch[:25]}
    assert replay.inserted == {e.id for e in batch[25:]}
    assert replay.duplicates == {e.id for e in batch[:25]}
    assert await pool.fetchval("SELECT count(*) FROM lead_activity_log") == 40
    assert await pool.fetchval("SELECT count(DISTINCT id) FROM lead_activity_ids") == 40


async def test_a_late_event_goes_into_its_month(pool: asyncpg.Pool) -> None:
    late = at(2, "2020-02-10T08:00:00Z")
    async with pool.acquire() as conn:
        await partitions.add_month(conn, date(2020, 2, 1))
        assert (await store_batch(conn, [late])).inserted == {late.id}
    assert await where(pool, late.id) == ["lead_activity_log_y2020m02"]


async def test_events_of_a_month_without_partition_wait_in_the_default_then_move(
    pool: asyncpg.Pool,
) -> None:
    backfill = [at(n, f"2019-05-{n + 1:02d}T08:00:00Z") for n in range(5)]
    future = at(9, "2099-01-01T00:00:00Z")
    async with pool.acquire() as conn:
        stored = await store_batch(conn, [*backfill, future])
        assert stored.inserted == {e.id for e in [*backfill, future]}
        assert await where(pool, future.id) == ["lead_activity_log_default"]
        created = await upkeep.maintain(conn, NOW, 3)
        assert created is not None
        assert date(2019, 5, 1) in created
        assert date(2099, 1, 1) in created
        assert await upkeep.maintain(conn, NOW, 3) == []  # idempotent
        # Still stored once, each in its month; a replay stays a duplicate.
        again = await store_batch(conn, backfill)
    assert again.inserted == set()
    for e in backfill:
        assert await where(pool, e.id) == ["lead_activity_log_y2019m05"]
    assert await where(pool, future.id) == ["lead_activity_log_y2099m01"]
    assert await pool.fetchval("SELECT count(*) FROM lead_activity_log_default") == 0


async def test_a_time_range_read_opens_only_its_months(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        for m in (1, 2, 3, 4):
            await partitions.add_month(conn, date(2021, m, 1))
        plan = "\n".join(
            r[0]
            for r in await conn.fetch(
                """
                EXPLAIN SELECT id FROM lead_activity_log
                WHERE "timestamp" >= '2021-02-01Z' AND "timestamp" < '2021-03-01Z'
                ORDER BY "timestamp" DESC, id DESC LIMIT 50
                """
            )
        )
    assert "lead_activity_log_y2021m02" in plan
    assert "y2021m01" not in plan
    assert "y2021m03" not in plan
    assert "default" not in plan


async def test_the_whole_log_is_analysed_when_its_months_have_moved_on(
    pool: asyncpg.Pool, settings: Settings
) -> None:
    # Autovacuum analyses each month (here: by hand) but never the partitioned parent,
    # whose statistics the browser's category estimates read.
    async def analysed() -> float:
        return float(
            await pool.fetchval(
                "SELECT reltuples FROM pg_class WHERE oid = 'lead_activity_log'::regclass"
            )
        )

    months = {date(2026, 3, 1): "2026-03-05T10:00:00Z", date(2026, 7, 1): "2026-07-05T10:00:00Z"}
    async with pool.acquire() as conn:
        for month in months:
            await partitions.add_month(conn, month)
        await statistics.analyze_log(conn)  # earlier tests' statistics: of an empty log now
        assert not await upkeep.refresh_statistics(conn)  # nothing has changed
        for when in months.values():
            for _ in range(6):
                batch = [at(n, when, eventId=str(uuid.uuid4())) for n in range(500)]
                await store_batch(conn, batch)
        for month in months:
            await statistics.analyze_month(conn, month)
        assert await analysed() == 0
        # The retry service's hourly upkeep notices it.
        keeper = LogKeeper(pool, settings, backoff=Backoff(0.1, 1.0), stop=asyncio.Event())
        await keeper.step()
        assert await analysed() == 6_000
        assert not await upkeep.refresh_statistics(conn)  # fresh now
        events = [at(n, months[date(2026, 3, 1)], eventId=str(uuid.uuid4())) for n in range(400)]
        await store_batch(conn, events)
        await statistics.analyze_month(conn, date(2026, 3, 1))
        assert not await upkeep.refresh_statistics(conn)  # 400 more: within the threshold
        await conn.execute("DROP TABLE lead_activity_log_y2026m07")  # as retention does
        assert await upkeep.refresh_statistics(conn)
        assert await analysed() == 3_400
